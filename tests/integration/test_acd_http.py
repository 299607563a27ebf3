"""The ACD's HTTP API over real HTTP, with the real bearer-token middleware and a real Redis
store: agent sign-in round trips, who may act on whom, queue statistics, the queue log and
transfers, and the error ids of each refusal."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from acd.config import AgentProfile, Device, DeviceKind, QueueConfig
from acd.http import acd_routes
from acd.model import WaitingCall
from acd.records import Caller, Records, put, put_callback
from acd.routing import AgentState
from acd.store import AcdStore
from core.config import RedisSettings, Secrets, Settings
from core.keys import Keys
from core.redisconn import connect
from hotline.http import build_web_app
from sms.redact import redact_numbers

T0 = 1_700_000_000.0
PHONE = "+15145550123"
ALICE, BRUNO, SAM, ADA = (
    "alice-token-0123456789",
    "bruno-token-0123456789",
    "sam-token-0123456789ab",
    "ada-token-0123456789ab",
)
TOKENS = f"alice:agent:{ALICE},bruno:agent:{BRUNO},sam:supervisor:{SAM},ada:admin:{ADA}"
QUEUES = {
    "q": QueueConfig(
        "q", wrapup_s=30, service_level_s=20, short_abandon_s=5, flags=("risk", "frequent-caller")
    ),
    "q2": QueueConfig("q2"),
}
AGENTS = {
    "alice": AgentProfile(
        id="alice",
        name="Alice",
        pin_hash="$argon2id$x",
        devices=(Device(DeviceKind.SIP, "PJSIP/alice"), Device(DeviceKind.EXTERNAL, PHONE)),
        queues=("q", "q2"),
    ),
    "bruno": AgentProfile(
        id="bruno",
        name="Bruno",
        pin_hash="$argon2id$x",
        devices=(Device(DeviceKind.SIP, "PJSIP/bruno"),),
        queues=("q",),
    ),
    "erin": AgentProfile(
        id="erin",
        name="Erin",
        pin_hash="$argon2id$x",
        devices=(Device(DeviceKind.SIP, "PJSIP/erin"),),
        queues=("q",),
        nailed_up=True,
    ),
}


class Clock:
    """A settable clock (epoch seconds)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def waiting_call(call_id: str, at: float, queue: str = "q") -> WaitingCall:
    return WaitingCall(call_id, queue, "app-1", f"Caller {call_id}", "en", at)


async def scripted_calls(store: AcdStore) -> None:
    """alice and bruno log in; c1 is offered after 4 s, answered after 5 s and talks 60 s
    (its agent then wraps up for 30 s); c2 is abandoned after 8 s; c3 waits since T0+70."""
    for name in ("alice", "bruno"):
        await store.login(name, ("q",), AGENTS[name].devices[0], T0)
    await store.enqueue(waiting_call("c1", T0), T0)
    await store.enqueue(waiting_call("c2", T0 + 2), T0 + 2)
    offer = await store.claim("q", T0 + 4)
    assert offer is not None
    assert offer.call.call_id == "c1"
    agent = offer.agents[0].agent_id
    await store.accept(offer.offer_id, agent, T0 + 5)
    await store.abandon("c2", T0 + 10)
    await store.complete("c1", agent, T0 + 65)
    await store.enqueue(waiting_call("c3", T0 + 70), T0 + 70)


def api_app(*routes: Sequence[web.RouteDef]) -> web.Application:
    """The app's web server with the test tokens and ``routes``."""

    async def health() -> dict[str, bool]:
        return {"ok": True}

    settings = Settings(secrets=Secrets(api_tokens=TOKENS))
    return build_web_app(settings, health, [r for group in routes for r in group])


