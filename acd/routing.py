"""Pure routing rules: agent states, strategy order, skill widening, waiting-time estimates and
announcement times. No I/O; the Redis scripts apply the same rules atomically (the transition
table below is compiled into them)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

from acd.config import MAX_LEVEL, MIN_LEVEL, QueueConfig, Strategy, WideningRule

#: Handle time assumed before a queue has any history.
DEFAULT_HANDLE_S: Final = 180.0


class AgentState(Enum):
    """Where an agent is."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    OFFERED = "offered"  # a call is ringing (or waiting for press-1) on the agent's device
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class AgentEvent(Enum):
    """What happens to an agent."""

    LOGIN = "login"
    LOGOUT = "logout"
    OFFER = "offer"
    ACCEPT = "accept"
    MISS = "miss"  # no answer, declined, busy or failed
    CANCEL = "cancel"  # the offer ended without the agent: caller left, another agent won
    COMPLETE = "complete"
    WRAPUP_END = "wrapup_end"
    PAUSE = "pause"
    RESUME = "resume"
    RESET = "reset"  # staff clear a stuck agent: its offer or call is let go, no wrap-up
    CALL_OUT = "call_out"  # the agent calls someone themselves (a texter): no queue's call
    CALL_OUT_END = "call_out_end"  # that call ended: no wrap-up (no queue contact to wrap up)


_S, _E = AgentState, AgentEvent
TRANSITIONS: Final[Mapping[tuple[AgentState, AgentEvent], AgentState]] = {
    (_S.LOGGED_OUT, _E.LOGIN): _S.AVAILABLE,
    (_S.AVAILABLE, _E.OFFER): _S.OFFERED,
    (_S.AVAILABLE, _E.PAUSE): _S.PAUSED,
    (_S.AVAILABLE, _E.LOGOUT): _S.LOGGED_OUT,
    (_S.OFFERED, _E.ACCEPT): _S.ON_CALL,
    (_S.OFFERED, _E.MISS): _S.AVAILABLE,
    (_S.OFFERED, _E.CANCEL): _S.AVAILABLE,
    (_S.ON_CALL, _E.COMPLETE): _S.WRAP_UP,
    (_S.AVAILABLE, _E.CALL_OUT): _S.ON_CALL,
    (_S.ON_CALL, _E.CALL_OUT_END): _S.AVAILABLE,
    (_S.WRAP_UP, _E.WRAPUP_END): _S.AVAILABLE,
    (_S.WRAP_UP, _E.PAUSE): _S.PAUSED,
    (_S.WRAP_UP, _E.LOGOUT): _S.LOGGED_OUT,
    (_S.PAUSED, _E.PAUSE): _S.PAUSED,
    (_S.PAUSED, _E.RESUME): _S.AVAILABLE,
    (_S.PAUSED, _E.LOGOUT): _S.LOGGED_OUT,
    **{(state, _E.RESET): _S.AVAILABLE for state in _S if state is not _S.LOGGED_OUT},
    (_S.LOGGED_OUT, _E.RESET): _S.LOGGED_OUT,
}


class IllegalTransition(ValueError):
    """An event that the agent's state does not allow."""

    code = "illegal-transition"

    def __init__(self, state: AgentState, event: AgentEvent) -> None:
        super().__init__(f"agent in state {state.value} cannot {event.value}")
        self.state, self.event = state, event


def transition(state: AgentState, event: AgentEvent) -> AgentState:
    """The state after ``event``; raise IllegalTransition if ``state`` does not allow it."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(state, event) from None


@dataclass(frozen=True)
class Candidate:
    """An available, eligible agent as a strategy sees it."""

    agent_id: str
    idle_since: float
    calls: int
    order: int  # position in the agent file (LINEAR and ROUND_ROBIN order)


def ranking(
    strategy: Strategy, candidates: Iterable[Candidate], *, last_order: int | None = None
) -> list[str]:
    """Agent ids in the order ``strategy`` offers to them (RANDOM: the rank it draws from).

    ROUND_ROBIN continues after the agent offered last (``last_order``), wrapping around.
    Ties break on the agent id, as Redis sorted sets do."""
    pool = list(candidates)
    key = {
        Strategy.LONGEST_IDLE: lambda c: (c.idle_since, c.agent_id),
        Strategy.FEWEST_CALLS: lambda c: (c.calls, c.agent_id),
    }.get(strategy, lambda c: (c.order, c.agent_id))
    ordered = sorted(pool, key=key)
    if strategy is Strategy.ROUND_ROBIN and last_order is not None:
        after = [c for c in ordered if c.order > last_order]
        ordered = after + [c for c in ordered if c.order <= last_order]
    return [c.agent_id for c in ordered]


def choose(
    strategy: Strategy,
    candidates: Sequence[Candidate],
    *,
    last_order: int | None = None,
    draw: float = 0.0,
) -> tuple[str, ...]:
    """The agents to offer a call to: all of them for RING_ALL, otherwise the first in
    ``ranking`` (RANDOM: the one at ``floor(draw * n)``, ``draw`` in [0, 1))."""
    ranked = ranking(strategy, candidates, last_order=last_order)
    if strategy is Strategy.RING_ALL or not ranked:
        return tuple(ranked)
    if strategy is Strategy.RANDOM:
        return (ranked[min(len(ranked) - 1, int(draw * len(ranked)))],)
    return (ranked[0],)


def min_level(rules: Sequence[WideningRule], waited_s: float) -> int:
    """The lowest skill level a call accepts after waiting ``waited_s`` seconds: the last rule
    that applies, the first (strictest) rule before any applies, MIN_LEVEL without rules."""
    if not rules:
        return MIN_LEVEL
    level = rules[0].min_level
    for rule in rules:
        if waited_s >= rule.after_s:
            level = rule.min_level
    return max(MIN_LEVEL, min(MAX_LEVEL, level))


def estimated_wait(position: int, agents_serving: int, mean_handle_s: float | None) -> float:
    """Seconds a caller at ``position`` (1 = next) can expect to wait: the rounds of calls
    ahead of it that the serving agents must finish, times the mean recent handle time
    (DEFAULT_HANDLE_S before the queue has any)."""
    if position <= 0:
        return 0.0
    mean = DEFAULT_HANDLE_S if mean_handle_s is None else mean_handle_s
    return math.ceil(position / max(1, agents_serving)) * mean


@dataclass(frozen=True)
class Announcement:
    """What to tell a waiting caller; None parts are not announced."""

    position: int | None
    wait_s: float | None


def next_announcement(
    queue: QueueConfig, enqueued_at: float, last_at: float | None
) -> float | None:
    """When the next position/wait announcement is due, or None if the queue makes none."""
    if queue.announce_every_s <= 0 or not (queue.announce_position or queue.announce_wait):
        return None
    return (enqueued_at if last_at is None else last_at) + queue.announce_every_s


def announcement(queue: QueueConfig, position: int, wait_s: float) -> Announcement:
    """The announcement for a caller at ``position`` with an estimated wait of ``wait_s``."""
    return Announcement(
        position if queue.announce_position else None,
        wait_s if queue.announce_wait else None,
    )
