"""The ACD's call lifecycle as a pure machine: queued callers and the legs that ring agents.

``caller_step`` and ``leg_step`` take a record (``acd.records``), one event, and what they may
consult (settings, the queue, the other side's record as last written), and return the new
record with the commands that carry the step out. Nothing here does I/O: the adapter
(``acd.stasis``) turns ARI events into these events, carries out the commands, and feeds the
answers of those that have one (a store's verdict, a failed bridge) back in as events.

Records keep their phases (``CallerPhase``, ``LegPhase``); a step writes only the fields it
changes (``update``), since a caller's and its legs' events run on different tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from acd.config import QueueConfig
from acd.model import MissReason, Party
from acd.records import (
    Caller,
    CallerPhase,
    Leg,
    LegPhase,
    RecordKind,
    Write,
    delete,
    put,
    put_callback,
    update,
)
from acd.routing import announcement, next_announcement
from acd.transfers import Transfer, TransferKind
from hotline.config import AcdSettings

LEG_PREFIX = "agent-"
CALLEE_PREFIX = "callee-"
NAIL_PREFIX = "nail-"


class Timer(StrEnum):
    """Timers of queued callers and agent legs."""

    RONA = "rona"  # ring no answer
    CONFIRM = "confirm"  # an external agent has not pressed 1
    ANNOUNCE = "announce"  # next position announcement
    EXPIRED = "expired"  # the caller left the queue (max wait, or no agent left)
    TRANSFER = "transfer"  # a transfer was requested (``Caller.transfer_to``)


#: ISDN causes of an unanswered leg -> why the agent missed the offer.
MISS_BY_CAUSE = {
    17: MissReason.BUSY,
    18: MissReason.NO_ANSWER,
    19: MissReason.NO_ANSWER,
    21: MissReason.DECLINED,
}


def leg_id(offer_id: str, agent_id: str) -> str:
    """The channel id of the leg ringing ``agent_id`` for ``offer_id``."""
    return f"{LEG_PREFIX}{offer_id}-{agent_id}"


def callee_id(call_id: str) -> str:
    """The channel id of the leg dialling a caller back."""
    return f"{CALLEE_PREFIX}{call_id}"


def bridge_id(call_id: str) -> str:
    """The bridge of a call and its agent."""
    return f"bridge-{call_id}"


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    """The channel entered Stasis: a leg's far end answered."""


@dataclass(frozen=True)
class PlaybackDone:
    """A playback on the channel ended (ARI id)."""

    playback_id: str


@dataclass(frozen=True)
class Digit:
    """A DTMF key."""

    digit: str


@dataclass(frozen=True)
class TimedOut:
    """A timer of the channel ran out."""

    timer: Timer


@dataclass(frozen=True)
class HungUp:
    """The channel is gone (``cause``: the ISDN cause if Asterisk gave one)."""

    cause: int | None = None


@dataclass(frozen=True)
class RingFailed:
    """Asterisk refused to ring the leg's device: there is no channel."""


@dataclass(frozen=True)
class Accepted:
    """The store's answer to ``Accept``: ``won`` the call, and the ring-all legs released."""

    won: bool
    released: tuple[str, ...] = ()


@dataclass(frozen=True)
class JoinFailed:
    """``Connect`` could not put both channels in the bridge: a side hung up meanwhile."""


@dataclass(frozen=True)
class Position:
    """The store's answer to ``AskPosition``: the caller's place (None: no longer waiting)."""

    position: int | None
    ewt_s: float | None = None


@dataclass(frozen=True)
class Abandoned:
    """The store's answer to ``Abandon``: the call left its queue; stop these agents' legs."""

    released: tuple[str, ...]


@dataclass(frozen=True)
class ConnectedMeanwhile:
    """The store's answer to ``Abandon``: an agent (``agent_id``) accepted as the caller left;
    ``agent_id`` is "" when the call was no longer queued at all."""

    agent_id: str


@dataclass(frozen=True)
class Refused:
    """The store refused ``ToCallback`` or ``LeaveForText`` (an agent is taking the call, say):
    the call goes on."""

    code: str


@dataclass(frozen=True)
class CallbackKept:
    """The store's answer to ``ToCallback``: the caller's place is kept as a callback."""


@dataclass(frozen=True)
class LeftForText:
    """The store's answer to ``LeaveForText``: the call left its queue; stop these legs."""

    released: tuple[str, ...]


