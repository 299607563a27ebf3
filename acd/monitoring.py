"""Supervisors on live calls: the request (checked, audited, sent to the instance holding the
call) and the adapter that carries a session out over ARI (``acd.monitor`` decides).

A request is written to the staff audit stream before anything rings (who, which call, which
mode, when). Only the app instance whose Asterisk holds the caller can snoop on it or bridge
with it, so the request goes to that instance's inbox, like a transfer.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

import redis.asyncio as aioredis

from acd.calls import leg_id, nail_id
from acd.config import AgentProfile
from acd.model import AcdError
from acd.monitor import (
    CALL_GONE_TIMER,
    MONITOR_PREFIX,
    BridgeTogether,
    CallGone,
    DestroyBridge,
    Failed,
    HangUp,
    JoinCall,
    Monitor,
    MonitorCommand,
    MonitorEvent,
    MonitorMode,
    MonitorPhase,
    Snoop,
    SnoopGone,
    SnoopStarted,
    SupervisorAnswered,
    SupervisorGone,
    Tell,
    monitor_step,
    session_of,
)
from acd.offers import caller_id, endpoint
from acd.records import CallerPhase, Records
from acd.routing import AgentState
from acd.store import AcdStore
from acd.transfers import parties
from core.ari import AriClient, AriError, StasisStart
from core.audit import AuditAction, audit
from core.calls import CallEvent, ChannelTimers, TimerFired, ari_request, ends_call
from core.keys import Keys

logger = logging.getLogger(__name__)

#: The only role that may listen to, whisper into or barge into calls.
SUPERVISES: Final = "supervisor"
#: Seconds a supervisor's phone rings.
RING_S: Final = 30
#: Seconds a session's record outlives a forgotten end.
KEEP_S: Final = 6 * 3600
_AUDITED: Final = {
    MonitorMode.LISTEN: AuditAction.LISTEN,
    MonitorMode.WHISPER: AuditAction.WHISPER,
    MonitorMode.BARGE: AuditAction.BARGE,
}


@dataclass(frozen=True)
class MonitorRequest:
    """A supervisor's request, as the call's instance receives it in its inbox."""

    session: str
    call_id: str
    supervisor: str
    mode: MonitorMode

    def fields(self) -> dict[str, str]:
        """As an inbox entry."""
        return {
            "monitor": self.call_id,
            "session": self.session,
            "by": self.supervisor,
            "mode": self.mode.value,
        }


def monitor_of(fields: Mapping[str, str]) -> MonitorRequest | None:
    """The monitor request an inbox entry carries, if it is one."""
    if "monitor" not in fields:
        return None
    return MonitorRequest(
        fields["session"], fields["monitor"], fields["by"], MonitorMode(fields["mode"])
    )


async def request_monitor(
    store: AcdStore,
    agents: Mapping[str, AgentProfile],
    call_id: str,
    supervisor: str,
    role: str,
    mode: MonitorMode,
    now: float,
) -> str:
    """Check, audit and send a supervisor's request to the call's instance; the session id.

    Refusals (``AcdError``): not-a-supervisor (the role, or no phone in the agent file),
    unknown-call (no such call, or it ended), not-connected (waiting or ringing),
    not-your-queue (a queue the supervisor is not in), own-call, supervisor-busy (their own
    phone is ringing with, or taking, a queue call)."""
    profile = agents.get(supervisor)
    if role != SUPERVISES or profile is None or profile.role != SUPERVISES or not profile.devices:
        raise AcdError("not-a-supervisor", supervisor)
    found = await parties(store, call_id)
    if found.state != "connected":
        raise AcdError("not-connected", call_id)
    queue = cast(str | None, await store.redis.hget(store.keys.acd_call(call_id), "queue"))
    if queue not in profile.queues:
        raise AcdError("not-your-queue", call_id)
    if found.agent == supervisor:
        raise AcdError("own-call", call_id)
    own = await store.agent(supervisor)
    if own is not None and own.state in (AgentState.OFFERED, AgentState.ON_CALL):
        raise AcdError("supervisor-busy", supervisor)  # their phone rings or talks already
    request = MonitorRequest(secrets.token_hex(8), call_id, supervisor, mode)
    await audit(
        store.redis,
        store.keys,
        actor=supervisor,
        role=role,
        action=_AUDITED[mode],
        target=call_id,
        reason="",
        now=datetime.fromtimestamp(now, UTC),
    )
    await store.redis.xadd(
        store.keys.acd_inbox(found.owner),
        cast(dict[Any, Any], request.fields()),
        maxlen=10_000,
        approximate=True,
    )
    logger.info("%s: %s asked to %s (session %s)", call_id, supervisor, mode, request.session)
    return request.session


@dataclass
class Monitors:
    """Carries out the sessions of the calls this instance holds."""

    redis: aioredis.Redis
    store: AcdStore
    records: Records
    ari: AriClient
    timers: ChannelTimers
    agents: Mapping[str, AgentProfile]
    #: The ARI application (this instance).
    app: str
    hotline_number: str
    clock: Callable[[], float]

    async def start(self, request: MonitorRequest) -> None:
        """Ring the supervisor for a call this instance holds (a call gone meanwhile, or not
        bridged any more, is dropped)."""
        keys = self.store.keys
        caller = await self.records.caller(request.call_id)
        profile = self.agents.get(request.supervisor)
        if caller is None or caller.phase is not CallerPhase.BRIDGED or profile is None:
            logger.info("%s: not bridged any more; %s dropped", request.call_id, request.mode)
            return
        volunteer = caller.agent_id
        channel = nail_id(volunteer) if caller.nailed else leg_id(caller.offer_id, volunteer)
        queue = self.store.queues.get(caller.queue)
        monitor = Monitor(
            request.session,
            caller.call_id,
            caller.queue,
            request.supervisor,
            volunteer,
            channel,
            caller.bridge,
            request.mode,
            bool(queue and queue.tell_volunteer_when_monitored),
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.acd_monitor(monitor.session), monitor.to_json(), ex=KEEP_S)
            for party in (monitor.call_id, monitor.volunteer_channel):
                pipe.sadd(keys.acd_monitors(party), monitor.session)
                pipe.expire(keys.acd_monitors(party), KEEP_S)
            await pipe.execute()
        label = f"{request.mode.value.capitalize()} {caller.pseudonym} ({caller.queue})"
        try:
            await self.ari.originate(
                endpoint=endpoint(profile.devices[0]),
                app=self.app,
                app_args="monitor",
                channel_id=monitor.leg,
                caller_id=caller_id(label, self.hotline_number),
                timeout=RING_S,
            )
        except AriError as exc:
            logger.warning("%s: %s's phone cannot be rung: %s", monitor.call_id, profile.id, exc)
            await self._forget(monitor)

    async def handle(self, key: str, event: CallEvent) -> None:
        """One event of a session's supervisor leg or snoop channel (both arrive on the
        leg's ordered queue, ``key``); a channel whose session is gone is hung up."""
        channel_id = event.channel_id or key
        session = session_of(channel_id)
        if session is None:
            return
        found = cast(str | None, await self.redis.get(self.store.keys.acd_monitor(session)))
        if found is None:
            if isinstance(event, StasisStart):
                hangup = functools.partial(self.ari.hangup, channel_id)
                await ari_request(channel_id, "hangup", hangup)
            return
        monitor = Monitor.from_json(found)
        step_event = _as_event(monitor, channel_id, event)
        while step_event is not None:
            monitor, commands = monitor_step(monitor, step_event)
            await self._save(monitor)
            step_event = None
            for command in commands:
                step_event = await self._carry_out(monitor, command) or step_event

    async def channel_ended(self, channel_id: str) -> None:
        """A caller's or volunteer's channel ended: each session on its call hears that the
        call is gone, on the session's own queue (a volunteer leaving a call that goes on,
        transferred to a queue say, ends the sessions too)."""
        key = self.store.keys.acd_monitors(channel_id)
        for session in cast(set[str], await self.redis.smembers(key)):
            self.timers.start(MONITOR_PREFIX + session, CALL_GONE_TIMER, 0)

    async def _save(self, monitor: Monitor) -> None:
        if monitor.phase is MonitorPhase.ENDED:
            await self._forget(monitor)
        else:
            key = self.store.keys.acd_monitor(monitor.session)
            await self.redis.set(key, monitor.to_json(), ex=KEEP_S)

    async def _forget(self, monitor: Monitor) -> None:
        keys = self.store.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.acd_monitor(monitor.session))
            for party in (monitor.call_id, monitor.volunteer_channel):
                pipe.srem(keys.acd_monitors(party), monitor.session)
            await pipe.execute()

    async def _carry_out(self, monitor: Monitor, command: MonitorCommand) -> MonitorEvent | None:
        ari, call = self.ari, monitor.call_id
        match command:
            case Snoop(target=target, snoop_id=snoop_id, spy=spy, whisper=whisper):
                snoop = functools.partial(
                    ari.snoop,
                    target,
                    app=self.app,
                    snoop_id=snoop_id,
                    spy=spy,
                    whisper=whisper,
                    app_args="snoop",
                )
                if not await ari_request(call, "snoop", snoop):
                    return Failed()
            case BridgeTogether(bridge=bridge, channels=channels):
                create = functools.partial(ari.create_bridge, bridge)
                join = functools.partial(ari.add_to_bridge, bridge, *channels)
                if not (
                    await ari_request(call, "monitor bridge", create)
                    and await ari_request(call, "monitor join", join)
                ):
                    return Failed()
            case JoinCall(bridge=bridge, channel=channel):
                join = functools.partial(ari.add_to_bridge, bridge, channel)
                if not await ari_request(call, "barge", join):
                    return Failed()
            case HangUp(channel=channel):
                await ari_request(channel, "hangup", functools.partial(ari.hangup, channel))
            case DestroyBridge(bridge=bridge):
                destroy = functools.partial(ari.destroy_bridge, bridge)
                await ari_request(call, "destroy monitor bridge", destroy)
            case Tell(on=on):
                await log_monitor(self.redis, self.store.keys, monitor, on, self.clock())
        return None


