"""The ACD's pure call machine (``acd.calls``, ``acd.legs``, ``acd.callers``): examples, then
random runs of a caller and the legs ringing its agents against a model of the store."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from acd import calls
from acd.callers import announce, caller_step
from acd.config import Device, DeviceKind, QueueConfig
from acd.legs import leg_step
from acd.model import MissReason, Offer, OfferedAgent, Party, WaitingCall
from acd.records import Caller, CallerPhase, Leg, LegPhase, Record, RecordKind, Write, update
from acd.transfers import Transfer, TransferKind
from core.commands import (
    CancelTimer,
    ClearTimers,
    Digit,
    Hangup,
    Play,
    PlaybackDone,
    StartTimer,
    StopPlayback,
)
from core.config import AcdSettings

ACD = AcdSettings()
QUEUE = QueueConfig("support", announce_every_s=30.0)
SETUP = calls.Setup(ACD, {"support": QUEUE}, "+18005550100")
WITH_SUPERVISOR = calls.Setup(
    ACD, {"support": QueueConfig("support", supervisor="sam")}, "+18005550100"
)
NOW = 1_000_000.0


def caller(**changes: object) -> Caller:
    base = Caller("c1", "support", "fr", "Brave Otter", NOW - 40, caller_ref="ref1")
    return replace(base, **changes)  # type: ignore[arg-type]


def leg(agent: str = "alice", **changes: object) -> Leg:
    base = Leg(calls.leg_id("o1", agent), "o1", agent, "c1", "support", external=False)
    return replace(base, **changes)  # type: ignore[arg-type]


T = TypeVar("T")


def of_type(commands: list[calls.Command], kind: type[T]) -> list[T]:
    return [c for c in commands if isinstance(c, kind)]


def on_channels(commands: list[calls.Command], kind: type[T]) -> list[T]:
    """The channel commands of one kind (``calls.On``'s)."""
    return [c.command for c in commands if isinstance(c, calls.On) and isinstance(c.command, kind)]


# --- examples --------------------------------------------------------------------------


def test_an_answered_leg_whispers_then_asks_the_store() -> None:
    ringing = leg()
    whispering, out = leg_step(ringing, calls.Answered(), caller(), SETUP)
    assert whispering.phase is LegPhase.WHISPER
    assert calls.On(ringing.leg_id, CancelTimer(calls.Timer.RONA)) in out
    (play,) = on_channels(out, Play)
    assert play.media == ("sound:beep",)
    assert play.language == "fr"
    _same, out = leg_step(whispering, PlaybackDone(play.playback_id), caller(), SETUP)
    (accept,) = of_type(out, calls.Accept)
    assert (accept.offer_id, accept.agent_id) == ("o1", "alice")
    written = {(w.kind, w.fields) for w in accept.writes}
    assert (RecordKind.LEG, ("phase",)) in written
    assert (RecordKind.CALLER, ("phase", "agent_id", "bridge")) in written


def test_the_winner_bridges_and_releases_the_other_ring_all_legs() -> None:
    waiting = caller(playback="announce-1", offer_id="o1")
    bridged, out = leg_step(
        leg(phase=LegPhase.WHISPER), calls.Accepted(True, ("bob",)), waiting, SETUP
    )
    assert bridged.phase is LegPhase.BRIDGED
    assert calls.On("c1", StopPlayback("announce-1")) in out
    assert calls.Connect("bridge-c1", "c1", bridged.leg_id) in out
    assert calls.On(calls.leg_id("o1", "bob"), Hangup()) in out


def test_a_lost_accept_hangs_the_leg_up_and_asks_nothing_more() -> None:
    ended, out = leg_step(leg(phase=LegPhase.WHISPER), calls.Accepted(False), caller(), SETUP)
    assert ended.phase is LegPhase.ENDED
    assert calls.On(ended.leg_id, Hangup()) in out
    assert not of_type(out, calls.Connect)
    assert not of_type(out, calls.Reject)


def test_an_external_agent_must_press_1_or_misses_the_call() -> None:
    external = leg(external=True, phase=LegPhase.WHISPER)
    confirming, out = leg_step(external, PlaybackDone("x"), caller(), SETUP)
    assert confirming.phase is LegPhase.CONFIRM
    assert calls.On(external.leg_id, StartTimer(calls.Timer.CONFIRM, ACD.confirm_timeout_s)) in out
    assert not of_type(out, calls.Accept)
    ended, out = leg_step(confirming, calls.TimedOut(calls.Timer.CONFIRM), caller(), SETUP)
    assert ended.phase is LegPhase.ENDED
    assert of_type(out, calls.Reject) == [
        calls.Reject("o1", "alice", "support", MissReason.NO_ANSWER)
    ]


def test_busy_and_unanswered_ringing_are_misses_with_their_reason() -> None:
    for cause, reason in (
        (17, MissReason.BUSY),
        (19, MissReason.NO_ANSWER),
        (None, MissReason.DECLINED),
    ):
        _, out = leg_step(leg(), calls.HungUp(cause), caller(), SETUP)
        assert of_type(out, calls.Reject)[0].reason is reason


def test_a_ring_asterisk_could_not_make_is_not_the_volunteers_miss() -> None:
    _, out = leg_step(leg(), calls.RingFailed(pbx_down=True), caller(), SETUP)
    assert of_type(out, calls.Reject)[0].reason is MissReason.NOT_RUNG
    _, out = leg_step(leg(), calls.RingFailed(), caller(), SETUP)
    assert of_type(out, calls.Reject)[0].reason is MissReason.FAILED


def test_the_supervisor_key_hands_a_connected_call_over() -> None:
    bridged = leg(phase=LegPhase.BRIDGED)
    _, out = leg_step(bridged, Digit("*"), caller(), WITH_SUPERVISOR)
    (request,) = of_type(out, calls.RequestTransfer)
    assert request.transfer.target == "sam"
    _, out = leg_step(bridged, Digit("*"), caller(), SETUP)
    assert not of_type(out, calls.RequestTransfer)
    _, out = leg_step(
        leg(agent="sam", phase=LegPhase.BRIDGED), Digit("*"), caller(), WITH_SUPERVISOR
    )
    assert not of_type(out, calls.RequestTransfer)


def test_an_agent_hanging_up_ends_the_call_for_the_caller() -> None:
    bridged_caller = caller(
        phase=CallerPhase.BRIDGED, agent_id="alice", bridge="bridge-c1", offer_id="o1"
    )
    ended, out = leg_step(leg(phase=LegPhase.BRIDGED), calls.HungUp(), bridged_caller, SETUP)
    assert ended.phase is LegPhase.ENDED
    (complete,) = of_type(out, calls.Complete)
    assert complete.by is Party.AGENT
    assert complete.hang_up == ("c1",)
    assert complete.bridge == "bridge-c1"


def test_positions_and_minutes_are_spoken_as_numbers() -> None:
    for position in (21, 45, 99, 150):
        playing, out = announce(caller(), QUEUE, position, 125.0, NOW)
        (play,) = on_channels(out, Play)
        assert play.media == (
            "sound:queue-thereare",
            f"number:{position}",
            "sound:queue-callswaiting",
            "sound:queue-holdtime",
            "number:2",
            "sound:queue-minutes",
        )
        assert play.language == "fr"
        assert playing.playback == play.playback_id
    _, out = announce(caller(), QUEUE, 1, None, NOW)
    assert on_channels(out, Play)[0].media == ("sound:queue-youarenext",)


def test_a_waiting_caller_who_keys_the_callback_key_keeps_their_place() -> None:
    waiting = caller()
    _same, out = caller_step(waiting, Digit("*"), SETUP, NOW)
    assert out == [calls.ToCallback("c1")]
    left, out = caller_step(waiting, calls.CallbackKept(), SETUP, NOW)
    assert left is not None
    assert left.phase is CallerPhase.LEAVING
    assert calls.ConfirmBySms(waiting, "callback") in out
    _, out = caller_step(caller(caller_ref=""), Digit("*"), SETUP, NOW)
    assert not of_type(out, calls.ToCallback)


def test_a_caller_hanging_up_while_waiting_abandons_and_stops_the_ringing() -> None:
    waiting = caller(offer_id="o1")
    gone, out = caller_step(waiting, calls.HungUp(), SETUP, NOW)
    assert gone is None
    assert out[-1] == calls.Abandon("c1")
    _, out = caller_step(waiting, calls.Abandoned(("alice",)), SETUP, NOW)
    assert out == [calls.On(calls.leg_id("o1", "alice"), Hangup())]
    _, out = caller_step(waiting, calls.ConnectedMeanwhile("alice"), SETUP, NOW)
    (complete,) = of_type(out, calls.Complete)
    assert complete.agent_id == "alice"
    assert complete.hang_up == (calls.leg_id("o1", "alice"),)


# --- random runs -----------------------------------------------------------------------


@dataclass
class Store:
    """What the Lua store decides, for one call offered to some agents."""

    offered: set[str]
    call: str = "offered"  # offered | connected | abandoned | completed
    agent: str = ""
    handover: str = ""  # the agent rung to take the connected call over
    releases: Counter[str] = field(default_factory=Counter)
    connects: list[str] = field(default_factory=list)

    def accept(self, agent: str) -> calls.Accepted:
        if self.call != "offered" or agent not in self.offered:
            return calls.Accepted(False)
        self.call, self.agent = "connected", agent
        self.offered.discard(agent)
        others = tuple(sorted(self.offered))
        for other in others:
            self.release(other)
        return calls.Accepted(True, others)

    def release(self, agent: str) -> None:
        self.offered.discard(agent)
        self.releases[agent] += 1

    def abandon(self) -> calls.Event | None:
        if self.call == "offered":
            self.call = "abandoned"
            released = tuple(sorted(self.offered))
            for agent in released:
                self.release(agent)
            return calls.Abandoned(released)
        if self.call == "connected":
            return calls.ConnectedMeanwhile(self.agent)
        return None

    def complete(self, agent: str) -> None:
        if self.call == "connected" and agent == self.agent:
            self.call = "completed"
            self.releases[agent] += 1

    def handover_offer(self, agent: str) -> calls.Event:
        if self.call != "connected" or self.handover or agent in (self.agent, *self.releases):
            return calls.Refused("not-possible")
        self.handover = agent
        self.offered.add(agent)
        call = WaitingCall("c1", "support", "app", "Brave Otter", "fr", NOW - 40)
        device = OfferedAgent(agent, Device(DeviceKind.SIP, f"PJSIP/{agent}"), False)
        return calls.HandoverOffered(Offer("o2", call, (device,), NOW))

    def handover_accept(self, agent: str) -> calls.TookOver:
        if self.call != "connected" or self.handover != agent:
            return calls.TookOver("")
        first, self.agent, self.handover = self.agent, agent, ""
        self.offered.discard(agent)
        self.releases[first] += 1  # the first agent wraps up
        return calls.TookOver(first)

    def handover_release(self, agent: str) -> None:
        if agent in self.offered:
            self.release(agent)
        if self.handover == agent:
            self.handover = ""


@dataclass
class Run:
    """A caller and its ring-all legs, each channel stepping its own machine on shared records
    (like the adapter's write-through cache), with Asterisk's and the store's answers."""

    agents: tuple[str, ...]
    external: bool
    store: Store = field(init=False)
    records: dict[tuple[RecordKind, str], Record | None] = field(default_factory=dict)
    timers: dict[str, set[str]] = field(default_factory=dict)
    alive: set[str] = field(default_factory=set)
    gone: list[str] = field(default_factory=list)  # channels hung up, their HungUp to come
    bridged: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store = Store(set(self.agents))
        self.records[RecordKind.CALLER, "c1"] = caller(offer_id="o1")
        self.alive.add("c1")
        for agent in self.agents:
            ringing = leg(agent, external=self.external)
            self.records[RecordKind.LEG, ringing.leg_id] = ringing
            self.alive.add(ringing.leg_id)
            self.timers[ringing.leg_id] = {calls.Timer.RONA}

    def caller(self) -> Caller | None:
        found = self.records.get((RecordKind.CALLER, "c1"))
        return found if isinstance(found, Caller) else None

    def leg(self, channel: str) -> Leg | None:
        found = self.records.get((RecordKind.LEG, channel))
        return found if isinstance(found, Leg) else None

    def apply(self, writes: tuple[Write, ...]) -> None:
        for write in writes:
            slot = (write.kind, write.id)
            if write.record is None or not write.fields:
                self.records[slot] = write.record
            elif (current := self.records.get(slot)) is not None:
                changed = {name: getattr(write.record, name) for name in write.fields}
                self.records[slot] = replace(current, **changed)

    def hang_up(self, channel: str) -> None:
        """The adapter hangs a channel up (its timers stop); its end arrives later."""
        self.timers.pop(channel, None)
        self.far_end_hangs_up(channel)

    def far_end_hangs_up(self, channel: str) -> None:
        if channel in self.alive:
            self.alive.discard(channel)
            self.gone.append(channel)

    def settle(self) -> None:
        """Each hung-up channel's own end arrives, in order; then no volunteer the store has
        released may still be rung."""
        while self.gone:
            self.send(self.gone.pop(0), calls.HungUp())
        for agent in self.store.releases:
            for offer in ("o1", "o2"):
                assert calls.leg_id(offer, agent) not in self.alive, f"{agent} rung after release"
        assert len(self.agents_in_bridge()) <= 1, f"one call, agents {self.agents_in_bridge()}"

    def execute(self, commands: list[calls.Command]) -> calls.Event | None:
        answer: calls.Event | None = None
        for command in commands:
            match command:
                case calls.On(channel=ch, command=StartTimer(timer=timer)):
                    self.timers.setdefault(ch, set()).add(timer)
                case calls.On(channel=ch, command=CancelTimer(timer=timer)):
                    self.timers.get(ch, set()).discard(timer)
                case calls.On(channel=ch, command=ClearTimers()):
                    self.timers.pop(ch, None)
                case calls.On(channel=ch, command=Hangup()):
                    self.hang_up(ch)
                case calls.Save(writes=writes):
                    self.apply(writes)
                case calls.Accept(agent_id=agent, writes=writes):
                    answer = self.store.accept(agent)
                    if answer.won:
                        self.apply(writes)
                case calls.Connect(bridge=bridge, call_id=call_id, leg_id=leg_id):
                    found = self.leg(leg_id)
                    assert found is not None
                    assert self.store.agent == found.agent_id, "bridged without the store's word"
                    if {call_id, leg_id} <= self.alive:
                        self.bridged.setdefault(bridge, set()).update({call_id, leg_id})
                        self.store.connects.append(leg_id)
                    else:
                        answer = calls.JoinFailed()
                case calls.Reject(agent_id=agent):
                    if agent in self.store.offered:
                        self.store.release(agent)
                case calls.Abandon():
                    answer = self.store.abandon()
                case calls.Complete(agent_id=agent, writes=writes, hang_up=channels, bridge=bridge):
                    self.apply(writes)
                    for ch in channels:
                        self.hang_up(ch)
                    self.bridged.pop(bridge, None)
                    self.store.complete(agent)
                case calls.Originate(channel=ch):
                    self.alive.add(ch)
                case calls.Join(bridge=bridge, channel=ch):
                    found = self.leg(ch)
                    assert found is not None
                    assert self.store.agent == found.agent_id, "bridged without the store's word"
                    if ch in self.alive and bridge in self.bridged:
                        self.bridged[bridge].add(ch)
                    else:
                        answer = calls.JoinFailed()
                case calls.DestroyBridge(bridge=bridge):
                    self.bridged.pop(bridge, None)
                case calls.OfferHandover(agent_id=agent):
                    answer = self.store.handover_offer(agent)
                case calls.AcceptHandover(agent_id=agent):
                    answer = self.store.handover_accept(agent)
                case calls.ReleaseHandover(agent_id=agent, leg_id=ch):
                    self.store.handover_release(agent)
                    current = self.caller()
                    if current is not None and current.transfer_leg == ch:
                        self.apply((update(replace(current, transfer_leg=""), "transfer_leg"),))
        return answer

    def transfer_to_supervisor(self) -> None:
        """Staff or the supervisor key ask for a hand-over (``AcdService._queue_transfer``)."""
        current = self.caller()
        if current is not None:
            noted = replace(current, transfer_to=Transfer(TransferKind.AGENT, SUPERVISOR).encode())
            self.apply((update(noted, "transfer_to"),))
            self.send_caller(calls.TimedOut(calls.Timer.TRANSFER))

    def agents_in_bridge(self) -> set[str]:
        members = self.bridged.get("bridge-c1", set()) & self.alive
        return {m for m in members if m != "c1"}

    def send(self, channel: str, event: calls.ChannelEvent) -> None:
        """The adapter's loop for one channel's event: the record is read once, then the
        machine's own result is stepped on; Redis sees only what the commands write."""
        if channel == "c1":
            self.send_caller(event)
            return
        current = self.leg(channel)
        next_event: calls.Event | None = event
        while current is not None and current.phase is not LegPhase.ENDED and next_event:
            current, commands = leg_step(
                current,
                next_event,  # type: ignore[arg-type]
                self.caller(),
                SETUP,
            )
            next_event = self.execute(commands)

    def send_caller(self, event: calls.ChannelEvent) -> None:
        current = self.caller()
        if current is None or isinstance(event, calls.Answered):
            return
        next_event: calls.Event | None = event
        while next_event is not None:
            agent_leg = None
            if current.phase is CallerPhase.BRIDGED:
                agent_leg = self.leg(calls.leg_id(current.offer_id, current.agent_id))
            changed, commands = caller_step(
                current,
                next_event,  # type: ignore[arg-type]
                SETUP,
                NOW,
                agent_leg,
            )
            current = changed or current
            next_event = self.execute(commands)


SUPERVISOR = "sam"
#: Answers and whispers' ends come often, so that runs reach the bridge and the hand-over.
CHANNEL_EVENTS = st.one_of(
    st.just(calls.Answered()),
    st.just(PlaybackDone("x")),
    st.just(calls.Answered()),
    st.just(PlaybackDone("x")),
    st.builds(PlaybackDone, st.sampled_from(["x", "announce-1"])),
    st.builds(Digit, st.sampled_from(["1", "*", "#", "5"])),
    # EXPIRED is left out: the store expires only calls that no agent is being offered.
    st.builds(
        calls.TimedOut, st.sampled_from([t for t in calls.Timer if t != calls.Timer.EXPIRED])
    ),
    st.builds(calls.HungUp, st.sampled_from([None, 16, 17, 19, 21])),
)


@settings(max_examples=500, deadline=None)
@given(
    agents=st.integers(min_value=1, max_value=3),
    external=st.booleans(),
    data=st.data(),
)
def test_any_order_of_events_bridges_once_and_releases_every_volunteer(
    agents: int, external: bool, data: st.DataObject
) -> None:
    run = Run(tuple(f"agent{i}" for i in range(agents)), external)
    everyone = ["c1", *(calls.leg_id("o1", a) for a in run.agents), calls.leg_id("o2", SUPERVISOR)]
    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        # Mostly events of live channels; now and then a hand-over request, or an event of
        # a channel that is gone (a duplicate, or one arriving after the channel's end).
        if data.draw(st.integers(0, 9)) == 0:
            run.transfer_to_supervisor()
            run.settle()
            continue
        live = sorted(run.alive)
        from_live = bool(live) and data.draw(st.integers(0, 4)) > 0
        pool = live if from_live else everyone
        channel = data.draw(st.sampled_from(pool))
        event = data.draw(CHANNEL_EVENTS)
        if isinstance(event, calls.HungUp):
            run.far_end_hangs_up(channel)
        elif channel not in run.alive and not isinstance(event, calls.TimedOut):
            continue  # a gone channel sends nothing more (its timers may still fire)
        run.send(channel, event)
        run.settle()
    for channel in list(run.alive):  # in the end, everybody hangs up
        run.far_end_hangs_up(channel)
        run.settle()

    assert len(run.store.connects) <= 1, "a call bridged to two volunteers"
    offered = [*run.agents, *([SUPERVISOR] if run.leg(calls.leg_id("o2", SUPERVISOR)) else [])]
    for agent in offered:
        assert run.store.releases[agent] == 1, f"{agent} released {run.store.releases[agent]} times"
    assert run.store.call in ("abandoned", "completed")
    assert not any(run.timers.values()), f"timers left: {run.timers}"
    for channel in everyone[1:]:
        found = run.leg(channel)
        if found is None and channel == everyone[-1]:
            continue  # the supervisor was never rung
        assert found is not None
        assert found.phase is LegPhase.ENDED
    assert run.caller() is None
