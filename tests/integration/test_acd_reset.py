"""Staff reset of a stuck agent on a real Redis: from every state the agent comes back clean,
a ringing call gets its place back (other ring-all agents keep ringing), a connected call
ends for the agent without wrap-up, and the queue log says who reset whom and why."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import pytest
import redis.asyncio as aioredis

from acd.config import AgentProfile, Device, DeviceKind, QueueConfig, Strategy
from acd.model import AcdError, AgentView, Offer, WaitingCall
from acd.routing import AgentState
from acd.store import AcdStore
from core.keys import Keys

KEYS = Keys("t")
T0 = 1_700_000_000.0
S = AgentState


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    made = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield made
    await made.aclose()


def store_for(client: aioredis.Redis, strategy: Strategy = Strategy.LINEAR) -> AcdStore:
    return AcdStore(client, KEYS, {"q": QueueConfig("q", strategy=strategy, wrapup_s=30)})


async def staff(store: AcdStore, *ids: str) -> None:
    profiles = [
        AgentProfile(
            id=i,
            name=i.title(),
            pin_hash="$argon2id$x",
            devices=(Device(DeviceKind.SIP, f"PJSIP/{i}"),),
            queues=("q",),
        )
        for i in ids
    ]
    await store.sync_agents(profiles)
    for p in profiles:
        await store.login(p.id, p.queues, p.devices[0], T0)


async def enqueue(store: AcdStore, *ids: str) -> None:
    for n, call_id in enumerate(ids):
        at = T0 + n
        await store.enqueue(WaitingCall(call_id, "q", "app-1", f"P-{call_id}", "en", at), at)


async def offered(store: AcdStore, now: float = T0 + 10) -> Offer:
    offer = await store.claim("q", now)
    assert offer is not None
    return offer


async def view(store: AcdStore, agent_id: str) -> AgentView:
    found = await store.agent(agent_id)
    assert found is not None
    return found


async def waiting(store: AcdStore) -> list[str]:
    return [c.call_id for c in await store.waiting("q")]


async def last_log(store: AcdStore) -> dict[str, str]:
    entries = cast(
        list[tuple[str, dict[str, str]]], await store.redis.xrevrange(KEYS.acd_queue_log, count=1)
    )
    return entries[0][1]


async def test_an_offered_agent_lets_go_and_the_call_waits_at_its_place(
    client: aioredis.Redis,
) -> None:
    store = store_for(client)
    await staff(store, "a")
    await enqueue(store, "c0", "c1")
    offer = await offered(store)
    assert offer.call.call_id == "c0"
    assert await waiting(store) == ["c1"]
    assert await store.reset("a", "sam", "phone froze", T0 + 20) == (S.OFFERED, S.AVAILABLE)
    agent = await view(store, "a")
    assert (agent.state, agent.offer_id, agent.misses) == (S.AVAILABLE, "", 0)
    assert await waiting(store) == ["c0", "c1"]
    assert await client.zscore(KEYS.acd_queue("q", "offers"), offer.offer_id) is None
    entry = await last_log(store)
    assert {k: entry[k] for k in ("event", "queue", "call", "agent", "from", "by", "reason")} == {
        "event": "RESET",
        "queue": "q",
        "call": "c0",
        "agent": "a",
        "from": "offered",
        "by": "sam",
        "reason": "phone froze",
    }
    assert not (await store.accept(offer.offer_id, "a", T0 + 21)).won  # the old offer is gone
    assert (await offered(store, T0 + 22)).call.call_id == "c0"


async def test_a_ring_all_offer_keeps_ringing_its_other_agents(client: aioredis.Redis) -> None:
    store = store_for(client, Strategy.RING_ALL)
    await staff(store, "a", "b", "c")
    await enqueue(store, "c0", "c1")
    offer = await offered(store)
    assert sorted(x.agent_id for x in offer.agents) == ["a", "b", "c"]
    await store.reset("a", "sam", "stuck", T0 + 20)
    states = {x: (await view(store, x)).state for x in "abc"}
    assert states == {"a": S.AVAILABLE, "b": S.OFFERED, "c": S.OFFERED}
    assert (await view(store, "b")).offer_id == offer.offer_id
    assert await waiting(store) == ["c1"]  # c0 still rings b and c
    assert await client.zscore(KEYS.acd_queue("q", "offers"), offer.offer_id) is not None
    await store.reset("b", "sam", "stuck", T0 + 21)
    assert await waiting(store) == ["c1"]
    await store.reset("c", "sam", "stuck", T0 + 22)  # no agent left: c0 is back, first
    assert await waiting(store) == ["c0", "c1"]
    assert await store.position("c0") == 1


async def test_the_other_ring_all_agent_can_still_answer(client: aioredis.Redis) -> None:
    store = store_for(client, Strategy.RING_ALL)
    await staff(store, "a", "b")
    await enqueue(store, "c0")
    offer = await offered(store)
    await store.reset("a", "sam", "stuck", T0 + 20)
    won = await store.accept(offer.offer_id, "b", T0 + 21)
    assert (won.won, won.call_id, won.released) == (True, "c0", ())
    assert (await view(store, "a")).state is S.AVAILABLE


async def test_an_agent_on_call_is_freed_without_wrap_up(client: aioredis.Redis) -> None:
    store = store_for(client)
    await staff(store, "a")
    await enqueue(store, "c0", "c1")
    offer = await offered(store)
    assert (await store.accept(offer.offer_id, "a", T0 + 12)).won
    assert await store.reset("a", "ada", "caller gone", T0 + 300) == (S.ON_CALL, S.AVAILABLE)
    agent = await view(store, "a")
    assert (agent.state, agent.call_id, agent.idle_since) == (S.AVAILABLE, "", T0 + 300)
    assert not await client.exists(KEYS.acd_call("c0"))
    stats = (await store.queue_stats("q", T0 + 300)).to_dict()
    assert (stats["answered"], stats["completed"]) == (1, 0)  # no handle time from a stuck call
    entry = await last_log(store)
    assert (entry["event"], entry["call"], entry["from"], entry["by"]) == (
        "RESET",
        "c0",
        "on_call",
        "ada",
    )
    with pytest.raises(AcdError, match="unknown-call"):  # the call's late end changes nothing
        await store.complete("c0", "a", T0 + 301)
    assert (await offered(store, T0 + 302)).agents[0].agent_id == "a"  # takes c1 at once


async def test_an_agent_on_a_call_the_store_no_longer_knows_is_freed(
    client: aioredis.Redis,
) -> None:
    store = store_for(client)
    await staff(store, "a")
    await enqueue(store, "c0")
    offer = await offered(store)
    assert (await store.accept(offer.offer_id, "a", T0 + 12)).won
    await client.delete(KEYS.acd_call("c0"))  # the call's end was lost; the agent was not
    assert await store.reset("a", "ada", "no channel", T0 + 300) == (S.ON_CALL, S.AVAILABLE)
    entry = await last_log(store)
    assert (entry["event"], entry["call"], entry["queue"]) == ("RESET", "c0", "NONE")


async def test_a_transfer_target_lets_go_and_the_call_stays_with_its_agent(
    client: aioredis.Redis,
) -> None:
    store = store_for(client)
    await staff(store, "a", "sup")
    await enqueue(store, "c0")
    offer = await offered(store)
    assert (await store.accept(offer.offer_id, "a", T0 + 12)).won
    ring = await store.handover_offer("c0", "sup", T0 + 20)
    await store.reset("sup", "ada", "stuck", T0 + 30)
    assert (await view(store, "sup")).state is S.AVAILABLE
    assert (await view(store, "a")).call_id == "c0"
    assert await store.handover_accept(ring.offer_id, "sup", T0 + 31) is None
    again = await store.handover_offer("c0", "sup", T0 + 32)  # no transfer pending any more
    assert again.offer_id != ring.offer_id


async def test_an_on_call_agent_with_a_ringing_transfer_releases_its_target(
    client: aioredis.Redis,
) -> None:
    store = store_for(client)
    await staff(store, "a", "sup")
    await enqueue(store, "c0")
    offer = await offered(store)
    assert (await store.accept(offer.offer_id, "a", T0 + 12)).won
    await store.handover_offer("c0", "sup", T0 + 20)
    await store.reset("a", "ada", "stuck", T0 + 30)
    assert {x: (await view(store, x)).state for x in ("a", "sup")} == {
        "a": S.AVAILABLE,
        "sup": S.AVAILABLE,
    }


async def pause_everywhere(store: AcdStore) -> None:
    await store.pause("a", "break", T0 + 1)


async def pause_in_the_queue(store: AcdStore) -> None:
    await store.pause("a", "mentoring", T0 + 1, queue="q")


async def wrap_up(store: AcdStore) -> None:
    await enqueue(store, "c0")
    offer = await offered(store, T0 + 1)
    assert (await store.accept(offer.offer_id, "a", T0 + 2)).won
    await store.complete("c0", "a", T0 + 5)


async def stay_available(store: AcdStore) -> None:
    pass


@pytest.mark.parametrize(
    ("setup", "before"),
    [
        (pause_everywhere, S.PAUSED),
        (pause_in_the_queue, S.AVAILABLE),
        (wrap_up, S.WRAP_UP),
        (stay_available, S.AVAILABLE),
    ],
)
async def test_paused_wrapping_up_or_available_agents_become_available(
    client: aioredis.Redis, setup: Callable[[AcdStore], Awaitable[None]], before: AgentState
) -> None:
    store = store_for(client)
    await staff(store, "a")
    await setup(store)
    assert (await view(store, "a")).state is before
    assert await store.reset("a", "sam", "clean slate", T0 + 10) == (before, S.AVAILABLE)
    agent = await view(store, "a")
    assert (agent.state, agent.pause_reason, agent.paused_in) == (S.AVAILABLE, "", {})
    agents = (await store.queue_stats("q", T0 + 10)).to_dict()["agents"]
    assert (agents["available"], agents["paused"], agents["wrap_up"]) == (1, 0, 0)
    assert (await last_log(store))["from"] == before.value
    await enqueue(store, "next")
    assert (await offered(store, T0 + 11)).agents[0].agent_id == "a"  # indexed again


async def test_a_logged_out_agent_stays_logged_out(client: aioredis.Redis) -> None:
    store = store_for(client)
    await staff(store, "a")
    await store.logout("a", T0 + 1)
    assert await store.reset("a", "sam", "check", T0 + 2) == (S.LOGGED_OUT, S.LOGGED_OUT)
    assert (await view(store, "a")).queues == ()
    assert (await last_log(store))["event"] == "RESET"
    await enqueue(store, "c0")
    assert await store.claim("q", T0 + 3) is None


async def test_an_unknown_agent_cannot_be_reset(client: aioredis.Redis) -> None:
    with pytest.raises(AcdError, match="unknown-agent"):
        await store_for(client).reset("nobody", "sam", "x", T0)
