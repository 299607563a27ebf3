"""The reconciler: what an app instance's records say against what Asterisk has.

A crash, a restart, a Redis outage or a lost event leaves records without channels, channels
without records, and timers that died with a process. Each instance compares, at start, after
every reconnect of its event stream and every ``reconcile_s``, its records (the calls it owns,
the volunteers its calls hold) with Asterisk's channels, and repairs what differs:

- a record whose channel is gone is ended through its call's machine (``ChannelGone``); a
  volunteer still held on the next pass is freed in the store (one held by a call they asked
  for, to a texter, is named by their leg and the texter's: the call's id is no channel);
- a record that outlived the process that handled it gets back what it waited for (a timer, the
  end of a playback Asterisk no longer plays);
- a live channel of the app that no record names, seen so on two passes in a row, is adopted:
  a caller starts the IVR again (or goes to the dialplan's fallback), a volunteer's leg is hung
  up; channels talking in a bridge are left alone, one left alone in a bridge is hung up;
- Redis that lost its data (its marker key is gone) gets back what the instance owns: the
  agents' profiles; the consumer groups are recreated by their readers;
- an Asterisk that refuses connections (its process is gone: a dead box behind the SIP proxy)
  has no channels: its calls end and the volunteers they held are freed.

Each repair is a ``RECONCILE`` queue-log event and counts in ``hotline_reconcile_repairs``.
Deciding is pure (``assess``); ``Reconciler`` gathers the facts and carries the repairs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from acd.calls import NAIL_PREFIX, is_leg
from acd.model import MissReason, Party
from acd.monitor import session_of
from acd.recovery import Holding
from acd.routing import AgentState
from core.ari import AriError, AriRefused, StasisStart
from core.ari.events import Channel
from core.calls import ChannelGone
from core.keys import Keys
from core.tasks import cancel_requested, repeat

if TYPE_CHECKING:
    from hotline.app import HotlineApp

logger = logging.getLogger(__name__)

#: How long a call's end event may still be on its way once Asterisk no longer lists it.
ENDS_IN_FLIGHT_S = 1.0

#: The dialplan context of the toll-free numbers (``dialplans/extensions.conf``).
INBOUND_CONTEXT = "hotline-inbound"


@dataclass(frozen=True)
class Survey:
    """What one pass found: Redis first, then Asterisk (a channel that a record names
    existed when the record was read, so missing from a later list means gone)."""

    #: Every channel Asterisk has.
    live: frozenset[str]
    #: The channels subscribed to this instance's Stasis application.
    in_app: frozenset[str]
    #: The calls this instance owns (IVR and queued callers).
    owned: frozenset[str]
    #: Volunteers held by this instance's calls, with the channels they need.
    holdings: tuple[Holding, ...]
    #: Channels this process handles (its timers and events are here).
    handled: frozenset[str]
    #: Those of them that sent this process events (so they existed), ended by none yet.
    evented: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Assessment:
    """What to repair after one pass."""

    #: Recorded channels that are gone: their machines hear ``ChannelGone``.
    gone: frozenset[str] = frozenset()
    #: Volunteers still held for a channel found gone on the pass before: freed in the store.
    stuck: tuple[Holding, ...] = ()
    #: Owned calls that outlived the process that handled them.
    outlived_calls: frozenset[str] = frozenset()
    #: Volunteers' legs that outlived the process that rang them.
    outlived_legs: frozenset[str] = frozenset()
    #: Live channels of the app that no owned call or holding names, on two passes in a row:
    #: adopted unless a record (IVR, queue, leg, volunteer line) names them.
    unrecorded: frozenset[str] = frozenset()
    #: What this pass found missing or unrecorded, for the next pass.
    missing: frozenset[str] = frozenset()
    strangers: frozenset[str] = frozenset()


def assess(survey: Survey, before: Assessment) -> Assessment:
    """Decide the repairs of one pass, given the previous pass's findings."""
    legs = {ch for h in survey.holdings for ch in h.channels}
    missing = frozenset(legs - survey.live)
    # An owned call's channel existed when it was recorded, and one that sent events existed
    # then: gone at once. A volunteer's leg may not exist yet (rung just after the store's
    # offer): gone only on two passes.
    gone = (
        (survey.owned - survey.live) | (survey.evented - survey.live) | (missing & before.missing)
    )
    stuck = tuple(
        h
        for h in survey.holdings
        if any(ch in before.gone for ch in h.channels) and any(ch in gone for ch in h.channels)
    )
    alive_legs = (legs & survey.live) - survey.handled
    strangers = survey.in_app - survey.owned - legs - survey.handled
    return Assessment(
        gone=frozenset(gone),
        stuck=stuck,
        outlived_calls=(survey.owned & survey.live) - survey.handled,
        outlived_legs=frozenset(alive_legs),
        unrecorded=strangers & before.strangers,
        missing=missing,
        strangers=strangers,
    )


