"""Screen-pops from the ACD's queue log: one reader per app instance, fanned out to consoles.

An OFFER entry (call, agent, queue) becomes a pop for that agent, completed from the ACD's
call hash: pseudonym, language, time waited, the line dialled and the caller's menu choices,
never the caller's number. The stream's entry ids are the
events' ids, so a console that reconnects with ``Last-Event-ID`` reads what it missed with
XRANGE and then follows the live fan-out, losing nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.keys import Keys
from core.tasks import stop_if_cancelled

logger = logging.getLogger(__name__)

Entry = tuple[str, Mapping[str, str]]
#: Entries a console may fall behind by before it is cut off (its browser reconnects and
#: catches up from the stream).
BACKLOG = 1000
#: Longest XREAD block of the instance's reader (milliseconds; below the socket timeout).
BLOCK_MS = 1000
#: Entries one catch-up read returns at most.
CATCH_UP = 500
#: How long a pop sent is kept for a reload (seconds): longer than a call and its wrap-up.
POP_KEPT_S = 86400


def stream_id(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a comparable pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class ContextKind(StrEnum):
    """Where an offered call comes from, when not straight from the line."""

    CALLBACK = "callback"  # the caller asked to be called back and kept their place
    TEXT = "text"  # the volunteer calls the texter of one of their conversations


@dataclass(frozen=True)
class CallContext:
    """The call's own context: its kind and when the caller asked for it (epoch seconds)."""

    kind: ContextKind
    asked_at: float


@dataclass(frozen=True)
class OfferPop:
    """What a volunteer's screen shows when a call rings for them."""

    call_id: str
    pseudonym: str
    queue: str
    language: str
    waited_s: int
    #: The line the caller dialled (the hotline's own number) and their menu choices.
    line: str
    ivr_path: str
    #: None: a call straight from the line.
    context: CallContext | None = None

    def to_json(self, dispositions: tuple[str, ...], flags: tuple[str, ...]) -> str:
        """The event's data, with the queue's ``dispositions`` and ``flags`` for the wrap-up
        form."""
        return json.dumps(
            {**asdict(self), "dispositions": list(dispositions), "flags": list(flags)}
        )


def offered_call(fields: Mapping[str, str], agent_id: str) -> str | None:
    """The call a queue log entry offers to ``agent_id``, or None."""
    if fields.get("event") == "OFFER" and fields.get("agent") == agent_id:
        return fields.get("call")
    return None


@dataclass(eq=False)
class Subscriber:
    """One console's share of the fan-out: the entries naming ``agent``, or all of them."""

    agent: str | None = None
    #: Entries to send; None wakes the console to end its stream.
    entries: asyncio.Queue[Entry | None] = field(default_factory=lambda: asyncio.Queue(BACKLOG))
    #: Set when it fell ``BACKLOG`` entries behind, or the app stops: its stream ends (the
    #: browser resumes from its last event, here or at another instance).
    cut_off: bool = False

    def wants(self, entry: Entry) -> bool:
        """Whether ``entry`` is for this console."""
        return self.agent is None or entry[1].get("agent") == self.agent

    async def next(self, within: float) -> Entry | None:
        """The next entry; None after ``within`` seconds or when the stream is to end."""
        try:
            async with asyncio.timeout(within):
                return await self.entries.get()
        except TimeoutError:
            return None


class QueueLogFeed:
    """The instance's reader of the queue log (or of another ``stream`` whose entries name
    an ``agent``) and the consoles it feeds."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, stream: str = "") -> None:
        self.redis, self.keys = redis, keys
        self.stream = stream or keys.acd_queue_log
        self._subscribers: set[Subscriber] = set()

    async def run(self) -> None:
        """Read new entries and hand each to every subscriber, until cancelled."""
        last = ""
        while True:
            stop_if_cancelled()
            try:
                last = last or await self.newest_id()
                found = cast(
                    list[tuple[str, list[Entry]]],
                    await self.redis.xread({self.stream: last}, block=BLOCK_MS),
                )
            except RedisError as exc:
                logger.warning("console feed: %s unreadable (%s); retrying", self.stream, exc)
                await asyncio.sleep(1)
                continue
            for _, entries in found:
                for entry in entries:
                    last = entry[0]
                    self._publish(entry)

    def _publish(self, entry: Entry) -> None:
        for subscriber in self._subscribers:
            if not subscriber.wants(entry):
                continue
            try:
                subscriber.entries.put_nowait(entry)
            except asyncio.QueueFull:
                subscriber.cut_off = True

    def close(self) -> None:
        """End every console's stream (the app is stopping)."""
        for subscriber in self._subscribers:
            subscriber.cut_off = True
            with contextlib.suppress(asyncio.QueueFull):  # a full queue wakes it anyway
                subscriber.entries.put_nowait(None)

    @contextlib.contextmanager
    def subscribe(self, agent: str | None = None) -> Iterator[Subscriber]:
        """Entries read from now on (those naming ``agent`` if given), while the block lasts."""
        subscriber = Subscriber(agent)
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    async def newest_id(self) -> str:
        """The id of the newest entry ("0-0" if none): a page starts its events after it."""
        newest = await self.redis.xrevrange(self.stream, count=1)
        return str(newest[0][0]) if newest else "0-0"

    async def newest(self, count: int) -> Sequence[Entry]:
        """The newest ``count`` entries, newest first."""
        found = await self.redis.xrevrange(self.stream, count=count)
        return cast(Sequence[Entry], found)

    async def after(self, entry_id: str) -> Sequence[Entry]:
        """Entries after ``entry_id`` (at most ``CATCH_UP``), oldest first."""
        found = await self.redis.xrange(self.stream, min=f"({entry_id}", count=CATCH_UP)
        return cast(Sequence[Entry], found)

    async def keep_pop(self, agent_id: str, call_id: str, data: str) -> None:
        """Keep the pop (``data``, number-free) sent to ``agent_id`` for ``call_id``."""
        await self.redis.set(self.keys.console_pop(agent_id, call_id), data, ex=POP_KEPT_S)

    async def kept_pop(self, agent_id: str, call_id: str) -> str | None:
        """The pop kept for ``agent_id`` and ``call_id``, if any."""
        return cast(str | None, await self.redis.get(self.keys.console_pop(agent_id, call_id)))

    async def drop_pop(self, agent_id: str, call_id: str) -> None:
        """Forget the pop (its wrap-up is saved: a reload does not reopen it)."""
        await self.redis.delete(self.keys.console_pop(agent_id, call_id))

    async def pop(self, call_id: str, offered_at: float) -> OfferPop | None:
        """The screen-pop of a call offered at ``offered_at`` (None if the call is gone), with
        its context if it is a callback (the ACD's call record says so)."""
        fields = ["queue", "pseudonym", "language", "enqueued_at", "line", "ivr_path"]
        fields += ["kind", "callback_at"]
        found = await self.redis.hmget(self.keys.acd_call(call_id), fields)
        queue, pseudonym, language, enqueued_at, line, path, kind, asked_at = cast(
            list[str | None], found
        )
        if queue is None:
            return None
        waited = max(0.0, offered_at - float(enqueued_at or offered_at))
        context = None
        if kind == ContextKind.CALLBACK:
            context = CallContext(ContextKind.CALLBACK, float(asked_at or enqueued_at or 0))
        return OfferPop(
            call_id,
            pseudonym or "",
            queue,
            language or "",
            round(waited),
            line or "",
            path or "",
            context,
        )
