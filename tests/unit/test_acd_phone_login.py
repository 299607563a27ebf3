"""The volunteer line: id, PIN, queue choice; a second call logs out."""

from __future__ import annotations

from collections.abc import Sequence

from acd.phone_login import (
    Command,
    LogIn,
    LoginState,
    LogOut,
    Outcome,
    Step,
    Verified,
    Verify,
    start,
    step,
)
from core.commands import Digit, Hangup, HungUp, Play, PlaybackDone, TimerFired


def keys(state: LoginState, digits: str) -> tuple[LoginState, list[Command]]:
    out: list[Command] = []
    for d in digits:
        state, commands = step(state, Digit(d))
        out += commands
    return state, out


def played(commands: Sequence[object]) -> list[tuple[str, ...]]:
    return [c.media for c in commands if isinstance(c, Play)]


def finish(state: LoginState) -> list[Command]:
    assert state.step is Step.ENDING
    assert state.playback_id
    state, out = step(state, PlaybackDone(state.playback_id))
    assert state.step is Step.DONE
    return out


def test_login_with_id_pin_and_queue_choice() -> None:
    state, out = start("fr")
    assert played(out) == [("sound:agent-user",)]
    state, out = keys(state, "101#")
    assert played(out) == [("sound:agent-pass",)]
    state, out = keys(state, "4321#")
    assert Verify("101", "4321") in out
    assert state.step is Step.CHECKING
    state, out = step(state, Verified(Outcome.WAS_LOGGED_OUT, ("general", "french")))
    assert state.step is Step.QUEUE_CHOICE
    state, out = step(state, Digit("2"))
    assert LogIn("101", ("french",)) in out
    assert next(p for p in out if isinstance(p, Play)).language == "fr"
    assert finish(state) == [Hangup()]


def test_no_choice_logs_in_to_every_queue() -> None:
    state, _ = start()
    state, _ = keys(state, "7#9999#")
    state, _ = step(state, Verified(Outcome.WAS_LOGGED_OUT, ("a", "b")))
    assert state.timer
    state, out = step(state, TimerFired(state.timer))
    assert LogIn("7", ("a", "b")) in out


def test_a_logged_in_volunteer_is_logged_out() -> None:
    state, _ = start()
    state, _ = keys(state, "7#9999#")
    state, out = step(state, Verified(Outcome.WAS_LOGGED_IN, ("a",)))
    assert LogOut("7") in out
    assert played(out) == [("sound:agent-loggedoff",)]


def test_three_wrong_pins_end_the_call() -> None:
    state, _ = start()
    for attempt in range(3):
        state, _ = keys(state, "7#0000#")
        state, out = step(state, Verified(Outcome.REFUSED))
        if attempt < 2:
            assert state.step is Step.AGENT_ID
            assert played(out) == [("sound:agent-incorrect", "sound:agent-user")]
    assert played(out) == [("sound:agent-incorrect", "sound:vm-goodbye")]
    assert not any(isinstance(c, LogIn) for c in out)
    assert finish(state) == [Hangup()]


def test_forgotten_pound_key_is_forgiven_by_the_timer() -> None:
    state, _ = start()
    state, _ = keys(state, "42")
    assert state.timer
    state, out = step(state, TimerFired(state.timer))
    assert state.step is Step.PIN
    assert state.agent_id == "42"
    assert played(out) == [("sound:agent-pass",)]


def test_the_pin_being_keyed_is_never_stored() -> None:
    state, _ = start()
    state, _ = keys(state, "7#12")
    assert state.digits == "12"
    assert "12" not in str(state.to_dict()["digits"])
    assert LoginState.from_dict(state.to_dict()).agent_id == "7"


def test_hang_up_mid_pin_cancels_the_timer_and_ignores_later_events() -> None:
    state, _ = start()
    state, _ = keys(state, "7#1")
    timer = state.timer
    state, out = step(state, HungUp())
    assert state.step is Step.DONE
    assert out
    assert all(not isinstance(c, Play) for c in out)
    assert timer is not None
    assert step(state, TimerFired(timer)) == (state, [])
