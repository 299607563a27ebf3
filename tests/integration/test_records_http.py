"""Wrap-ups and contact history over real HTTP, on both databases, with the real ACD store
writing the queue log the records are drained from: who may write, what the notes lose, and
the error id of each refusal."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from acd.http import acd_routes
from acd.store import AcdStore
from core.config import RecordsSettings
from core.keys import Keys
from hotline.harness import PostgresServer
from records.database import connect, upgrade
from records.drain import Drain, Entries
from records.http import records_routes
from records.models import AuditEntry
from records.wrapups import QueueRules, Wrapups
from sms.redact import redact_numbers
from tests.integration.test_acd_http import (
    AGENTS,
    ALICE,
    BRUNO,
    QUEUES,
    SAM,
    T0,
    Clock,
    api_app,
    waiting_call,
)

KEYS = Keys("t")
GRACE_S = 120.0
RULES = {
    q.name: QueueRules(q.dispositions, q.wrapup_s, q.service_level_s, q.short_abandon_s, q.flags)
    for q in QUEUES.values()
}


@dataclass
class Api:
    http: TestClient[web.Request, web.Application]
    store: AcdStore
    redis: aioredis.Redis
    clock: Clock
    engine: AsyncEngine
    drain: Drain

    async def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.request(method, path, json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    async def ivr(self, call_id: str, caller_key: str) -> None:
        """The IVR journal's first entry of a call, as ivr/stasis.py writes it."""
        detail = json.dumps({"caller": f"h:{caller_key}", "did": "+18005550100"})
        await self.redis.xadd(KEYS.journal, {"channel": call_id, "kind": "call", "detail": detail})

    async def answered(self, call_id: str, at: float, *, talk_s: float | None = 60) -> str:
        """alice takes ``call_id`` at ``at`` + 5 and (unless ``talk_s`` is None) hangs up."""
        await self.store.enqueue(waiting_call(call_id, at), at)
        offer = await self.store.claim("q", at + 4)
        assert offer is not None
        await self.store.accept(offer.offer_id, "alice", at + 5)
        if talk_s is not None:
            await self.store.complete(call_id, "alice", at + 5 + talk_s)
        return call_id


@pytest.fixture
async def api(redis_url: str, records_settings: RecordsSettings) -> AsyncIterator[Api]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    engine = connect(records_settings)
    await upgrade(engine)
    store = AcdStore(client, KEYS, QUEUES)
    await store.sync_agents(list(AGENTS.values()))
    await store.login("alice", ("q",), AGENTS["alice"].devices[0], T0)
    clock = Clock()
    drain = Drain(client, KEYS, engine, clock=clock, lock_wait_s=0.5)
    wrapups = Wrapups(
        engine, drain, RULES, grace_s=GRACE_S, notes_max=200, region="CA", clock=clock
    )
    redact = functools.partial(redact_numbers, region="CA")
    acd = acd_routes(store, AGENTS, clock, redact)
    routes = api_app(records_routes(wrapups, engine, RULES), acd)
    async with TestClient(TestServer(routes)) as http:
        yield Api(http, store, client, clock, engine, drain)
    await engine.dispose()
    await client.aclose()


async def test_the_volunteer_wraps_up_with_scrubbed_notes_and_staff_read_it(api: Api) -> None:
    call = await api.answered("c1", T0)
    api.clock.now = T0 + 70
    notes = "Caller gave 514 555 0123 and card 4111-1111-1111-1111; felt safer after."
    status, body = await api.call(
        "POST", f"/acd/calls/{call}/wrapup", ALICE, {"disposition": "crisis", "notes": notes}
    )
    assert status == 201
    assert body["removed"] == {"phone": 1, "card": 1}
    assert body["notes"] == (
        "Caller gave [phone number removed] and card [card number removed]; felt safer after."
    )
    assert (body["agent"], body["queue"], body["disposition"]) == ("alice", "q", "crisis")
    status, read = await api.call("GET", f"/acd/calls/{call}/wrapup", SAM)
    assert (status, read["wrapups"]) == (200, [body])
    status, refused = await api.call("GET", f"/acd/calls/{call}/wrapup", ALICE)
    assert (status, refused["error"]) == (403, "forbidden")


