"""Ringing volunteers, callbacks and nailed-up operators in the pure call machine."""

from __future__ import annotations

from typing import TypeVar

import pytest

from acd import calls
from acd.callers import caller_step, overflow
from acd.config import Device, DeviceKind, Overflow, OverflowKind, QueueConfig
from acd.endings import end_callback
from acd.legs import leg_step
from acd.model import CallKind, MissReason, Offer, OfferedAgent, Party, WaitingCall
from acd.nails import connect_nailed, nail_step, offer_nailed
from acd.offers import call_texter, offer_from_json, offer_to_json, ring
from acd.records import Caller, CallerPhase, Leg, LegPhase, Nail, RecordKind
from core.commands import Hangup, Play, PlaybackDone, StartTimer
from core.config import AcdSettings

HOTLINE = "+18005550100"
QUEUES = {
    "support": QueueConfig("support", ring_timeout_s=12.0),
    "full": QueueConfig("full", overflow=Overflow(OverflowKind.CALLBACK)),
}
SETUP = calls.Setup(AcdSettings(), QUEUES, HOTLINE, frozenset({"nora"}))
NOW = 1_000_000.0
CALLER = Caller("c1", "support", "en", "Brave Otter", NOW - 30, caller_ref="ref1")
T = TypeVar("T")


def of_type(commands: list[calls.Command], kind: type[T]) -> list[T]:
    return [c for c in commands if isinstance(c, kind)]


def on_channels(commands: list[calls.Command], kind: type[T]) -> list[T]:
    """The channel commands of one kind (``calls.On``'s)."""
    return [c.command for c in commands if isinstance(c, calls.On) and isinstance(c.command, kind)]


def offer(*agents: OfferedAgent, kind: CallKind = CallKind.VOICE) -> Offer:
    call = WaitingCall("c1", "support", "app", "Brave Otter", "en", NOW - 30, kind=kind)
    return Offer("o1", call, agents, NOW)


SIP = OfferedAgent("alice", Device(DeviceKind.SIP, "PJSIP/alice"), auto_answer=True)
MOBILE = OfferedAgent("bob", Device(DeviceKind.EXTERNAL, "+15145550123"), auto_answer=True)
NAILED = OfferedAgent("nora", Device(DeviceKind.SIP, "PJSIP/nora"), auto_answer=False)


def test_a_volunteer_is_rung_with_the_hotline_number_and_the_pseudonym_only() -> None:
    out = ring(offer(SIP, MOBILE), CALLER, SETUP)
    sip, mobile = of_type(out, calls.Originate)
    assert sip.caller_id == f'"Brave Otter (support)" <{HOTLINE}>'
    assert mobile.caller_id == sip.caller_id
    assert "ref1" not in repr([sip, mobile])
    assert sip.endpoint == "PJSIP/alice"
    assert mobile.endpoint == "PJSIP/+15145550123@carrier"
    assert dict(sip.variables)["PJSIP_HEADER(add,Call-Info)"].endswith("answer-after=0")
    assert mobile.variables == ()  # a mobile cannot be told to answer by itself
    assert calls.On(sip.channel, StartTimer(calls.Timer.RONA, 12.0)) in out
    (first_save, _) = of_type(out, calls.Save)
    kinds = [w.kind for w in first_save.writes]
    assert kinds == [RecordKind.CALLER, RecordKind.LEG]  # the caller's offer rides along


def test_an_offer_whose_caller_is_gone_is_given_back() -> None:
    out = ring(offer(SIP, MOBILE), None, SETUP)
    assert out == [
        calls.Reject("o1", "alice", "support", MissReason.FAILED),
        calls.Reject("o1", "bob", "support", MissReason.FAILED),
    ]