#: What a channel's own events become (``acd.stasis`` parses ARI and timer events into these).
ChannelEvent = Answered | PlaybackDone | Digit | TimedOut | HungUp
LegEvent = ChannelEvent | RingFailed | Accepted | JoinFailed
CallerEvent = (
    PlaybackDone
    | Digit
    | TimedOut
    | HungUp
    | Position
    | Abandoned
    | ConnectedMeanwhile
    | Refused
    | CallbackKept
    | LeftForText
)


# --- commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Play:
    """Play ``media`` (ARI media URIs) on a channel, as playback ``playback_id``."""

    channel: str
    media: tuple[str, ...]
    playback_id: str
    language: str | None = None


@dataclass(frozen=True)
class StopPlayback:
    """Stop a playback that may have ended already."""

    channel: str
    playback_id: str


@dataclass(frozen=True)
class Music:
    """Start hold music."""

    channel: str
    moh_class: str


@dataclass(frozen=True)
class StopMusic:
    """Stop hold music."""

    channel: str


@dataclass(frozen=True)
class HangUp:
    """Hang a channel up (it may be gone already); its timers stop."""

    channel: str


@dataclass(frozen=True)
class StartTimer:
    """(Re)start a channel's timer."""

    channel: str
    timer: Timer
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    """Stop a channel's timer if it runs."""

    channel: str
    timer: Timer


@dataclass(frozen=True)
class ClearTimers:
    """Stop every timer of a channel."""

    channel: str


@dataclass(frozen=True)
class Save:
    """Write records (one round trip)."""

    writes: tuple[Write, ...]


@dataclass(frozen=True)
class Connect:
    """Create the call's bridge and put both channels in it at once (answer: ``JoinFailed``
    if either is gone)."""

    bridge: str
    call_id: str
    leg_id: str


@dataclass(frozen=True)
class Join:
    """Put one channel into an existing bridge."""

    bridge: str
    channel: str


@dataclass(frozen=True)
class DestroyBridge:
    """Tear a bridge down (it may be gone already)."""

    channel: str
    bridge: str


@dataclass(frozen=True)
class Accept:
    """Ask the store whether this leg's agent takes the call; ``writes`` are made only if it
    does, in the same round trip (answer: ``Accepted``)."""

    offer_id: str
    agent_id: str
    writes: tuple[Write, ...]


@dataclass(frozen=True)
class Reject:
    """The agent did not take the offer: the store counts the miss and requeues the call;
    then the queue is routed again."""

    offer_id: str
    agent_id: str
    queue: str
    reason: MissReason


@dataclass(frozen=True)
class ReleaseHandover:
    """The agent rung to take a call over did not: they are free again, the call stays."""

    call_id: str
    offer_id: str
    agent_id: str
    queue: str
    leg_id: str


@dataclass(frozen=True)
class Complete:
    """A connected call ended: hang ``hang_up`` up and tear ``bridge`` down with ``writes``
    already visible to this instance, then record the end (the agent wraps up) with them."""

    call_id: str
    agent_id: str
    by: Party
    writes: tuple[Write, ...] = ()
    hang_up: tuple[str, ...] = ()
    bridge: str = ""


@dataclass(frozen=True)
class EndCallback:
    """A callback (or a call asked for by a volunteer) ended on ``leg``'s side."""

    leg: Leg
    by: Party


@dataclass(frozen=True)
class CallBack:
    """An agent took a callback: dial the caller from the hotline number."""

    leg: Leg


@dataclass(frozen=True)
class TakeOver:
    """The agent rung for a hand-over answered: they take the connected call over."""

    leg: Leg


@dataclass(frozen=True)
class RequestTransfer:
    """Note a transfer on the caller and carry it out on the caller's own queue."""

    call_id: str
    transfer: Transfer


@dataclass(frozen=True)
class AskPosition:
    """Ask the store for the caller's place (answer: ``Position``)."""

    call_id: str


@dataclass(frozen=True)
class Abandon:
    """The caller left the queue without an agent (answer: ``Abandoned`` or
    ``ConnectedMeanwhile``)."""

    call_id: str


@dataclass(frozen=True)
class ToCallback:
    """Keep the caller's place as a callback entry (answer: ``CallbackKept`` or ``Refused``)."""

    call_id: str


