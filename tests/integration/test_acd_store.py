"""The ACD store on a real Redis: strategies, skills, RONA, abandon, overflow, wrap-up,
ring-all, two app instances claiming at once, statistics and the queue log."""

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import cast

import pytest
import redis.asyncio as aioredis

from acd.config import (
    AgentProfile,
    Device,
    DeviceKind,
    Overflow,
    OverflowKind,
    QueueConfig,
    Strategy,
    WideningRule,
)
from acd.model import (
    AcceptResult,
    AcdError,
    CallKind,
    ExitReason,
    JoinRefusal,
    MissReason,
    Offer,
    Party,
    WaitingCall,
)
from acd.routing import AgentState, IllegalTransition
from acd.store import OFFER_GRACE_S, AcdStore
from bench.acd_decision import decision_ms
from core.frozen import FrozenMap
from core.keys import Keys

KEYS = Keys("t")
T0 = 1_700_000_000.0
PHONE = "+15145550123"

Factory = Callable[..., AcdStore]


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[list[aioredis.Redis]]:
    made: list[aioredis.Redis] = []
    yield made
    for client in made:
        await client.aclose()


@pytest.fixture
def make_store(redis_url: str, clients: list[aioredis.Redis]) -> Factory:
    """A store (one per simulated app instance) over its own connection pool."""

    def make(*queues: QueueConfig) -> AcdStore:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        clients.append(client)
        return AcdStore(client, KEYS, {q.name: q for q in queues})

    return make


def profile(agent_id: str, queues: Sequence[str] = ("q",), **skills: int) -> AgentProfile:
    return AgentProfile(
        id=agent_id,
        name=agent_id.title(),
        pin_hash="$argon2id$x",
        devices=(Device(DeviceKind.SIP, f"PJSIP/{agent_id}"),),
        skills=FrozenMap(skills),
        queues=tuple(queues),
    )


async def staff(store: AcdStore, agents: Sequence[AgentProfile], now: float = T0) -> None:
    await store.sync_agents(agents)
    for agent in agents:
        await store.login(agent.id, agent.queues, agent.devices[0], now)


def call(call_id: str, at: float = T0, queue: str = "q", **kw: object) -> WaitingCall:
    return WaitingCall(call_id, queue, "app-1", f"P-{call_id}", "en", at, **kw)  # type: ignore[arg-type]


async def offered(store: AcdStore, queue: str = "q", now: float = T0 + 1) -> Offer:
    offer = await store.claim(queue, now)
    assert offer is not None
    return offer


async def serve(store: AcdStore, offer: Offer, now: float, talk: float = 60) -> None:
    agent = offer.agents[0].agent_id
    assert (await store.accept(offer.offer_id, agent, now)).won
    await store.complete(offer.call.call_id, agent, now + talk)


# Strategies


async def first_agents(store: AcdStore, n: int, start: float = T0 + 1) -> list[str]:
    """Offer n calls one by one, each served at once with no wrap-up."""
    order = []
    for i in range(n):
        now = start + 10 * i
        await store.enqueue(call(f"s{i}", now), now)
        offer = await offered(store, now=now)
        order.append(offer.agents[0].agent_id)
        await serve(store, offer, now, talk=1)
    return order


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (Strategy.LINEAR, ["a", "a", "a", "a"]),
        (Strategy.ROUND_ROBIN, ["a", "b", "c", "a"]),
        (Strategy.LONGEST_IDLE, ["c", "b", "a", "c"]),
        (Strategy.FEWEST_CALLS, ["a", "b", "c", "a"]),
    ],
)
async def test_strategy_order(make_store: Factory, strategy: Strategy, expected: list[str]) -> None:
    store = make_store(QueueConfig("q", strategy=strategy, wrapup_s=0))
    agents = [profile("a"), profile("b"), profile("c")]
    await store.sync_agents(agents)
    for i, agent in enumerate(reversed(agents)):  # c idle longest, then b, then a
        await store.login(agent.id, ["q"], agent.devices[0], T0 - 100 + i)
    assert await first_agents(store, 4) == expected