async def test_a_wrapup_during_the_call_is_taken_and_a_second_one_replaces_it(api: Api) -> None:
    call = await api.answered("c1", T0, talk_s=None)
    api.clock.now = T0 + 20
    path = f"/acd/calls/{call}/wrapup"
    assert (await api.call("POST", path, ALICE, {"disposition": "silent"}))[0] == 201
    assert (await api.call("POST", path, ALICE, {"disposition": "prank"}))[0] == 201
    _, read = await api.call("GET", path, SAM)
    assert [w["disposition"] for w in read["wrapups"]] == ["prank"]


async def test_a_wrapup_is_written_while_a_worker_holds_the_drain_lock(api: Api) -> None:
    call = await api.answered("c1", T0)
    await api.drain.catch_up()  # a worker drained the call
    worker = api.redis.lock(KEYS.records_drain_lock, timeout=30)
    assert await worker.acquire(blocking=False)
    api.clock.now = T0 + 70
    path = f"/acd/calls/{call}/wrapup"
    status, body = await api.call("POST", path, ALICE, {"disposition": "thanks"})
    await worker.release()
    assert (status, body["disposition"]) == (201, "thanks")


async def test_each_refusal_has_its_status_and_error_id(api: Api) -> None:
    call = await api.answered("c1", T0)  # ends at T0 + 65; wrap-up 30 s, then the grace
    path = f"/acd/calls/{call}/wrapup"
    api.clock.now = T0 + 70
    cases = [
        (BRUNO, path, {"disposition": "crisis"}, 403, "not-your-call"),
        (ALICE, path, {"disposition": "gossip"}, 400, "invalid-disposition"),
        (ALICE, path, {"disposition": "crisis", "notes": "x" * 201}, 413, "notes-too-long"),
        (ALICE, path, {"disposition": 3}, 400, "bad-request"),
        (ALICE, "/acd/calls/nope/wrapup", {"disposition": "crisis"}, 404, "no-such-call"),
    ]
    for token, where, body, status, error in cases:
        got_status, got = await api.call("POST", where, token, body)
        assert (got_status, got["error"]) == (status, error), body
    api.clock.now = T0 + 65 + 30 + GRACE_S - 1
    assert (await api.call("POST", path, ALICE, {"disposition": "crisis"}))[0] == 201
    api.clock.now = T0 + 65 + 30 + GRACE_S + 1
    status, body = await api.call("POST", path, ALICE, {"disposition": "thanks"})
    assert (status, body["error"]) == (409, "wrapup-closed")


async def test_an_extended_wrap_up_moves_the_forms_deadline_and_the_calls_closing(
    api: Api,
) -> None:
    call = await api.answered("c1", T0)  # ends at T0 + 65; wrap-up 30 s, until T0 + 95
    assert await api.store.extend_wrapup("alice", 300, T0 + 80) == T0 + 395
    path = f"/acd/calls/{call}/wrapup"
    api.clock.now = T0 + 395 + GRACE_S - 1  # long after the first end and its grace
    assert (await api.call("POST", path, ALICE, {"disposition": "crisis"}))[0] == 201
    api.clock.now = T0 + 395 + GRACE_S + 1
    status, body = await api.call("POST", path, ALICE, {"disposition": "thanks"})
    assert (status, body["error"]) == (409, "wrapup-closed")
    # The same end closes the call for what follows it (a telethon's pledge corrections).
    wrapups = Wrapups(
        api.engine, api.drain, RULES, grace_s=GRACE_S, notes_max=200, region="CA", clock=api.clock
    )
    assert (await wrapups.taken(call, "alice")).closes_at == T0 + 395 + GRACE_S


@pytest.mark.parametrize("records_settings", ["postgresql"], indirect=True)
async def test_with_postgresql_down_an_extended_wrap_up_keeps_its_new_deadline(
    api: Api, postgres: PostgresServer
) -> None:
    call = await api.answered("c1", T0)  # ends at T0 + 65; wrap-up 30 s, until T0 + 95
    assert await api.store.extend_wrapup("alice", 300, T0 + 80) == T0 + 395
    path = f"/acd/calls/{call}/wrapup"
    postgres.stop()
    try:
        api.clock.now = T0 + 395 + GRACE_S - 1  # checked against the queue log in Redis
        kept = await api.call("POST", path, ALICE, {"disposition": "silent"})
        api.clock.now = T0 + 395 + GRACE_S + 1
        late = await api.call("POST", path, ALICE, {"disposition": "thanks"})
    finally:
        postgres.start()
    assert kept[0] == 202
    assert (late[0], late[1]["error"]) == (409, "wrapup-closed")


