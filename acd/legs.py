"""Agent legs (pure; see ``acd.calls``): ringing, the whisper, press-1 for volunteers on an
external number, the store's verdict, the bridge; callbacks (the volunteer first, then the
caller dialled from the hotline number) and hand-overs (an agent taking a call over)."""

from __future__ import annotations

from dataclasses import replace

from acd.calls import (
    Accept,
    Accepted,
    AcceptHandover,
    Answered,
    CalleeUnreachable,
    Command,
    Connect,
    CreateBridge,
    DialCaller,
    EndCallback,
    EndTexterCall,
    HungUp,
    Join,
    JoinFailed,
    LegEvent,
    Log,
    On,
    Reject,
    ReleaseHandover,
    RequestTransfer,
    RingFailed,
    Save,
    Setup,
    TimedOut,
    Timer,
    TookOver,
    bridge_id,
    callee_id,
    leg_id,
    sounds,
)
from acd.endings import end_bridge, end_connected, ended, ended_by_id
from acd.model import MissReason, Party
from acd.offers import CALL_BACK_RING_S
from acd.records import Caller, CallerPhase, Leg, LegPhase, RecordKind, delete, put, update
from acd.transfers import Transfer, TransferKind
from core.commands import (
    CancelTimer,
    ClearTimers,
    Digit,
    Hangup,
    Play,
    PlaybackDone,
    StartTimer,
    StopMusic,
    StopPlayback,
)

#: ISDN causes of an unanswered leg -> why the agent missed the offer.
MISS_BY_CAUSE = {
    17: MissReason.BUSY,
    18: MissReason.NO_ANSWER,
    19: MissReason.NO_ANSWER,
    21: MissReason.DECLINED,
}


def leg_step(
    leg: Leg, event: LegEvent, caller: Caller | None, setup: Setup
) -> tuple[Leg, list[Command]]:
    """One event of an agent leg. ``caller`` is the call's caller record, or for a callback
    leg the callback's record (who to call back)."""
    if leg.phase is LegPhase.ENDED:
        return leg, []
    if leg.callee:
        return _callee_step(leg, event)
    acd, channel = setup.acd, leg.leg_id
    match event:
        case Answered() if leg.phase is LegPhase.RINGING:
            out: list[Command] = [On(channel, CancelTimer(Timer.RONA))]
            if not acd.whisper:  # straight to the press-1 check, or talk at once
                return _whispered(leg, caller, setup, out)
            whisper = replace(leg, phase=LegPhase.WHISPER)
            language = caller.language if caller else None
            play = On(channel, Play("whisper", sounds(acd.whisper), language))
            return whisper, [*out, Save((update(whisper, "phase"),)), play]
        case PlaybackDone() if leg.phase is LegPhase.WHISPER:
            return _whispered(leg, caller, setup, [])
        case Digit(digit="1") if leg.external and leg.phase in (
            LegPhase.WHISPER,
            LegPhase.CONFIRM,
        ):
            return _accept(leg, caller, [On(channel, CancelTimer(Timer.CONFIRM))])
        case Digit(digit=digit) if leg.phase is LegPhase.BRIDGED and digit == acd.supervisor_key:
            return leg, _ask_supervisor(leg, setup)
        case TimedOut(timer=Timer.RONA) if leg.phase is LegPhase.RINGING:
            log = Log(leg.call_id, f"agent {leg.agent_id} did not answer")
            return _miss(leg, MissReason.NO_ANSWER, [log])
        case TimedOut(timer=Timer.CONFIRM) if leg.phase is LegPhase.CONFIRM:
            log = Log(leg.call_id, f"agent {leg.agent_id} did not press 1")
            return _miss(leg, MissReason.NO_ANSWER, [log])
        case RingFailed(pbx_down=pbx_down) if leg.phase is LegPhase.RINGING:
            reason = MissReason.NOT_RUNG if pbx_down else MissReason.FAILED
            return _miss(leg, reason, [On(channel, ClearTimers())])
        case HungUp(cause=cause) if leg.phase is LegPhase.RINGING:
            reason = MissReason.DECLINED
            if cause is not None:
                reason = MISS_BY_CAUSE.get(cause, MissReason.FAILED)
            return _miss(leg, reason, [])
        case HungUp():
            return _gone(leg, caller)
        case Accepted(won=won) if leg.callback:
            return _call_back(leg, caller, won)
        case Accepted(won=won, released=released):
            return _accepted(leg, caller, won, released)
        case TookOver(first=first):
            return _took_over(leg, caller, first)
        case CalleeUnreachable() if leg.phase is LegPhase.BRIDGED:
            return leg, [EndCallback(leg, Party.CALLER)]
        case JoinFailed() if leg.phase is LegPhase.BRIDGED and not leg.callback:
            done = replace(leg, phase=LegPhase.ENDED)
            return done, [*end_connected(done, Party.CALLER), On(leg.call_id, Hangup())]
    return leg, []