@dataclass
class Api:
    """An HTTP client of the ACD API, the store behind it and its clock."""

    http: TestClient[web.Request, web.Application]
    store: AcdStore
    clock: Clock

    async def call(
        self, method: str, path: str, token: str | None, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, path, json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    async def view(self, agent_id: str) -> dict[str, Any]:
        found = await self.store.agent(agent_id)
        assert found is not None
        return {
            "agent_id": found.agent_id,
            "state": found.state.value,
            "queues": list(found.queues),
            "pause_reason": found.pause_reason,
            "paused_in": dict(found.paused_in),
            "misses": found.misses,
            "offer_id": found.offer_id,
            "call_id": found.call_id,
            "idle_since": found.idle_since,
            "wrapup_until": found.wrapup_until,
            "wrapup_call": found.wrapup_call,
        }


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(RedisSettings(url=redis_url))
    yield client
    await client.aclose()


@pytest.fixture
async def api(redis_client: aioredis.Redis) -> AsyncIterator[Api]:
    store = AcdStore(redis_client, Keys("t"), QUEUES)
    await store.sync_agents(list(AGENTS.values()))
    clock = Clock()
    redact = functools.partial(redact_numbers, region="CA")
    routes = acd_routes(store, AGENTS, clock, redact)
    async with TestClient(TestServer(api_app(routes))) as http:
        yield Api(http, store, clock)


# Agents


async def test_login_pause_resume_logout_round_trip(api: Api) -> None:
    status, body = await api.call("POST", "/acd/agents/alice/login", ALICE, {"queues": ["q"]})
    assert status == 200
    assert body["state"] == "available"
    assert body["queues"] == ["q"]
    assert body == await api.view("alice")
    assert "PJSIP" not in str(body)

    api.clock.now = T0 + 10
    status, body = await api.call("POST", "/acd/agents/alice/pause", ALICE, {"reason": "break"})
    assert (status, body["state"], body["pause_reason"]) == (200, "paused", "break")
    assert body == await api.view("alice")

    status, body = await api.call("POST", "/acd/agents/alice/resume", ALICE)
    assert (status, body["state"], body["pause_reason"]) == (200, "available", "")
    assert body == await api.view("alice")

    status, body = await api.call("GET", "/acd/agents/alice", ALICE)
    assert (status, body) == (200, await api.view("alice"))

    status, body = await api.call("POST", "/acd/agents/alice/logout", ALICE)
    assert (status, body["state"], body["queues"]) == (200, "logged_out", [])
    assert body == await api.view("alice")


async def test_pause_and_resume_in_one_queue(api: Api) -> None:
    await api.call("POST", "/acd/agents/alice/login", ALICE, {"queues": ["q", "q2"]})
    status, body = await api.call(
        "POST", "/acd/agents/alice/pause", ALICE, {"reason": "mentoring", "queue": "q2"}
    )
    assert (status, body["state"], body["paused_in"]) == (200, "available", {"q2": "mentoring"})
    assert body == await api.view("alice")
    _, stats = await api.call("GET", "/acd/queues", ALICE)
    agents = {s["queue"]: s["agents"] for s in stats["queues"]}
    assert (agents["q"]["available"], agents["q2"]["paused"]) == (1, 1)
    status, body = await api.call("POST", "/acd/agents/alice/resume", ALICE, {"queue": "q2"})
    assert (status, body["state"], body["paused_in"]) == (200, "available", {})
    status, error = await api.call("POST", "/acd/agents/bruno/resume", ALICE, {"queue": "q"})
    assert (status, error["error"]) == (403, "forbidden")


async def test_login_defaults_to_the_profiles_queues_and_picks_a_device(api: Api) -> None:
    status, body = await api.call("POST", "/acd/agents/alice/login", ALICE, {"device": 1})
    assert (status, body["queues"]) == (200, ["q", "q2"])
    device = await api.store.redis.hmget(api.store.keys.acd_agent("alice"), ["device_kind"])
    assert device == ["external"]
    assert PHONE not in str(body)


async def test_an_agent_cannot_act_on_another_agent(api: Api) -> None:
    await api.store.login("bruno", ("q",), AGENTS["bruno"].devices[0], T0)
    before = await api.view("bruno")
    for method, action, body in [
        ("POST", "/login", {"queues": ["q"]}),
        ("POST", "/logout", None),
        ("POST", "/pause", {"reason": "x"}),
        ("POST", "/resume", None),
        ("GET", "", None),
    ]:
        status, error = await api.call(method, f"/acd/agents/bruno{action}", ALICE, body)
        assert (status, error["error"]) == (403, "forbidden")
    status, error = await api.call("GET", "/acd/agents/nobody", ALICE)
    assert (status, error["error"]) == (403, "forbidden")
    assert await api.view("bruno") == before


async def test_supervisor_and_admin_act_on_any_agent(api: Api) -> None:
    status, body = await api.call("POST", "/acd/agents/bruno/login", SAM, {"queues": ["q"]})
    assert (status, body["state"]) == (200, "available")
    status, body = await api.call("POST", "/acd/agents/bruno/pause", ADA, {"reason": "meeting"})
    assert (status, body["state"], body["pause_reason"]) == (200, "paused", "meeting")
    assert (await api.view("bruno"))["state"] == "paused"


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/acd/agents/nobody/login", {"queues": ["q"]}, 404, "no-such-agent"),
        ("/acd/agents/bruno/login", {"queues": ["q2"]}, 409, "not-member"),
        ("/acd/agents/bruno/login", {"queues": ["nope"]}, 404, "no-such-queue"),
        ("/acd/agents/bruno/login", {"queues": []}, 400, "bad-request"),
        ("/acd/agents/bruno/login", {"queues": "q"}, 400, "bad-request"),
        ("/acd/agents/bruno/login", {"device": 1}, 400, "bad-request"),
        ("/acd/agents/bruno/login", {"device": True}, 400, "bad-request"),
        ("/acd/agents/bruno/login", ["q"], 400, "bad-request"),
        ("/acd/agents/bruno/pause", {"reason": "break"}, 409, "illegal-transition"),
        ("/acd/agents/bruno/pause", {}, 400, "reason-required"),
        ("/acd/agents/bruno/pause", {"reason": "  "}, 400, "reason-required"),
        ("/acd/agents/bruno/pause", {"reason": "x" * 101}, 400, "bad-request"),
        ("/acd/agents/bruno/resume", None, 409, "illegal-transition"),
        ("/acd/agents/bruno/pause", {"reason": "x", "queue": "q"}, 409, "logged-out"),
        ("/acd/agents/bruno/pause", {"reason": "x", "queue": "nope"}, 404, "no-such-queue"),
        ("/acd/agents/bruno/pause", {"reason": "x", "queue": 5}, 400, "bad-request"),
        ("/acd/agents/bruno/resume", {"queue": ["q"]}, 400, "bad-request"),
        ("/acd/agents/bruno/logout", None, 409, "illegal-transition"),
    ],
)
async def test_agent_errors(api: Api, path: str, body: Any, status: int, error: str) -> None:
    before = await api.view("bruno")
    got, reply = await api.call("POST", path, SAM, body)
    assert (got, reply["error"]) == (status, error)
    assert await api.view("bruno") == before