@pytest.mark.parametrize("records_settings", ["postgresql"], indirect=True)
async def test_a_wrapup_while_postgresql_is_down_is_kept_and_written_once_it_is_back(
    api: Api, postgres: PostgresServer
) -> None:
    call = await api.answered("c1", T0)  # ends at T0 + 65
    await api.drain.catch_up()  # in SQL; the queue log stays in Redis for an hour
    path = f"/acd/calls/{call}/wrapup"
    api.clock.now = T0 + 170
    postgres.stop()
    try:
        first = await api.call("POST", path, ALICE, {"disposition": "silent"})
        notes = {"disposition": "crisis", "notes": "Gave 514 555 0123; calmer.", "flags": ["risk"]}
        status, kept = await api.call("POST", path, ALICE, notes)  # a second replaces it
        refusals = [
            await api.call("POST", path, BRUNO, {"disposition": "crisis"}),
            await api.call("POST", path, ALICE, {"disposition": "gossip"}),
            await api.call("POST", "/acd/calls/nope/wrapup", ALICE, {"disposition": "crisis"}),
        ]
        await api.answered("c2", T0 + 100)
        log = cast(Entries, await api.redis.xrange(KEYS.acd_queue_log))
        [connect] = [i for i, f in log if (f["call"], f["event"]) == ("c2", "CONNECT")]
        await api.redis.xtrim(KEYS.acd_queue_log, minid=connect, approximate=False)
        c2 = "/acd/calls/c2/wrapup"
        trimmed = [
            (await api.call("POST", c2, ALICE, {"disposition": "thanks"}))[0],
            (await api.call("POST", c2, BRUNO, {"disposition": "thanks"}))[0],
            (await api.call("POST", path, ALICE, {"disposition": "thanks"}))[0],
        ]
        assert await api.redis.xlen(KEYS.records_wrapups) == 3
    finally:
        postgres.start()
    assert first[0] == 202
    assert status == 202
    assert kept["id"] != first[1]["id"]
    assert kept["notes"] == "Gave [phone number removed]; calmer."
    assert (kept["removed"], kept["flags"]) == ({"phone": 1}, ["risk"])
    assert [(s, body["error"]) for s, body in refusals] == [
        (403, "not-your-call"),
        (400, "invalid-disposition"),
        (503, "records-unavailable"),  # nothing of it in Redis: no volunteer to check
    ]
    # c1 and c2's start left Redis: alice's answer of c2 is still there, bruno's part of it
    # cannot be told, nor anything of c1
    assert trimmed == [202, 503, 503]
    await api.drain.catch_up()
    assert await api.redis.xlen(KEYS.records_wrapups) == 0  # written, then trimmed
    assert await api.drain.catch_up() == 0
    _, read = await api.call("GET", path, SAM)
    del kept["id"]
    assert read["wrapups"] == [kept]
    _, read = await api.call("GET", c2, SAM)
    assert [(w["agent"], w["disposition"]) for w in read["wrapups"]] == [("alice", "thanks")]


async def test_a_flag_outside_the_queues_list_is_refused(api: Api) -> None:
    call = await api.answered("c1", T0)
    api.clock.now = T0 + 70
    path = f"/acd/calls/{call}/wrapup"
    refused = await api.call("POST", path, ALICE, {"disposition": "crisis", "flags": ["vip"]})
    malformed = await api.call("POST", path, ALICE, {"disposition": "crisis", "flags": "risk"})
    status, written = await api.call(
        "POST", path, ALICE, {"disposition": "crisis", "flags": ["risk", "risk"]}
    )
    assert [(s, body["error"]) for s, body in (refused, malformed)] == [
        (400, "invalid-flag"),
        (400, "bad-request"),
    ]
    assert (status, written["flags"]) == (201, ["risk"])
    _, read = await api.call("GET", path, SAM)
    assert [w["flags"] for w in read["wrapups"]] == [["risk"]]


