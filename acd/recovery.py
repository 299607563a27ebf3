"""What the ACD gives the reconciler: the channels its volunteers are held by, and the events
that records which outlived the process that handled them wait for in vain.

Timers live in the process (``core.calls.ChannelTimers``); a record written by a process
that died still says where its call was (a ringing leg since ``offered_at``, a caller waiting
for an announcement), so a new process restarts what the old one was waiting for. Offers
themselves expire in the store (``expire.lua``) whatever happens to any process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from acd.calls import Timer, callee_id, leg_id
from acd.config import QueueConfig
from acd.records import Caller, CallerPhase, LegPhase, Records
from acd.routing import AgentState
from core.ari import AriClient, PlaybackFinished
from core.calls import CallEvent, ChannelTimers, TimerFired
from core.commands import ari_playback_id
from core.keys import Keys


@dataclass(frozen=True)
class Holding:
    """A volunteer held (offered, or on a call) by a call of this instance, and the channels
    that must exist for it: the volunteer's leg, the caller's channel (for a call the
    volunteer asked for, the texter's once dialled; its call id names no channel)."""

    agent_id: str
    state: AgentState
    call_id: str
    channels: tuple[str, ...]
    #: The offer ringing the volunteer ("" once on the call).
    offer_id: str = ""
    #: Held by a call they asked for (to a texter): freed by releasing it, not by ending a
    #: queue's call.
    direct: bool = False


@dataclass
class AcdRecovery:
    """Reads the store and the records for the reconciler (``hotline.reconciler``)."""

    redis: aioredis.Redis
    keys: Keys
    records: Records
    ari: AriClient
    timers: ChannelTimers
    queues: Mapping[str, QueueConfig]
    agent_ids: tuple[str, ...]
    instance: str
    confirm_timeout_s: float
    clock: Callable[[], float]

    async def holdings(self) -> list[Holding]:
        """The volunteers offered or on a call for calls this instance owns."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in self.agent_ids:
                pipe.hmget(self.keys.acd_agent(agent_id), ["state", "offer", "call"])
            rows = cast(list[list[str | None]], await pipe.execute())
        held: list[tuple[str, AgentState, str, str]] = []  # agent, state, offer, call
        offers: list[str] = []
        for agent_id, (raw_state, offer, call) in zip(self.agent_ids, rows, strict=True):
            if raw_state == AgentState.OFFERED.value and offer:
                held.append((agent_id, AgentState.OFFERED, offer, ""))
                offers.append(offer)
            elif raw_state == AgentState.ON_CALL.value and call:
                held.append((agent_id, AgentState.ON_CALL, "", call))
        if not held:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for offer in offers:
                pipe.hget(f"{self.keys.acd}:offer:{offer}", "call")
            offer_calls = dict(
                zip(offers, cast(list[str | None], await pipe.execute()), strict=True)
            )
        calls = [call or offer_calls.get(offer) or "" for _, _, offer, call in held]
        async with self.redis.pipeline(transaction=False) as pipe:
            for call_id in calls:
                pipe.hmget(self.keys.acd_call(call_id), ["owner", "kind"])
                pipe.hget(self.keys.acd_texter(call_id), "owner")
            found: list[Any] = await pipe.execute()
        owners = cast(list[list[str | None]], found[0::2])
        texters = cast(list[str | None], found[1::2])
        out: list[Holding] = []
        for (agent_id, state, offer, _), call_id, (owner, kind), texter in zip(
            held, calls, owners, texters, strict=True
        ):
            if texter is not None and state is AgentState.ON_CALL:
                if texter == self.instance:
                    out.append(await self._asked_for(agent_id, call_id))
                continue
            if owner != self.instance:
                continue
            callback = kind == "callback"
            if state is AgentState.OFFERED:
                legs = (leg_id(offer, agent_id),)
                out.append(Holding(agent_id, state, call_id, legs, offer))
                continue
            caller = await (self.records.callback if callback else self.records.caller)(call_id)
            if caller is None or not caller.offer_id:
                continue  # a nailed-up agent's call, or one still being set up
            leg = leg_id(caller.offer_id, agent_id)
            other = callee_id(call_id) if callback else call_id
            out.append(Holding(agent_id, state, call_id, (leg, other)))
        return out

    async def _asked_for(self, agent_id: str, call_id: str) -> Holding:
        """A volunteer held by a call they asked for: their leg (named before it rings, as an
        offer's), and the texter's once dialled (its record written just before)."""
        channels: tuple[str, ...] = (leg_id(call_id, agent_id),)
        if await self.records.leg(callee_id(call_id)) is not None:
            channels += (callee_id(call_id),)
        return Holding(agent_id, AgentState.ON_CALL, call_id, channels, direct=True)

    async def lost_caller_events(self, channel_id: str) -> list[CallEvent]:
        """A queued caller's: the end of an announcement Asterisk no longer plays (the hold
        music comes back after it), then an announcement now (their place, and the timer of
        the next one)."""
        caller = await self.records.caller(channel_id)
        if caller is None or caller.phase is CallerPhase.BRIDGED:
            return []
        events: list[CallEvent] = []
        if caller.playback and not await self._playing(caller):
            playback = ari_playback_id(channel_id, caller.playback)
            events.append(PlaybackFinished(playback, "", f"channel:{channel_id}", "done"))
        if caller.phase is CallerPhase.WAITING and not self.timers.pending(
            channel_id, Timer.ANNOUNCE
        ):
            events.append(TimerFired(channel_id, Timer.ANNOUNCE))
        return events

    async def _playing(self, caller: Caller) -> bool:
        return await self.ari.playback_exists(ari_playback_id(caller.call_id, caller.playback))

    async def resume_leg(self, channel_id: str) -> list[CallEvent]:
        """Restart the timer a volunteer's leg waited on: the rest of its ring time, or the
        press-1 wait (again in full); a whisper that Asterisk no longer plays has ended."""
        leg = await self.records.leg(channel_id)
        if leg is None:
            return []
        match leg.phase:
            case LegPhase.RINGING if not self.timers.pending(channel_id, Timer.RONA):
                queue = self.queues.get(leg.queue)
                ring_s = queue.ring_timeout_s if queue else 0.0
                left = max(0.0, leg.offered_at + ring_s - self.clock())
                self.timers.start(channel_id, Timer.RONA, left)
            case LegPhase.WHISPER:
                whisper = ari_playback_id(channel_id, "whisper")
                if not await self.ari.playback_exists(whisper):
                    return [PlaybackFinished(whisper, "", f"channel:{channel_id}", "done")]
            case LegPhase.CONFIRM if not self.timers.pending(channel_id, Timer.CONFIRM):
                self.timers.start(channel_id, Timer.CONFIRM, self.confirm_timeout_s)
        return []
