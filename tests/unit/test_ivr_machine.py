"""The pure IVR state machine, walked through the demo flow and variants of it."""

import copy
import dataclasses
import json
import tomllib
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.commands import (
    CancelTimer,
    Digit,
    Hangup,
    HungUp,
    Play,
    PlaybackDone,
    StartTimer,
    StopPlayback,
    TimerFired,
)
from core.frozen import FrozenMap
from ivr.flow import DEMO_FLOW, Flow, load_flow, parse_flow
from ivr.machine import (
    CallState,
    Command,
    EnterQueue,
    InputEvent,
    Journal,
    Phase,
    SwitchToText,
    start,
    step,
)

NOW = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)
DEMO = load_flow(DEMO_FLOW)
DEMO_DATA: dict[str, Any] = tomllib.loads(DEMO_FLOW.read_text(encoding="utf-8"))


def variant(**node_changes: dict[str, Any]) -> Flow:
    data = copy.deepcopy(DEMO_DATA)
    for node_id, changes in node_changes.items():
        data["nodes"][node_id].update(changes)
    return parse_flow(data, source="variant.toml")


def plays(commands: list[Command]) -> list[Play]:
    return [c for c in commands if isinstance(c, Play)]


def journal(commands: list[Command]) -> list[tuple[str, dict[str, str]]]:
    return [(c.kind, dict(c.detail)) for c in commands if isinstance(c, Journal)]


def actions(commands: list[Command]) -> list[Command]:
    return [c for c in commands if not isinstance(c, Journal)]


def roundtrip(state: CallState) -> CallState:
    again = CallState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    return again


class Call:
    """Drives the machine like the adapter would, storing state as JSON between events."""

    def __init__(self, flow: Flow = DEMO, now: datetime = NOW) -> None:
        self.flow = flow
        self.now = now
        self.state, self.out = start(flow, now)

    def send(self, event: InputEvent) -> list[Command]:
        self.state, self.out = step(self.flow, roundtrip(self.state), event, self.now)
        return self.out

    def phase(self) -> Phase:
        return self.state.phase

    def finish_prompt(self) -> list[Command]:
        assert self.state.playback_id is not None
        return self.send(PlaybackDone(self.state.playback_id))

    def time_out(self) -> list[Command]:
        assert self.state.timer is not None
        return self.send(TimerFired(self.state.timer))


def test_greeting_digit_branch_to_queue() -> None:
    call = Call()
    assert call.state.node == "language"
    assert call.phase() is Phase.PROMPTING
    assert actions(call.out) == [Play("p1", ("sound:hello-world",), "en")]
    assert journal(call.out) == [
        ("node", {"node": "hours", "type": "hours"}),
        ("hours", {"node": "hours", "status": "open"}),
        ("node", {"node": "language", "type": "language"}),
    ]

    assert call.finish_prompt() == [StartTimer("t2", 5.0)]
    assert call.phase() is Phase.WAITING_DIGIT

    out = call.send(Digit("2"))
    assert actions(out) == [CancelTimer("t2"), Play("p3", ("sound:vm-enter-num-to-call",), "fr")]
    assert ("language", {"node": "language", "language": "fr"}) in journal(out)
    assert call.state.language == "fr"

    assert call.finish_prompt() == [StartTimer("t4", 5.0)]
    out = call.send(Digit("1"))
    assert actions(out) == [
        CancelTimer("t4"),
        EnterQueue("general", "fr", {"topic": "general"}, ("language=fr", "main_menu=1")),
    ]
    assert [kind for kind, _ in journal(out)] == ["digit", "node", "node", "queue"]
    assert call.phase() is Phase.QUEUED
    assert call.state.variables == {"topic": "general"}

    queued = call.state
    for event in (Digit("0"), PlaybackDone("p3"), TimerFired("t4")):
        assert call.send(event) == []
        assert call.state == queued
    out = call.send(HungUp())
    assert out == [Journal("hangup", {"node": "to_queue", "by": "caller"})]
    assert call.phase() is Phase.DONE