async def log_monitor(
    redis: aioredis.Redis, keys: Keys, monitor: Monitor, on: bool, now: float
) -> None:
    """A MONITOR entry in the queue log: the session's start (``on``) or end, on the
    volunteer's name (``tell``: whether their console shows it)."""
    logger.info(
        "%s: %s %s %s",
        monitor.call_id,
        monitor.supervisor,
        "started to" if on else "stopped to",
        monitor.mode.value,
    )
    await redis.xadd(
        keys.acd_queue_log,
        {
            "time": f"{now:.3f}",
            "event": "MONITOR",
            "queue": monitor.queue,
            "call": monitor.call_id,
            "agent": monitor.volunteer,
            "by": monitor.supervisor,
            "mode": monitor.mode.value,
            "on": "1" if on else "0",
            "tell": "1" if monitor.tell else "0",
        },
        maxlen=100_000,
        approximate=True,
    )


def _as_event(monitor: Monitor, channel_id: str, event: CallEvent) -> MonitorEvent | None:
    """An ARI or timer event of a session's channel as the machine's."""
    leg = channel_id == monitor.leg
    if isinstance(event, TimerFired):
        return CallGone() if event.timer == CALL_GONE_TIMER else None
    if isinstance(event, StasisStart):
        return SupervisorAnswered() if leg else SnoopStarted()
    if ends_call(event):
        return SupervisorGone() if leg else SnoopGone()
    return None
