"""Chat tasks on a real Redis: least-loaded assignment within capacity, agents' logged-in and
paused state read from the ACD's own hashes, waiting conversations, finish, transfer, drop;
each assignment logged for the records by the same script."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest
import redis.asyncio as aioredis

from acd.chat import ChatRouter, drop
from acd.config import AgentProfile, Device, DeviceKind, QueueConfig
from acd.model import AcdError
from acd.store import AcdStore
from core.keys import Keys
from core.ports import Assignment, ChatState

KEYS = Keys("hl")
QUEUES = {"chat": QueueConfig("chat"), "other": QueueConfig("other")}


def profile(agent_id: str, capacity: int, queues: tuple[str, ...] = ("chat",)) -> AgentProfile:
    return AgentProfile(agent_id, agent_id, "x", (), queues=queues, chat_capacity=capacity)


AGENTS = {
    "ann": profile("ann", 2),
    "bob": profile("bob", 1),
    "cat": profile("cat", 3, ("chat", "other")),
}


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    await c.aclose()


@pytest.fixture
async def acd(client: aioredis.Redis) -> AcdStore:
    store = AcdStore(client, KEYS, QUEUES)
    await store.sync_agents(list(AGENTS.values()))
    return store


async def login(acd: AcdStore, agent_id: str, queues: tuple[str, ...] = ("chat",)) -> None:
    await acd.login(agent_id, queues, Device(DeviceKind.SIP, f"PJSIP/{agent_id}"), 1.0)


async def test_least_loaded_within_capacity_then_waiting(
    client: aioredis.Redis, acd: AcdStore
) -> None:
    router = ChatRouter(client, KEYS, AGENTS)
    await login(acd, "ann")
    await login(acd, "bob")
    placed = [await router.offer(f"c{i}", "chat", 10.0 + i) for i in range(4)]
    assert [(r.state, r.agent_id) for r in placed] == [
        (ChatState.ASSIGNED, "ann"),
        (ChatState.ASSIGNED, "bob"),
        (ChatState.ASSIGNED, "ann"),
        (ChatState.WAITING, None),
    ]
    assert await router.conversations("ann") == ["c0", "c2"]
    again = await router.offer("c0", "chat", 20.0)
    assert (again.agent_id, again.assigned) == ("ann", ())
    finished = await router.finish("c1", 30.0, ttl=60)
    assert finished.state is ChatState.ENDED
    assert finished.assigned == (Assignment("c3", "bob"),)
    assert await router.agent_of("c3") == "bob"


async def test_paused_logged_out_and_non_member_agents_take_nothing(
    client: aioredis.Redis, acd: AcdStore
) -> None:
    router = ChatRouter(client, KEYS, AGENTS)
    await login(acd, "ann")
    await acd.pause("ann", "break", 2.0)
    await login(acd, "cat", ("other",))
    assert (await router.offer("c1", "chat", 3.0)).state is ChatState.WAITING
    await acd.resume("ann", 4.0)
    assert await router.dispatch("chat", 5.0) == (Assignment("c1", "ann"),)


async def test_transfer_to_agent_or_queue(client: aioredis.Redis, acd: AcdStore) -> None:
    router = ChatRouter(client, KEYS, AGENTS)
    await login(acd, "ann")
    await login(acd, "bob")
    await login(acd, "cat", ("chat", "other"))
    await router.offer("c1", "chat", 1.0)
    await router.offer("c2", "chat", 2.0)
    await router.offer("c3", "chat", 3.0)
    assert [await router.agent_of(c) for c in ("c1", "c2", "c3")] == ["ann", "bob", "cat"]
    with pytest.raises(AcdError) as full:
        await router.transfer("c1", 4.0, agent="bob")
    assert full.value.code == "agent-unavailable"
    moved = await router.transfer("c2", 5.0, agent="ann")
    assert (moved.agent_id, await router.conversations("bob")) == ("ann", [])
    requeued = await router.transfer("c1", 6.0, queue="other")
    assert (requeued.queue, requeued.agent_id) == ("other", "cat")


async def test_drop_frees_the_slot(client: aioredis.Redis, acd: AcdStore) -> None:
    router = ChatRouter(client, KEYS, AGENTS)
    await login(acd, "bob")
    await router.offer("c1", "chat", 1.0)
    await drop(client, KEYS, "c1")
    assert await router.conversations("bob") == []
    assert (await router.offer("c2", "chat", 2.0)).agent_id == "bob"


async def test_every_assignment_is_logged_by_the_script_that_makes_it(
    client: aioredis.Redis, acd: AcdStore
) -> None:
    router = ChatRouter(client, KEYS, AGENTS)
    await login(acd, "bob")
    await router.offer("c1", "chat", 1.0)  # to bob
    await router.offer("c2", "chat", 2.0)  # waits: bob is full
    await login(acd, "ann")
    await router.dispatch("chat", 3.0)  # c2 to ann
    await router.transfer("c1", 4.0, agent="ann")  # c1 to ann
    await router.finish("c2", 5.0, ttl=60)  # frees a slot; nothing waits
    await router.offer("c3", "chat", 6.0)  # to bob
    entries = cast(list[tuple[str, dict[str, str]]], await client.xrange(KEYS.conversation_log))
    logged = [fields for _, fields in entries]
    assert logged == [
        {"event": "assign", "id": "c1", "agent": "bob", "at": "1.0"},
        {"event": "assign", "id": "c2", "agent": "ann", "at": "3.0"},
        {"event": "assign", "id": "c1", "agent": "ann", "at": "4.0"},
        {"event": "assign", "id": "c3", "agent": "bob", "at": "6.0"},
    ]