def test_barge_in_stops_the_prompt_and_acts_at_once() -> None:
    call = Call()
    out = call.send(Digit("1"))
    assert actions(out) == [StopPlayback("p1"), Play("p2", ("sound:vm-enter-num-to-call",), "en")]
    assert call.state.node == "main_menu"
    assert call.state.history == ("language=en",)
    # The stopped playback then reports completion: stale, ignored.
    before = call.state
    assert call.send(PlaybackDone("p1")) == []
    assert call.state == before


def test_invalid_key_then_valid_key() -> None:
    call = Call()
    call.send(Digit("1"))
    call.finish_prompt()
    out = call.send(Digit("9"))
    assert actions(out) == [
        CancelTimer("t3"),
        Play("p4", ("sound:please-try-again", "sound:vm-enter-num-to-call"), "en"),
    ]
    assert journal(out) == [("digit_invalid", {"node": "main_menu", "attempt": "1"})]
    assert call.state.attempts == 1
    # Barge into the re-prompt with a valid choice.
    out = call.send(Digit("2"))
    assert actions(out) == [StopPlayback("p4"), Play("p5", ("sound:auth-thankyou",), "en")]
    assert call.state.node == "info"
    assert call.state.attempts == 0
    # Back at the menu after the info message, with a fresh attempt count.
    out = call.finish_prompt()
    assert actions(out) == [Play("p6", ("sound:vm-enter-num-to-call",), "en")]
    assert call.state.history == ("language=en", "main_menu=2")


def test_timeouts_retry_then_go_to_on_failure() -> None:
    call = Call(variant(main_menu={"timeout_prompt": ["beep"]}))
    call.send(Digit("1"))
    for attempt in (1, 2):
        call.finish_prompt()
        out = call.time_out()
        assert actions(out) == [
            Play(f"p{2 * attempt + 2}", ("sound:beep", "sound:vm-enter-num-to-call"), "en")
        ]
        assert journal(out) == [("timeout", {"node": "main_menu", "attempt": str(attempt)})]
        assert call.state.attempts == attempt
    call.finish_prompt()
    out = call.time_out()
    assert actions(out) == [Play("p8", ("sound:vm-goodbye",), "en")]
    assert ("failure", {"node": "main_menu", "target": "goodbye"}) in journal(out)
    assert call.phase() is Phase.ENDING
    assert call.send(Digit("1")) == [Journal("digit_ignored", {"node": "goodbye"})]
    out = call.finish_prompt()
    assert actions(out) == [Hangup()]
    assert call.phase() is Phase.DONE
    assert call.send(HungUp()) == []


def test_zero_retries_fail_on_first_invalid_digit() -> None:
    call = Call(variant(main_menu={"retries": 0}))
    call.send(Digit("1"))
    out = call.send(Digit("5"))
    assert actions(out) == [StopPlayback("p2"), Play("p3", ("sound:vm-goodbye",), "en")]


def test_language_failure_keeps_default_language() -> None:
    call = Call()
    for _ in range(3):
        call.finish_prompt()
        call.time_out()
    assert call.state.node == "main_menu"
    assert call.state.language == "en"
    assert call.state.history == ()
    assert plays(call.out) == [Play("p7", ("sound:vm-enter-num-to-call",), "en")]


def test_language_choice_applies_to_every_later_prompt() -> None:
    call = Call()
    call.send(Digit("2"))
    call.send(Digit("7"))  # invalid, barge-in on the menu prompt
    call.send(Digit("2"))  # info
    call.finish_prompt()  # back to the menu
    call.send(Digit("0"))  # goodbye
    languages = {play.language for play in plays(call.out)}
    assert languages == {"fr"}
    assert call.phase() is Phase.ENDING


def test_digits_during_a_play_prompt_are_ignored() -> None:
    call = Call()
    call.send(Digit("1"))
    call.send(Digit("2"))
    before = call.state
    assert call.state.node == "info"
    assert call.send(Digit("0")) == [Journal("digit_ignored", {"node": "info"})]
    assert call.state == before


def test_stale_ids_are_ignored() -> None:
    call = Call()
    call.finish_prompt()
    waiting = call.state
    for event in (PlaybackDone("p1"), PlaybackDone("p2"), TimerFired("t1"), TimerFired("t9")):
        assert call.send(event) == []
        assert call.state == waiting
    call.send(Digit("1"))  # cancels t2
    menu = call.state
    assert call.send(TimerFired("t2")) == []
    assert call.state == menu


