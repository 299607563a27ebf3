"""Volunteers log in and out by phone: the pure state machine of the volunteer line.

A volunteer dials the volunteer line, keys their agent id then their PIN (each ended by ``#``),
and, if they belong to several queues, picks one (``1``..``9``; ``0`` or no key: all of them).
A call from a volunteer who is already logged in logs them out. Commands reuse the IVR's
(play, timers, hang-up: ``core.commands``); checking the PIN and changing the agent's state
are commands the adapter carries out, its answer comes back as ``Verified``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

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

DIGIT_TIMEOUT = 8.0
CHOICE_TIMEOUT = 4.0
MAX_ATTEMPTS = 3
MAX_DIGITS = 12


class Step(Enum):
    """What the line is waiting for."""

    AGENT_ID = "agent_id"
    PIN = "pin"
    CHECKING = "checking"
    QUEUE_CHOICE = "queue_choice"
    ENDING = "ending"
    DONE = "done"


class Outcome(Enum):
    """What checking the id and PIN found."""

    REFUSED = "refused"
    WAS_LOGGED_OUT = "was_logged_out"
    WAS_LOGGED_IN = "was_logged_in"


@dataclass(frozen=True)
class LoginState:
    """State of one call to the volunteer line (stored between events)."""

    step: Step
    language: str = "en"
    digits: str = ""
    agent_id: str = ""
    queues: tuple[str, ...] = ()
    attempts: int = 0
    seq: int = 0
    playback_id: str | None = None
    timer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; the PIN being keyed is never stored."""
        doc = {k: v for k, v in vars(self).items() if k not in ("step", "queues", "digits")}
        digits = "" if self.step is Step.PIN else self.digits
        return {**doc, "step": self.step.value, "queues": list(self.queues), "digits": digits}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoginState:
        """Inverse of ``to_dict``."""
        return cls(**{**data, "step": Step(data["step"]), "queues": tuple(data["queues"])})


@dataclass(frozen=True)
class Verify:
    """Check ``pin`` for ``agent_id``; answer with ``Verified``."""

    agent_id: str
    pin: str


@dataclass(frozen=True)
class Verified:
    """The adapter's answer to ``Verify``: the outcome and the agent's queues."""

    outcome: Outcome
    queues: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogIn:
    """Log the agent in to ``queues``."""

    agent_id: str
    queues: tuple[str, ...]


@dataclass(frozen=True)
class LogOut:
    """Log the agent out."""

    agent_id: str


Event = PlaybackDone | Digit | TimerFired | HungUp | Verified
Command = Play | StopPlayback | StartTimer | CancelTimer | Hangup | Verify | LogIn | LogOut


def start(language: str = "en") -> tuple[LoginState, list[Command]]:
    """Greet the volunteer and ask for their agent id."""
    state = LoginState(step=Step.AGENT_ID, language=language)
    return _prompt(state, Step.AGENT_ID, ("agent-user",), DIGIT_TIMEOUT)


def step(state: LoginState, event: Event) -> tuple[LoginState, list[Command]]:
    """Advance the volunteer line by one event."""
    if state.step is Step.DONE:
        return state, []
    if isinstance(event, HungUp):
        cancel: list[Command] = [CancelTimer(state.timer)] if state.timer else []
        return replace(state, step=Step.DONE, digits="", timer=None), cancel
    if isinstance(event, PlaybackDone):
        if event.playback_id != state.playback_id:
            return state, []
        if state.step is Step.ENDING:
            return replace(state, step=Step.DONE, playback_id=None), [Hangup()]
        return replace(state, playback_id=None), []
    if isinstance(event, TimerFired):
        if event.timer != state.timer:
            return state, []
        return _timed_out(replace(state, timer=None))
    if isinstance(event, Verified):
        return _verified(state, event) if state.step is Step.CHECKING else (state, [])
    return _digit(state, event.digit)


