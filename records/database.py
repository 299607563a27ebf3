"""The records database: one URL (SQLite by default, PostgreSQL at scale), an async engine,
and the Alembic migrations run at start (``hotline db upgrade`` too).

Several app instances and workers may start at once: on PostgreSQL a migration holds an
advisory lock for its transaction, so one runs and the others then find the schema up to date.
SQLite's own locking does not do it (Python's driver runs DDL outside a transaction): there,
migrations take an exclusive ``flock`` on a file next to the database."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, event, func, make_url, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core.config import RecordsSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_FILE = "records.sqlite3"
#: Seconds a PostgreSQL connection attempt or statement may take before it fails (the caller
#: then keeps its writes in Redis and tries again later).
PG_TIMEOUT_S = 5.0
#: How often a migration waiting for SQLite's lock file tries again.
_LOCK_POLL_S = 0.05
#: The PostgreSQL advisory lock key migrations take ("hotline" in ASCII).
MIGRATION_LOCK = int.from_bytes(b"hotline")


def database_url(settings: RecordsSettings, password: str = "") -> URL:
    """The configured URL, the password added from the environment; "" means SQLite in the
    data directory."""
    if not settings.url:
        return URL.create("sqlite+aiosqlite", database=str(settings.data_dir / SQLITE_FILE))
    url = make_url(settings.url)
    return url.set(password=password) if password else url


def connect(settings: RecordsSettings, password: str = "") -> AsyncEngine:
    """An engine for the records database (no connection is made yet). SQLite files get WAL
    mode, so reports read while the drain writes."""
    url = database_url(settings, password)
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        connect_args={"timeout": PG_TIMEOUT_S, "command_timeout": 60},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config() -> Config:
    """Alembic's configuration for the migrations kept in this package (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (one migrating instance at a time)."""
    async with _migrating(engine) as conn:
        await conn.run_sync(_run, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the schema down to ``revision`` ("base": nothing)."""
    async with _migrating(engine) as conn:
        await conn.run_sync(_run, "downgrade", revision)


@asynccontextmanager
async def _migrating(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction holding the migration lock: PostgreSQL's advisory lock (released with
    the transaction), or the SQLite file's lock file."""
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            yield conn
        return
    fd = os.open(f"{database}.migrate.lock", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:
        await _lock(fd)
        async with engine.begin() as conn:
            yield conn
    finally:
        # Unlock before closing: a child forked meanwhile (RQ's scheduler) shares the open
        # file, and a close alone would leave the lock held until that child exits.
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


async def _lock(fd: int) -> None:
    """Take the exclusive ``flock`` on ``fd``, waiting on the event loop rather than in a
    thread: a wait stays cancellable, and no thread blocked on a lock keeps the process from
    exiting (the loop's executor threads are joined at exit)."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            await asyncio.sleep(_LOCK_POLL_S)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema's revision now (None: no migration applied)."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def head_revision() -> str:
    """The newest migration in the repository."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _run(connection: Connection, what: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    if what == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)