def test_hangup_mid_menu_cancels_the_timer() -> None:
    call = Call()
    call.send(Digit("1"))
    call.finish_prompt()
    timer = call.state.timer
    assert timer is not None
    out = call.send(HungUp())
    assert out == [CancelTimer(timer), Journal("hangup", {"node": "main_menu", "by": "caller"})]
    assert call.phase() is Phase.DONE
    assert call.state.timer is None
    assert call.send(TimerFired(timer)) == []


def test_hangup_during_prompt_plays_nothing() -> None:
    call = Call()
    assert actions(call.send(HungUp())) == []
    assert call.phase() is Phase.DONE


def test_closed_hours_route_to_closed_branch() -> None:
    weekly = {"mon": ["09:00-17:00"]}
    call = Call(variant(hours={"weekly": weekly}), now=datetime(2026, 6, 1, 22, 0, tzinfo=UTC))
    assert ("hours", {"node": "hours", "status": "closed"}) in journal(call.out)
    assert plays(call.out) == [Play("p1", ("sound:please-try-call-later",), "en")]
    call.finish_prompt()
    assert call.state.node == "goodbye"


def test_hangup_node_without_prompt_hangs_up_at_once() -> None:
    data = copy.deepcopy(DEMO_DATA)
    data["nodes"]["goodbye"] = {"type": "hangup"}
    call = Call(parse_flow(data, source="variant.toml"))
    call.send(Digit("1"))
    out = call.send(Digit("0"))
    assert actions(out) == [StopPlayback("p2"), Hangup()]
    assert journal(out)[-1] == ("hangup", {"node": "goodbye", "by": "flow"})
    assert call.phase() is Phase.DONE


def test_state_round_trip_and_malformed_data() -> None:
    state = CallState(
        node="main_menu",
        phase=Phase.WAITING_DIGIT,
        language="fr",
        variables=FrozenMap({"topic": "housing"}),
        attempts=1,
        seq=7,
        playback_id=None,
        timer="t7",
        history=("language=fr",),
    )
    assert roundtrip(state) == state
    assert hash(roundtrip(state)) == hash(state)
    data = state.to_dict()
    with pytest.raises(ValueError, match="malformed"):
        CallState.from_dict({**data, "phase": "dancing"})
    with pytest.raises(ValueError, match="malformed"):
        CallState.from_dict({k: v for k, v in data.items() if k != "seq"})
    with pytest.raises(ValueError, match="malformed"):
        CallState.from_dict({**data, "attempts": "1"})
    with pytest.raises(ValueError, match="malformed"):
        CallState.from_dict({**data, "variables": {"topic": 1}})


EVENT_KINDS = ("digit", "playback", "timer", "hangup")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_events_never_break_the_rules(data: st.DataObject) -> None:
    now = data.draw(
        st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))
    )
    state, out = start(DEMO, now)
    batches = [out]
    started: list[str] = []
    playbacks: list[str] = []
    reactions: Counter[str] = Counter()
    ended = False
    for _ in range(data.draw(st.integers(0, 60))):
        for command in out:
            if isinstance(command, StartTimer):
                started.append(command.timer)
            if isinstance(command, Play):
                playbacks.append(command.playback_id)
        kind = data.draw(st.sampled_from(EVENT_KINDS))
        event: InputEvent
        if kind == "digit":
            event = Digit(data.draw(st.sampled_from("0123456789*#AD")))
        elif kind == "playback":
            ids = [*playbacks, "p0", *([state.playback_id] if state.playback_id else [])]
            event = PlaybackDone(data.draw(st.sampled_from(ids)))
        elif kind == "timer":
            event = TimerFired(data.draw(st.sampled_from([*started, "t0"])))
        else:
            event = HungUp()
        before = state
        state, out = step(DEMO, state, event, now)
        batches.append(out)
        stale = (isinstance(event, PlaybackDone) and event.playback_id != before.playback_id) or (
            isinstance(event, TimerFired) and event.timer != before.timer
        )
        if stale or before.phase is Phase.DONE:
            assert (state, out) == (before, [])
        if isinstance(event, TimerFired) and out:
            reactions[event.timer] += 1
        assert CallState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
        if isinstance(event, HungUp):
            ended = True
            assert state.phase is Phase.DONE
        for command in out:
            assert not (ended and isinstance(command, Play))
            ended = ended or isinstance(command, Hangup)
        assert all(play.language in ("en", "fr") for play in plays(out))
        assert (state.timer is not None) == (state.phase is Phase.WAITING_DIGIT)
    assert all(count == 1 for count in reactions.values())
    assert set(reactions) <= set(started)
    pending = _uncancelled_timers([c for batch in batches for c in batch])
    assert pending - set(reactions) == ({state.timer} if state.timer else set())