async def test_staff_reset_a_stuck_agent_with_an_audited_reason(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    await api.store.login("bruno", ("q",), AGENTS["bruno"].devices[0], T0)
    await api.store.enqueue(waiting_call("c1", T0), T0)
    offer = await api.store.claim("q", T0 + 1)
    assert offer is not None
    assert (await api.store.accept(offer.offer_id, "bruno", T0 + 2)).won
    api.clock.now = T0 + 600
    caplog.set_level(logging.INFO, logger="acd.http")
    reason = f"caller {PHONE} hung up long ago"
    status, body = await api.call("POST", "/acd/agents/bruno/reset", SAM, {"reason": reason})
    assert (status, body["state"], body["call_id"]) == (200, "available", "")
    assert body == await api.view("bruno")
    _, log = await api.call("GET", "/acd/queue_log?count=1", SAM)
    entry = log["entries"][0]
    assert (entry["event"], entry["agent"], entry["call"], entry["by"], entry["from"]) == (
        "RESET",
        "bruno",
        "c1",
        "sam",
        "on_call",
    )
    assert entry["reason"] == "caller [#] hung up long ago"
    assert "bruno reset by sam: on_call -> available" in caplog.text
    assert "514" not in caplog.text
    status, body = await api.call("POST", "/acd/agents/alice/reset", ADA, {"reason": "check"})
    assert (status, body["state"]) == (200, "logged_out")


@pytest.mark.parametrize(
    ("path", "token", "body", "status", "error"),
    [
        ("/acd/agents/alice/reset", ALICE, {"reason": "mine"}, 403, "forbidden"),
        ("/acd/agents/bruno/reset", ALICE, {"reason": "his"}, 403, "forbidden"),
        ("/acd/agents/bruno/reset", SAM, {}, 400, "reason-required"),
        ("/acd/agents/bruno/reset", SAM, {"reason": " "}, 400, "reason-required"),
        ("/acd/agents/bruno/reset", SAM, {"reason": "x" * 101}, 400, "bad-request"),
        ("/acd/agents/nobody/reset", SAM, {"reason": "stuck"}, 404, "no-such-agent"),
    ],
)
async def test_reset_errors(
    api: Api, path: str, token: str, body: Any, status: int, error: str
) -> None:
    await api.store.login("bruno", ("q",), AGENTS["bruno"].devices[0], T0)
    await api.store.pause("bruno", "break", T0)
    before = await api.view("bruno")
    got, reply = await api.call("POST", path, token, body)
    assert (got, reply["error"]) == (status, error)
    assert await api.view("bruno") == before


async def test_malformed_json_and_missing_token(api: Api) -> None:
    headers = {"Authorization": f"Bearer {ALICE}", "Content-Type": "application/json"}
    async with api.http.post("/acd/agents/alice/login", data="{", headers=headers) as resp:
        assert (resp.status, await resp.json()) == (400, {"error": "malformed-json"})
    status, body = await api.call("GET", "/acd/agents/alice", None)
    assert (status, body) == (401, {"error": "unauthorized"})
    status, body = await api.call("GET", "/acd/queues", "not-a-valid-token-at-all")
    assert status == 401


async def test_an_agent_view_of_a_connected_call(api: Api) -> None:
    await api.store.login("alice", ("q",), AGENTS["alice"].devices[0], T0)
    await api.store.enqueue(waiting_call("c1", T0), T0)
    offer = await api.store.claim("q", T0 + 1)
    assert offer is not None
    await api.store.accept(offer.offer_id, "alice", T0 + 2)
    status, body = await api.call("GET", "/acd/agents/alice", ALICE)
    assert (status, body["state"], body["call_id"]) == (200, "on_call", "c1")
    status, error = await api.call("POST", "/acd/agents/alice/pause", ALICE, {"reason": "x"})
    assert (status, error["error"]) == (409, "illegal-transition")
    assert "on_call" in error["detail"]


# Queues


async def test_queue_statistics_match_the_store(api: Api) -> None:
    await scripted_calls(api.store)
    api.clock.now = T0 + 80

    status, body = await api.call("GET", "/acd/queues", BRUNO)
    assert status == 200
    expected = [(await api.store.queue_stats(q, T0 + 80)).to_dict() for q in QUEUES]
    assert body == {"queues": expected}
    q = body["queues"][0]
    assert (q["queue"], q["waiting"], q["longest_wait_s"]) == ("q", 1, 10.0)
    assert (q["answered"], q["abandoned"], q["short_abandoned"], q["completed"]) == (1, 1, 0, 1)
    assert (q["asa_s"], q["aht_s"], q["service_level_pct"]) == (5.0, 60.0, 50.0)
    assert q["agents"]["wrap_up"] + q["agents"]["available"] == 2
    assert q["agents"]["wrap_up"] == 1

    status, body = await api.call("GET", "/acd/queues/q", ALICE)
    assert status == 200
    assert body["stats"] == expected[0]
    assert body["calls"] == [
        {
            "call_id": "c3",
            "pseudonym": "Caller c3",
            "position": 1,
            "waited_s": 10.0,
            "kind": "voice",
        }
    ]


async def test_unknown_queue(api: Api) -> None:
    status, body = await api.call("GET", "/acd/queues/nope", SAM)
    assert (status, body) == (404, {"error": "no-such-queue", "detail": "nope"})


async def test_queue_log_for_staff_only(api: Api) -> None:
    await scripted_calls(api.store)
    status, body = await api.call("GET", "/acd/queue_log?count=3", SAM)
    assert status == 200
    events = [e["event"] for e in body["entries"]]
    assert events == ["ENTERQUEUE", "COMPLETECALLER", "ABANDON"]
    assert body["entries"][0]["call"] == "c3"
    status, body = await api.call("GET", "/acd/queue_log", ADA)
    assert status == 200
    assert [e["event"] for e in body["entries"]][-2:] == ["ADDMEMBER", "ADDMEMBER"]
    assert PHONE not in str(body)
    assert PHONE.lstrip("+") not in str(body)

    status, body = await api.call("GET", "/acd/queue_log", ALICE)
    assert (status, body["error"]) == (403, "forbidden")
    for bad in ("0", "-1", "x", "1001", "²", "9" * 5000):
        status, body = await api.call("GET", f"/acd/queue_log?count={bad}", SAM)
        assert (status, body["error"]) == (400, "bad-request")


# Transfers


async def inbox(api: Api, owner: str) -> list[dict[str, str]]:
    entries = cast(
        list[tuple[str, dict[str, str]]],
        await api.store.redis.xrange(api.store.keys.acd_inbox(owner)),
    )
    return [fields for _, fields in entries]


async def test_transfers_go_to_the_instance_holding_the_call(api: Api) -> None:
    await api.store.enqueue(waiting_call("c1", T0), T0)
    status, body = await api.call("POST", "/acd/calls/c1/transfer", SAM, {"queue": "q2"})
    assert (status, body) == (202, {"call_id": "c1", "transfer": {"kind": "queue", "target": "q2"}})
    owner = waiting_call("c1", T0).owner_instance
    assert await inbox(api, owner) == [{"transfer": "c1", "to": "queue:q2"}]
    assert [c.call_id for c in await api.store.waiting("q")] == ["c1"]  # the owner moves it
    # Connected to Alice: she (not Bruno) may hand it to an available agent.
    await api.store.login("alice", ("q",), AGENTS["alice"].devices[0], T0)
    offer = await api.store.claim("q", T0 + 1)
    assert offer is not None
    await api.store.accept(offer.offer_id, "alice", T0 + 2)
    status, body = await api.call("POST", "/acd/calls/c1/transfer", ALICE, {"agent": "bruno"})
    assert (status, body["error"]) == (409, "agent-not-available")
    await api.store.login("bruno", ("q",), AGENTS["bruno"].devices[0], T0 + 3)
    status, body = await api.call("POST", "/acd/calls/c1/transfer", BRUNO, {"agent": "bruno"})
    assert (status, body["error"]) == (403, "forbidden")
    status, body = await api.call("POST", "/acd/calls/c1/transfer", ALICE, {"agent": "bruno"})
    assert (status, body["transfer"]) == (202, {"kind": "agent", "target": "bruno"})
    assert (await inbox(api, owner))[-1] == {"transfer": "c1", "to": "agent:bruno"}


async def test_transfer_errors(api: Api) -> None:
    await api.store.login("alice", ("q",), AGENTS["alice"].devices[0], T0)
    await api.store.enqueue(waiting_call("c1", T0), T0)
    status, body = await api.call("POST", "/acd/calls/c1/transfer", ALICE, {"queue": "q2"})
    assert (status, body["error"]) == (403, "forbidden")
    for request, error in [
        ({"queue": "nope"}, (404, "no-such-queue")),
        ({}, (400, "bad-request")),
        ({"queue": "q2", "agent": "bruno"}, (400, "bad-request")),
        ({"queue": 3}, (400, "bad-request")),
        ({"agent": "nobody"}, (404, "no-such-agent")),
        ({"agent": "erin"}, (409, "nailed-up")),
        ({"agent": "alice"}, (409, "not-connected")),
    ]:
        status, body = await api.call("POST", "/acd/calls/c1/transfer", SAM, request)
        assert (status, body["error"]) == error, request
    status, body = await api.call("POST", "/acd/calls/ghost/transfer", SAM, {"queue": "q2"})
    assert (status, body["error"]) == (404, "no-such-call")
    assert await api.store.claim("q", T0 + 1) is not None
    status, body = await api.call("POST", "/acd/calls/c1/transfer", ADA, {"queue": "q2"})
    assert (status, body["error"]) == (409, "call-offered")
    assert await inbox(api, waiting_call("c1", T0).owner_instance) == []
    assert (await api.view("alice"))["state"] == AgentState.OFFERED.value


async def test_a_supervisor_gets_a_calls_ref_for_unmasking(api: Api) -> None:
    records = Records(api.store.redis, api.store.keys)
    await records.save(put(Caller("c1", "q", "en", "Brave Otter", T0, caller_ref="ref-1")))
    await records.save(put_callback(Caller("c2", "q", "fr", "Loutre", T0, caller_ref="ref-2")))
    await records.save(put(Caller("c3", "q", "en", "Withheld", T0)))
    for call_id, ref, pseudonym in (("c1", "ref-1", "Brave Otter"), ("c2", "ref-2", "Loutre")):
        status, body = await api.call("GET", f"/acd/calls/{call_id}/ref", SAM)
        assert (status, body) == (200, {"call_id": call_id, "ref": ref, "pseudonym": pseudonym})
    for token in (ALICE, ADA):
        status, body = await api.call("GET", "/acd/calls/c1/ref", token)
        assert (status, body["error"]) == (403, "forbidden")
    for call_id in ("c3", "nope"):
        status, body = await api.call("GET", f"/acd/calls/{call_id}/ref", SAM)
        assert (status, body["error"]) == (404, "no-such-call")
