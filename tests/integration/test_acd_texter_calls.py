"""A volunteer who asked to call a texter, on a real Redis: out of queue routing from the
request to the call's end (``acd/lua/texter.lua``), refused when not available, and what the
reconciler reads of it (``acd.recovery``)."""

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from acd.calls import callee_id, leg_id
from acd.config import AgentProfile, Device, DeviceKind, QueueConfig, Strategy
from acd.model import AcdError, WaitingCall
from acd.records import Leg, Records, put
from acd.recovery import AcdRecovery, Holding
from acd.routing import AgentState
from acd.store import OFFER_GRACE_S, AcdStore
from acd.texter_calls import TexterCalls
from core.ari import AriClient
from core.calls import ChannelTimers
from core.keys import Keys

KEYS = Keys("t")
T0 = 1_700_000_000.0
CALL = "txt0123456789ab"


def profile(agent_id: str) -> AgentProfile:
    return AgentProfile(
        id=agent_id,
        name=agent_id.title(),
        pin_hash="$argon2id$x",
        devices=(Device(DeviceKind.SIP, f"PJSIP/{agent_id}"),),
        queues=("q",),
    )


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[AcdStore]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    queue = QueueConfig("q", strategy=Strategy.LINEAR, ring_timeout_s=15, wrapup_s=30)
    acd = AcdStore(client, KEYS, {"q": queue})
    agents = [profile("alice"), profile("bruno")]
    await acd.sync_agents(agents)
    for agent in agents:
        await acd.login(agent.id, ["q"], agent.devices[0], T0)
    try:
        yield acd
    finally:
        await client.aclose()


def waiting(call_id: str, at: float) -> WaitingCall:
    return WaitingCall(call_id, "q", "app-1", f"P-{call_id}", "en", at)


async def state(store: AcdStore, agent_id: str) -> AgentState:
    view = await store.agent(agent_id)
    assert view is not None
    return view.state


async def test_a_volunteer_calling_a_texter_is_offered_no_queue_call_until_it_ends(
    store: AcdStore,
) -> None:
    holds = TexterCalls(store, "app-1")
    await holds.hold(CALL, "alice", T0 + 1)
    alice = await store.agent("alice")
    assert alice is not None
    assert (alice.state, alice.call_id) == (AgentState.ON_CALL, CALL)
    # Alice comes first in file order (LINEAR), yet the queue's caller goes to Bruno.
    await store.enqueue(waiting("c1", T0 + 2), T0 + 2)
    offer = await store.claim("q", T0 + 2)
    assert offer is not None
    assert [a.agent_id for a in offer.agents] == ["bruno"]
    # Bruno's offer, which no process settles, expires in the store: Bruno is free again and
    # the caller waits again, while Alice, on her own call, stays held.
    assert await store.claim_texter_call(CALL, "alice", "app-1", T0 + 3)
    expired = await store.expire("q", "app-1", T0 + 2 + 15 + 10 + OFFER_GRACE_S + 1)
    assert expired.offers == ((offer.offer_id, "c1"),)
    assert await state(store, "bruno") is AgentState.AVAILABLE
    assert await state(store, "alice") is AgentState.ON_CALL
    await store.pause("bruno", "break", T0 + 50)
    assert await store.claim("q", T0 + 51) is None  # nobody: Alice is still on her call
    # Another instance's release (it does not own the call) changes nothing.
    assert not await store.release_texter_call(CALL, "alice", T0 + 60, "app-2")
    assert await store.release_texter_call(CALL, "alice", T0 + 60, "app-1")
    alice = await store.agent("alice")
    assert alice is not None
    assert (alice.state, alice.call_id, alice.idle_since) == (AgentState.AVAILABLE, "", T0 + 60)
    offer = await store.claim("q", T0 + 61)  # no wrap-up: she takes the waiting caller at once
    assert offer is not None
    assert [a.agent_id for a in offer.agents] == ["alice"]
    assert not await store.release_texter_call(CALL, "alice", T0 + 62)  # ended once
    stats = await store.queue_stats("q", T0 + 62)
    assert stats.answered == 0  # the texter's call is no queue's call


@pytest.mark.parametrize("how", ["paused", "on a call", "logged out", "held already"])
async def test_a_volunteer_who_is_not_available_is_refused(store: AcdStore, how: str) -> None:
    match how:
        case "paused":
            await store.pause("alice", "break", T0 + 1)
        case "on a call":
            await store.enqueue(waiting("c1", T0 + 1), T0 + 1)
            offer = await store.claim("q", T0 + 1)
            assert offer is not None
            assert (await store.accept(offer.offer_id, "alice", T0 + 2)).won
        case "logged out":
            await store.logout("alice", T0 + 1)
        case "held already":
            await store.hold_for_texter("txt-first", "alice", "app-1", T0 + 1)
    before = await store.agent("alice")
    with pytest.raises(AcdError) as refused:
        await TexterCalls(store, "app-1").hold(CALL, "alice", T0 + 3)
    assert refused.value.code == "not-available"
    assert await store.agent("alice") == before
    assert not await store.claim_texter_call(CALL, "alice", "app-1", T0 + 4)  # never rung


async def test_a_reset_or_a_release_before_the_ring_means_no_ring(store: AcdStore) -> None:
    await store.hold_for_texter(CALL, "alice", "app-1", T0 + 1)
    await store.reset("alice", "sam", "stuck", T0 + 2)
    assert await state(store, "alice") is AgentState.AVAILABLE
    assert not await store.claim_texter_call(CALL, "alice", "app-2", T0 + 3)
    await store.hold_for_texter("txt-2", "alice", "app-1", T0 + 4)
    await TexterCalls(store, "app-1").release("txt-2", "alice", T0 + 5)
    assert not await store.claim_texter_call("txt-2", "alice", "app-2", T0 + 6)
    assert await state(store, "alice") is AgentState.AVAILABLE


async def test_the_reconciler_reads_a_texter_call_by_its_channels_and_owner(
    store: AcdStore,
) -> None:
    records = Records(store.redis, KEYS)

    def recovery(instance: str) -> AcdRecovery:
        ari = AriClient("http://127.0.0.1:9", "u", "p")  # never asked: no session opened
        timers = ChannelTimers(lambda channel, event: None)
        return AcdRecovery(
            store.redis, KEYS, records, ari, timers, store.queues, ("alice", "bruno"),
            instance, 10.0, lambda: T0,
        )  # fmt: skip

    await store.hold_for_texter(CALL, "alice", "app-1", T0 + 1)
    agent_leg = leg_id(CALL, "alice")
    # Asked for, not yet rung: the volunteer's leg, never the call's id, which is no channel.
    held = Holding("alice", AgentState.ON_CALL, CALL, (agent_leg,), direct=True)
    assert await recovery("app-1").holdings() == [held]
    # Another instance took the request and rings Alice: the call is its own.
    assert await store.claim_texter_call(CALL, "alice", "app-2", T0 + 2)
    assert await recovery("app-1").holdings() == []
    assert await recovery("app-2").holdings() == [held]
    # She answered and the texter is being dialled: their channel is needed too.
    callee = Leg(callee_id(CALL), CALL, "alice", CALL, "q", True, callback=True, callee=True)
    await records.save(put(callee))
    both = Holding("alice", AgentState.ON_CALL, CALL, (agent_leg, callee.leg_id), direct=True)
    assert await recovery("app-2").holdings() == [both]
    assert await store.release_texter_call(CALL, "alice", T0 + 30, "app-2")
    assert await recovery("app-2").holdings() == []
