"""A supervisor's read-only view of their queues' text conversations over real HTTP, a real
Redis, the ACD's chat routing and the SMS conversation service: the list and one
conversation (page, JSON, live events), never a number, each reading audited; volunteers and
supervisors of other queues refused."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from tests.consoles import Console, console_running, read_event
from tests.integration.test_console_chats import text
from tests.integration.test_console_supervisor import agents_with_gus

NUMBER = "+15145550123"  # the texter's, as the conversation helpers send it
JSON = {"Accept": "application/json"}


@pytest.fixture
async def console(redis_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    agents = agents_with_gus(tmp_path)
    async with console_running(redis_url, tmp_path, agents_file=agents) as running:
        yield running


async def alices_conversation(console: Console) -> str:
    """A texter's conversation in ``general``, which Alice holds; its id."""
    await console.log_in("alice", ("general",), time.time())
    await text(console, "Bonjour, rappelez-moi au 514 555 0123")
    [conversation] = await console.sms.conversations.of_agent("alice")
    return conversation.id


async def readings(console: Console) -> list[tuple[str, str, str, str]]:
    found = await console.store.redis.xrange(console.keys.staff_audit)
    records = cast(list[tuple[str, dict[str, str]]], found)
    return [(r["actor"], r["role"], r["action"], r["target"]) for _, r in records]


def no_number(text: str) -> None:
    assert NUMBER not in text
    assert NUMBER[2:] not in text
    assert "555 0123" not in text


async def test_a_supervisor_reads_their_queues_conversations_live_and_audited(
    console: Console,
) -> None:
    conversation = await alices_conversation(console)
    assert await console.sign_in("bruno") == 303  # a supervisor of every queue
    async with console.http.get("/console/supervisor/chats", headers=JSON) as resp:
        assert resp.status == 200
        [listed] = (await resp.json())["conversations"]
    assert (listed["id"], listed["queue"], listed["agent"]) == (conversation, "general", "alice")
    assert listed["lines"] == []  # no messages in the list, and no reading audited
    async with console.http.get("/console/supervisor/chats") as resp:
        page = await resp.text()
    assert f'data-conversation="{conversation}"' in page
    assert listed["pseudonym"] in page
    assert await readings(console) == []
    # Reading one: its messages as the chat panel shows them, audited once a while.
    path = f"/console/supervisor/chats/{conversation}"
    async with console.http.get(path, headers=JSON) as resp:
        assert resp.status == 200
        body = await resp.text()
    view = json.loads(body)
    assert [line["author"] for line in view["lines"]] == ["caller"]
    assert view["lines"][0]["body"].startswith("Bonjour, rappelez-moi au")
    no_number(body)
    async with console.http.get(path) as resp:
        page = await resp.text()
    assert "Bonjour, rappelez-moi au" in page
    no_number(page)
    assert await readings(console) == [("bruno", "supervisor", "read-conversation", conversation)]
    # Live: the conversation's events carry it whole, the list's without its messages.
    events = f"/console/supervisor/chats/events?conversation={conversation}"
    async with (
        console.http.get(events) as one,
        console.http.get("/console/supervisor/chats/events") as every,
    ):
        await text(console, "Vous êtes là ? 514 555 0123")
        whole, summary = await read_event(one), await read_event(every)
    assert (whole["event"], summary["event"]) == ("chat", "chat")
    assert [line["author"] for line in json.loads(whole["data"])["lines"]] == ["caller"] * 2
    assert json.loads(summary["data"])["lines"] == []
    assert json.loads(summary["data"])["id"] == conversation
    no_number(whole["data"])
    assert len(await readings(console)) == 1  # the same reading
    # The volunteer's own view stays Alice's alone.
    async with console.http.get(f"/console/chats/{conversation}", headers=JSON) as resp:
        assert resp.status == 403


async def test_volunteers_and_supervisors_of_other_queues_cannot_read_a_conversation(
    console: Console,
) -> None:
    conversation = await alices_conversation(console)
    paths = (
        "/console/supervisor/chats",
        f"/console/supervisor/chats/{conversation}",
        f"/console/supervisor/chats/events?conversation={conversation}",
    )
    # Alice, a volunteer, holds it but has no supervisor view.
    assert await console.sign_in("alice") == 303
    for path in paths:
        async with console.http.get(path, headers=JSON) as resp:
            assert resp.status == 403, path
            assert await resp.json() == {"error": "wrong-role"}
    # Gus supervises ringall only: the list is empty and the conversation refused.
    assert await console.sign_in("gus", "gus-console") == 303
    async with console.http.get("/console/supervisor/chats", headers=JSON) as resp:
        assert await resp.json() == {"conversations": []}
    for path in paths[1:]:
        async with console.http.get(path, headers=JSON) as resp:
            assert resp.status == 403, path
            assert await resp.json() == {"error": "not-your-queue"}
    # Fiona, an admin, sees the list (as the board) but reads no conversation.
    assert await console.sign_in("fiona") == 303
    async with console.http.get("/console/supervisor/chats", headers=JSON) as resp:
        assert [c["id"] for c in (await resp.json())["conversations"]] == [conversation]
    for path in paths[1:]:
        async with console.http.get(path, headers=JSON) as resp:
            assert resp.status == 403, path
            assert await resp.json() == {"error": "wrong-role"}
    # An unknown id tells nothing more.
    assert await console.sign_in("bruno") == 303
    async with console.http.get("/console/supervisor/chats/nope", headers=JSON) as resp:
        assert resp.status == 403
        assert await resp.json() == {"error": "not-your-queue"}
    assert await readings(console) == []
