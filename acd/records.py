"""The ARI adapter's records in Redis: queued callers, agent legs, nailed-up connections and
callbacks to make, each a hash of JSON fields (keys in ``core.keys``).

Several tasks touch one record (a caller's own events, offers from the tick, the agent leg), so
an update writes only the fields it changed and never brings back a record another task has
deleted. Any number of writes go to Redis in one round trip (``Records.save``), or with a
store operation (``Records.along``, ``Records.encode``).

Callers and legs are read only by the app instance that holds their channels (offers for
another instance's call go to that instance's inbox), so the records this instance writes are
also kept here, write-through: Redis stays authoritative and complete, and a restarted or
second instance reads it; this instance just does not read back what it wrote. A caller leaves
the cache once its deletion is in Redis, a leg when its channel's last event is handled
(``Records.forget``). Nailed-up connections and callbacks are shared by every instance and
always read from Redis.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any, Final, TypeVar, cast

import redis.asyncio as aioredis

from core import lua
from core.keys import Keys


class LegPhase(Enum):
    """Where an agent leg is."""

    RINGING = "ringing"
    WHISPER = "whisper"
    CONFIRM = "confirm"
    BRIDGED = "bridged"
    ENDED = "ended"


class CallerPhase(Enum):
    """Where a queued caller is."""

    WAITING = "waiting"
    BRIDGED = "bridged"
    LEAVING = "leaving"


@dataclass(frozen=True)
class Leg:
    """One agent leg: the offer it carries and to which caller."""

    leg_id: str
    offer_id: str
    agent_id: str
    call_id: str
    queue: str
    external: bool
    phase: LegPhase = LegPhase.RINGING
    #: The leg of a callback: the agent's, or (``callee``) the one dialling the caller back.
    callback: bool = False
    callee: bool = False
    offered_at: float = 0.0
    #: Asked for by a volunteer (text to voice), not offered by the queue: no queue's records;
    #: the store holds the volunteer until it ends (``acd/lua/texter.lua``).
    direct: bool = False
    #: Rings an agent to take over a connected call (a transfer): the first agent stays on.
    handover: bool = False


@dataclass(frozen=True)
class Caller:
    """A queued caller channel (or a caller to call back)."""

    call_id: str
    queue: str
    language: str
    pseudonym: str
    enqueued_at: float
    #: The caller's vault ref ("" for a withheld number: no callback possible).
    caller_ref: str = ""
    phase: CallerPhase = CallerPhase.WAITING
    offer_id: str = ""
    agent_id: str = ""
    bridge: str = ""
    #: The announcement or farewell playing now ("" if none).
    playback: str = ""
    #: Connected to a nailed-up agent: the agent's leg and bridge outlive the call.
    nailed: bool = False
    #: A requested transfer not yet carried out (``Transfer.encode``), or "".
    transfer_to: str = ""
    #: The leg ringing an agent to take the call over, or "".
    transfer_leg: str = ""


@dataclass(frozen=True)
class Nail:
    """A nailed-up agent's standing connection: its leg, its bridge, what it carries."""

    agent_id: str
    leg_id: str
    bridge: str
    ready: bool = False
    #: The offer waiting for the connection to come up (JSON), or "".
    pending: str = ""
    #: The caller connected now, or "".
    call_id: str = ""


Record = Caller | Leg | Nail
R = TypeVar("R", Caller, Leg, Nail)
#: Each record type's field names, in order.
_FIELDS: Final[dict[type, tuple[str, ...]]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in (Caller, Leg, Nail)
}


class RecordKind(Enum):
    """What a record is, which says where it lives, how long, and whether it is cached."""

    CALLER = "caller"
    LEG = "leg"
    NAIL = "nail"
    CALLBACK = "callback"


_TTL_S = {
    RecordKind.CALLER: 86400,
    RecordKind.LEG: 86400,
    RecordKind.NAIL: 86400,
    RecordKind.CALLBACK: 7 * 86400,
}
_CACHED = (RecordKind.CALLER, RecordKind.LEG)


@dataclass(frozen=True)
class Write:
    """One change to a record: the whole record, some of its fields, or (None) its deletion."""

    kind: RecordKind
    id: str
    record: Record | None
    fields: tuple[str, ...] = ()


def _kind_and_id(record: Record) -> tuple[RecordKind, str]:
    match record:
        case Caller():
            return RecordKind.CALLER, record.call_id
        case Leg():
            return RecordKind.LEG, record.leg_id
        case Nail():
            return RecordKind.NAIL, record.agent_id


def put(record: Record) -> Write:
    """Write the whole record (creating it)."""
    return Write(*_kind_and_id(record), record)


def put_callback(caller: Caller) -> Write:
    """Keep what calling ``caller`` back needs (the vault ref, never the number)."""
    return Write(RecordKind.CALLBACK, caller.call_id, caller)


