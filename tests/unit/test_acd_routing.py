"""Pure routing: agent transitions, strategy order, widening, estimated wait, announcements."""

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acd.config import MAX_LEVEL, MIN_LEVEL, QueueConfig, Strategy, WideningRule
from acd.routing import (
    DEFAULT_HANDLE_S,
    TRANSITIONS,
    AgentEvent,
    AgentState,
    Announcement,
    Candidate,
    IllegalTransition,
    announcement,
    choose,
    estimated_wait,
    min_level,
    next_announcement,
    ranking,
    transition,
)

S, E = AgentState, AgentEvent

candidates = st.lists(
    st.builds(
        Candidate,
        agent_id=st.text("abcdefgh", min_size=1, max_size=4),
        idle_since=st.floats(0, 1e6, allow_nan=False),
        calls=st.integers(0, 50),
        order=st.integers(0, 100),
    ),
    max_size=12,
    unique_by=lambda c: c.agent_id,
)
widening = st.lists(
    st.tuples(st.floats(0, 600, allow_nan=False), st.integers(MIN_LEVEL, MAX_LEVEL)), max_size=5
).map(
    lambda pairs: tuple(
        WideningRule(after, level)
        for after, level in zip(
            sorted({p[0] for p in pairs}),
            sorted((p[1] for p in pairs), reverse=True),
            strict=False,
        )
    )
)


def test_an_agent_life_cycle() -> None:
    state = S.LOGGED_OUT
    for event in (E.LOGIN, E.OFFER, E.MISS, E.OFFER, E.ACCEPT, E.COMPLETE, E.WRAPUP_END):
        state = transition(state, event)
    assert state is S.AVAILABLE
    assert transition(transition(state, E.PAUSE), E.RESUME) is S.AVAILABLE


@pytest.mark.parametrize(
    ("state", "event"),
    [(S.ON_CALL, E.LOGOUT), (S.OFFERED, E.PAUSE), (S.AVAILABLE, E.ACCEPT), (S.LOGGED_OUT, E.OFFER)],
)
def test_illegal_transitions_raise(state: AgentState, event: AgentEvent) -> None:
    with pytest.raises(IllegalTransition, match=f"{state.value} cannot {event.value}"):
        transition(state, event)


@given(st.lists(st.sampled_from(AgentEvent), max_size=30))
def test_transition_closure(events: list[AgentEvent]) -> None:
    """Any event sequence keeps the agent in a known state, and only OFFERED leads to a call,
    or a call the agent makes themselves (CALL_OUT)."""
    state = S.LOGGED_OUT
    for event in events:
        try:
            after = transition(state, event)
        except IllegalTransition:
            assert (state, event) not in TRANSITIONS
            continue
        assert after in AgentState
        if after is S.ON_CALL:
            assert state is S.OFFERED or (state, event) == (S.AVAILABLE, E.CALL_OUT)
        state = after


def test_every_state_can_reach_logged_out() -> None:
    for start in AgentState:
        seen, frontier = {start}, [start]
        while frontier:
            state = frontier.pop()
            for (source, _), target in TRANSITIONS.items():
                if source is state and target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert S.LOGGED_OUT in seen or start is S.LOGGED_OUT


def test_strategy_orders_match_app_queue() -> None:
    pool = [
        Candidate("a", idle_since=30, calls=5, order=0),
        Candidate("b", idle_since=10, calls=9, order=1),
        Candidate("c", idle_since=20, calls=1, order=2),
    ]
    assert ranking(Strategy.LONGEST_IDLE, pool) == ["b", "c", "a"]
    assert ranking(Strategy.FEWEST_CALLS, pool) == ["c", "a", "b"]
    assert ranking(Strategy.LINEAR, pool) == ["a", "b", "c"]
    assert ranking(Strategy.ROUND_ROBIN, pool, last_order=0) == ["b", "c", "a"]
    assert ranking(Strategy.ROUND_ROBIN, pool, last_order=2) == ["a", "b", "c"]
    assert choose(Strategy.RING_ALL, pool) == ("a", "b", "c")
    assert choose(Strategy.RANDOM, pool, draw=0.5) == ("b",)
    assert choose(Strategy.LONGEST_IDLE, []) == ()


