"""Queued callers (pure; see ``acd.calls``): joining, position and wait announcements, hold
music, callbacks and going on by text, overflow, transfers, and leaving."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from acd.calls import (
    Abandon,
    Abandoned,
    AskPosition,
    CallbackKept,
    CallbackRefused,
    CallerEvent,
    Command,
    ConfirmBySms,
    ConnectedMeanwhile,
    DestroyBridge,
    Dispatch,
    EnqueueCallback,
    Enter,
    HandoverOffered,
    HungUp,
    LeaveForText,
    LeftForText,
    Log,
    Moved,
    MoveToQueue,
    OfferHandover,
    On,
    OpenConversation,
    Position,
    Refused,
    Save,
    Setup,
    TimedOut,
    Timer,
    ToCallback,
    leg_id,
    sounds,
)
from acd.config import OverflowKind, QueueConfig
from acd.endings import end_bridge, end_connected, ended, ended_by_id
from acd.model import EnqueueResult, Party
from acd.offers import caller_id, ring_leg
from acd.records import (
    Caller,
    CallerPhase,
    Leg,
    RecordKind,
    Write,
    delete,
    put,
    put_callback,
    update,
)
from acd.routing import announcement, next_announcement
from acd.transfers import Transfer, TransferKind
from core.commands import (
    CancelTimer,
    ClearTimers,
    Digit,
    Hangup,
    Play,
    PlaybackDone,
    StartMusic,
    StartTimer,
    StopMusic,
    StopPlayback,
)

#: What a caller hears when no queue can take them.
GOODBYE = ("queue-thankyou", "vm-goodbye")


def caller_step(
    caller: Caller, event: CallerEvent, setup: Setup, now: float, agent_leg: Leg | None = None
) -> tuple[Caller | None, list[Command]]:
    """One event of a queued caller (``agent_leg``: the leg of the agent the caller is
    connected to, if any); None once the caller's record is gone."""
    channel, acd = caller.call_id, setup.acd
    waiting = caller.phase is CallerPhase.WAITING
    match event:
        case HungUp():
            return _gone(caller, agent_leg)
        case PlaybackDone(playback_id=pid) if pid == caller.playback:
            done = replace(caller, playback="")
            out: list[Command] = [Save((update(done, "playback"),))]
            if waiting:
                out.append(On(channel, StartMusic(setup.queues[caller.queue].moh_class)))
            elif caller.phase is CallerPhase.LEAVING:
                out.append(On(channel, Hangup()))
            return done, out
        case TimedOut(timer=Timer.ANNOUNCE) if waiting:
            return caller, [AskPosition(channel)]
        case Position(position=position, ewt_s=ewt_s) if position and waiting:
            return announce(caller, setup.queues[caller.queue], position, ewt_s, now)
        case TimedOut(timer=Timer.TRANSFER):
            return _transfer(caller)
        case TimedOut(timer=Timer.EXPIRED) if waiting:
            return overflow(caller, setup, now)
        case Digit(digit=digit) if waiting and digit == acd.callback_key:
            if not caller.caller_ref:
                return caller, [Log(channel, "no callback for a withheld number")]
            return caller, [ToCallback(channel)]
        case Digit(digit=digit) if waiting and digit == acd.text_key and caller.caller_ref:
            return caller, [LeaveForText(channel)]
        case CallbackKept() if waiting:
            # Only now is the caller told they will be called back.
            left, out = leave(caller, acd.callback_prompt, now)
            kept: list[Command] = [
                Log(channel, f"callback kept in {caller.queue}"),
                Save((put_callback(caller),)),
                ConfirmBySms(caller, "callback"),
            ]
            return left, [*kept, *out]
        case CallbackRefused(code=code) if waiting:
            left, out = leave(caller, GOODBYE, now)
            refused: list[Command] = [
                Log(channel, f"no callback possible in {caller.queue}: {code}"),
                Save((delete(RecordKind.CALLBACK, channel),)),
            ]
            return left, [*refused, *out]
        case LeftForText(released=released) if waiting:
            left, out = leave(caller, acd.text_prompt, now)
            stop = [On(leg_id(caller.offer_id, agent_id), Hangup()) for agent_id in released]
            return left, [*stop, OpenConversation(caller), *out]
        case Refused(code=code):
            return caller, [Log(channel, f"request refused: {code}")]
        case Abandoned(released=released):
            return None, [On(leg_id(caller.offer_id, agent_id), Hangup()) for agent_id in released]
        case ConnectedMeanwhile(agent_id=agent_id) if agent_id:
            leg = Leg(
                leg_id(caller.offer_id, agent_id),
                caller.offer_id,
                agent_id,
                channel,
                caller.queue,
                external=False,
            )
            return None, end_connected(leg, Party.CALLER)
        case Moved(queue=queue, position=position):
            return _moved(caller, queue, position, agent_leg, setup, now)
        case HandoverOffered(offer=offer):
            (agent,) = offer.agents
            ringing = replace(caller, transfer_leg=leg_id(offer.offer_id, agent.agent_id))
            shown = caller_id(f"Transfer {caller.pseudonym} ({caller.queue})", setup.hotline_number)
            log = Log(channel, f"rings agent {agent.agent_id} to take the call over")
            along = (update(ringing, "transfer_leg"),)
            return ringing, [log, *ring_leg(offer, agent, setup, shown, along, handover=True)]
    return caller, []


def _gone(caller: Caller, agent_leg: Leg | None) -> tuple[None, list[Command]]:
    """The caller hung up."""
    channel = caller.call_id
    out: list[Command] = [On(channel, ClearTimers())]
    gone = delete(RecordKind.CALLER, channel)
    if caller.phase is CallerPhase.BRIDGED:
        return None, [*out, *end_bridge(caller, caller.agent_id, agent_leg, Party.CALLER, (gone,))]
    out.append(Save((gone,)))
    if caller.phase is CallerPhase.LEAVING:
        return None, out
    return None, [*out, Abandon(channel)]