def update(record: Record, *names: str) -> Write:
    """Write these fields of the record, if it still exists."""
    return Write(*_kind_and_id(record), record, names)


def delete(kind: RecordKind, record_id: str) -> Write:
    """Delete a record."""
    return Write(kind, record_id, None)


#: Lua applying encoded writes (``Records.encode``); the store's scripts include it too.
SAVE_RECORDS: Final = lua.source("acd", "records")


class Records:
    """Reads and writes the adapter's records (see the module's docstring)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis, self._keys = redis, keys
        self._save = redis.register_script(SAVE_RECORDS + "\nsave_records(ARGV, 1)\n")
        self._cache: dict[tuple[RecordKind, str], Record | None] = {}

    def _key(self, kind: RecordKind, record_id: str) -> str:
        match kind:
            case RecordKind.CALLER:
                return self._keys.acd_caller(record_id)
            case RecordKind.LEG:
                return self._keys.acd_leg(record_id)
            case RecordKind.NAIL:
                return self._keys.acd_nail(record_id)
            case RecordKind.CALLBACK:
                return self._keys.acd_callback(record_id)

    async def caller(self, call_id: str) -> Caller | None:
        """A queued caller's record."""
        return await self._load(RecordKind.CALLER, call_id, _caller)

    async def callback(self, call_id: str) -> Caller | None:
        """A callback still to make."""
        return await self._load(RecordKind.CALLBACK, call_id, _caller)

    async def leg(self, leg_id: str) -> Leg | None:
        """An agent leg's record."""
        return await self._load(RecordKind.LEG, leg_id, _leg)

    async def nail(self, agent_id: str) -> Nail | None:
        """A nailed-up agent's standing connection."""
        return await self._load(RecordKind.NAIL, agent_id, _nail)

    def forget(self, leg_id: str) -> None:
        """The leg's channel is gone: its record (in Redis until it expires) leaves the cache."""
        self._cache.pop((RecordKind.LEG, leg_id), None)

    async def save(self, *writes: Write) -> None:
        """Carry out ``writes`` in order, in one round trip."""
        if writes:
            async with self.along(*writes) as args:
                await self._save(args=args)

    @asynccontextmanager
    async def along(self, *writes: Write) -> AsyncIterator[list[str | int]]:
        """``writes`` as arguments of ``save_records`` (``acd/lua/records.lua``), to send
        with a store operation inside the block. The cache, so every task of this instance,
        sees them at once; until the block ends, a record they delete reads as deleted even
        if Redis still has it."""
        self.remember(*writes)
        try:
            yield self.encode(*writes)
        finally:
            for write in writes:
                slot = (write.kind, write.id)
                if write.record is None and slot in self._cache and self._cache[slot] is None:
                    del self._cache[slot]

    def encode(self, *writes: Write) -> list[str | int]:
        """``writes`` as arguments of ``save_records``, leaving the cache as it is (for an
        operation that may refuse them; ``remember`` them once it has not)."""
        args: list[str | int] = []
        for write in writes:
            args += [self._key(write.kind, write.id)]
            if write.record is None:
                args += [0, "0", 0]
                continue
            names = write.fields or _FIELDS[type(write.record)]
            args += [_TTL_S[write.kind], "0" if write.fields else "1", len(names)]
            for name in names:
                value = getattr(write.record, name)  # flat fields: no deep copy (asdict's)
                args += [name, json.dumps(value.value if isinstance(value, Enum) else value)]
        return args

    def remember(self, *writes: Write) -> None:
        """Apply writes to the cache (a deletion stays as a marker until ``along`` ends)."""
        for write in writes:
            if write.kind not in _CACHED:
                continue
            slot = (write.kind, write.id)
            if write.record is None or not write.fields:
                self._cache[slot] = write.record
            elif (cached := self._cache.get(slot)) is not None:
                changed = {name: getattr(write.record, name) for name in write.fields}
                self._cache[slot] = replace(cached, **changed)

    async def _load(
        self, kind: RecordKind, record_id: str, parse: Callable[[Mapping[str, Any]], R | None]
    ) -> R | None:
        if (kind, record_id) in self._cache:  # None: deleted, maybe not yet in Redis
            return cast(R | None, self._cache[kind, record_id])
        raw = cast(dict[str, str], await self._redis.hgetall(self._key(kind, record_id)))
        return parse({name: json.loads(value) for name, value in raw.items()})


# A record's fields as read; None if it is gone (or holds only a stray update's fields).


def _caller(data: Mapping[str, Any]) -> Caller | None:
    return Caller(**{**data, "phase": CallerPhase(data["phase"])}) if "queue" in data else None


def _leg(data: Mapping[str, Any]) -> Leg | None:
    return Leg(**{**data, "phase": LegPhase(data["phase"])}) if "offer_id" in data else None


def _nail(data: Mapping[str, Any]) -> Nail | None:
    return Nail(**data) if "leg_id" in data else None
