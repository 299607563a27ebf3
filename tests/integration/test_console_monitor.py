"""Listen, whisper and barge from the supervisor screen, over real HTTP with a real Redis and
ACD store: the agents table's buttons, the request reaching the call's instance and the audit
trail (in Redis, then in the records' audit table), who may not, and the volunteer's screen
told where the queue says so."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from acd.monitor import Monitor, MonitorMode
from acd.monitoring import log_monitor
from records.models import AuditEntry
from tests.consoles import Console, console_running, read_event
from tests.integration.test_console_supervisor import row

JSON = {"Accept": "application/json"}


@pytest.fixture
async def console(redis_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    async with console_running(redis_url, tmp_path) as running:
        yield running


async def alice_on_call(console: Console, call_id: str) -> None:
    offer_id = await console.offer_to("alice", call_id, "Green Fox", 5)
    assert (await console.store.accept(offer_id, "alice", time.time())).won


async def stream(console: Console, key: str) -> list[dict[str, str]]:
    entries = cast(list[tuple[str, dict[str, str]]], await console.store.redis.xrange(key))
    return [fields for _, fields in entries]


async def monitor(console: Console, form: dict[str, str]) -> tuple[int, str]:
    async with console.http.post("/console/supervisor/monitor", data=form, headers=JSON) as resp:
        return resp.status, await resp.text()


async def test_a_supervisor_listens_from_the_agents_table(console: Console) -> None:
    await alice_on_call(console, "c1")
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/console/supervisor") as resp:
        alice = row(await resp.text(), "data-agent", "alice")
    assert 'action="/console/supervisor/monitor"' in alice
    assert 'name="call" value="c1"' in alice
    for mode in ("listen", "whisper", "barge"):
        assert f'name="mode" value="{mode}"' in alice
    csrf = await console.csrf("/console/supervisor")
    status, text = await monitor(console, {"csrf": csrf, "call": "c1", "mode": "listen"})
    assert (status, json.loads(text)) == (202, {"monitoring": "listen"})
    (request,) = await stream(console, console.keys.acd_inbox("app-1"))
    assert (request["monitor"], request["by"], request["mode"]) == ("c1", "bruno", "listen")
    audit = await stream(console, console.keys.staff_audit)
    assert [(a["actor"], a["action"], a["target"]) for a in audit] == [("bruno", "listen", "c1")]
    await console.wrapups.drain.catch_up()  # as a worker would: into the records' audit table
    async with AsyncSession(console.wrapups.engine) as session:
        rows = (await session.scalars(select(AuditEntry))).all()
    assert [(r.actor, r.action, r.target) for r in rows] == [("bruno", "listen", "c1")]


async def test_only_supervisors_join_calls_and_refusals_audit_nothing(console: Console) -> None:
    await alice_on_call(console, "c1")
    assert await console.sign_in("bruno") == 303
    csrf = await console.csrf("/console/supervisor")
    assert (await monitor(console, {"call": "c1", "mode": "listen"}))[0] == 403  # no CSRF
    assert (await monitor(console, {"csrf": csrf, "call": "c1", "mode": "spy"}))[0] == 400
    status, text = await monitor(console, {"csrf": csrf, "call": "gone", "mode": "barge"})
    assert (status, json.loads(text)) == (409, {"error": "unknown-call"})
    for account in ("fiona", "alice"):  # an admin, a volunteer
        assert await console.sign_in(account) == 303
        page = "/console/supervisor" if account == "fiona" else "/console/volunteer"
        csrf = await console.csrf(page)
        status, text = await monitor(console, {"csrf": csrf, "call": "c1", "mode": "listen"})
        assert (status, json.loads(text)) == (403, {"error": "wrong-role"}), account
        if account == "fiona":  # her board has no such buttons
            async with console.http.get("/console/supervisor") as resp:
                page = await resp.text()
            assert 'data-agent="alice"' in page
            assert "/console/supervisor/monitor" not in page
    assert await stream(console, console.keys.staff_audit) == []
    assert await stream(console, console.keys.acd_inbox("app-1")) == []


async def test_the_volunteer_is_told_only_where_the_queue_says_so(console: Console) -> None:
    await alice_on_call(console, "c1")
    assert await console.sign_in("alice") == 303
    session = Monitor(
        "s1",
        "c1",
        "general",
        "bruno",
        "alice",
        "agent-1-alice",
        "bridge-c1",
        MonitorMode.LISTEN,
        True,
    )
    quiet = Monitor(
        "s2",
        "c1",
        "ringall",
        "bruno",
        "alice",
        "agent-1-alice",
        "bridge-c1",
        MonitorMode.BARGE,
        False,
    )
    redis, keys = console.store.redis, console.keys
    after = cast(list[tuple[str, object]], await redis.xrevrange(keys.acd_queue_log, count=1))
    async with console.http.get(f"/console/events?after={after[0][0]}") as resp:
        await log_monitor(redis, keys, quiet, True, time.time())
        await log_monitor(redis, keys, session, True, time.time())
        event = await read_event(resp)
        assert event["event"] == "monitored"
        assert json.loads(event["data"]) == {"call_id": "c1", "mode": "listen", "on": True}
        await log_monitor(redis, keys, session, False, time.time())
        event = await read_event(resp)
    assert json.loads(event["data"]) == {"call_id": "c1", "mode": "listen", "on": False}
    assert "bruno" not in event["data"]
