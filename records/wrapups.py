"""Wrap-ups and contact history: a volunteer's disposition and scrubbed notes for a call they
answered, written until their wrap-up ends plus a grace period; and, for the next volunteer,
how often the same caller (by keyed reference) called before and how those calls ended.

The call's volunteers, queue and times come from the queue history in SQL, caught up from the
Redis stream first, so a wrap-up written during the call finds it. While the database is away,
they come from the queue log still in Redis: a wrap-up checked there is accepted and kept on a
stream (``Keys.records_wrapups``) that the drain writes once the database is back; a call
whose queue log Redis no longer holds is refused as before (503).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from redis.exceptions import LockError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.api import ApiError
from core.ports import TakenCall
from core.scrub import scrub
from records.contacts import queue_event
from records.drain import Drain, Entries
from records.models import Contact, QueueEvent, Wrapup

logger = logging.getLogger(__name__)

#: Queue-log events that end a volunteer's part of a call.
_AGENT_ENDS = ("COMPLETEAGENT", "COMPLETECALLER", "TRANSFER")
#: Queue-log entries read from Redis at a time when the database is away.
_SCAN = 1000


@dataclass(frozen=True)
class QueueRules:
    """What the records side needs of a queue's file."""

    dispositions: tuple[str, ...]
    wrapup_s: float
    service_level_s: float
    short_abandon_s: float
    #: The flags a volunteer may set on a contact of this queue.
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class WrittenWrapup:
    """A stored wrap-up and what the scrubber removed from its notes."""

    call_id: str
    agent: str
    queue: str
    disposition: str
    notes: str
    removed: Mapping[str, int]
    written_at: float
    flags: tuple[str, ...] = ()
    #: The id of the stream entry it waits in while the database is away ("": written).
    kept: str = ""

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dict (without ``kept``)."""
        fields = {**self.__dict__, "removed": dict(self.removed), "flags": list(self.flags)}
        del fields["kept"]
        return fields

    def entry(self) -> dict[str, str]:
        """The fields of its entry in the wrap-up stream."""
        return {
            "call": self.call_id,
            "agent": self.agent,
            "queue": self.queue,
            "disposition": self.disposition,
            "notes": self.notes,
            "removed": json.dumps(dict(self.removed)),
            "written_at": repr(self.written_at),
            "flags": json.dumps(list(self.flags)),
        }


@dataclass(frozen=True)
class History:
    """Earlier contacts of the same caller, their last dispositions and the distinct flags
    volunteers set on them (both newest first)."""

    earlier_contacts: int
    last_dispositions: Sequence[str]
    flags: Sequence[str] = ()


class Wrapups:
    """Writes and reads wrap-ups; raises ApiError with an id for every refusal."""

    def __init__(
        self,
        engine: AsyncEngine,
        drain: Drain,
        queues: Mapping[str, QueueRules],
        *,
        grace_s: float,
        notes_max: int,
        region: str,
        clock: Callable[[], float],
    ) -> None:
        self.engine, self.drain, self.queues = engine, drain, queues
        self.grace_s, self.notes_max, self.region, self.clock = grace_s, notes_max, region, clock

    async def write(
        self,
        call_id: str,
        agent: str,
        disposition: str,
        notes: str,
        flags: Sequence[str] = (),
    ) -> WrittenWrapup:
        """Store ``agent``'s wrap-up of ``call_id`` with the ``flags`` they set (of the
        queue's list; a second wrap-up replaces the first); with the database away, keep it
        in Redis (``kept``) if the queue log there shows the call is theirs, else raise the
        database's error."""
        if len(notes) > self.notes_max:
            raise ApiError(413, "notes-too-long", f"notes are limited to {self.notes_max}")
        wrapup = _Form(disposition, tuple(dict.fromkeys(flags)))
        try:
            return await self._write(call_id, agent, wrapup, notes)
        except (SQLAlchemyError, OSError) as exc:
            part = await self._part_in_redis(call_id, agent)
            if part is None:
                raise
            logger.warning("records: %s: database away (%s); wrap-up kept in Redis", call_id, exc)
        now = self.clock()
        queue = self._check(part, wrapup, now)
        scrubbed = scrub(notes, self.region)
        written = WrittenWrapup(
            call_id, agent, queue, disposition, scrubbed.text, scrubbed.removed, now, wrapup.flags
        )
        redis, keys = self.drain.redis, self.drain.keys
        kept = cast(str, await redis.xadd(keys.records_wrapups, written.entry()))  # type: ignore[arg-type]
        return dataclasses.replace(written, kept=kept)

    async def _write(self, call_id: str, agent: str, wrapup: _Form, notes: str) -> WrittenWrapup:
        await self.catch_up()
        now = self.clock()
        async with AsyncSession(self.engine, expire_on_commit=False) as session, session.begin():
            queue = self._check(await self._part(session, call_id, agent), wrapup, now)
            scrubbed = scrub(notes, self.region)
            row = await session.get(Wrapup, (call_id, agent))
            if row is None:
                row = Wrapup(call_id=call_id, agent=agent)
                session.add(row)
            row.queue, row.disposition, row.notes = queue, wrapup.disposition, scrubbed.text
            row.removed, row.written_at = json.dumps(dict(scrubbed.removed)), now
            row.flags = json.dumps(list(wrapup.flags))
        return _written(row)

    async def catch_up(self) -> None:
        """Drain what the streams hold now, so that a call still going is found (the workers
        drain every few seconds; a request does not wait for them). Another process draining
        the same entries at once (a conflict, or the drain lock staying taken) is no failure:
        it writes them."""
        try:
            await self.drain.caught_up()
        except (SQLAlchemyError, LockError) as exc:
            logger.info("records: catching up left to another drain: %s", exc)

    def _check(self, part: _Part, wrapup: _Form, now: float) -> str:
        """The queue of the volunteer's ``part`` of the call, if the ``wrapup``'s disposition
        and flags are of its lists and the wrap-up time (with its grace) is not over at
        ``now``."""
        queue = part.queue
        rules = self.queues.get(queue)
        if rules is None or wrapup.disposition not in rules.dispositions:
            allowed = ", ".join(rules.dispositions) if rules else ""
            raise ApiError(400, "invalid-disposition", f"{queue} takes: {allowed}")
        if not set(wrapup.flags) <= set(rules.flags):
            raise ApiError(400, "invalid-flag", f"{queue} flags: {', '.join(rules.flags)}")
        closes_at = self._closes_at(part)
        if closes_at is not None and now > closes_at:
            raise ApiError(409, "wrapup-closed", "the wrap-up time of this call is over")
        return queue

    def _closes_at(self, part: _Part) -> float | None:
        """When the volunteer may no longer write their wrap-up (None: on the call still):
        the end of their wrap-up as the ACD set it, extensions included (else, for entries
        older than that, their part's end plus the queue's wrap-up time), plus the grace."""
        if part.ended is None:
            return None
        if part.wrapup_until is not None:
            return part.wrapup_until + self.grace_s
        rules = self.queues.get(part.queue)
        return part.ended + (rules.wrapup_s if rules else 0.0) + self.grace_s

    async def _part(self, session: AsyncSession, call_id: str, agent: str) -> _Part:
        """The queue ``agent`` answered ``call_id`` in, when their part ended (None: on the
        call still) and when their wrap-up ends; 404 for an unknown call, 403 for someone
        else's."""
        if await session.get(Contact, call_id) is None:
            raise ApiError(404, "no-such-call", call_id)
        rows = (
            await session.execute(
                select(QueueEvent.event, QueueEvent.queue, QueueEvent.at, QueueEvent.wrapup_until)
                .where(QueueEvent.call_id == call_id, QueueEvent.agent == agent)
                .order_by(QueueEvent.id)
            )
        ).all()
        return _volunteer_part([_Event(*row) for row in rows])

    async def _part_in_redis(self, call_id: str, agent: str) -> _Part | None:
        """As ``_part``, from the queue log still in Redis; None if it cannot tell: the
        volunteer's answer is not there and neither is the call's start (trimmed or never
        there), so the call may be theirs."""
        redis, key = self.drain.redis, self.drain.keys.acd_queue_log
        events: list[_Event] = []
        start, whole = "-", False
        while True:
            batch = cast(Entries, await redis.xrange(key, min=start, count=_SCAN))
            for entry_id, fields in batch:
                if fields.get("call") == call_id:
                    event = queue_event(entry_id, fields)
                    whole = whole or event.event == "ENTERQUEUE"
                    if event.agent == agent:
                        events.append(
                            _Event(event.event, event.queue, event.at, event.wrapup_until)
                        )
            if len(batch) < _SCAN:
                break
            start = f"({batch[-1][0]}"
        if not whole and all(event.event != "CONNECT" for event in events):
            return None
        return _volunteer_part(events)

    async def taken(self, call_id: str, agent: str) -> TakenCall:
        """The call ``agent`` answered, with its caller as the contact knows them and when
        their wrap-up closes (its end, extensions included, plus the grace); 404
        no-such-call, 403 not-your-call."""
        await self.catch_up()
        async with AsyncSession(self.engine) as session:
            part = await self._part(session, call_id, agent)
            contact = await session.get_one(Contact, call_id)
        return TakenCall(
            call_id=call_id,
            caller_key=contact.caller_key,
            pseudonym=contact.pseudonym,
            language=contact.language,
            line=contact.line,
            queue=part.queue,
            closes_at=self._closes_at(part),
        )

    async def read(self, call_id: str) -> list[WrittenWrapup]:
        """Every wrap-up of ``call_id``."""
        async with AsyncSession(self.engine) as session:
            rows = await session.scalars(
                select(Wrapup).where(Wrapup.call_id == call_id).order_by(Wrapup.written_at)
            )
            return [_written(row) for row in rows.all()]

    async def history(self, call_id: str, agent: str | None = None, last: int = 5) -> History:
        """The caller of ``call_id``'s earlier contacts, their ``last`` dispositions and the
        distinct flags set on them (newest first); with ``agent``, only if the call was
        offered to that volunteer (403 otherwise)."""
        await self.catch_up()
        async with AsyncSession(self.engine) as session:
            contact = await session.get(Contact, call_id)
            if contact is None:
                raise ApiError(404, "no-such-call", call_id)
            if agent is not None and not await session.scalar(
                select(func.count())
                .select_from(QueueEvent)
                .where(
                    QueueEvent.call_id == call_id,
                    QueueEvent.agent == agent,
                    QueueEvent.event.in_(("OFFER", "CONNECT")),
                )
            ):
                raise ApiError(403, "not-your-call", "the call was not offered to you")
            if not contact.caller_key:
                return History(0, ())
            earlier = (
                Contact.caller_key == contact.caller_key,
                Contact.arrived_at < (contact.arrived_at or 0),
            )
            count = await session.scalar(select(func.count()).select_from(Contact).where(*earlier))
            rows = (
                await session.execute(
                    select(Wrapup.disposition, Wrapup.flags)
                    .join(Contact, Contact.id == Wrapup.call_id)
                    .where(*earlier)
                    .order_by(Wrapup.written_at.desc())
                )
            ).all()
        flags = dict.fromkeys(flag for row in rows for flag in json.loads(row.flags))
        return History(count or 0, tuple(row.disposition for row in rows[:last]), tuple(flags))


