"""The volunteer's chat panel over real HTTP, a real Redis, the ACD's chat routing and the SMS
conversation service: the volunteer's open conversations on their screen by pseudonym, new
messages live by SSE, and another volunteer's conversation refused."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientResponse

from sms.inbound import InboundSms
from sms.recipients import sender_key
from tests.conftest import CALLER
from tests.consoles import HASH_KEY, Console, console_running, read_event

HOTLINE = "+18005550100"


@pytest.fixture
async def console(redis_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    async with console_running(redis_url, tmp_path) as running:
        yield running


async def text(console: Console, body: str, sender: str = CALLER) -> None:
    """An SMS from ``sender`` to the hotline, handed to the conversation service as the
    webhooks hand it."""
    sid = f"SM{time.monotonic_ns():032x}"
    message = InboundSms(sid, sender_key(sender, HASH_KEY), sender, HOTLINE, body, time.time())
    await console.sms.conversations.on_inbound(message)


async def next_chat(resp: ClientResponse) -> dict[str, object]:
    event = await read_event(resp)
    assert event["event"] == "chat"
    assert CALLER not in event["data"]
    assert CALLER[2:] not in event["data"]
    data = json.loads(event["data"])
    assert isinstance(data, dict)
    return data


def lines(view: dict[str, object]) -> list[tuple[str, str]]:
    found = view["lines"]
    assert isinstance(found, list)
    return [(line["author"], line["body"]) for line in found]


async def test_a_volunteer_sees_their_conversations_live_and_nobody_elses(
    console: Console,
) -> None:
    await console.log_in("alice", ("general",), time.time())
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/chats/events") as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        await text(console, "Bonjour, je voudrais parler")
        first = await next_chat(resp)
        await text(console, "Vous êtes là ? Mon numéro est 514 555 0123")
        second = await next_chat(resp)
    conversation = str(first["id"])
    assert first["agent"] == "alice"
    assert first["state"] == "open"
    assert first["queue"] == "general"
    assert first["pseudonym"]
    assert lines(first) == [("caller", "Bonjour, je voudrais parler")]
    assert second["id"] == conversation
    assert lines(second)[0] == lines(first)[0]
    assert len(lines(second)) == 2
    assert "555" not in lines(second)[1][1]
    # The screen lists it, by pseudonym, with its messages; never the number.
    async with console.http.get("/console/volunteer") as resp:
        page = await resp.text()
    assert f'data-conversation="{conversation}"' in page
    assert str(first["pseudonym"]) in page
    assert "je voudrais parler" in page
    assert CALLER not in page
    assert CALLER[2:] not in page
    async with console.http.get(f"/console/chats/{conversation}") as resp:
        assert resp.status == 200
        assert await resp.json() == second
    # Reconnecting from the start replays the conversation as it is now.
    async with console.http.get("/console/chats/events", headers={"Last-Event-ID": "0-0"}) as resp:
        assert await next_chat(resp) == second
    # Bruno, another volunteer, may not read it (nor learn whether an id exists).
    assert await console.sign_in("bruno") == 303
    headers = {"Accept": "application/json"}
    for path in (f"/console/chats/{conversation}", "/console/chats/no-such-conversation"):
        async with console.http.get(path, headers=headers) as resp:
            assert resp.status == 403
            assert await resp.json() == {"error": "not-your-conversation"}
    async with console.http.get("/console/volunteer") as resp:
        assert f'data-conversation="{conversation}"' not in await resp.text()