def by_order(c: Candidate) -> tuple[Any, ...]:
    return (c.order, c.agent_id)


@given(candidates, st.sampled_from(Strategy), st.integers(-1, 101), st.floats(0, 0.999))
def test_no_agent_offered_twice_and_order_respected(
    pool: list[Candidate], strategy: Strategy, last: int, draw: float
) -> None:
    ranked = ranking(strategy, pool, last_order=last)
    assert sorted(ranked) == sorted(c.agent_id for c in pool)
    by_id = {c.agent_id: c for c in pool}
    keys: dict[Strategy, Callable[[Candidate], tuple[Any, ...]]] = {
        Strategy.LONGEST_IDLE: lambda c: (c.idle_since, c.agent_id),
        Strategy.FEWEST_CALLS: lambda c: (c.calls, c.agent_id),
        Strategy.ROUND_ROBIN: lambda c: (c.order <= last, c.order, c.agent_id),
    }
    key = keys.get(strategy, by_order)
    assert [key(by_id[a]) for a in ranked] == sorted(key(c) for c in pool)
    chosen = choose(strategy, pool, last_order=last, draw=draw)
    assert len(set(chosen)) == len(chosen)
    if strategy is Strategy.RING_ALL:
        assert set(chosen) == set(by_id)
    else:
        assert len(chosen) == min(1, len(pool))
        assert strategy is Strategy.RANDOM or chosen == tuple(ranked[:1])


@given(st.integers(2, 8), st.integers(1, 30))
def test_round_robin_with_memory_visits_everyone_in_turn(n: int, rounds: int) -> None:
    pool = [Candidate(f"a{i}", 0, 0, i) for i in range(n)]
    last, offered = None, []
    for _ in range(rounds):
        (agent,) = choose(Strategy.ROUND_ROBIN, pool, last_order=last)
        offered.append(agent)
        last = int(agent[1:])
    assert offered == [f"a{i % n}" for i in range(rounds)]


def test_widening_example() -> None:
    rules = (WideningRule(0, 4), WideningRule(30, 2), WideningRule(90, 1))
    assert [min_level(rules, w) for w in (0, 29.9, 30, 89, 90, 1000)] == [4, 4, 2, 2, 1, 1]
    assert min_level((WideningRule(10, 3),), 0) == 3
    assert min_level((), 0) == MIN_LEVEL


@given(widening, st.floats(0, 1000, allow_nan=False), st.floats(0, 1000, allow_nan=False))
def test_widening_is_monotonic(rules: tuple[WideningRule, ...], a: float, b: float) -> None:
    early, late = sorted((a, b))
    assert MIN_LEVEL <= min_level(rules, late) <= min_level(rules, early) <= MAX_LEVEL


def test_estimated_wait_uses_recent_handle_times() -> None:
    assert estimated_wait(1, 2, None) == DEFAULT_HANDLE_S
    assert estimated_wait(3, 2, 100.0) == 200.0
    assert estimated_wait(4, 2, 100.0) == 200.0
    assert estimated_wait(5, 0, 60.0) == 300.0
    assert estimated_wait(0, 2, 60.0) == 0.0


@given(st.integers(1, 500), st.integers(0, 50), st.floats(1, 3600))
def test_estimated_wait_grows_with_position(position: int, agents: int, mean: float) -> None:
    assert estimated_wait(position, agents, mean) <= estimated_wait(position + 1, agents, mean)
    assert estimated_wait(position, agents, mean) == math.ceil(position / max(1, agents)) * mean


def test_announcement_schedule() -> None:
    queue = QueueConfig("q", announce_every_s=30)
    assert next_announcement(queue, 100.0, None) == 130.0
    assert next_announcement(queue, 100.0, 130.0) == 160.0
    assert next_announcement(QueueConfig("q", announce_every_s=0), 100.0, None) is None
    quiet = QueueConfig("q", announce_position=False, announce_wait=False)
    assert next_announcement(quiet, 100.0, None) is None
    assert announcement(queue, 3, 120.0) == Announcement(3, 120.0)
    assert announcement(QueueConfig("q", announce_wait=False), 3, 120.0) == Announcement(3, None)