def joined(
    caller: Caller, result: EnqueueResult, setup: Setup, now: float
) -> tuple[Caller, list[Command]]:
    """The store's answer to a caller joining a queue: their place, or the queue's
    overflow."""
    channel = caller.call_id
    if not result.accepted:
        log = Log(channel, f"refused by {caller.queue} ({result.reason})")
        left, out = overflow(caller, setup, now)
        return left, [log, *out]
    log = Log(channel, f"waits in {caller.queue} at position {result.position}")
    told, out = announce(caller, setup.queues[caller.queue], result.position, result.ewt_s, now)
    return told, [log, *out, Dispatch(caller.queue, told, result.claimed, result.offer)]


def overflow(caller: Caller, setup: Setup, now: float) -> tuple[Caller, list[Command]]:
    """The caller leaves the queue (full, too long a wait, or no agent left) through its
    overflow: another queue, a callback, or a goodbye."""
    target = setup.queues[caller.queue].overflow
    if target.kind is OverflowKind.QUEUE and target.target in setup.queues.keys() - {caller.queue}:
        out: list[Command] = []
        if caller.playback:  # its announcement must not hold up a bridge
            out.append(On(caller.call_id, StopPlayback(caller.playback)))
        return caller, [*out, Enter(caller, target.target)]
    if target.kind is OverflowKind.CALLBACK and caller.caller_ref:
        # What calling back needs is kept first; the caller hears the promise once the
        # store has the callback (``CallbackKept``).
        return caller, [Save((put_callback(caller),)), EnqueueCallback(caller)]
    return leave(caller, GOODBYE, now)


def announce(
    caller: Caller, queue: QueueConfig, position: int, ewt_s: float | None, now: float
) -> tuple[Caller, list[Command]]:
    """Tell the caller their place (and estimated wait), then hold music. Numbers are said
    with ARI's ``number:`` media, in the caller's language, whatever their size."""
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
        out.append(On(caller.call_id, StartTimer(Timer.ANNOUNCE, due - now)))
    if not media:
        return caller, [*out, On(caller.call_id, StartMusic(queue.moh_class))]
    playing, play = _play(caller, tuple(media), "announce", now)
    return playing, [*out, *play]


def leave(caller: Caller, prompt: Sequence[str], now: float) -> tuple[Caller, list[Command]]:
    """Play a last message to the caller, then hang up (when it ends)."""
    leaving = replace(caller, phase=CallerPhase.LEAVING)
    out: list[Command] = [On(caller.call_id, CancelTimer(Timer.ANNOUNCE)), Save((put(leaving),))]
    left, play = _play(leaving, sounds(prompt), "leave", now)
    return left, [*out, *play]


def _play(
    caller: Caller, media: tuple[str, ...], name: str, now: float
) -> tuple[Caller, list[Command]]:
    """Play to a queued caller (music pauses; it resumes when the playback ends)."""
    channel = caller.call_id
    playing = replace(caller, playback=f"{name}-{int(now * 1000)}")
    out: list[Command] = []
    if caller.playback:
        out.append(On(channel, StopPlayback(caller.playback)))
    return playing, [
        *out,
        Save((update(playing, "playback"),)),
        On(channel, StopMusic()),
        On(channel, Play(playing.playback, media, caller.language)),
    ]


def _transfer(caller: Caller) -> tuple[Caller, list[Command]]:
    """Carry out the transfer noted on the caller (``Caller.transfer_to``)."""
    if not caller.transfer_to:
        return caller, []
    transfer = Transfer.decode(caller.transfer_to)
    cleared = replace(caller, transfer_to="")
    out: list[Command] = [Save((update(cleared, "transfer_to"),))]
    refusal = ""
    if caller.nailed or caller.phase is CallerPhase.LEAVING:
        refusal = f"cannot-transfer: {caller.phase.value}"
    elif transfer.kind is TransferKind.AGENT and caller.phase is not CallerPhase.BRIDGED:
        refusal = "not-connected"
    if refusal:
        return cleared, [*out, Log(caller.call_id, f"transfer refused: {refusal}")]
    if transfer.kind is TransferKind.QUEUE:
        return cleared, [*out, MoveToQueue(caller.call_id, transfer.target)]
    return cleared, [*out, OfferHandover(caller.call_id, transfer.target)]


def _moved(
    caller: Caller, queue: str, position: int, agent_leg: Leg | None, setup: Setup, now: float
) -> tuple[Caller, list[Command]]:
    """The call waits in ``queue`` with the same priority and place by time; a connected
    caller's agent is hung up and wraps up, and the caller hears hold music again."""
    writes: list[Write] = []
    out: list[Command] = []
    if caller.phase is CallerPhase.BRIDGED:
        agent_channel = leg_id(caller.offer_id, caller.agent_id)
        if agent_leg is not None:
            writes.append(ended(agent_leg))
        else:
            writes.append(ended_by_id(agent_channel, caller, caller.agent_id))
        out += [On(agent_channel, Hangup()), DestroyBridge(caller.call_id, caller.bridge)]
    waiting = replace(
        caller, phase=CallerPhase.WAITING, queue=queue, offer_id="", agent_id="", bridge=""
    )
    writes.append(update(waiting, "phase", "queue", "offer_id", "agent_id", "bridge"))
    log = Log(caller.call_id, f"transferred to {queue} at position {position}")
    told, announced = announce(waiting, setup.queues[queue], position, None, now)
    return told, [Save(tuple(writes)), *out, log, *announced, Dispatch(queue, told)]
