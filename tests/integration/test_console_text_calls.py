"""The pop of a call to a texter on the volunteer's chat stream, over real HTTP and a real
Redis, from the conversation feed's entry as the ACD writes it: only for the volunteer who
still holds the conversation."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from tests.consoles import Console, console_running, read_event
from tests.integration.test_console_chats import text


@pytest.fixture
async def console(redis_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    async with console_running(redis_url, tmp_path) as running:
        yield running


async def ring(console: Console, conversation: str, agent: str) -> None:
    """The entry the ACD puts on the conversation feed as it rings ``agent`` to call the
    conversation's texter."""
    entry: dict[str | bytes, str] = {
        "conversation": conversation,
        "agent": agent,
        "call": "txtr1",
        "language": "fr",
        "at": "12.5",
    }
    await console.store.redis.xadd(console.keys.conversation_feed, cast(Any, entry))


async def test_only_the_volunteer_holding_the_conversation_gets_its_pop(
    console: Console,
) -> None:
    now = time.time()
    await console.log_in("alice", ("general",), now)
    await text(console, "Bonjour")
    [conversation] = await console.sms.conversations.of_agent("alice")
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/chats/events") as resp:
        await ring(console, conversation.id, "alice")
        pop, earlier = await read_event(resp), await read_event(resp)
        assert pop["event"] == "text-call"
        data = json.loads(pop["data"])
        assert (data["conversation_id"], data["call_id"]) == (conversation.id, "txtr1")
        assert data["context"] == {"kind": "text", "asked_at": 12.5}
        assert [line["body"] for line in data["lines"]] == ["Bonjour"]
        assert earlier["event"] == "earlier"
        assert json.loads(earlier["data"])["contacts"] == 0
        # Transferred to Bruno meanwhile: a ring for it pops nothing on Alice's screen; her
        # next events are the transfer's and a new texter's conversation.
        await console.log_in("bruno", ("general",), now)
        await console.sms.conversations.transfer(conversation.id, "alice", to_agent="bruno")
        await ring(console, conversation.id, "alice")
        await text(console, "Bonsoir", sender="+15145550199")
        events = [await read_event(resp), await read_event(resp)]
    assert [e["event"] for e in events] == ["chat-gone", "chat"]
    assert json.loads(events[1]["data"])["id"] != conversation.id