def _digit(state: LoginState, digit: str) -> tuple[LoginState, list[Command]]:
    out: list[Command] = []
    if state.playback_id:  # barge-in: the volunteer knows the prompts
        out.append(StopPlayback(state.playback_id))
        state = replace(state, playback_id=None)
    if state.step is Step.QUEUE_CHOICE:
        return _choose(state, digit, out)
    if state.step not in (Step.AGENT_ID, Step.PIN):
        return state, out
    if digit != "#":
        digits = (state.digits + digit)[:MAX_DIGITS]
        return replace(state, digits=digits), out
    if state.step is Step.AGENT_ID:
        state = replace(state, agent_id=state.digits, digits="")
        new, more = _prompt(state, Step.PIN, ("agent-pass",), DIGIT_TIMEOUT)
        return new, out + more
    pin = state.digits
    out += [CancelTimer(state.timer)] if state.timer else []
    checking = replace(state, step=Step.CHECKING, digits="", timer=None)
    return checking, [*out, Verify(state.agent_id, pin)]


def _verified(state: LoginState, answer: Verified) -> tuple[LoginState, list[Command]]:
    if answer.outcome is Outcome.REFUSED:
        attempts = state.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            return _end(replace(state, attempts=attempts), ("agent-incorrect", "vm-goodbye"))
        again = replace(state, attempts=attempts, agent_id="")
        return _prompt(again, Step.AGENT_ID, ("agent-incorrect", "agent-user"), DIGIT_TIMEOUT)
    if answer.outcome is Outcome.WAS_LOGGED_IN:
        new, out = _end(state, ("agent-loggedoff",))
        return new, [LogOut(state.agent_id), *out]
    state = replace(state, queues=answer.queues)
    if len(answer.queues) <= 1:
        return _log_in(state, answer.queues)
    return _prompt(state, Step.QUEUE_CHOICE, ("beep",), CHOICE_TIMEOUT)


def _choose(state: LoginState, digit: str, out: list[Command]) -> tuple[LoginState, list[Command]]:
    cancel: list[Command] = [CancelTimer(state.timer)] if state.timer else []
    state = replace(state, timer=None)
    if digit.isdigit() and 1 <= int(digit) <= len(state.queues):
        new, more = _log_in(state, (state.queues[int(digit) - 1],))
    else:
        new, more = _log_in(state, state.queues)
    return new, out + cancel + more


def _log_in(state: LoginState, queues: tuple[str, ...]) -> tuple[LoginState, list[Command]]:
    new, out = _end(state, ("agent-loginok",))
    return new, [LogIn(state.agent_id, queues), *out]


def _timed_out(state: LoginState) -> tuple[LoginState, list[Command]]:
    if state.step is Step.QUEUE_CHOICE:
        return _log_in(state, state.queues)
    if state.step in (Step.AGENT_ID, Step.PIN) and state.digits:
        return _digit(state, "#")  # the volunteer forgot the pound key
    return _end(state, ("vm-goodbye",))


def _prompt(
    state: LoginState, step: Step, sounds: tuple[str, ...], timeout: float
) -> tuple[LoginState, list[Command]]:
    seq = state.seq + 2
    playback, timer = f"p{seq - 1}", f"t{seq}"
    media = tuple(f"sound:{s}" for s in sounds)
    new = replace(state, step=step, digits="", seq=seq, playback_id=playback, timer=timer)
    out: list[Command] = [CancelTimer(state.timer)] if state.timer else []
    # The timer runs from the start of the prompt plus the prompt's own allowance.
    return new, [*out, Play(playback, media, state.language), StartTimer(timer, timeout)]


def _end(state: LoginState, sounds: tuple[str, ...]) -> tuple[LoginState, list[Command]]:
    seq = state.seq + 1
    playback = f"p{seq}"
    out: list[Command] = [CancelTimer(state.timer)] if state.timer else []
    media = tuple(f"sound:{s}" for s in sounds)
    new = replace(state, step=Step.ENDING, seq=seq, playback_id=playback, timer=None, digits="")
    return new, [*out, Play(playback, media, state.language)]
