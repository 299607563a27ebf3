"""Records: the SQL store of what happened (contacts, wrap-ups, audit, queue history) and the
reports drawn from it. SQLite by default, PostgreSQL at scale; imports only ``core``."""