@dataclass(frozen=True)
class LeaveForText:
    """Take the call out of its queue to go on by text (answer: ``LeftForText`` or ``Refused``)."""

    call_id: str


@dataclass(frozen=True)
class OpenConversation:
    """Open a text conversation with the call's context (the caller keeps their place)."""

    caller: Caller


@dataclass(frozen=True)
class ConfirmBySms:
    """Record the caller's request; its confirmation SMS carries a short reference."""

    caller: Caller
    kind: str


@dataclass(frozen=True)
class Overflow:
    """The caller leaves the queue through its overflow."""

    caller: Caller


@dataclass(frozen=True)
class CarryOutTransfer:
    """Carry out the transfer noted on the caller."""

    caller: Caller


@dataclass(frozen=True)
class EndNailedCall:
    """A call over a nailed-up agent's standing connection ended; the connection stays."""

    caller: Caller
    agent_id: str
    by: Party


@dataclass(frozen=True)
class Log:
    """A line for the log (the call or channel id comes first); never a number."""

    channel: str
    message: str


Command = (
    Play
    | StopPlayback
    | Music
    | StopMusic
    | HangUp
    | StartTimer
    | CancelTimer
    | ClearTimers
    | Save
    | Connect
    | Join
    | DestroyBridge
    | Accept
    | Reject
    | ReleaseHandover
    | Complete
    | EndCallback
    | CallBack
    | TakeOver
    | RequestTransfer
    | AskPosition
    | Abandon
    | ToCallback
    | LeaveForText
    | OpenConversation
    | ConfirmBySms
    | Overflow
    | CarryOutTransfer
    | Log
    | EndNailedCall
)

#: Commands whose answer the adapter feeds back as the next event.
ASKING = (Accept, Connect, AskPosition, Abandon, ToCallback, LeaveForText)


def sounds(names: Sequence[str]) -> tuple[str, ...]:
    """ARI media for prompts by name."""
    return tuple(f"sound:{name}" for name in names)


# --- agent legs --------------------------------------------------------------------------


def leg_step(
    leg: Leg, event: LegEvent, caller: Caller | None, acd: AcdSettings, supervisor: str | None
) -> tuple[Leg, list[Command]]:
    """One event of an agent leg (``caller``: the call's caller record, if any;
    ``supervisor``: who the supervisor key hands the call to in the leg's queue)."""
    if leg.phase is LegPhase.ENDED:
        return leg, []
    if leg.callee:
        return _callee_step(leg, event)
    channel = leg.leg_id
    match event:
        case Answered() if leg.phase is LegPhase.RINGING:
            out: list[Command] = [CancelTimer(channel, Timer.RONA)]
            if not acd.whisper:  # straight to the press-1 check, or talk at once
                return _whispered(leg, caller, acd, out)
            whisper = replace(leg, phase=LegPhase.WHISPER)
            language = caller.language if caller else None
            play = Play(channel, sounds(acd.whisper), f"{channel}:whisper", language)
            return whisper, [*out, Save((update(whisper, "phase"),)), play]
        case PlaybackDone() if leg.phase is LegPhase.WHISPER:
            return _whispered(leg, caller, acd, [])
        case Digit(digit="1") if leg.external and leg.phase in (
            LegPhase.WHISPER,
            LegPhase.CONFIRM,
        ):
            return _accept(leg, caller, [CancelTimer(channel, Timer.CONFIRM)])
        case Digit(digit=digit) if (
            leg.phase is LegPhase.BRIDGED
            and digit == acd.supervisor_key
            and not (leg.callback or leg.direct)
            and supervisor
            and supervisor != leg.agent_id
        ):
            log = Log(leg.call_id, f"agent {leg.agent_id} asks for {supervisor}")
            return leg, [
                log,
                RequestTransfer(leg.call_id, Transfer(TransferKind.AGENT, supervisor)),
            ]
        case TimedOut(timer=Timer.RONA) if leg.phase is LegPhase.RINGING:
            return _miss(
                leg,
                MissReason.NO_ANSWER,
                [Log(leg.call_id, f"agent {leg.agent_id} did not answer")],
            )
        case TimedOut(timer=Timer.CONFIRM) if leg.phase is LegPhase.CONFIRM:
            return _miss(
                leg,
                MissReason.NO_ANSWER,
                [Log(leg.call_id, f"agent {leg.agent_id} did not press 1")],
            )
        case RingFailed() if leg.phase is LegPhase.RINGING:
            return _miss(leg, MissReason.FAILED, [ClearTimers(channel)])
        case HungUp(cause=cause) if leg.phase is LegPhase.RINGING:
            reason = (
                MissReason.DECLINED
                if cause is None
                else MISS_BY_CAUSE.get(cause, MissReason.FAILED)
            )
            return _miss(leg, reason, [])
        case HungUp():
            return _leg_gone(leg, caller)
        case Accepted(won=won, released=released):
            return _accepted(leg, caller, won, released)
        case JoinFailed():
            ended = replace(leg, phase=LegPhase.ENDED)
            return ended, [
                *end_connected(ended, leg.call_id, Party.CALLER),
                HangUp(leg.call_id),
            ]
    return leg, []