def confirm(found: Assessment, before: Assessment, recorded: frozenset[str]) -> Assessment:
    """``found`` without the calls that ended on their own during the pass: an owned call or
    evented channel is gone only if still ``recorded`` (owned, or evented and not ended) a
    moment after the channel list missed it, for its end event may have been on its way.
    Legs missing on two passes stay gone."""
    gone = (found.gone & before.missing) | (found.gone & recorded)
    stuck = tuple(h for h in found.stuck if any(ch in gone for ch in h.channels))
    return replace(found, gone=gone, stuck=stuck)


class Action(StrEnum):
    """What becomes of a live channel no record names."""

    RESTART = "restart"  # a StasisStart with the args the dialplan gives such calls
    FALLBACK = "fallback"  # a caller the app cannot place: the dialplan's fallback
    HANG_UP = "hang-up"  # a volunteer's leg, or a party left alone in a bridge
    KEEP = "keep"  # two talking in a bridge: their call goes on


@dataclass(frozen=True)
class Adoption:
    """What to do with a live channel no record names."""

    action: Action
    args: tuple[str, ...] = ()


def adoption(channel: Channel, bridge_size: int, volunteer_exten: str) -> Adoption:
    """A caller starts again where calls start (the IVR, the volunteer line); a volunteer's
    leg or a party left alone in a bridge is hung up; two talking in a bridge go on."""
    if bridge_size >= 2:
        return Adoption(Action.KEEP)
    if bridge_size == 1 or is_leg(channel.id):
        return Adoption(Action.HANG_UP)
    if channel.context == INBOUND_CONTEXT:
        return Adoption(Action.RESTART, ("inbound", channel.exten))
    if channel.exten == volunteer_exten:
        return Adoption(Action.RESTART, ("volunteer",))
    return Adoption(Action.FALLBACK)


