"""Nailed-up agents (pure; see ``acd.calls``): a telethon operator's phone is rung once and
kept in its own bridge; each caller is put into that bridge in a few milliseconds."""

from __future__ import annotations

from dataclasses import replace

from acd.calls import (
    Answered,
    Command,
    ConnectNailed,
    CreateBridge,
    DestroyBridge,
    HungUp,
    Join,
    Log,
    NailEvent,
    On,
    Originate,
    Reject,
    RingFailed,
    Save,
    Setup,
    TimedOut,
    Timer,
    nail_id,
)
from acd.endings import end_bridge
from acd.model import MissReason, Offer, OfferedAgent, Party
from acd.offers import caller_id, endpoint, offer_from_json, offer_to_json
from acd.records import Caller, CallerPhase, Nail, RecordKind, delete, put, update
from core.commands import CancelTimer, ClearTimers, Hangup, StartTimer, StopMusic, StopPlayback


def offer_nailed(
    offer: Offer, agent: OfferedAgent, nail: Nail | None, setup: Setup
) -> list[Command]:
    """Connect at once over the agent's standing connection; set it up on first use (the
    offer waits for it)."""
    if nail is not None and nail.ready and not nail.call_id:
        return [ConnectNailed(offer, nail)]
    if nail is not None:  # coming up: this offer waits for it
        return [Save((update(replace(nail, pending=offer_to_json(offer)), "pending"),))]
    channel = nail_id(agent.agent_id)
    nail = Nail(
        agent.agent_id, channel, f"nail-bridge-{agent.agent_id}", pending=offer_to_json(offer)
    )
    timeout = setup.queues[offer.call.queue].ring_timeout_s
    shown = caller_id("Hotline (nailed-up)", setup.hotline_number)
    return [
        Save((put(nail),)),
        On(channel, StartTimer(Timer.RONA, timeout)),
        Originate(channel, endpoint(agent.device), shown, "nail", int(timeout) + 5),
    ]


def nail_step(
    nail: Nail, event: NailEvent, caller: Caller | None
) -> tuple[Nail | None, list[Command]]:
    """One event of the standing connection (``caller``: the caller it carries now, if any);
    None once it is gone."""
    match event:
        case Answered():
            ready = replace(nail, ready=True, pending="")
            out: list[Command] = [
                On(nail.leg_id, CancelTimer(Timer.RONA)),
                CreateBridge(nail.leg_id, nail.bridge),
                Join(nail.bridge, nail.leg_id),
                Save((update(ready, "ready", "pending"),)),
                Log(nail.leg_id, f"agent {nail.agent_id} nailed up"),
            ]
            if nail.pending:
                out.append(ConnectNailed(offer_from_json(nail.pending), ready))
            return ready, out
        case TimedOut(timer=Timer.RONA):
            return None, _lost(nail, MissReason.NO_ANSWER, caller)
        case HungUp():
            return None, _lost(nail, MissReason.DECLINED, caller)
        case RingFailed(pbx_down=pbx_down):
            reason = MissReason.NOT_RUNG if pbx_down else MissReason.FAILED
            return None, _lost(nail, reason, caller)
    return nail, []


def _lost(nail: Nail, reason: MissReason, caller: Caller | None) -> list[Command]:
    """The standing connection failed or ended: end its call, give back a waiting offer."""
    out: list[Command] = [
        On(nail.leg_id, ClearTimers()),
        Save((delete(RecordKind.NAIL, nail.agent_id),)),
        On(nail.leg_id, Hangup()),
        DestroyBridge(nail.leg_id, nail.bridge),
    ]
    if nail.pending:
        offer = offer_from_json(nail.pending)
        out.append(Reject(offer.offer_id, nail.agent_id, offer.call.queue, reason))
    if nail.call_id and caller is not None:
        out += end_bridge(caller, nail.agent_id, None, Party.AGENT, ())
    return [*out, Log(nail.leg_id, f"agent {nail.agent_id} nailed-up connection ended")]


def connect_nailed(offer: Offer, nail: Nail, caller: Caller | None, won: bool) -> list[Command]:
    """The store's verdict on a nailed-up agent taking the offer: put the caller into the
    agent's standing bridge (no ringing, no whisper)."""
    if not won or caller is None:
        return []
    call_id = offer.call.call_id
    bridged = replace(
        caller,
        phase=CallerPhase.BRIDGED,
        agent_id=nail.agent_id,
        bridge=nail.bridge,
        offer_id=offer.offer_id,
        nailed=True,
    )
    out: list[Command] = [
        Save(
            (
                update(replace(nail, call_id=call_id), "call_id"),
                update(bridged, "phase", "agent_id", "bridge", "offer_id", "nailed"),
            )
        ),
        On(call_id, CancelTimer(Timer.ANNOUNCE)),
    ]
    if caller.playback:
        out.append(On(call_id, StopPlayback(caller.playback)))
    return [
        *out,
        On(call_id, StopMusic()),
        Join(nail.bridge, call_id),
        Log(call_id, f"connected to nailed-up agent {nail.agent_id}"),
    ]