def _whispered(
    leg: Leg, caller: Caller | None, acd: AcdSettings, out: list[Command]
) -> tuple[Leg, list[Command]]:
    """The whisper is over: an agent on an external number must press 1; others talk."""
    if not leg.external:
        return _accept(leg, caller, out)
    confirm = replace(leg, phase=LegPhase.CONFIRM)
    channel = leg.leg_id
    return confirm, [
        *out,
        Save((update(confirm, "phase"),)),
        StartTimer(channel, Timer.CONFIRM, acd.confirm_timeout_s),
        Play(channel, sounds(acd.confirm_prompt), f"{channel}:confirm"),
    ]


def _accept(leg: Leg, caller: Caller | None, out: list[Command]) -> tuple[Leg, list[Command]]:
    """The agent takes the call: a callback dials the caller, a hand-over takes the call over;
    otherwise the store decides (the bridged records ride with its answer)."""
    if leg.callback:
        return leg, [*out, CallBack(leg)]
    if leg.handover:
        return leg, [*out, TakeOver(leg)]
    bridged: list[Write] = [update(replace(leg, phase=LegPhase.BRIDGED), "phase")]
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
        ended = replace(leg, phase=LegPhase.ENDED)
        return ended, [Save((update(ended, "phase"),)), HangUp(leg.leg_id)]
    bridged = replace(leg, phase=LegPhase.BRIDGED)
    if caller is None:  # the caller hung up as the agent accepted
        ended = replace(leg, phase=LegPhase.ENDED)
        return ended, end_connected(ended, leg.call_id, Party.CALLER)
    call_id = leg.call_id
    out: list[Command] = [CancelTimer(call_id, Timer.ANNOUNCE)]
    if caller.playback:  # a channel joins a bridge only once it is silent
        out.append(StopPlayback(call_id, caller.playback))
    out += [StopMusic(call_id), Connect(bridge_id(call_id), call_id, leg.leg_id)]
    out.append(Log(call_id, f"connected to agent {leg.agent_id} in {leg.queue}"))
    out += [HangUp(leg_id(leg.offer_id, agent_id)) for agent_id in released]
    return bridged, out


def end_connected(ended: Leg, call_id: str, by: Party) -> list[Command]:
    """End a call the store has connected to ``ended``'s agent whose other side is gone."""
    return [
        Complete(
            call_id,
            ended.agent_id,
            by,
            (update(ended, "phase"),),
            (ended.leg_id,),
            bridge_id(call_id),
        )
    ]


def _leg_gone(leg: Leg, caller: Caller | None) -> tuple[Leg, list[Command]]:
    """The agent's channel is gone after answering."""
    ended = replace(leg, phase=LegPhase.ENDED)
    out: list[Command] = [ClearTimers(leg.leg_id)]
    if leg.phase is not LegPhase.BRIDGED:  # hung up during the whisper or the press-1 prompt
        return _miss(leg, MissReason.DECLINED, out)
    if leg.callback:
        return ended, [*out, EndCallback(leg, Party.AGENT)]
    if caller is None:
        return ended, [*out, Save((update(ended, "phase"),))]
    return ended, [
        *out,
        *end_bridge(caller, leg.agent_id, None, Party.AGENT, (update(ended, "phase"),)),
    ]


