"""The pure IVR state machine: (flow, state, event, now) -> (state, commands).

No I/O, clocks or randomness: playback and timer ids come from ``CallState.seq``
("p1", "t2", ...) and are unique within one call only.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any, TypeAlias

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
from ivr.flow import (
    Flow,
    HangupNode,
    HoursNode,
    LanguageNode,
    MenuNode,
    PlayNode,
    QueueNode,
    SetNode,
    TextNode,
)
from ivr.hours import is_open


class Phase(Enum):
    """Where the call is within its current node."""

    PROMPTING = "prompting"  # a play/menu/language prompt is playing
    WAITING_DIGIT = "waiting_digit"  # menu/language prompt done, digit timer running
    ENDING = "ending"  # a hangup node's farewell is playing
    QUEUED = "queued"  # handed to the ACD; only HungUp matters now
    DONE = "done"  # hung up; every event is ignored


@dataclass(frozen=True)
class CallState:
    """Immutable per-call state, stored between events (see ``to_dict``)."""

    node: str
    phase: Phase
    language: str
    variables: FrozenMap[str, str] = field(default_factory=FrozenMap)
    attempts: int = 0
    seq: int = 0
    playback_id: str | None = None
    timer: str | None = None
    history: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe representation, inverse of ``from_dict``."""
        return {
            "node": self.node,
            "phase": self.phase.value,
            "language": self.language,
            "variables": dict(self.variables),
            "attempts": self.attempts,
            "seq": self.seq,
            "playback_id": self.playback_id,
            "timer": self.timer,
            "history": list(self.history),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CallState":
        """Rebuild a state from ``to_dict`` output; raise ValueError if malformed."""
        try:
            state = cls(
                node=data["node"],
                phase=Phase(data["phase"]),
                language=data["language"],
                variables=FrozenMap(data["variables"]),
                attempts=data["attempts"],
                seq=data["seq"],
                playback_id=data["playback_id"],
                timer=data["timer"],
                history=tuple(data["history"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed call state: {exc!r}") from exc
        if not (
            all(isinstance(v, str) for v in (state.node, state.language, *state.history))
            and all(isinstance(v, str) for v in (*state.variables, *state.variables.values()))
            and all(isinstance(v, str | None) for v in (state.playback_id, state.timer))
            and all(type(v) is int for v in (state.attempts, state.seq))
        ):
            raise ValueError("malformed call state: wrong field types")
        return state


InputEvent: TypeAlias = PlaybackDone | Digit | TimerFired | HungUp


@dataclass(frozen=True)
class EnterQueue:
    """Hand the call to an ACD queue."""

    queue: str
    language: str
    variables: Mapping[str, str]
    history: tuple[str, ...]


@dataclass(frozen=True)
class SwitchToText:
    """Open a text conversation for the caller with the call's context."""

    language: str
    variables: Mapping[str, str]
    history: tuple[str, ...]


@dataclass(frozen=True)
class Journal:
    """A call-journal entry; details hold flow data only, never caller data."""

    kind: str
    detail: Mapping[str, str]


Command: TypeAlias = (
    Play | StopPlayback | StartTimer | CancelTimer | Hangup | EnterQueue | SwitchToText | Journal
)


def start(
    flow: Flow, now: datetime, line: str = "", variables: Mapping[str, str] | None = None
) -> tuple[CallState, list[Command]]:
    """Begin a call at the start node of the ``line`` dialled (the flow's start by default),
    knowing ``variables`` (the caller's ref and pseudonym) from the first node on: a line may
    start with a queue. A call on one of the flow's own ``lines`` journals the language it
    starts in (its caller may choose none), so its contact has one."""
    out: list[Command] = []
    node = flow.start_of(line)
    language = flow.language_of(line)
    if line in flow.lines:
        out.append(_journal("language", node=node, language=language))
    state = CallState(
        node=node,
        phase=Phase.PROMPTING,
        language=language,
        variables=FrozenMap(variables or {}),
    )
    return _enter(flow, state, node, now, out), out


def step(
    flow: Flow, state: CallState, event: InputEvent, now: datetime
) -> tuple[CallState, list[Command]]:
    """Apply one event; stale or irrelevant events return the same state and no commands."""
    out: list[Command] = []
    if state.phase is Phase.DONE:
        return state, out
    match event:
        case HungUp():
            if state.timer is not None:
                out.append(CancelTimer(state.timer))
            out.append(_journal("hangup", node=state.node, by="caller"))
            state = replace(state, phase=Phase.DONE, playback_id=None, timer=None)
        case PlaybackDone(playback_id=done) if done == state.playback_id:
            state = _prompt_done(flow, replace(state, playback_id=None), now, out)
        case TimerFired(timer=fired) if fired == state.timer:
            state = replace(state, timer=None)
            node = _menu_node(flow, state)
            out.append(_journal("timeout", node=node.id, attempt=str(state.attempts + 1)))
            state = _retry(flow, state, node, node.timeout_prompt, now, out)
        case Digit(digit=digit) if state.phase is not Phase.QUEUED:
            state = _digit(flow, state, digit, now, out)
    return state, out


def _journal(kind: str, **detail: str) -> Journal:
    return Journal(kind, FrozenMap(detail))


def _menu_node(flow: Flow, state: CallState) -> MenuNode | LanguageNode:
    node = flow.nodes[state.node]
    if not isinstance(node, MenuNode | LanguageNode):
        raise TypeError(f"node '{state.node}' is not a menu in phase {state.phase.value}")
    return node


def _play(state: CallState, sounds: tuple[str, ...], phase: Phase, out: list[Command]) -> CallState:
    playback_id = f"p{state.seq + 1}"
    out.append(Play(playback_id, tuple(f"sound:{s}" for s in sounds), state.language))
    return replace(state, seq=state.seq + 1, phase=phase, playback_id=playback_id)


def _hang_up(state: CallState, out: list[Command]) -> CallState:
    out.append(Hangup())
    out.append(_journal("hangup", node=state.node, by="flow"))
    return replace(state, phase=Phase.DONE, playback_id=None, timer=None)


def _enter(
    flow: Flow, state: CallState, node_id: str, now: datetime, out: list[Command]
) -> CallState:
    """Enter ``node_id`` and pass through set/hours nodes until one waits for an event."""
    while True:
        node = flow.nodes[node_id]
        state = replace(state, node=node_id, attempts=0, playback_id=None, timer=None)
        out.append(_journal("node", node=node_id, type=node.kind))
        match node:
            case HoursNode():
                opened = is_open(node.hours, now)
                out.append(_journal("hours", node=node_id, status="open" if opened else "closed"))
                node_id = node.open if opened else node.closed
            case SetNode():
                state = replace(state, variables=FrozenMap({**state.variables, **node.vars}))
                node_id = node.next
            case PlayNode() | MenuNode() | LanguageNode():
                return _play(state, node.prompt, Phase.PROMPTING, out)
            case QueueNode():
                out.append(EnterQueue(node.queue, state.language, state.variables, state.history))
                out.append(_journal("queue", node=node_id, queue=node.queue))
                return replace(state, phase=Phase.QUEUED)
            case TextNode():
                out.append(SwitchToText(state.language, state.variables, state.history))
                out.append(_journal("text", node=node_id))
                if node.prompt:
                    return _play(state, node.prompt, Phase.ENDING, out)
                return _hang_up(state, out)
            case HangupNode():
                if node.prompt:
                    return _play(state, node.prompt, Phase.ENDING, out)
                return _hang_up(state, out)


def _prompt_done(flow: Flow, state: CallState, now: datetime, out: list[Command]) -> CallState:
    node = flow.nodes[state.node]
    if state.phase is Phase.ENDING:
        return _hang_up(state, out)
    if isinstance(node, PlayNode):
        return _enter(flow, state, node.next, now, out)
    node = _menu_node(flow, state)
    timer = f"t{state.seq + 1}"
    out.append(StartTimer(timer, node.timeout))
    return replace(state, seq=state.seq + 1, phase=Phase.WAITING_DIGIT, timer=timer)


def _digit(
    flow: Flow, state: CallState, digit: str, now: datetime, out: list[Command]
) -> CallState:
    node = flow.nodes[state.node]
    if not isinstance(node, MenuNode | LanguageNode):
        out.append(_journal("digit_ignored", node=node.id))
        return state
    if state.playback_id is not None:
        out.append(StopPlayback(state.playback_id))
    if state.timer is not None:
        out.append(CancelTimer(state.timer))
    state = replace(state, playback_id=None, timer=None)
    if isinstance(node, MenuNode) and digit in node.options:
        target = node.options[digit]
        out.append(_journal("digit", node=node.id, digit=digit, target=target))
        state = replace(state, history=(*state.history, f"{node.id}={digit}"))
        return _enter(flow, state, target, now, out)
    if isinstance(node, LanguageNode) and digit in node.choices:
        language = node.choices[digit]
        out.append(_journal("digit", node=node.id, digit=digit, target=node.next))
        out.append(_journal("language", node=node.id, language=language))
        history = (*state.history, f"{node.id}={language}")
        state = replace(state, language=language, history=history)
        return _enter(flow, state, node.next, now, out)
    out.append(_journal("digit_invalid", node=node.id, attempt=str(state.attempts + 1)))
    return _retry(flow, state, node, node.invalid_prompt, now, out)


def _retry(
    flow: Flow,
    state: CallState,
    node: MenuNode | LanguageNode,
    notice: tuple[str, ...],
    now: datetime,
    out: list[Command],
) -> CallState:
    """Count a failed attempt: re-prompt after ``notice``, or go to ``on_failure``."""
    attempts = state.attempts + 1
    if attempts > node.retries:
        out.append(_journal("failure", node=node.id, target=node.on_failure))
        return _enter(flow, state, node.on_failure, now, out)
    return _play(replace(state, attempts=attempts), notice + node.prompt, Phase.PROMPTING, out)