def _uncancelled_timers(commands: list[Command]) -> set[str]:
    """Timers started and not cancelled; cancelling a timer that is not pending fails."""
    pending: set[str] = set()
    for command in commands:
        if isinstance(command, StartTimer):
            assert command.timer not in pending
            pending.add(command.timer)
        elif isinstance(command, CancelTimer):
            pending.remove(command.timer)
    return pending


def test_a_text_node_hands_the_call_to_sms_with_its_context_then_ends() -> None:
    flow = parse_flow(
        {
            "start": "menu",
            "default_language": "en",
            "nodes": {
                "menu": {
                    "type": "menu",
                    "prompt": ["beep"],
                    "options": {"3": "by_text"},
                    "timeout": 2.0,
                    "retries": 0,
                    "on_failure": "by_text",
                },
                "by_text": {"type": "text", "prompt": ["auth-thankyou"]},
            },
        },
        source="inline",
    )
    now = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    state, _ = start(flow, now)
    state, out = step(flow, state, Digit("3"), now)
    switches = [c for c in out if isinstance(c, SwitchToText)]
    assert switches == [SwitchToText("en", state.variables, ("menu=3",))]
    (play,) = [c for c in out if isinstance(c, Play)]
    assert play.media == ("sound:auth-thankyou",)
    assert state.playback_id is not None
    state, out = step(flow, state, PlaybackDone(state.playback_id), now)
    assert Hangup() in out


def test_a_flow_that_starts_with_a_queue_hands_it_the_callers_variables() -> None:
    flow = parse_flow(
        {"start": "q", "default_language": "en", "nodes": {"q": {"type": "queue", "queue": "g"}}},
        source="inline",
    )
    known = {"caller_ref": "ref-1", "pseudonym": "Brave Otter"}
    state, out = start(flow, NOW, variables=known)
    assert [c for c in out if isinstance(c, EnterQueue)] == [EnterQueue("g", "en", known, ())]
    assert state.variables == known


def test_a_call_to_a_line_of_its_own_enters_its_queue_at_once() -> None:
    state, out = start(DEMO, NOW, "+18005550177")
    entered = [command for command in out if isinstance(command, EnterQueue)]
    assert [(e.queue, e.language) for e in entered] == [("telethon", "en")]
    assert not plays(out)  # the operator hears the donor at once: no prompt first
    assert state.node == "to_telethon"
    helpline, out = start(DEMO, NOW, "+18005550100")
    assert helpline.node == "language"
    assert not [command for command in out if isinstance(command, EnterQueue)]


def test_a_call_to_a_line_of_its_own_journals_the_lines_language() -> None:
    _, out = start(DEMO, NOW, "+18005550177")
    assert next(c for c in out if isinstance(c, Journal)) == Journal(
        "language", FrozenMap({"node": "to_telethon", "language": "en"})
    )  # the flow's default language: the caller chooses none
    french = dataclasses.replace(DEMO, line_languages=FrozenMap({"+18005550177": "fr"}))
    _, out = start(french, NOW, "+18005550177")
    assert [(e.queue, e.language) for e in out if isinstance(e, EnterQueue)] == [("telethon", "fr")]
    assert Journal("language", FrozenMap({"node": "to_telethon", "language": "fr"})) in out
    _, out = start(french, NOW, "+18005550100")  # the helpline: the caller chooses
    assert not [c for c in out if isinstance(c, Journal) and c.kind == "language"]