def _miss(leg: Leg, reason: MissReason, out: list[Command]) -> tuple[Leg, list[Command]]:
    """The leg will not take the call: hang it up and give the offer back."""
    ended = replace(leg, phase=LegPhase.ENDED)
    out = [*out, Save((update(ended, "phase"),)), HangUp(leg.leg_id)]
    if leg.handover:
        log = Log(leg.call_id, f"agent {leg.agent_id} did not take the transfer")
        release = ReleaseHandover(leg.call_id, leg.offer_id, leg.agent_id, leg.queue, leg.leg_id)
        return ended, [*out, log, release]
    if leg.direct:
        log = Log(leg.call_id, f"agent {leg.agent_id} did not take the requested call")
        return ended, [*out, log, Save((delete(RecordKind.CALLBACK, leg.call_id),))]
    return ended, [*out, Reject(leg.offer_id, leg.agent_id, leg.queue, reason)]


def _callee_step(leg: Leg, event: LegEvent) -> tuple[Leg, list[Command]]:
    """The caller being called back: answered -> bridged; gone -> the callback ends."""
    match event:
        case Answered() if leg.phase is LegPhase.RINGING:
            bridged = replace(leg, phase=LegPhase.BRIDGED)
            return bridged, [
                CancelTimer(leg.leg_id, Timer.RONA),
                Save((update(bridged, "phase"),)),
                Join(bridge_id(leg.call_id), leg.leg_id),
                Log(leg.call_id, f"called back and connected to {leg.agent_id}"),
            ]
        case TimedOut(timer=Timer.RONA) | HungUp():
            out: list[Command] = []
            if leg.phase is LegPhase.RINGING:
                out.append(Log(leg.call_id, "the caller did not answer the callback"))
            return replace(leg, phase=LegPhase.ENDED), [*out, EndCallback(leg, Party.CALLER)]
    return leg, []


# --- queued callers ----------------------------------------------------------------------


def caller_step(
    caller: Caller,
    event: CallerEvent,
    acd: AcdSettings,
    queue: QueueConfig,
    now: float,
    agent_leg: Leg | None = None,
) -> tuple[Caller | None, list[Command]]:
    """One event of a queued caller (``agent_leg``: the leg of the agent the caller is
    connected to, if any); None once the caller's record is gone."""
    channel = caller.call_id
    match event:
        case HungUp():
            return _caller_gone(caller, agent_leg)
        case PlaybackDone(playback_id=pid) if pid == caller.playback:
            done = replace(caller, playback="")
            out: list[Command] = [Save((update(done, "playback"),))]
            if caller.phase is CallerPhase.WAITING:
                out.append(Music(channel, queue.moh_class))
            elif caller.phase is CallerPhase.LEAVING:
                out.append(HangUp(channel))
            return done, out
        case TimedOut(timer=Timer.ANNOUNCE) if caller.phase is CallerPhase.WAITING:
            return caller, [AskPosition(channel)]
        case Position(position=position, ewt_s=ewt_s) if (
            position and caller.phase is CallerPhase.WAITING
        ):
            return announce(caller, queue, position, ewt_s, now)
        case TimedOut(timer=Timer.TRANSFER):
            return caller, [CarryOutTransfer(caller)]
        case TimedOut(timer=Timer.EXPIRED) if caller.phase is CallerPhase.WAITING:
            return caller, [Overflow(caller)]
        case Digit(digit=digit) if caller.phase is CallerPhase.WAITING:
            if digit == acd.callback_key:
                if not caller.caller_ref:
                    return caller, [Log(channel, "no callback for a withheld number")]
                return caller, [ToCallback(channel)]
            if digit == acd.text_key and caller.caller_ref:
                return caller, [LeaveForText(channel)]
        case CallbackKept() if caller.phase is CallerPhase.WAITING:
            left, out = leave(caller, acd.callback_prompt, now)
            kept: list[Command] = [
                Log(channel, f"chose a callback in {caller.queue}"),
                Save((put_callback(caller),)),
            ]
            return left, [*kept, ConfirmBySms(caller, "callback"), *out]
        case LeftForText(released=released) if caller.phase is CallerPhase.WAITING:
            left, out = leave(caller, acd.text_prompt, now)
            stop = [HangUp(leg_id(caller.offer_id, agent_id)) for agent_id in released]
            return left, [*stop, OpenConversation(caller), *out]
        case Refused(code=code):
            return caller, [Log(channel, f"stays in {caller.queue}: {code}")]
        case Abandoned(released=released):
            return None, [HangUp(leg_id(caller.offer_id, agent_id)) for agent_id in released]
        case ConnectedMeanwhile(agent_id=agent_id) if agent_id:
            ended = ended_leg(leg_id(caller.offer_id, agent_id), caller, agent_id)
            return None, end_connected(ended, channel, Party.CALLER)
    return caller, []


