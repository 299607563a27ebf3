"""A supervisor's listen, whisper and barge requests over the ACD's HTTP API, on a real Redis
store: the request reaches the instance holding the call and the audit trail; every refusal
(not a supervisor, unknown or ended call, a call not yet connected, another queue's call)
has its error id and leaves neither."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import cast

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from acd.config import AgentProfile, Device, DeviceKind
from acd.http import acd_routes
from acd.store import AcdStore
from core.keys import Keys
from sms.redact import redact_numbers
from tests.integration.test_acd_http import (
    ADA,
    ALICE,
    QUEUES,
    SAM,
    T0,
    Api,
    Clock,
    api_app,
    redis_client,
    waiting_call,
)

__all__ = ["redis_client"]  # the fixture, shared with the ACD's other API tests


def profile(agent_id: str, queues: tuple[str, ...], role: str = "agent") -> AgentProfile:
    device = Device(DeviceKind.SIP, f"PJSIP/{agent_id}")
    return AgentProfile(
        agent_id, agent_id.title(), "$argon2id$x", (device,), queues=queues, role=role
    )


#: Sam supervises queue "q" only.
AGENTS = {
    "alice": profile("alice", ("q", "q2")),
    "sam": profile("sam", ("q",), "supervisor"),
    "ada": profile("ada", ("q", "q2"), "admin"),
}


@pytest.fixture
async def api(redis_client: aioredis.Redis) -> AsyncIterator[Api]:
    store = AcdStore(redis_client, Keys("t"), QUEUES)
    await store.sync_agents(list(AGENTS.values()))
    clock = Clock()
    routes = acd_routes(store, AGENTS, clock, functools.partial(redact_numbers, region="CA"))
    async with TestClient(TestServer(api_app(routes))) as http:
        yield Api(http, store, clock)


async def stream(api: Api, key: str) -> list[dict[str, str]]:
    entries = cast(list[tuple[str, dict[str, str]]], await api.store.redis.xrange(key))
    return [fields for _, fields in entries]


async def connect(api: Api, call_id: str, queue: str, at: float, agent: str = "alice") -> None:
    """``call_id`` waits in ``queue`` and ``agent`` takes it."""
    await api.store.enqueue(waiting_call(call_id, at, queue), at)
    offer = await api.store.claim(queue, at + 1)
    assert offer is not None
    assert [a.agent_id for a in offer.agents] == [agent]
    await api.store.accept(offer.offer_id, agent, at + 2)


async def test_a_supervisor_listens_to_a_call_of_their_queue(api: Api) -> None:
    await api.store.login("alice", ("q", "q2"), AGENTS["alice"].devices[0], T0)
    await connect(api, "c1", "q", T0)
    status, body = await api.call("POST", "/acd/calls/c1/monitor", SAM, {"mode": "whisper"})
    assert status == 202
    assert (body["call_id"], body["mode"]) == ("c1", "whisper")
    owner = waiting_call("c1", T0).owner_instance
    inbox = await stream(api, api.store.keys.acd_inbox(owner))
    assert inbox == [{"monitor": "c1", "session": body["session"], "by": "sam", "mode": "whisper"}]
    audit = await stream(api, api.store.keys.staff_audit)
    assert [(a["actor"], a["role"], a["action"], a["target"]) for a in audit] == [
        ("sam", "supervisor", "whisper", "c1")
    ]
    assert audit[0]["at"].startswith("2023-11-14T22:1")  # the API's clock: T0 + 0 s


async def test_refusals_ring_nobody_and_audit_nothing(api: Api) -> None:
    await api.store.login("alice", ("q", "q2"), AGENTS["alice"].devices[0], T0)
    await api.store.enqueue(waiting_call("waiting", T0), T0)
    for token, call_id, body, error in [
        (ALICE, "waiting", {"mode": "listen"}, (403, "forbidden")),  # a volunteer
        (ADA, "waiting", {"mode": "listen"}, (403, "forbidden")),  # an admin
        (SAM, "waiting", {"mode": "eavesdrop"}, (400, "bad-request")),
        (SAM, "ghost", {"mode": "listen"}, (404, "no-such-call")),
        (SAM, "waiting", {"mode": "barge"}, (409, "not-connected")),
    ]:
        status, answer = await api.call("POST", f"/acd/calls/{call_id}/monitor", token, body)
        assert (status, answer["error"]) == error, (token, call_id, body)
    await api.store.abandon("waiting", T0 + 1)
    await connect(api, "other", "q2", T0 + 2)
    status, answer = await api.call("POST", "/acd/calls/other/monitor", SAM, {"mode": "listen"})
    assert (status, answer["error"]) == (403, "not-your-queue")
    await api.store.complete("other", "alice", T0 + 10)
    await api.store.pause("alice", "break", T0 + 20)
    await api.store.login("sam", ("q",), AGENTS["sam"].devices[0], T0 + 20)
    await connect(api, "sams", "q", T0 + 20, "sam")  # Sam takes a call himself
    await api.store.resume("alice", T0 + 30)
    await connect(api, "busy", "q", T0 + 30)
    status, answer = await api.call("POST", "/acd/calls/busy/monitor", SAM, {"mode": "listen"})
    assert (status, answer["error"]) == (409, "supervisor-busy")
    status, answer = await api.call("POST", "/acd/calls/sams/monitor", SAM, {"mode": "listen"})
    assert (status, answer["error"]) == (409, "own-call")
    await api.store.complete("sams", "sam", T0 + 52)
    await api.store.complete("busy", "alice", T0 + 53)  # Sam is free; the call is over
    status, answer = await api.call("POST", "/acd/calls/busy/monitor", SAM, {"mode": "barge"})
    assert (status, answer["error"]) == (404, "no-such-call")
    assert await stream(api, api.store.keys.staff_audit) == []
    assert await stream(api, api.store.keys.acd_inbox(waiting_call("x", T0).owner_instance)) == []