def test_a_callback_rings_the_volunteer_first_then_dials_the_caller() -> None:
    out = ring(offer(SIP, kind=CallKind.CALLBACK), CALLER, SETUP)
    (originate,) = of_type(out, calls.Originate)
    assert originate.caller_id.startswith('"Callback Brave Otter (support)"')
    leg = Leg(originate.channel, "o1", "alice", "c1", "support", False, callback=True)
    whisper, _ = leg_step(leg, calls.Answered(), CALLER, SETUP)
    _, out = leg_step(whisper, PlaybackDone("x"), CALLER, SETUP)
    assert out == [calls.Accept("o1", "alice")]
    bridged, out = leg_step(whisper, calls.Accepted(True), CALLER, SETUP)
    assert bridged.phase is LegPhase.BRIDGED
    (dial,) = of_type(out, calls.DialCaller)
    assert dial.caller_ref == "ref1"
    assert dial.callee.callee
    assert calls.Join("bridge-c1", leg.leg_id) in out
    _, out = leg_step(bridged, calls.CalleeUnreachable(), CALLER, SETUP)
    assert out == [calls.EndCallback(bridged, Party.CALLER)]


def test_a_callback_ends_both_legs_and_is_completed_once() -> None:
    agent = Leg("agent-o1-alice", "o1", "alice", "c1", "support", False, LegPhase.BRIDGED, True)
    callee = Leg("callee-c1", "o1", "alice", "c1", "support", True, LegPhase.BRIDGED, True, True)
    out = end_callback(callee, Party.CALLER, agent, callee)
    assert [c.channel for c in of_type(out, calls.On) if isinstance(c.command, Hangup)] == [
        agent.leg_id,
        callee.leg_id,
    ]
    assert of_type(out, calls.Complete) == [calls.Complete("c1", "alice", Party.CALLER)]
    direct = end_callback(
        Leg("x", "t1", "alice", "t1", "", False, direct=True), Party.AGENT, None, None
    )
    assert not of_type(direct, calls.Complete)  # a call a volunteer asked for is not queued
    assert of_type(direct, calls.EndTexterCall) == [calls.EndTexterCall("t1", "alice")]


@pytest.mark.parametrize(
    "event",
    [
        calls.TimedOut(calls.Timer.RONA),
        calls.RingFailed(),
        calls.RingFailed(pbx_down=True),
        calls.HungUp(17),
    ],
)
def test_a_volunteer_who_does_not_take_the_call_they_asked_for_is_freed(
    event: calls.LegEvent,
) -> None:
    device = Device(DeviceKind.SIP, "PJSIP/alice")
    texter = Caller("txt1", "general", "fr", "Loutre", 0.0, "ref1")
    (save, *_) = call_texter(texter, "alice", device, SETUP)
    assert isinstance(save, calls.Save)
    leg = next(w.record for w in save.writes if isinstance(w.record, Leg))
    done, out = leg_step(leg, event, texter, SETUP)
    assert done.phase is LegPhase.ENDED
    assert of_type(out, calls.EndTexterCall) == [calls.EndTexterCall("txt1", "alice")]
    assert not of_type(out, calls.Reject)  # no queue's offer to give back


def test_a_nailed_up_operator_is_rung_once_then_callers_join_at_once() -> None:
    out = ring(offer(NAILED), CALLER, SETUP)
    (nailed,) = of_type(out, calls.OfferNailed)
    out = offer_nailed(nailed.offer, nailed.agent, None, SETUP)
    (originate,) = of_type(out, calls.Originate)
    assert originate.app_args == "nail"
    (save,) = of_type(out, calls.Save)
    nail = save.writes[0].record
    assert isinstance(nail, Nail)
    assert offer_from_json(nail.pending) == nailed.offer
    ready, out = nail_step(nail, calls.Answered(), None)
    assert ready is not None
    assert ready.ready
    assert calls.ConnectNailed(nailed.offer, ready) in out
    out = connect_nailed(nailed.offer, ready, CALLER, won=True)
    assert calls.Join(ready.bridge, "c1") in out
    assert not of_type(out, calls.Originate)  # no ringing for the next caller
    assert connect_nailed(nailed.offer, ready, CALLER, won=False) == []


