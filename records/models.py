"""The tables of the records store (SQLAlchemy 2 models; the schema itself is made by the
Alembic migrations in ``records/migrations``, tested against these models).

Times are epoch seconds (float), as in the Redis streams they come from. No table holds a
phone number: a caller is a keyed reference (a prefix of the vault's keyed hash).
"""

from __future__ import annotations

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The records store's metadata."""


class Contact(Base):
    """One call (or text conversation): who (by keyed reference), where, when, how it ended."""

    __tablename__ = "contacts"

    #: The call's id in the ACD and IVR (its caller channel) or the conversation's id.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Keyed reference to the caller ("" for a withheld number): never the number.
    caller_key: Mapped[str] = mapped_column(String(64), default="")
    pseudonym: Mapped[str] = mapped_column(String(80), default="")
    #: voice, sms or chat.
    channel: Mapped[str] = mapped_column(String(8), default="voice")
    #: The number dialled (the helpline's own DID).
    line: Mapped[str] = mapped_column(String(32), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    #: The IVR menu keys pressed, in order, space-separated.
    ivr_path: Mapped[str] = mapped_column(String(200), default="")
    #: The queues the call waited in, in order, space-separated.
    queues: Mapped[str] = mapped_column(String(200), default="")
    arrived_at: Mapped[float | None] = mapped_column(Float)
    offered_at: Mapped[float | None] = mapped_column(Float)
    answered_at: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    #: ``records.contacts.Outcome`` value, "" while unknown.
    outcome: Mapped[str] = mapped_column(String(16), default="")
    #: When the outcome was reached (a later outcome replaces an earlier one).
    outcome_at: Mapped[float | None] = mapped_column(Float)
    #: The volunteer who answered last.
    agent: Mapped[str] = mapped_column(String(64), default="")
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    #: The last IVR journal entry applied, or for an SMS conversation the last entry of the
    #: conversation log (a replayed entry is not applied twice).
    journal_id: Mapped[str] = mapped_column(String(40), default="")

    __table_args__ = (
        Index("ix_contacts_caller_key", "caller_key", "arrived_at"),
        Index("ix_contacts_arrived_at", "arrived_at"),
    )


class Wrapup(Base):
    """A volunteer's wrap-up of a call: a disposition and scrubbed notes."""

    __tablename__ = "wrapups"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64))
    disposition: Mapped[str] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="")
    #: What the scrubber removed, as JSON (kinds and counts, never the values).
    removed: Mapped[str] = mapped_column(String(200), default="{}")
    written_at: Mapped[float] = mapped_column(Float)
    #: The flags the volunteer set on the contact (of the queue's list), as a JSON list.
    flags: Mapped[str] = mapped_column(String(400), default="[]", server_default="[]")

    __table_args__ = (Index("ix_wrapups_written_at", "written_at"),)


class AuditEntry(Base):
    """Append-only: who did what sensitive thing (an unmask, a staff transfer...), when, why."""

    __tablename__ = "audit"

    #: The id of the entry in its Redis stream, which is the first write.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_audit_at", "at"),)


class QueueEvent(Base):
    """One entry of the ACD's queue log stream, keyed by its stream id (replays double
    nothing)."""

    __tablename__ = "queue_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[float] = mapped_column(Float)
    #: ``int(at // 3600)``: reports group by hour (and day, ``hour // 24``) on both databases.
    hour: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(24))
    queue: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(64), default="")
    agent: Mapped[str] = mapped_column(String(64), default="")
    #: Seconds waited (holdtime of CONNECT and the completions, waittime of the exits).
    wait_s: Mapped[float | None] = mapped_column(Float)
    #: Seconds talked (calltime of the completions and of a connected call's TRANSFER).
    talk_s: Mapped[float | None] = mapped_column(Float)
    #: A pause's reason, a transfer's target, the first volunteer of a hand-over's CONNECT.
    detail: Mapped[str] = mapped_column(String(120), default="")
    #: When the volunteer's wrap-up ends (``until`` of the completions, of a connected call's
    #: TRANSFER and of WRAPUPEXTEND): the wrap-up form's deadline, before its grace.
    wrapup_until: Mapped[float | None] = mapped_column(Float, default=None)

    __table_args__ = (
        Index("ix_queue_events_queue_hour", "queue", "hour"),
        Index("ix_queue_events_at", "at"),
    )


class StreamCursor(Base):
    """The last entry of a Redis stream written to SQL, moved in the same transaction."""

    __tablename__ = "stream_cursors"

    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[str] = mapped_column(String(40))