async def test_random_picks_only_eligible_agents_and_spreads(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", strategy=Strategy.RANDOM, wrapup_s=0, skill="x"))
    await staff(store, [profile("a", x=3), profile("b", x=4), profile("c", x=5), profile("d")])
    seen = set()
    for i, draw in enumerate((0.0, 0.4, 0.9)):
        await store.enqueue(call(f"r{i}"), T0)
        offer = await store.claim("q", T0 + 1, draw=draw)
        assert offer is not None
        seen.add(offer.agents[0].agent_id)
        await store.reject(offer.offer_id, offer.agents[0].agent_id, MissReason.DECLINED, T0 + 1)
        await store.abandon(f"r{i}", T0 + 2)
    assert seen == {"a", "b", "c"}


# Skills and widening


async def test_widening_lets_lower_levels_take_the_call_over_time(make_store: Factory) -> None:
    rules = (WideningRule(0, 4), WideningRule(30, 2), WideningRule(90, 1))
    store = make_store(QueueConfig("q", skill="listening", widening=rules))
    await staff(store, [profile("junior", listening=2), profile("other", fr=5)])
    await store.enqueue(call("c1"), T0)
    assert await store.claim("q", T0 + 29) is None
    offer = await offered(store, now=T0 + 30)
    assert [a.agent_id for a in offer.agents] == ["junior"]


async def test_enqueue_can_claim_in_the_same_step(make_store: Factory) -> None:
    store = make_store(QueueConfig("q"), QueueConfig("full", max_len=1))
    await staff(store, [profile("a", queues=("q", "full"))])
    first = await store.enqueue(call("c1"), T0, claim=True)
    assert (first.accepted, first.position, first.claimed) == (True, 1, True)
    assert first.offer is not None
    assert (first.offer.call.call_id, first.offer.more) == ("c1", False)
    assert [a.agent_id for a in first.offer.agents] == ["a"]
    assert (await store.agent("a")).state is AgentState.OFFERED  # type: ignore[union-attr]
    # No agent left: the claim found nothing, the call waits (claiming again finds nothing).
    second = await store.enqueue(call("c2", T0 + 1), T0 + 1, claim=True)
    assert (second.claimed, second.offer, second.position) == (True, None, 1)
    assert await store.claim("q", T0 + 1) is None
    # A refused call claims nothing.
    await store.enqueue(call("f1", queue="full"), T0)
    refused = await store.enqueue(call("f2", queue="full"), T0, claim=True)
    assert (refused.accepted, refused.offer) == (False, None)
    assert await store.position("f1") == 1


async def test_a_call_skill_overrides_the_queue_skill(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", skill="listening"))
    await staff(store, [profile("en", listening=5), profile("fr", listening=1, fr=3)])
    await store.enqueue(call("c1", skill="fr"), T0)
    assert (await offered(store)).agents[0].agent_id == "fr"


async def test_a_call_nobody_can_take_does_not_block_the_next(make_store: Factory) -> None:
    store = make_store(QueueConfig("q"))
    await staff(store, [profile("a", en=3)])
    await store.enqueue(call("first", skill="de"), T0)
    await store.enqueue(call("second", T0 + 1, skill="en"), T0 + 1)
    offer = await offered(store, now=T0 + 2)
    assert offer.call.call_id == "second"
    assert offer.more  # "first" still waits


async def test_an_offer_says_whether_calls_still_wait(make_store: Factory) -> None:
    store = make_store(QueueConfig("q"))
    await staff(store, [profile("a"), profile("b")])
    await store.enqueue(call("c1"), T0)
    await store.enqueue(call("c2", T0 + 1), T0 + 1)
    assert (await offered(store, now=T0 + 2)).more
    assert not (await offered(store, now=T0 + 2)).more


# Order of calls: priority, callbacks, RONA


async def test_priority_then_time_and_callbacks_keep_their_place(make_store: Factory) -> None:
    store = make_store(QueueConfig("q"))
    await store.sync_agents([profile("a")])
    await store.enqueue(call("early", T0), T0)
    await store.enqueue(call("cb", T0 + 1), T0 + 1)
    await store.enqueue(call("late", T0 + 2), T0 + 2)
    await store.enqueue(call("urgent", T0 + 3, priority=5), T0 + 3)
    await store.to_callback("cb", T0 + 4)
    await store.enqueue(call("cb2", T0 - 50, kind=CallKind.CALLBACK), T0 + 5)
    waiting = await store.waiting("q")
    assert [c.call_id for c in waiting] == ["urgent", "cb2", "early", "cb", "late"]
    assert waiting[3].kind is CallKind.CALLBACK
    assert await store.position("cb") == 4
    assert await store.position("nope") is None


async def test_rona_returns_the_call_to_its_place_and_pauses_after_k(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", strategy=Strategy.LINEAR, max_misses=2))
    await staff(store, [profile("a")])
    for i in range(3):
        await store.enqueue(call(f"c{i}", T0 + i), T0 + i)
    offer = await offered(store, now=T0 + 5)
    assert offer.call.call_id == "c0"
    assert await store.position("c0") is None
    result = await store.reject(offer.offer_id, "a", MissReason.NO_ANSWER, T0 + 20)
    assert (result.requeued, result.position, result.agent_paused) == (True, 1, False)
    assert [c.call_id for c in await store.waiting("q")] == ["c0", "c1", "c2"]
    offer = await offered(store, now=T0 + 21)
    result = await store.reject(offer.offer_id, "a", MissReason.NO_ANSWER, T0 + 36)
    assert result.agent_paused
    view = await store.agent("a")
    assert view is not None
    assert (view.state, view.pause_reason, view.misses) == (AgentState.PAUSED, "no-answer", 2)
    assert await store.claim("q", T0 + 37) is None
    assert await store.resume("a", T0 + 40) is AgentState.AVAILABLE
    assert (await offered(store, now=T0 + 41)).call.call_id == "c0"


async def test_a_device_asterisk_could_not_ring_is_no_miss(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", max_misses=1))
    await staff(store, [profile("a")])
    await store.enqueue(call("c1"), T0)
    for i in range(3):  # Asterisk down: three refused ring requests in a row
        offer = await offered(store, now=T0 + i)
        result = await store.reject(offer.offer_id, "a", MissReason.NOT_RUNG, T0 + i)
        assert (result.requeued, result.agent_paused) == (True, False)
    view = await store.agent("a")
    assert view is not None
    assert (view.state, view.misses) == (AgentState.AVAILABLE, 0)
    offer = await offered(store, now=T0 + 5)
    assert (await store.reject(offer.offer_id, "a", MissReason.FAILED, T0 + 5)).agent_paused


async def test_a_late_reject_or_accept_of_a_withdrawn_offer_is_harmless(
    make_store: Factory,
) -> None:
    store = make_store(QueueConfig("q"))
    await staff(store, [profile("a")])
    await store.enqueue(call("c1"), T0)
    offer = await offered(store)
    await store.abandon("c1", T0 + 2)
    assert not (await store.reject(offer.offer_id, "a", MissReason.NO_ANSWER, T0 + 3)).requeued
    assert not (await store.accept(offer.offer_id, "a", T0 + 3)).won
    assert (await store.agent("a")).state is AgentState.AVAILABLE  # type: ignore[union-attr]


# Abandon


async def test_abandon_while_waiting_and_while_offered(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", strategy=Strategy.RING_ALL))
    await store.enqueue(call("waiting"), T0)
    assert (await store.abandon("waiting", T0 + 8)).released == ()
    await staff(store, [profile("a"), profile("b")])
    await store.enqueue(call("ringing", T0 + 10), T0 + 10)
    await offered(store, now=T0 + 11)
    result = await store.abandon("ringing", T0 + 12)
    assert sorted(result.released) == ["a", "b"]
    assert result.waited_s == 2
    for agent in "ab":
        assert (await store.agent(agent)).state is AgentState.AVAILABLE  # type: ignore[union-attr]
    with pytest.raises(AcdError, match="unknown-call"):
        await store.abandon("ringing", T0 + 13)


# Joining and leaving


async def test_join_empty_and_max_len_refusals_name_the_overflow(make_store: Factory) -> None:
    overflow = Overflow(OverflowKind.QUEUE, "backup")
    store = make_store(QueueConfig("q", join_empty=False, max_len=1, overflow=overflow))
    refused = await store.enqueue(call("c1"), T0)
    assert (refused.accepted, refused.reason, refused.overflow) == (
        False,
        JoinRefusal.EMPTY,
        overflow,
    )
    await staff(store, [profile("a")])
    await store.pause("a", "lunch", T0)
    assert (await store.enqueue(call("c1"), T0)).reason is JoinRefusal.EMPTY
    await store.resume("a", T0)
    accepted = await store.enqueue(call("c1"), T0)
    assert (accepted.accepted, accepted.position) == (True, 1)
    full = await store.enqueue(call("c2"), T0)
    assert (full.accepted, full.reason, full.overflow) == (False, JoinRefusal.FULL, overflow)


async def test_timeouts_and_leave_when_empty_exit_the_owners_calls(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", max_wait_s=60, leave_when_empty=True))
    await staff(store, [profile("a", skill_never_asked=1)])
    await store.enqueue(call("old", T0, skill="x"), T0)
    await store.enqueue(call("new", T0 + 30, skill="x"), T0 + 30)
    other = replace(call("theirs", T0, skill="x"), owner_instance="app-2")
    await store.enqueue(other, T0)
    exits = (await store.expire("q", "app-1", T0 + 61)).exits
    assert [(e.call_id, e.reason) for e in exits] == [("old", ExitReason.TIMEOUT)]
    await store.logout("a", T0 + 62)
    exits = (await store.expire("q", "app-1", T0 + 62)).exits
    assert [(e.call_id, e.reason) for e in exits] == [("new", ExitReason.EMPTY)]
    assert [c.call_id for c in await store.waiting("q")] == ["theirs"]


async def test_an_offer_nobody_settles_expires_in_the_store_without_a_miss(
    make_store: Factory,
) -> None:
    # The process that rang the agents died: nothing rejects the offer. Past its life (ring
    # time + press-1 wait + grace) any instance's expiry frees the agents, and the call waits
    # again at its old place, ahead of a later caller.
    store = make_store(QueueConfig("q", strategy=Strategy.RING_ALL, ring_timeout_s=15))
    await staff(store, [profile("a"), profile("b")])
    await store.enqueue(call("c1", T0), T0)
    offer = await store.claim("q", T0)
    assert offer is not None
    await store.enqueue(call("c2", T0 + 1), T0 + 1)
    life = 15 + 10 + OFFER_GRACE_S
    early = await store.expire("q", "app-2", T0 + life - 1)
    assert early.offers == ()
    assert (await store.agent("a")).state is AgentState.OFFERED  # type: ignore[union-attr]
    expiry = await store.expire("q", "app-2", T0 + life + 1)
    assert expiry.offers == ((offer.offer_id, "c1"),)
    for agent_id in ("a", "b"):
        view = await store.agent(agent_id)
        assert view is not None
        assert (view.state, view.misses, view.offer_id) == (AgentState.AVAILABLE, 0, "")
    assert [c.call_id for c in await store.waiting("q")] == ["c1", "c2"]
    assert await store.accept(offer.offer_id, "a", T0 + life + 2) == AcceptResult(False, None, ())
    again = await store.expire("q", "app-2", T0 + 2 * life)
    assert again.offers == ()


async def test_a_settled_offer_never_expires(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", wrapup_s=0))
    await staff(store, [profile("a"), profile("b")])
    for n in (1, 2):
        await store.enqueue(call(f"c{n}", T0), T0)
    first = await store.claim("q", T0)
    second = await store.claim("q", T0)
    assert first is not None
    assert second is not None
    assert (await store.accept(first.offer_id, first.agents[0].agent_id, T0 + 1)).won
    await store.reject(second.offer_id, second.agents[0].agent_id, MissReason.NO_ANSWER, T0 + 2)
    assert (await store.expire("q", "app-1", T0 + 3600)).offers == ()


async def test_a_promised_callback_is_kept_in_a_full_queue_and_never_expires(
    make_store: Factory,
) -> None:
    store = make_store(QueueConfig("q", join_empty=False, max_len=1, max_wait_s=60))
    await staff(store, [profile("a")])
    await store.enqueue(call("live"), T0)
    late = call("late", T0 + 1)
    assert (await store.enqueue(late, T0 + 1)).reason is JoinRefusal.FULL
    kept = await store.enqueue(replace(late, kind=CallKind.CALLBACK), T0 + 1)
    assert (kept.accepted, kept.position) == (True, 2)
    await store.logout("a", T0)  # nobody staffed: join_empty would refuse a live call
    assert (await store.enqueue(call("cb2", T0 + 2, kind=CallKind.CALLBACK), T0 + 2)).accepted
    exits = (await store.expire("q", "app-1", T0 + 3600)).exits
    assert [e.call_id for e in exits] == ["live"]
    assert [c.call_id for c in await store.waiting("q")] == ["late", "cb2"]


async def test_transfer_keeps_priority_and_place(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", wrapup_s=0), QueueConfig("r"))
    await staff(store, [profile("a")])
    await store.enqueue(call("r1", T0 + 5, queue="r"), T0 + 5)
    await store.enqueue(call("vip", T0 + 10, priority=3), T0 + 10)
    offer = await offered(store, now=T0 + 11)
    assert (await store.accept(offer.offer_id, "a", T0 + 12)).won
    assert await store.transfer("vip", "r", T0 + 20) == 1
    assert (await store.agent("a")).state is AgentState.AVAILABLE  # type: ignore[union-attr]
    waiting = await store.waiting("r")
    assert [(c.call_id, c.priority) for c in waiting] == [("vip", 3), ("r1", 0)]


# Wrap-up


async def test_handover_moves_a_connected_call_to_another_agent(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", wrapup_s=0, strategy=Strategy.LINEAR))
    await staff(store, [profile("a"), profile("sup"), profile("c")])
    await store.enqueue(call("c1"), T0)
    first = await offered(store)
    assert (await store.accept(first.offer_id, "a", T0 + 2)).won
    with pytest.raises(AcdError, match="same-agent"):
        await store.handover_offer("c1", "a", T0 + 3)
    # The supervisor does not answer: the call stays with Alice.
    ring = await store.handover_offer("c1", "sup", T0 + 10)
    assert [x.agent_id for x in ring.agents] == ["sup"]
    assert ring.call.call_id == "c1"
    with pytest.raises(AcdError, match="transfer-pending"):
        await store.handover_offer("c1", "c", T0 + 11)
    with pytest.raises(AcdError, match="transfer-pending"):
        await store.transfer("c1", "q", T0 + 11)
    await store.handover_release(ring.offer_id, "sup", T0 + 25)
    assert (await store.agent("sup")).state is AgentState.AVAILABLE  # type: ignore[union-attr]
    # Second try: answered. Alice wraps up, the supervisor has the call.
    ring = await store.handover_offer("c1", "sup", T0 + 30)
    assert await store.handover_accept(ring.offer_id, "sup", T0 + 32) == "a"
    assert await store.handover_accept(ring.offer_id, "sup", T0 + 33) is None  # only once
    alice, sup = await store.agent("a"), await store.agent("sup")
    assert alice is not None
    assert sup is not None
    assert alice.state is AgentState.AVAILABLE  # wrap-up 0
    assert (sup.state, sup.call_id) == (AgentState.ON_CALL, "c1")
    await store.complete("c1", "sup", T0 + 90)
    log = cast(list[tuple[str, dict[str, str]]], await store.redis.xrange(KEYS.acd_queue_log))
    seen = [(e["event"], e["agent"]) for _, e in log if e["event"] not in ("ADDMEMBER",)]
    assert seen[-6:] == [
        ("OFFER", "sup"),
        ("TRANSFER", "a"),
        ("WRAPUPEND", "a"),
        ("CONNECT", "sup"),
        ("COMPLETECALLER", "sup"),
        ("WRAPUPEND", "sup"),
    ]
    stats = (await store.queue_stats("q", T0 + 100)).to_dict()
    assert (stats["answered"], stats["completed"]) == (1, 2)


async def test_a_call_ending_while_a_transfer_rings_releases_the_target(
    make_store: Factory,
) -> None:
    store = make_store(QueueConfig("q", wrapup_s=0, strategy=Strategy.LINEAR))
    await staff(store, [profile("a"), profile("sup")])
    with pytest.raises(AcdError, match="unknown-call"):
        await store.handover_offer("c1", "sup", T0)
    await store.enqueue(call("c1"), T0)
    with pytest.raises(AcdError, match="not-connected"):
        await store.handover_offer("c1", "sup", T0)
    first = await offered(store)
    assert (await store.accept(first.offer_id, "a", T0 + 2)).won
    ring = await store.handover_offer("c1", "sup", T0 + 5)
    await store.complete("c1", "a", T0 + 6, Party.CALLER)
    assert (await store.agent("sup")).state is AgentState.AVAILABLE  # type: ignore[union-attr]
    assert await store.handover_accept(ring.offer_id, "sup", T0 + 7) is None
    await store.handover_release(ring.offer_id, "sup", T0 + 8)  # late: harmless
    assert (await store.agent("sup")).state is AgentState.AVAILABLE  # type: ignore[union-attr]


async def test_wrapup_agent_override_and_lazy_end(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", wrapup_s=10))
    slow = replace(profile("slow"), wrapup_s=30.0)
    await staff(store, [profile("fast"), slow])
    ends = {}
    for i in range(2):
        await store.enqueue(call(f"c{i}"), T0)
        offer = await offered(store)
        agent = offer.agents[0].agent_id
        assert (await store.accept(offer.offer_id, agent, T0 + 2)).won
        ends[agent] = await store.complete(offer.call.call_id, agent, T0 + 100, Party.AGENT)
    assert ends == {"fast": T0 + 110, "slow": T0 + 130}
    await store.enqueue(call("next"), T0 + 105)
    assert await store.claim("q", T0 + 109) is None
    assert (await offered(store, now=T0 + 110)).agents[0].agent_id == "fast"
    assert await store.end_wrapup("slow", T0 + 111) is AgentState.AVAILABLE
    with pytest.raises(IllegalTransition):
        await store.end_wrapup("slow", T0 + 112)


async def test_a_wrap_up_not_yet_over_is_extended_and_holds_the_agent_longer(
    make_store: Factory,
) -> None:
    store = make_store(QueueConfig("q", wrapup_s=10))
    await staff(store, [profile("a")])
    await store.enqueue(call("c1"), T0)
    offer = await offered(store)
    assert (await store.accept(offer.offer_id, "a", T0 + 2)).won
    assert await store.complete("c1", "a", T0 + 50) == T0 + 60
    assert await store.extend_wrapup("a", 60, T0 + 55) == T0 + 120
    assert await store.extend_wrapup("a", 30, T0 + 56) == T0 + 150
    await store.enqueue(call("c2"), T0 + 100)
    assert await store.claim("q", T0 + 149) is None  # still wrapping up
    assert (await offered(store, now=T0 + 150)).agents[0].agent_id == "a"
    log = cast(list[tuple[str, dict[str, str]]], await store.redis.xrange(KEYS.acd_queue_log))
    extended = [e for _, e in log if e["event"] == "WRAPUPEXTEND"]
    assert [(e["agent"], float(e["until"])) for e in extended] == [("a", T0 + 120), ("a", T0 + 150)]
    with pytest.raises(AcdError, match="not-wrapping-up"):
        await store.extend_wrapup("a", 60, T0 + 151)  # rung now, not wrapping up


# Ring-all


async def test_ring_all_first_accept_wins(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", strategy=Strategy.RING_ALL))
    await staff(store, [profile("a"), profile("b"), profile("c")])
    await store.pause("c", "break", T0)
    await store.enqueue(call("c1"), T0)
    offer = await offered(store)
    assert sorted(a.agent_id for a in offer.agents) == ["a", "b"]
    win = await store.accept(offer.offer_id, "b", T0 + 3)
    assert (win.won, win.call_id, win.released) == (True, "c1", ("a",))
    late = await store.accept(offer.offer_id, "a", T0 + 3.1)
    assert not late.won
    states = {x: (await store.agent(x)).state for x in "abc"}  # type: ignore[union-attr]
    assert states == {"a": AgentState.AVAILABLE, "b": AgentState.ON_CALL, "c": AgentState.PAUSED}


async def test_ring_all_call_returns_when_every_agent_rejects(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", strategy=Strategy.RING_ALL))
    await staff(store, [profile("a"), profile("b")])
    await store.enqueue(call("c1"), T0)
    offer = await offered(store)
    assert not (await store.reject(offer.offer_id, "a", MissReason.BUSY, T0 + 2)).requeued
    assert (await store.reject(offer.offer_id, "b", MissReason.NO_ANSWER, T0 + 16)).requeued
    assert await store.position("c1") == 1


# Errors and transitions


async def test_illegal_operations_are_refused_without_changes(make_store: Factory) -> None:
    store = make_store(QueueConfig("q"))
    await staff(store, [profile("a", queues=("q",))])
    with pytest.raises(IllegalTransition, match="available cannot login"):
        await store.login("a", ["q"], Device(DeviceKind.SIP, "PJSIP/a"), T0)
    with pytest.raises(AcdError, match="unknown-agent"):
        await store.pause("ghost", "x", T0)
    with pytest.raises(AcdError, match="unknown-queue"):
        await store.claim("nowhere", T0)
    await store.enqueue(call("c1"), T0)
    offer = await offered(store)
    with pytest.raises(IllegalTransition, match="offered cannot logout"):
        await store.logout("a", T0 + 2)
    assert (await store.agent("a")).offer_id == offer.offer_id  # type: ignore[union-attr]


async def test_a_pause_in_one_queue_leaves_the_agents_other_queues(make_store: Factory) -> None:
    store = make_store(QueueConfig("q", join_empty=False), QueueConfig("r"))
    await staff(store, [profile("a", queues=("q", "r"))])
    assert await store.pause("a", "training", T0, queue="q") is AgentState.AVAILABLE
    view = await store.agent("a")
    assert view is not None
    assert dict(view.paused_in) == {"q": "training"}
    # q has nobody to take a call (and refuses callers, join_empty off); r still has Alice.
    assert (await store.enqueue(call("c1", queue="q"), T0)).reason is JoinRefusal.EMPTY
    await store.enqueue(call("c2", queue="r"), T0)
    assert await store.claim("q", T0 + 1) is None
    offer = await offered(store, "r")
    assert offer.agents[0].agent_id == "a"
    assert (await store.queue_stats("q", T0 + 1)).to_dict()["agents"]["paused"] == 1
    assert (await store.queue_stats("r", T0 + 1)).to_dict()["agents"]["offered"] == 1
    await serve(store, offer, T0 + 2, talk=5)
    # A global pause and resume keep the queue's own pause; ending it makes q staffed again.
    await store.pause("a", "coffee", T0 + 10)
    await store.resume("a", T0 + 20)
    assert await store.claim("q", T0 + 21) is None
    await store.resume("a", T0 + 22, queue="q")
    assert (await store.enqueue(call("c3", queue="q"), T0 + 23)).accepted
    assert (await offered(store, "q", now=T0 + 24)).agents[0].agent_id == "a"
    log = cast(list[tuple[str, dict[str, str]]], await store.redis.xrange(KEYS.acd_queue_log))
    verbs = [
        (e["event"], e["queue"], e.get("reason", ""))
        for _, e in log
        if e["event"] in ("PAUSE", "UNPAUSE")
    ]
    assert verbs[0] == ("PAUSE", "q", "training")
    assert verbs[-1] == ("UNPAUSE", "q", "")


async def test_a_queue_pause_needs_a_login_in_that_queue(make_store: Factory) -> None:
    store = make_store(QueueConfig("q"), QueueConfig("r"))
    await store.sync_agents([profile("a", queues=("q", "r"))])
    with pytest.raises(AcdError, match="logged-out"):
        await store.pause("a", "x", T0, queue="q")
    await store.login("a", ["q"], Device(DeviceKind.SIP, "PJSIP/a"), T0)
    with pytest.raises(AcdError, match="not-logged-in-queue"):
        await store.pause("a", "x", T0, queue="r")
    with pytest.raises(AcdError, match="unknown-queue"):
        await store.pause("a", "x", T0, queue="nowhere")
    await store.pause("a", "x", T0, queue="q")
    await store.logout("a", T0 + 1)
    await store.login("a", ["q"], Device(DeviceKind.SIP, "PJSIP/a"), T0 + 2)
    view = await store.agent("a")
    assert view is not None
    assert dict(view.paused_in) == {}  # a new login starts with no pause


async def test_login_only_into_the_profiles_queues(make_store: Factory) -> None:
    store = make_store(QueueConfig("q"), QueueConfig("r"))
    await store.sync_agents([profile("a", queues=("q",))])
    with pytest.raises(AcdError, match="no-queues"):
        await store.login("a", [], Device(DeviceKind.SIP, "PJSIP/a"), T0)
    with pytest.raises(AcdError, match="not-member"):
        await store.login("a", ["q", "r"], Device(DeviceKind.SIP, "PJSIP/a"), T0)
    assert (await store.agent("a")).state is AgentState.LOGGED_OUT  # type: ignore[union-attr]


# Two app instances at once


def check_exclusive(offers: Sequence[Offer]) -> None:
    agents = [a.agent_id for o in offers for a in o.agents]
    calls = [o.call.call_id for o in offers]
    assert len(agents) == len(set(agents)), "an agent was offered two calls"
    assert len(calls) == len(set(calls)), "a call was offered twice"


async def test_two_instances_claiming_concurrently(make_store: Factory, redis_url: str) -> None:
    queue = QueueConfig("q", skill="s", widening=(WideningRule(0, 1),))
    one, two = make_store(queue), make_store(queue)
    await staff(one, [profile(f"a{i}", s=1 + i % 5) for i in range(40)])
    for i in range(60):
        await (one if i % 2 else two).enqueue(call(f"c{i}", T0 + i), T0 + i)
    results = await asyncio.gather(
        *(store.claim("q", T0 + 100) for _ in range(50) for store in (one, two))
    )
    offers = [o for o in results if o is not None]
    assert len(offers) == 40
    check_exclusive(offers)
    assert len(await one.waiting("q")) == 20


async def test_two_instances_in_two_threads(make_store: Factory, redis_url: str) -> None:
    queue = QueueConfig("q", strategy=Strategy.ROUND_ROBIN)
    store = make_store(queue)
    await staff(store, [profile(f"a{i}") for i in range(30)])
    for i in range(100):
        await store.enqueue(call(f"c{i}", T0 + i), T0 + i)
    found: list[Offer] = []

    def instance() -> None:
        async def run() -> None:
            client = aioredis.Redis.from_url(redis_url, decode_responses=True)
            mine = AcdStore(client, KEYS, {"q": queue})
            for round_ in range(40):
                offer = await mine.claim("q", T0 + 200)
                if offer is not None:
                    found.append(offer)
                    if round_ % 3 == 0:  # some RONAs return calls while others claim
                        agent = offer.agents[0].agent_id
                        await mine.reject(offer.offer_id, agent, MissReason.FAILED, T0 + 200)
                        found.remove(offer)
            await client.aclose()

        asyncio.run(run())

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check_exclusive(found)
    views = [await store.agent(f"a{i}") for i in range(30)]
    assert sum(1 for view in views if view and view.offer_id) == len(found) > 0


# Statistics and queue log


async def test_stats_for_a_scripted_day(make_store: Factory) -> None:
    store = make_store(
        QueueConfig(
            "q", wrapup_s=0, service_level_s=20, short_abandon_s=5, strategy=Strategy.LINEAR
        )
    )
    await staff(store, [profile("a"), profile("b")])
    await store.pause("b", "training", T0)
    # c1 answered after 10 s, talks 100 s; c2 answered after 40 s, talks 200 s.
    await store.enqueue(call("c1", T0), T0)
    await serve(store, await offered(store, now=T0 + 1), T0 + 10, talk=100)
    await store.enqueue(call("c2", T0 + 200), T0 + 200)
    await store.pause("a", "coffee", T0 + 200)
    await store.resume("a", T0 + 239)
    await serve(store, await offered(store, now=T0 + 239), T0 + 240, talk=200)
    # c3 abandons after 3 s (short), c4 after 30 s; c5 is still waiting.
    await store.pause("a", "coffee", T0 + 500)
    for cid, left in (("c3", 3), ("c4", 30)):
        await store.enqueue(call(cid, T0 + 500), T0 + 500)
        await store.abandon(cid, T0 + 500 + left)
    await store.enqueue(call("c5", T0 + 600), T0 + 600)
    # A callback waits to be made; a caller who chose one keeps their place too.
    await store.enqueue(call("cb", T0 + 610, kind=CallKind.CALLBACK), T0 + 610)
    stats = await store.queue_stats("q", T0 + 645)
    counts = {
        "entered": 6,
        "answered": 2,
        "abandoned": 1,
        "short_abandoned": 1,
        "timed_out": 0,
        "completed": 2,
        "asa_s": 25.0,
        "service_level_pct": 33.33,
        "aht_s": 150.0,
    }
    assert stats.to_dict() == {
        "queue": "q",
        "waiting": 2,
        "longest_wait_s": 45.0,
        "agents": {"available": 0, "offered": 0, "on_call": 0, "wrap_up": 0, "paused": 2},
        **counts,
        "callbacks_pending": 1,
        "today": counts,  # all of it on one day (UTC, the store's zone by default)
    }
    await store.to_callback("c5", T0 + 646)
    assert (await store.queue_stats("q", T0 + 647)).callbacks_pending == 2
    result = await store.enqueue(call("c6", T0 + 650), T0 + 650)
    assert (result.position, result.ewt_s) == (3, 450.0)  # 3 rounds (no agent) x 150 s


async def test_the_estimates_aht_keeps_the_recent_calls_the_days_every_call(
    make_store: Factory,
) -> None:
    store = make_store(QueueConfig("q", wrapup_s=0))
    await staff(store, [profile("a")])
    for i in range(101):  # one call of 10 s, then 100 of 20 s: the first leaves the window
        at = T0 + 25 * i  # all before midnight UTC (T0 is 22:13)
        await store.enqueue(call(f"c{i}", at), at)
        await serve(store, await offered(store, now=at + 1), at + 1, talk=10 if i == 0 else 20)
    stats = await store.queue_stats("q", T0 + 25 * 101)
    assert stats.aht_s == 20.0  # the last 100 calls (the wait estimates' too)
    assert stats.today.aht_s == round((10 + 100 * 20) / 101, 3)
    assert stats.completed == stats.today.completed == 101


async def test_queue_log_uses_app_queue_verbs_and_no_numbers(
    make_store: Factory, clients: list[aioredis.Redis]
) -> None:
    store = make_store(QueueConfig("q", wrapup_s=0))
    await staff(store, [profile("a")])
    await store.enqueue(replace(call("c1"), pseudonym="Caller 7"), T0)
    offer = await offered(store)
    await store.reject(offer.offer_id, "a", MissReason.NO_ANSWER, T0 + 16)
    await serve(store, await offered(store, now=T0 + 17), T0 + 18, talk=42)
    entries = cast(list[tuple[str, dict[str, str]]], await clients[0].xrange(KEYS.acd_queue_log))
    events = [(f["event"], f["call"], f["agent"]) for _, f in entries]
    assert events == [
        ("ADDMEMBER", "NONE", "a"),
        ("ENTERQUEUE", "c1", "NONE"),
        ("OFFER", "c1", "a"),
        ("RINGNOANSWER", "c1", "a"),
        ("OFFER", "c1", "a"),
        ("CONNECT", "c1", "a"),
        ("COMPLETECALLER", "c1", "a"),
        ("WRAPUPEND", "c1", "a"),
    ]
    connect = entries[5][1]
    assert (connect["holdtime"], connect["ringtime"]) == ("18", "1")
    assert entries[6][1]["calltime"] == "42"
    dump = [str(v) for key in await clients[0].keys("*") for v in [await clients[0].dump(key)]]
    assert not any(PHONE in v for v in dump)


async def test_decision_benchmark_measures_and_cleans_up(
    redis_url: str, clients: list[aioredis.Redis]
) -> None:
    ms = await asyncio.to_thread(decision_ms, 20, 30, redis_url=redis_url, rounds=20)
    assert 0 < ms < 100
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    clients.append(client)
    assert await client.dbsize() == 0
