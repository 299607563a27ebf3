"""The drain: Redis streams (the ACD's queue log, the IVR journal, the SMS conversation log, the
vault's unmask audit, the staff audit, and the wrap-ups accepted while the database was away)
into SQL.

Each step reads the entries after the cursors kept in SQL (one a stream) and writes their
rows and the new cursors in one transaction, so a step that fails (the database down, another
instance draining the same entries) writes nothing and the next one starts from the same
place: the streams are where writes wait while the database is away, and nothing is lost or
doubled. A step holds a Redis lock (``Keys.records_drain_lock``) for its batch, so the workers
that drain (``hotline worker``, see ``workers/records.py``) and a request catching up take
turns instead of reading and writing the same entries; the lock saves work, the cursors keep
it right (a step that outlives its lock, or races one without it, still doubles nothing).
Queue-log rows are keyed by their stream ids as well; a wrap-up by its call and volunteer (a
later one replaces an earlier one, never the reverse). Once written, queue-log entries older
than ``keep_s`` are trimmed from Redis (the live view keeps the recent ones), and wrap-ups at
once (their notes stay in one place).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.keys import Keys
from records.contacts import (
    apply_conversation,
    apply_journal,
    apply_queue_event,
    id_key,
    new_contact,
    queue_event,
)
from records.models import AuditEntry, Contact, QueueEvent, StreamCursor, Wrapup

logger = logging.getLogger(__name__)

#: Seconds the drain lock lasts (a step holding it longer than that loses it) and, by default,
#: the longest a step waits for it.
LOCK_S: Final = 30.0

Entries = list[tuple[str, dict[str, str]]]
#: The id of each stream's last entry (by stream name; None: empty) when a catch-up began.
Tips = Mapping[str, str | None]


@dataclass(frozen=True)
class Drained:
    """What one step wrote."""

    queue_events: int
    journal: int
    audit: int
    conversations: int
    wrapups: int

    @property
    def total(self) -> int:
        """Entries written, all streams together."""
        return self.queue_events + self.journal + self.audit + self.conversations + self.wrapups


class Drain:
    """Moves stream entries into SQL; one step at a time, or ``run`` until cancelled."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        engine: AsyncEngine,
        *,
        batch: int = 1000,
        keep_s: float = 3600,
        clock: Callable[[], float],
        lock_wait_s: float = LOCK_S,
    ) -> None:
        self.redis, self.keys, self.engine = redis, keys, engine
        self.batch, self.keep_s, self.clock = batch, keep_s, clock
        self.lock_wait_s = lock_wait_s
        self._turn = asyncio.Lock()
        #: Shared catch-ups (``caught_up``): one at a time; how many began and how many of
        #: those ended with the streams drained.
        self._shared = asyncio.Lock()
        self.passes_begun = 0
        self._passes_done = 0
        #: Whether the last turn failed (its failure was logged once).
        self._failing = False
        self.streams: Mapping[str, str] = {
            "queue_log": keys.acd_queue_log,
            "journal": keys.journal,
            "conversations": keys.conversation_log,
            "audit": keys.audit,
            "staff_audit": keys.staff_audit,
            "wrapups": keys.records_wrapups,
        }

    async def step(self, upto: Tips | None = None) -> Drained:
        """Write the next batch of each stream (with ``upto``, of its entries up to that
        stream's tip only); nothing if there is none. Steps take turns, in one process and
        across processes (the drain lock; ``LockError`` if it stays taken for
        ``lock_wait_s``)."""
        lock = self.redis.lock(
            self.keys.records_drain_lock,
            timeout=LOCK_S,
            blocking_timeout=self.lock_wait_s,
            raise_on_release_error=False,  # outlived: the cursors kept the step right
        )
        async with self._turn, lock:
            return await self._step(upto)

    async def _step(self, upto: Tips | None) -> Drained:
        async with AsyncSession(self.engine) as session, session.begin():
            found = await session.scalars(select(StreamCursor))
            cursors = {c.stream: c for c in found.all()}
            read = await self._read(cursors, upto)
            if any(read.values()):
                await self._write(session, read, cursors)
        if read["queue_log"]:
            await self._trim(read["queue_log"][-1][0])
        if read["wrapups"]:
            after = _after(read["wrapups"][-1][0])
            await self.redis.xtrim(self.streams["wrapups"], minid=after, approximate=False)
        audited = len(read["audit"]) + len(read["staff_audit"])
        return Drained(
            len(read["queue_log"]),
            len(read["journal"]),
            audited,
            len(read["conversations"]),
            len(read["wrapups"]),
        )

    async def catch_up(self, upto: Tips | None = None) -> int:
        """Steps until the streams are drained (with ``upto``, up to those tips only);
        returns the entries written."""
        total = 0
        while (done := await self.step(upto)).total:
            total += done.total
        return total

    async def tips(self) -> Tips:
        """The id of each stream's last entry now (None: the stream is empty)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in self.streams.values():
                pipe.xrevrange(key, count=1)
            results = cast(list[Entries], await pipe.execute())
        return {
            name: (found[0][0] if found else None)
            for name, found in zip(self.streams, results, strict=True)
        }

    async def caught_up(self) -> None:
        """Return once what the streams hold now is in SQL. Requests that need this at once
        (a burst of operators saving their forms) share one catch-up begun after they asked,
        instead of each queueing its own steps behind the others'. A catch-up goes as far as
        the streams' tips when it begins, not on until they are empty: entries keep coming
        during a burst, and a request would otherwise wait for the burst to end."""
        wanted = self.passes_begun + 1  # any catch-up begun from now on will do
        async with self._shared:
            if self._passes_done >= wanted:
                return
            self.passes_begun += 1
            begun = self.passes_begun
            await self.catch_up(await self.tips())
            self._passes_done = begun

    async def turn(self) -> None:
        """Drain what the streams hold now; a failure is logged once and waits for the next
        turn (the entries stay in Redis)."""
        try:
            await self.catch_up()
            if self._failing:
                logger.info("records: database back; streams drained")
            self._failing = False
        except (SQLAlchemyError, OSError, RedisError) as exc:
            if not self._failing:
                logger.warning("records: drain failed, entries wait in Redis: %s", exc)
            self._failing = True
        except Exception:
            if not self._failing:
                logger.exception("records: drain failed on an entry; retrying")
            self._failing = True

    async def _read(
        self, cursors: Mapping[str, StreamCursor], upto: Tips | None
    ) -> dict[str, Entries]:
        read: dict[str, Entries] = {name: [] for name in self.streams}
        wanted = [name for name in self.streams if upto is None or upto.get(name) is not None]
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in wanted:
                cursor = cursors.get(name)
                tip = upto.get(name) if upto is not None else None
                pipe.xrange(
                    self.streams[name],
                    min=f"({cursor.last_id}" if cursor else "-",
                    max=tip or "+",
                    count=self.batch,
                )
            results = cast(list[Entries], await pipe.execute())
        read.update(zip(wanted, results, strict=True))
        return read

    async def _write(
        self,
        session: AsyncSession,
        read: Mapping[str, Entries],
        cursors: Mapping[str, StreamCursor],
    ) -> None:
        events = [queue_event(entry_id, fields) for entry_id, fields in read["queue_log"]]
        if events:  # written already (a replay): neither added nor applied again
            known = await session.scalars(
                select(QueueEvent.id).where(QueueEvent.id.in_([e.id for e in events]))
            )
            written = set(known.all())
            events = [e for e in events if e.id not in written]
        calls = {e.call_id for e in events if e.call_id}
        calls |= {fields["channel"] for _, fields in read["journal"] if fields.get("channel")}
        calls |= {fields["id"] for _, fields in read["conversations"] if fields.get("id")}
        contacts = await _contacts(session, calls)
        for entry_id, fields in read["conversations"]:
            if conversation := fields.get("id"):
                apply_conversation(_contact(session, contacts, conversation), entry_id, fields)
        for entry_id, fields in read["journal"]:
            if channel := fields.get("channel"):
                contact = _contact(session, contacts, channel)
                kind, detail = fields.get("kind", ""), fields.get("detail", "")
                apply_journal(contact, entry_id, kind, detail)
        if events:
            # Core's executemany (multi-row VALUES), not one ORM object a row: ~2x less CPU.
            table = QueueEvent.metadata.tables[QueueEvent.__tablename__]
            await session.execute(insert(table), [event.row() for event in events])
        for event in events:
            if event.call_id:
                apply_queue_event(_contact(session, contacts, event.call_id), event)
        audit = [_audit_entry(entry_id, fields) for entry_id, fields in read["audit"]]
        audit += [_audit_entry(f"staff:{i}", fields) for i, fields in read["staff_audit"]]
        if audit:
            known = await session.scalars(
                select(AuditEntry.id).where(AuditEntry.id.in_([a.id for a in audit]))
            )
            kept = set(known.all())
            session.add_all(a for a in audit if a.id not in kept)
        for _, fields in read["wrapups"]:
            await _write_wrapup(session, fields)
        for name, entries in read.items():
            if not entries:
                continue
            if (cursor := cursors.get(name)) is None:
                session.add(StreamCursor(stream=name, last_id=entries[-1][0]))
            else:
                cursor.last_id = entries[-1][0]

    async def _trim(self, last_written: str) -> None:
        """Trim written queue-log entries older than ``keep_s`` (never unwritten ones)."""
        keep_from = f"{int((self.clock() - self.keep_s) * 1000)}-0"
        if id_key(keep_from) > id_key(last_written):
            keep_from = _after(last_written)
        await self.redis.xtrim(self.streams["queue_log"], minid=keep_from)


def _after(entry_id: str) -> str:
    """The smallest stream id after ``entry_id``."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq) + 1}"