def test_a_lost_nailed_up_connection_gives_its_waiting_offer_back() -> None:
    nail = Nail("nora", "nail-nora", "nail-bridge-nora", pending=offer_to_json(offer(NAILED)))
    gone, out = nail_step(nail, calls.TimedOut(calls.Timer.RONA), None)
    assert gone is None
    assert calls.Reject("o1", "nora", "support", MissReason.NO_ANSWER) in out
    connected = Nail("nora", "nail-nora", "nail-bridge-nora", ready=True, call_id="c1")
    bridged = Caller("c1", "support", "en", "B", NOW, phase=CallerPhase.BRIDGED, nailed=True)
    _, out = nail_step(connected, calls.HungUp(), bridged)
    assert calls.EndNailedCall(bridged, "nora", Party.AGENT) in out


def test_a_callback_is_promised_only_once_the_store_has_it() -> None:
    full = Caller("c1", "full", "en", "Brave Otter", NOW - 30, caller_ref="ref1")
    same, out = overflow(full, SETUP, NOW)
    assert same.phase is CallerPhase.WAITING
    assert out[-1] == calls.EnqueueCallback(full)
    assert not on_channels(out, Play)  # no promise yet
    left, out = caller_step(same, calls.CallbackKept(), SETUP, NOW)
    assert left is not None
    assert left.phase is CallerPhase.LEAVING
    assert on_channels(out, Play)[0].media == ("sound:auth-thankyou", "sound:vm-goodbye")
    assert calls.ConfirmBySms(full, "callback") in out
    left, out = caller_step(same, calls.CallbackRefused("duplicate-call"), SETUP, NOW)
    assert left is not None
    assert left.phase is CallerPhase.LEAVING
    assert on_channels(out, Play)[0].media == ("sound:queue-thankyou", "sound:vm-goodbye")
    assert not of_type(out, calls.ConfirmBySms)
    withheld = Caller("c2", "full", "en", "Brave Otter", NOW - 30)
    _, out = overflow(withheld, SETUP, NOW)
    assert not of_type(out, calls.EnqueueCallback)
    (play,) = on_channels(out, Play)
    assert play.media == ("sound:queue-thankyou", "sound:vm-goodbye")


def test_a_transfer_to_a_queue_moves_a_connected_caller_back_to_hold_music() -> None:
    bridged = Caller(
        "c1", "support", "en", "B", NOW, phase=CallerPhase.BRIDGED, offer_id="o1",
        agent_id="alice", bridge="bridge-c1", transfer_to="queue:full",
    )  # fmt: skip
    cleared, out = caller_step(bridged, calls.TimedOut(calls.Timer.TRANSFER), SETUP, NOW)
    assert cleared is not None
    assert out[-1] == calls.MoveToQueue("c1", "full")
    waiting, out = caller_step(cleared, calls.Moved("full", 3), SETUP, NOW)
    assert waiting is not None
    assert waiting.phase is CallerPhase.WAITING
    assert waiting.queue == "full"
    assert calls.On("agent-o1-alice", Hangup()) in out
    assert calls.Dispatch("full", waiting) in out


def test_a_call_to_a_texter_pops_their_conversation_once_the_volunteer_is_rung() -> None:
    texter = Caller("txtr1", "support", "fr", "Brave Otter", NOW, caller_ref="ref1")
    device = Device(DeviceKind.SIP, "PJSIP/alice")
    commands = call_texter(texter, "alice", device, SETUP, "conv1")
    leg = calls.leg_id("txtr1", "alice")
    pop = calls.PopTextCall(leg, "txtr1", "alice", "conv1", "fr", NOW)
    assert of_type(commands, calls.PopTextCall) == [pop]
    (ring_it,) = of_type(commands, calls.Originate)
    assert ring_it.channel == leg
    assert commands.index(ring_it) < commands.index(pop)  # rung first
    # Without a conversation (none named by the request), nothing pops.
    assert of_type(call_texter(texter, "alice", device, SETUP), calls.PopTextCall) == []