@dataclass
class Reconciler:
    """Runs the passes for one app instance (see the module's docstring)."""

    app: HotlineApp
    clock: Callable[[], float]
    _before: Assessment = field(default_factory=Assessment)
    #: Asterisk refused the last pass's connections (said once, not on every pass).
    _refused: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def keys(self) -> Keys:
        return Keys(self.app.settings.redis.prefix)

    async def run(self) -> None:
        """A pass every ``reconcile_s``, for ever."""
        await repeat(self.reconcile, self.app.settings.acd.reconcile_s, "reconcile pass")

    async def reconcile(self, *, after_gap: bool = False) -> None:
        """One pass; a failure (Redis or Asterisk unreachable) waits for the next.
        ``after_gap``: the event stream was down, so events of every call may be lost."""
        async with self._lock:
            try:
                await self._pass(after_gap)
            except (AriError, RedisConnectionError, RedisTimeoutError) as exc:
                if cancel_requested():
                    raise asyncio.CancelledError from None
                logger.warning("reconcile pass skipped: %s", exc)
            except Exception:
                if cancel_requested():
                    raise asyncio.CancelledError from None
                logger.exception("reconcile pass failed")

    async def mark_alive(self) -> None:
        """Say that Redis holds the service's data (at start, after writing the agents)."""
        await self.app.redis.set(self.keys.alive, "1")

    async def _pass(self, after_gap: bool) -> None:
        app, keys = self.app, self.keys
        if not await app.redis.exists(keys.alive):
            await self._restore()
            after_gap = True
        owned = frozenset(
            cast(set[str], await app.redis.smembers(keys.app_calls(app.settings.ari.app)))
        )
        holdings = tuple(await app.acd.recovery.holdings())
        evented = frozenset(app.seen)
        handled: frozenset[str] = frozenset()
        if not after_gap:
            handled = frozenset(app.acd.rung) | evented
        try:
            channels = {c.id: c for c in await app.ari.list_channels()}
            in_app = await app.ari.app_channels(app.settings.ari.app)
        except AriRefused:
            # Asterisk's process is gone (a dead box): so is every channel it had, and the
            # volunteers its calls held are freed without waiting for it to come back.
            if not self._refused:
                logger.warning("Asterisk refuses connections: its calls are taken as gone")
            self._refused = True
            channels, in_app = {}, frozenset()
        else:
            if self._refused:
                logger.warning("Asterisk accepts connections again")
            self._refused = False
        survey = Survey(frozenset(channels), in_app, owned, holdings, handled, evented)
        found = assess(survey, self._before)
        if found.gone - self._before.missing:
            # A call that ended as the channels were listed has its end event on the way.
            await asyncio.sleep(ENDS_IN_FLIGHT_S)
            recorded = frozenset(
                cast(set[str], await app.redis.smembers(keys.app_calls(app.settings.ari.app)))
            ) | frozenset(app.seen)
            found = confirm(found, self._before, recorded)
        await self._repair(found, channels)
        self._before = found

    async def _restore(self) -> None:
        """Redis lost its data: write back the agents (their volunteers log in again) and
        forget what this process handled: its calls are strangers now, to adopt."""
        logger.error("Redis lost the service's data: writing back the agents")
        self.app.seen.clear()
        self.app.acd.rung.clear()
        await self.app.acd.store.sync_agents(list(self.app.acd.agents.values()))
        await self.mark_alive()
        await self._note("redis-emptied", "NONE")

    async def _repair(self, found: Assessment, channels: dict[str, Channel]) -> None:
        app, before = self.app, self._before
        for channel_id in sorted(found.gone):
            app.dispatcher.submit(channel_id, ChannelGone(channel_id))
            if channel_id not in before.gone:
                await self._note("channel-gone", channel_id)
        for holding in found.stuck:
            await self._free(holding)
        for channel_id in sorted(found.outlived_calls):
            events = await app.ivr.lost_events(channel_id)
            events += await app.acd.recovery.lost_caller_events(channel_id)
            self._resume(channel_id, events, "call-resumed")
        for channel_id in sorted(found.outlived_legs):
            if channel_id.startswith(NAIL_PREFIX):
                continue
            self._resume(channel_id, await app.acd.recovery.resume_leg(channel_id), "leg-resumed")
            app.acd.rung.add(channel_id)
        if found.unrecorded:
            await self._adopt(await self._unknown(found.unrecorded), channels)

    def _resume(self, channel_id: str, events: Iterable[object], repair: str) -> None:
        self.app.seen.add(channel_id)
        for event in events:
            self.app.dispatcher.submit(channel_id, event)  # type: ignore[arg-type]
        logger.info("%s %s", channel_id, repair)

    async def _free(self, holding: Holding) -> None:
        """A volunteer held for a channel gone since the pass before: free them in the store."""
        store, now = self.app.acd.store, self.clock()
        logger.warning("agent %s held for a gone channel: freed", holding.agent_id)
        try:
            if holding.direct:
                owner = self.app.settings.ari.app
                if not await store.release_texter_call(
                    holding.call_id, holding.agent_id, now, owner
                ):
                    logger.info("agent %s: no longer held by %s", holding.agent_id, holding.call_id)
                    return
            elif holding.state is AgentState.OFFERED:
                await store.reject(holding.offer_id, holding.agent_id, MissReason.NOT_RUNG, now)
            else:
                await store.complete(holding.call_id, holding.agent_id, now, Party.CALLER)
        except Exception as exc:  # settled meanwhile
            logger.info("agent %s: %s", holding.agent_id, exc)
            return
        await self._note("agent-freed", holding.call_id, holding.agent_id)

    async def _unknown(self, channel_ids: frozenset[str]) -> list[str]:
        """Those of ``channel_ids`` that no record in Redis names (a supervisor's leg and snoop
        channel are named by their session's)."""
        keys, ordered = self.keys, sorted(channel_ids)
        async with self.app.redis.pipeline(transaction=False) as pipe:
            for ch in ordered:
                nail = ch.removeprefix(NAIL_PREFIX) if ch.startswith(NAIL_PREFIX) else ""
                session = session_of(ch)
                pipe.exists(
                    keys.call(ch),
                    keys.acd_caller(ch),
                    keys.acd_leg(ch),
                    keys.login(ch),
                    *([keys.acd_nail(nail)] if nail else []),
                    *([keys.acd_monitor(session)] if session else []),
                )
            counts = cast(list[int], await pipe.execute())
        return [ch for ch, n in zip(ordered, counts, strict=True) if n == 0]

    async def _adopt(self, channel_ids: list[str], channels: dict[str, Channel]) -> None:
        if not channel_ids:
            return
        app = self.app
        bridges = await app.ari.bridged_channels()
        size = {ch: len(members) for members in bridges.values() for ch in members}
        volunteer_exten = app.settings.acd.volunteer_did.lstrip("+")
        for channel_id in channel_ids:
            channel = channels.get(channel_id)
            if channel is None:
                continue
            what = adoption(channel, size.get(channel_id, 0), volunteer_exten)
            logger.warning("%s unknown live channel: %s", channel_id, what.action)
            match what.action:
                case Action.KEEP:
                    continue
                case Action.RESTART:
                    app.seen.add(channel_id)
                    with contextlib.suppress(AriError):  # it may have been holding
                        await app.ari.stop_moh(channel_id)
                    app.dispatcher.submit(channel_id, StasisStart(channel, what.args))
                case Action.HANG_UP:
                    await app.ari.hangup(channel_id)
                case Action.FALLBACK:
                    await app.ivr.escape(channel_id)
            await self._note(f"adopted-{what.action.value}", channel_id)

    async def _note(self, repair: str, channel_id: str, agent_id: str = "") -> None:
        await self.app.acd.store.note_repair(repair, channel_id, self.clock(), agent_id)
