"""A volunteer calls the texter of one of their conversations back from the console: their
SIPp phone rings through the real Asterisk, and their screen pops the conversation (texter's
pseudonym, queue, language, newest messages, earlier contacts) as it rings, never a number."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import aiohttp
import pytest

from core.config import Settings
from core.keys import Keys
from hotline.app import HotlineApp
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from sms.inbound import InboundSms
from sms.recipients import sender_key
from sms.redact import REDACTED
from tests.browser.test_console_calls import invite_received_at
from tests.conftest import agent_phone, running_app, wait_until_idle
from tests.consoles import PASSWORDS, read_event
from tests.e2e.test_acd_calls import log_in

pytestmark = pytest.mark.e2e

TEXTER = "+15145550127"


async def text(app: HotlineApp, body: str) -> str:
    """An SMS from the texter to the hotline, as the webhooks hand it to the conversation
    service; the conversation it went to."""
    hash_key = app.settings.secrets.hash_key
    sid = f"SM{time.monotonic_ns():032x}"
    to = app.settings.sms.from_number
    message = InboundSms(sid, sender_key(TEXTER, hash_key), TEXTER, to, body, time.time())
    await app.sms.conversations.on_inbound(message)
    entry = await app.vault.find(TEXTER)
    assert entry is not None
    keys = Keys(app.settings.redis.prefix)
    return str(await app.redis.get(keys.open_conversation(entry.ref)))


async def sign_in(http: aiohttp.ClientSession, account: str) -> str:
    """Sign ``account`` in; the CSRF token of their screen."""
    async with http.get("/console/signin") as resp:
        found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert found
    form = {"csrf": found[1], "account": account, "password": PASSWORDS[account]}
    async with http.post("/console/signin", data=form) as resp:
        page = await resp.text()
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    assert resp.url.path == "/console/volunteer"
    return found[1]


async def test_calling_a_texter_back_pops_the_conversation_as_the_phone_rings(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    base = f"http://{settings.http.bind}:{settings.http.port}"
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with (
        running_app(settings, test_flow) as app,
        aiohttp.ClientSession(base, cookie_jar=jar) as http,
    ):
        await log_in(app, "alice")
        # An earlier conversation with the same texter, ended; then the one called back.
        earlier = await text(app, "Bonjour")
        await app.sms.conversations.end(earlier, "alice")
        conversation = await text(app, "Rappelez-moi au 514 555 0127 s'il vous plaît")
        assert conversation != earlier
        csrf = await sign_in(http, "alice")
        texter_phone = asyncio.create_task(agent_phone(phone_ports["dana"], tmp_path, talk_ms=1500))
        alice_phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path))
        async with http.get("/console/chats/events") as events:
            back = f"/console/chats/{conversation}/callback"
            headers = {"Accept": "application/json"}
            async with http.post(back, data={"csrf": csrf}, headers=headers) as resp:
                assert resp.status == 202
            payloads = []
            while (event := await read_event(events, within=30))["event"] != "text-call":
                payloads.append(event["data"])
            popped_at = time.time()
            pop = json.loads(event["data"])
            following = await read_event(events, within=30)
            payloads += [event["data"], following["data"]]
        alice, called = await asyncio.gather(alice_phone, texter_phone)
        assert alice.returncode == 0, alice.messages[-1500:]
        assert called.returncode == 0, called.messages[-1500:]
        await wait_until_idle(app, asterisk)
        held = await app.sms.conversations.get(conversation)
        vault_entry = await app.vault.find(TEXTER)
    assert held is not None
    assert vault_entry is not None
    assert popped_at - invite_received_at(alice) <= 1.0
    assert pop["conversation_id"] == conversation
    assert (pop["pseudonym"], pop["queue"]) == (vault_entry.pseudonym, "general")
    assert pop["language"] == held.language
    assert pop["context"]["kind"] == "text"
    assert pop["call_id"].startswith("txt")
    said = [line["body"] for line in pop["lines"] if line["author"] == "caller"]
    assert said == [f"Rappelez-moi au {REDACTED} s'il vous plaît"]  # as the chat panel shows
    # The earlier conversation counts as an earlier contact.
    assert following["event"] == "earlier"
    assert json.loads(following["data"])["contacts"] == 1
    for payload in payloads:
        assert TEXTER not in payload
        assert TEXTER[2:] not in payload
        assert "555 0127" not in payload