def _whispered(
    leg: Leg, caller: Caller | None, setup: Setup, out: list[Command]
) -> tuple[Leg, list[Command]]:
    """The whisper is over: an agent on an external number must press 1; others talk."""
    if not leg.external:
        return _accept(leg, caller, out)
    confirm = replace(leg, phase=LegPhase.CONFIRM)
    channel = leg.leg_id
    return confirm, [
        *out,
        Save((update(confirm, "phase"),)),
        On(channel, StartTimer(Timer.CONFIRM, setup.acd.confirm_timeout_s)),
        On(channel, Play("confirm", sounds(setup.acd.confirm_prompt))),
    ]


def _accept(leg: Leg, caller: Caller | None, out: list[Command]) -> tuple[Leg, list[Command]]:
    """The agent takes the call; the store decides whether they have it (the bridged records
    ride with its answer). A call a volunteer asked for is theirs already."""
    if leg.direct:
        return _call_back(leg, caller, won=True)
    if leg.handover:
        return leg, [*out, AcceptHandover(leg.offer_id, leg.agent_id)]
    if leg.callback:
        return leg, [*out, Accept(leg.offer_id, leg.agent_id)]
    bridged = [update(replace(leg, phase=LegPhase.BRIDGED), "phase")]
    if caller is not None:
        joined = replace(
            caller, phase=CallerPhase.BRIDGED, agent_id=leg.agent_id, bridge=bridge_id(leg.call_id)
        )
        bridged.append(update(joined, "phase", "agent_id", "bridge"))
    return leg, [*out, Accept(leg.offer_id, leg.agent_id, tuple(bridged))]


def _accepted(
    leg: Leg, caller: Caller | None, won: bool, released: tuple[str, ...]
) -> tuple[Leg, list[Command]]:
    """The store's verdict on the agent's accept."""
    if not won:  # another agent was first, or the caller left: this leg has nothing to carry
        return _hung_up(leg)
    if caller is None:  # the caller hung up as the agent accepted
        done = replace(leg, phase=LegPhase.ENDED)
        return done, end_connected(done, Party.CALLER)
    call_id = leg.call_id
    out: list[Command] = [On(call_id, CancelTimer(Timer.ANNOUNCE))]
    if caller.playback:  # a channel joins a bridge only once it is silent
        out.append(On(call_id, StopPlayback(caller.playback)))
    out += [On(call_id, StopMusic()), Connect(bridge_id(call_id), call_id, leg.leg_id)]
    out.append(Log(call_id, f"connected to agent {leg.agent_id} in {leg.queue}"))
    out += [On(leg_id(leg.offer_id, agent_id), Hangup()) for agent_id in released]
    return replace(leg, phase=LegPhase.BRIDGED), out


def _hung_up(leg: Leg) -> tuple[Leg, list[Command]]:
    """The leg is over without a call to carry: ended, and hung up."""
    return replace(leg, phase=LegPhase.ENDED), [Save((ended(leg),)), On(leg.leg_id, Hangup())]


def _call_back(leg: Leg, request: Caller | None, won: bool) -> tuple[Leg, list[Command]]:
    """The agent took a callback: now dial the caller, from the hotline number."""
    if not won:
        return _hung_up(leg)
    if request is None:  # the callback is gone: the call ends for the agent too
        return leg, [EndCallback(leg, Party.CALLER)]
    bridged = replace(leg, phase=LegPhase.BRIDGED)
    callee = Leg(
        callee_id(leg.call_id),
        leg.offer_id,
        leg.agent_id,
        leg.call_id,
        leg.queue,
        external=True,
        callback=True,
        callee=True,
        direct=leg.direct,
    )
    bridge = bridge_id(leg.call_id)
    return bridged, [
        CreateBridge(leg.leg_id, bridge),
        Join(bridge, leg.leg_id),
        Save((update(bridged, "phase"), put(callee))),
        On(callee.leg_id, StartTimer(Timer.RONA, CALL_BACK_RING_S)),
        DialCaller(callee, request.caller_ref),
        Log(leg.call_id, f"agent {leg.agent_id} calls {request.pseudonym} back"),
    ]