def ended_leg(channel: str, caller: Caller, agent_id: str) -> Leg:
    """A leg record as ended, to write its phase (``update``) when only its id is known."""
    return Leg(
        channel,
        caller.offer_id,
        agent_id,
        caller.call_id,
        caller.queue,
        external=False,
        phase=LegPhase.ENDED,
    )


def _caller_gone(caller: Caller, agent_leg: Leg | None) -> tuple[None, list[Command]]:
    channel = caller.call_id
    out: list[Command] = [ClearTimers(channel)]
    gone = delete(RecordKind.CALLER, channel)
    if caller.phase is CallerPhase.BRIDGED:
        return None, [*out, *end_bridge(caller, caller.agent_id, agent_leg, Party.CALLER, (gone,))]
    out.append(Save((gone,)))
    if caller.phase is CallerPhase.LEAVING:
        return None, out
    return None, [*out, Abandon(channel)]


def end_bridge(
    caller: Caller, agent_id: str, agent_leg: Leg | None, by: Party, along: tuple[Write, ...]
) -> list[Command]:
    """A connected call ended on ``by``'s side: hang up the other, wrap up, route again
    (``along``: writes made with the end's own)."""
    if caller.nailed:
        return [Save(along), EndNailedCall(caller, agent_id, by)]
    out: list[Command] = []
    if caller.transfer_leg:  # an agent still rings to take the call over
        out.append(HangUp(caller.transfer_leg))
    if by is Party.AGENT:
        leaving = replace(caller, phase=CallerPhase.LEAVING)
        writes = (*along, update(leaving, "phase"))
        other: tuple[str, ...] = (caller.call_id,)
    elif agent_leg is not None:
        writes = (*along, update(replace(agent_leg, phase=LegPhase.ENDED), "phase"))
        other = (agent_leg.leg_id,)
    else:
        writes, other = along, ()
    log = Log(caller.call_id, f"call with agent {agent_id} ended by the {by.value}")
    return [*out, Complete(caller.call_id, agent_id, by, writes, other, caller.bridge), log]


def announce(
    caller: Caller, queue: QueueConfig, position: int, ewt_s: float | None, now: float
) -> tuple[Caller, list[Command]]:
    """Tell the caller their place (and estimated wait), then hold music."""
    what = announcement(queue, position, ewt_s if ewt_s is not None else 0.0)
    media: list[str] = []
    if what.position is not None:
        if what.position <= 1:
            media.append("sound:queue-youarenext")
        else:
            media += ["sound:queue-thereare", f"number:{what.position}", "sound:queue-callswaiting"]
    if what.wait_s is not None and ewt_s is not None:
        minutes = max(1, round(what.wait_s / 60))
        media += ["sound:queue-holdtime", f"number:{minutes}", "sound:queue-minutes"]
    out: list[Command] = []
    due = next_announcement(queue, caller.enqueued_at, now)
    if due is not None:
        out.append(StartTimer(caller.call_id, Timer.ANNOUNCE, due - now))
    if not media:
        return caller, [*out, Music(caller.call_id, queue.moh_class)]
    playing, play = _play(caller, tuple(media), "announce", now)
    return playing, [*out, *play]


def leave(caller: Caller, prompt: Sequence[str], now: float) -> tuple[Caller, list[Command]]:
    """Play a last message to the caller, then hang up (when it ends)."""
    leaving = replace(caller, phase=CallerPhase.LEAVING)
    out: list[Command] = [CancelTimer(caller.call_id, Timer.ANNOUNCE), Save((put(leaving),))]
    left, play = _play(leaving, sounds(prompt), "leave", now)
    return left, [*out, *play]


def _play(
    caller: Caller, media: tuple[str, ...], name: str, now: float
) -> tuple[Caller, list[Command]]:
    """Play to a queued caller (music pauses; it resumes when the playback ends)."""
    channel = caller.call_id
    playing = replace(caller, playback=f"{channel}:{name}-{int(now * 1000)}")
    out: list[Command] = []
    if caller.playback:
        out.append(StopPlayback(channel, caller.playback))
    return playing, [
        *out,
        Save((update(playing, "playback"),)),
        StopMusic(channel),
        Play(channel, media, playing.playback, caller.language),
    ]


Event = LegEvent | CallerEvent