async def test_history_counts_the_callers_earlier_contacts_their_dispositions_and_flags(
    api: Api,
) -> None:
    flags = (["risk"], ["frequent-caller"], ["frequent-caller", "risk"])
    for n, call in enumerate(("c1", "c2", "c3")):
        await api.ivr(call, "0123456789ab" if call != "c2" else "ffffffffffff")
        at = T0 + n * 1000
        await api.answered(call, at)
        api.clock.now = at + 70
        wrapup = {"disposition": ("crisis", "thanks", "silent")[n], "flags": flags[n]}
        await api.call("POST", f"/acd/calls/{call}/wrapup", ALICE, wrapup)
    await api.ivr("c4", "0123456789ab")
    await api.answered("c4", T0 + 5000, talk_s=None)
    status, body = await api.call("GET", "/acd/calls/c4/history", SAM)
    assert (status, body) == (
        200,
        {
            "earlier_contacts": 2,
            "last_dispositions": ["silent", "crisis"],
            "flags": ["frequent-caller", "risk"],  # distinct, newest first; not c2's caller's
        },
    )
    _, first = await api.call("GET", "/acd/calls/c1/history", SAM)
    assert first == {"earlier_contacts": 0, "last_dispositions": [], "flags": []}
    status, offered = await api.call("GET", "/acd/calls/c4/history", ALICE)  # rang her
    assert (status, offered["earlier_contacts"]) == (200, 2)
    status, refused = await api.call("GET", "/acd/calls/c4/history", BRUNO)
    assert (status, refused["error"]) == (403, "not-your-call")


async def test_staff_get_queue_reports_and_bad_periods_have_an_id(api: Api) -> None:
    await api.answered("c1", T0)
    await api.answered("c2", T0 + 4000)
    period = "from=2023-11-14T22:00:00&to=2023-11-15"
    status, body = await api.call("GET", f"/reports/queues?{period}&queue=q", SAM)
    assert status == 200
    (report,) = body["reports"]
    assert [row["answered"] for row in report["rows"]] == [1, 1]
    assert (report["total"]["offered"], report["total"]["asa_s"]) == (2, 5.0)
    assert report["agents"] == [{"agent": "alice", "calls": 2, "talk_s": 120.0, "pause_s": {}}]
    status, body = await api.call("GET", f"/reports/queues?{period}&by=day", SAM)
    assert [r["queue"] for r in body["reports"]] == ["q", "q2"]
    assert body["reports"][0]["total"]["answered"] == 2
    cases = [
        (ALICE, f"/reports/queues?{period}", 403, "forbidden"),
        (SAM, "/reports/queues?from=yesterday&to=2023-11-15", 400, "bad-period"),
        (SAM, "/reports/queues?from=2023-11-15&to=2023-11-14", 400, "bad-period"),
        (SAM, f"/reports/queues?{period}&by=week", 400, "bad-period"),
        (SAM, f"/reports/queues?{period}&queue=nope", 404, "no-such-queue"),
    ]
    for token, path, status, error in cases:
        got_status, got = await api.call("GET", path, token)
        assert (got_status, got["error"]) == (status, error), path
    exports = await audit_rows(api)
    assert [(a.actor, a.action, a.target) for a in exports] == [
        ("sam", "export", "q"),
        ("sam", "export", "q,q2"),
    ]


async def audit_rows(api: Api) -> list[AuditEntry]:
    await Drain(api.redis, KEYS, api.engine, clock=api.clock).catch_up()
    async with AsyncSession(api.engine) as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.at))).all())


async def test_staff_transfers_and_forced_logouts_reach_the_audit_table(api: Api) -> None:
    await api.store.login("bruno", ("q",), AGENTS["bruno"].devices[0], T0)
    call = await api.answered("c1", T0, talk_s=None)
    api.clock.now = T0 + 30
    status, _ = await api.call("POST", f"/acd/calls/{call}/transfer", SAM, {"queue": "q2"})
    assert status == 202
    api.clock.now = T0 + 40
    assert (await api.call("POST", "/acd/agents/bruno/logout", SAM))[0] == 200
    assert (await api.call("POST", "/acd/agents/bruno/login", BRUNO))[0] == 200
    assert (await api.call("POST", "/acd/agents/bruno/logout", BRUNO))[0] == 200  # his own
    rows = await audit_rows(api)
    assert [(a.actor, a.action, a.target, a.reason, a.at) for a in rows] == [
        ("sam", "transfer", "c1", "queue:q2", T0 + 30),
        ("sam", "forced-logout", "bruno", "", T0 + 40),
    ]