def _took_over(leg: Leg, caller: Caller | None, first: str) -> tuple[Leg, list[Command]]:
    """The hand-over's agent took the call: bridge them in, hang up the first agent."""
    if not first:  # the call ended meanwhile
        return _hung_up(leg)
    if caller is None:
        done = replace(leg, phase=LegPhase.ENDED)
        return done, end_connected(done, Party.CALLER)
    first_leg = leg_id(caller.offer_id, first)
    bridged = replace(leg, phase=LegPhase.BRIDGED)
    moved = replace(caller, offer_id=leg.offer_id, agent_id=leg.agent_id, transfer_leg="")
    writes = (
        update(bridged, "phase"),
        ended_by_id(first_leg, caller, first),
        update(moved, "offer_id", "agent_id", "transfer_leg"),
    )
    log = Log(leg.call_id, f"taken over from agent {first} by agent {leg.agent_id}")
    return bridged, [Save(writes), Join(caller.bridge, leg.leg_id), On(first_leg, Hangup()), log]


def _ask_supervisor(leg: Leg, setup: Setup) -> list[Command]:
    """The volunteer pressed the supervisor key: hand the call to the queue's supervisor."""
    queue = setup.queues.get(leg.queue)
    supervisor = queue.supervisor if queue else None
    if leg.callback or leg.direct or not supervisor or supervisor == leg.agent_id:
        return []
    return [
        Log(leg.call_id, f"agent {leg.agent_id} asks for {supervisor}"),
        RequestTransfer(leg.call_id, Transfer(TransferKind.AGENT, supervisor)),
    ]


def _gone(leg: Leg, caller: Caller | None) -> tuple[Leg, list[Command]]:
    """The agent's channel is gone after answering."""
    done = replace(leg, phase=LegPhase.ENDED)
    out: list[Command] = [On(leg.leg_id, ClearTimers())]
    if leg.phase is not LegPhase.BRIDGED:  # hung up during the whisper or the press-1 prompt
        return _miss(leg, MissReason.DECLINED, out)
    if leg.callback:
        return done, [*out, EndCallback(leg, Party.AGENT)]
    if caller is None:
        return done, [*out, Save((ended(leg),))]
    return done, [*out, *end_bridge(caller, leg.agent_id, None, Party.AGENT, (ended(leg),))]


def _miss(leg: Leg, reason: MissReason, out: list[Command]) -> tuple[Leg, list[Command]]:
    """The leg will not take the call: hang it up and give the offer back."""
    done = replace(leg, phase=LegPhase.ENDED)
    out = [*out, Save((ended(leg),)), On(leg.leg_id, Hangup())]
    if leg.handover:
        log = Log(leg.call_id, f"agent {leg.agent_id} did not take the transfer")
        release = ReleaseHandover(leg.call_id, leg.offer_id, leg.agent_id, leg.queue, leg.leg_id)
        return done, [*out, log, release]
    if leg.direct:
        log = Log(leg.call_id, f"agent {leg.agent_id} did not take the requested call")
        forget = Save((delete(RecordKind.CALLBACK, leg.call_id),))
        return done, [*out, log, forget, EndTexterCall(leg.call_id, leg.agent_id)]
    return done, [*out, Reject(leg.offer_id, leg.agent_id, leg.queue, reason)]


def _callee_step(leg: Leg, event: LegEvent) -> tuple[Leg, list[Command]]:
    """The caller being called back: answered -> bridged; gone -> the callback ends."""
    match event:
        case Answered() if leg.phase is LegPhase.RINGING:
            bridged = replace(leg, phase=LegPhase.BRIDGED)
            return bridged, [
                On(leg.leg_id, CancelTimer(Timer.RONA)),
                Save((update(bridged, "phase"),)),
                Join(bridge_id(leg.call_id), leg.leg_id),
                Log(leg.call_id, f"called back and connected to {leg.agent_id}"),
            ]
        case TimedOut(timer=Timer.RONA) | HungUp() | RingFailed() | JoinFailed():
            out: list[Command] = [On(leg.leg_id, ClearTimers())]
            if leg.phase is LegPhase.RINGING:
                out.append(Log(leg.call_id, "the caller did not answer the callback"))
            return replace(leg, phase=LegPhase.ENDED), [*out, EndCallback(leg, Party.CALLER)]
    return leg, []