@dataclass(frozen=True)
class _Form:
    """What a volunteer picked in the wrap-up form."""

    disposition: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class _Event:
    """One of a volunteer's queue-log events of a call."""

    event: str
    queue: str
    at: float
    wrapup_until: float | None


@dataclass(frozen=True)
class _Part:
    """A volunteer's part of a call: the queue they last answered it in, when that part
    ended (None: on the call still) and when their wrap-up of it ends (None: not known, an
    entry written before the queue log said)."""

    queue: str
    ended: float | None
    wrapup_until: float | None


def _volunteer_part(events: Sequence[_Event]) -> _Part:
    """From one volunteer's queue-log events of a call (in order): their part of it, the
    wrap-up's end being the last one set after their answer (an extension moves it); 403 if
    they never answered it."""
    connects = [e for e in events if e.event == "CONNECT"]
    if not connects:
        raise ApiError(403, "not-your-call", "only a volunteer who took the call wraps it up")
    last = connects[-1]
    after = [e for e in events if e.at >= last.at]
    ends = [e.at for e in after if e.event in _AGENT_ENDS]
    untils = [e.wrapup_until for e in after if e.wrapup_until is not None]
    return _Part(last.queue, ends[-1] if ends else None, untils[-1] if untils else None)


def _written(row: Wrapup) -> WrittenWrapup:
    return WrittenWrapup(
        call_id=row.call_id,
        agent=row.agent,
        queue=row.queue,
        disposition=row.disposition,
        notes=row.notes,
        removed=json.loads(row.removed),
        written_at=row.written_at,
        flags=tuple(json.loads(row.flags)),
    )
