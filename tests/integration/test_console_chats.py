"""The volunteer's chat panel over real HTTP, a real Redis, the ACD's chat routing, the SMS
conversation service, real RQ workers and the Twilio stand-in: the volunteer's open
conversations on their screen by pseudonym, new messages live by SSE, another volunteer's
conversation refused, replies (CSRF, the 1,600-character cap) texted from the hotline number,
the queue's ready-made replies, a masked call-back asked for, and the end of a conversation."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from aiohttp import ClientResponse

from bench.twilio_standin import StandIn
from sms.inbound import InboundSms
from sms.recipients import sender_key
from tests.conftest import CALLER
from tests.consoles import HASH_KEY, Console, console_running, read_event

HOTLINE = "+18005550100"


@pytest.fixture
def twilio() -> Iterator[StandIn]:
    server = StandIn(callback_delay=0.01).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def console(redis_url: str, tmp_path: Path, twilio: StandIn) -> AsyncIterator[Console]:
    async with console_running(redis_url, tmp_path, twilio=twilio) as running:
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


async def test_a_volunteer_replies_asks_for_a_call_back_and_ends_the_conversation(
    console: Console, twilio: StandIn
) -> None:
    await console.log_in("alice", ("general",), time.time())
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/chats/events") as resp:
        await text(console, "Bonjour")
        conversation = str((await next_chat(resp))["id"])
    # The caller got the automatic "message received" reply.
    assert [m["to"] for m in await console.send_sms(twilio, 1)] == [CALLER]
    async with console.http.get("/console/volunteer") as resp:
        page = await resp.text()
    # A first text is taken to be in the line's first language: English's replies only.
    canned = console.store.queues["general"].canned["en"]
    assert canned
    for ready in canned:
        assert f"<option>{ready}</option>" in page
    for other in console.store.queues["general"].canned["fr"]:
        assert f"<option>{other}</option>" not in page
    csrf = await console.csrf("/console/volunteer")
    reply_path = f"/console/chats/{conversation}/reply"
    headers = {"Accept": "application/json"}
    async with console.http.post(reply_path, data={"text": canned[0]}, headers=headers) as resp:
        assert resp.status == 403  # no CSRF token
    too_long = {"csrf": csrf, "text": "x" * 1601}
    async with console.http.post(reply_path, data=too_long, headers=headers) as resp:
        assert resp.status == 413
        assert await resp.json() == {"error": "text-too-long"}
    async with console.http.get("/console/chats/events", headers={"Last-Event-ID": "0-0"}) as resp:
        reply = {"csrf": csrf, "text": canned[0]}
        async with console.http.post(reply_path, data=reply, headers=headers) as sent:
            assert sent.status == 202
            assert await sent.json() == {"sent": True}
        view = await next_chat(resp)
        while len(lines(view)) < 2:
            view = await next_chat(resp)
        assert lines(view) == [("caller", "Bonjour"), ("agent", canned[0])]
        out = await console.send_sms(twilio, 2)
        assert (out[-1]["to"], out[-1]["from"], out[-1]["body"]) == (
            CALLER,
            console.settings.sms.from_number,
            canned[0],
        )
        # Calling the texter back: a request on the voice stream, as "#call" puts it there.
        back_path = f"/console/chats/{conversation}/callback"
        async with console.http.post(back_path, data={"csrf": csrf}, headers=headers) as back:
            assert back.status == 202
            reference = (await back.json())["reference"]
        assert reference
        found = await console.store.redis.xrange(console.keys.voice_requests)
        [(_, request)] = cast(list[tuple[str, dict[str, str]]], found)
        assert (request["kind"], request["conversation"], request["agent"]) == (
            "callback",
            conversation,
            "alice",
        )
        assert request["reference"] == reference
        while lines(view)[-1] != ("system", "call-back requested"):
            view = await next_chat(resp)
        # Ending it: the panel shows it ended, the conversation leaves the screen.
        end_path = f"/console/chats/{conversation}/end"
        async with console.http.post(end_path, data={"csrf": csrf}, headers=headers) as ended:
            assert ended.status == 200
            assert await ended.json() == {"ended": True}
        while view["state"] == "open":  # replayed events may come first
            view = await next_chat(resp)
    assert view["state"] == "ended"
    assert lines(view)[-1] == ("system", "ended")
    async with console.http.post(reply_path, data=reply, headers=headers) as resp:
        assert resp.status == 409
        assert await resp.json() == {"error": "conversation-ended"}
    async with console.http.get("/console/volunteer") as resp:
        assert f'data-conversation="{conversation}"' not in await resp.text()
    # Bruno may neither reply to nor end Alice's conversation.
    assert await console.sign_in("bruno") == 303
    csrf = await console.csrf("/console/volunteer")
    for path in (reply_path, end_path, back_path):
        async with console.http.post(path, data=reply | {"csrf": csrf}, headers=headers) as resp:
            assert resp.status == 403


async def test_a_conversation_transferred_away_leaves_the_volunteers_panel(
    console: Console,
) -> None:
    now = time.time()
    await console.log_in("alice", ("general",), now)
    assert await console.sign_in("alice") == 303
    async with console.http.get("/console/chats/events") as resp:
        await text(console, "Bonjour")
        conversation = str((await next_chat(resp))["id"])
        await console.log_in("bruno", ("general",), now)
        await console.sms.conversations.transfer(conversation, "alice", to_agent="bruno")
        event = await read_event(resp)
    assert event["event"] == "chat-gone"
    assert json.loads(event["data"]) == {"id": conversation}
    headers = {"Accept": "application/json"}
    async with console.http.get(f"/console/chats/{conversation}", headers=headers) as resp:
        assert resp.status == 403
    assert await console.sign_in("bruno") == 303
    async with console.http.get(f"/console/chats/{conversation}", headers=headers) as resp:
        assert resp.status == 200
        assert (await resp.json())["agent"] == "bruno"


async def test_a_french_texter_s_conversation_offers_the_queues_french_replies(
    console: Console,
) -> None:
    general = console.store.queues["general"]
    await console.log_in("alice", ("general",), time.time())
    assert await console.sign_in("alice") == 303
    # The caller first called in French: the vault keeps their language, the texts follow it.
    await console.vault.store(CALLER, "fr", now=datetime.now(UTC))
    english = "+15145550188"
    async with console.http.get("/console/chats/events") as resp:
        await text(console, "Bonjour")
        french_view = await next_chat(resp)
        await text(console, "Hello", sender=english)
        english_view = await next_chat(resp)
        while english_view["id"] == french_view["id"]:
            english_view = await next_chat(resp)
    assert french_view["canned"] == list(general.canned["fr"])
    assert english_view["canned"] == list(general.canned["en"])
    async with console.http.get(f"/console/chats/{french_view['id']}") as resp:
        assert (await resp.json())["canned"] == list(general.canned["fr"])
    async with console.http.get("/console/volunteer") as resp:
        page = await resp.text()
    french = page[page.index(f'data-conversation="{french_view["id"]}"') :]
    french = french[: french.index("</article>")]
    assert [f"<option>{reply}</option>" in french for reply in general.canned["fr"]] == [True] * 2
    assert all(f"<option>{reply}</option>" not in french for reply in general.canned["en"])