async def _write_wrapup(session: AsyncSession, fields: Mapping[str, str]) -> None:
    """A wrap-up accepted while the database was away, unless a later one is there."""
    written_at = float(fields["written_at"])
    row = await session.get(Wrapup, (fields["call"], fields["agent"]))
    if row is None:
        row = Wrapup(call_id=fields["call"], agent=fields["agent"])
        session.add(row)
    elif row.written_at > written_at:
        return
    row.queue, row.disposition = fields["queue"], fields["disposition"]
    row.notes, row.removed, row.written_at = fields["notes"], fields["removed"], written_at
    row.flags = fields.get("flags", "[]")


async def _contacts(session: AsyncSession, ids: set[str]) -> dict[str, Contact]:
    if not ids:
        return {}
    found = await session.scalars(select(Contact).where(Contact.id.in_(sorted(ids))))
    return {c.id: c for c in found.all()}


def _contact(session: AsyncSession, contacts: dict[str, Contact], call_id: str) -> Contact:
    if (found := contacts.get(call_id)) is not None:
        return found
    contact = contacts[call_id] = new_contact(call_id)
    session.add(contact)
    return contact


def _audit_entry(entry_id: str, fields: Mapping[str, str]) -> AuditEntry:
    """An unmask from the vault's audit stream (its ref shortened like a contact's key), or a
    staff action (``staff:`` before its stream id)."""
    if "ref" in fields:
        action, target = "unmask", fields["ref"][:12]
    else:
        action, target = fields.get("action", "")[:32], fields.get("target", "")[:64]
    return AuditEntry(
        id=entry_id,
        at=datetime.fromisoformat(fields["at"]).timestamp(),
        actor=fields.get("actor", "")[:64],
        action=action,
        target=target,
        reason=fields.get("reason", ""),
    )
