"""A whole SMS scenario over real HTTP, real Redis, real RQ workers and the Twilio stand-in:
a caller texts, a volunteer on their own phone gets the texts relayed under a pseudonym and
answers, asks for a call-back (the caller gets a confirmation), ends it; another caller is
answered from the console and transferred; STOP; a new conversation. Every log record (DEBUG,
every logger), every Redis value and every HTTP body is searched for the numbers."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet
from twilio.request_validator import RequestValidator

from acd import chat
from acd.chat import ChatRouter
from acd.config import AgentProfile, Device, DeviceKind, QueueConfig
from acd.routing import AgentState
from acd.store import AcdStore
from acd.texter_calls import TexterCalls
from bench.twilio_standin import StandIn
from core import redisconn
from core.config import Settings, load_settings
from core.keys import Keys
from core.privacy import Vault
from hotline.harness import free_port
from hotline.http import build_web_app
from sms.gateway import SmsGateway
from workers.sms import SmsRuntime

CALLER = "+15145550123"
CALLER2 = "+15145550177"
DANA = "+15145550999"
HOTLINE = "+18005550100"
TOKENS = {"alice": "alice-token-0123456789", "dana": "dana-token-01234567890"}
SUPERVISOR = "sup-token-0123456789abc"
AGENTS = {
    "alice": AgentProfile("alice", "Alice", "x", (), queues=("general",), chat_capacity=2),
    "dana": AgentProfile("dana", "Dana", "x", (), queues=("general",), chat_capacity=2),
}


@dataclass
class World:
    settings: Settings
    standin: StandIn
    gateway: SmsGateway
    acd: AcdStore
    redis: aioredis.Redis
    http: ClientSession
    base: str
    bodies: list[str]

    async def text(self, sender: str, body: str) -> None:
        """An inbound SMS, signed as Twilio signs it."""
        sid = "SM" + f"{time.monotonic_ns():032x}"[-32:]
        params = {"MessageSid": sid, "From": sender, "To": HOTLINE, "Body": body}
        url = f"{self.base}/sms/twilio/inbound"
        signature = RequestValidator(self.standin.auth_token).compute_signature(url, params)
        async with self.http.post(
            url, data=params, headers={"X-Twilio-Signature": signature}
        ) as resp:
            self.bodies.append(await resp.text())
            assert resp.status == 200

    async def api(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(
            method, self.base + path, json=body, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            text = await resp.text()
            self.bodies.append(text)
            return resp.status, json.loads(text)

    async def settle(self, count: int) -> list[dict[str, Any]]:
        """Run burst workers until the stand-in holds ``count`` messages and nothing waits."""
        runtime = SmsRuntime(self.settings, drop_chat=chat.drop)
        queue = runtime.deps.queue
        deadline = time.monotonic() + 10
        try:
            while True:
                runtime.worker().work(burst=True, with_scheduler=True)
                await asyncio.sleep(0.1)
                idle = queue.count == 0 and queue.scheduled_job_registry.count == 0
                if idle and len(self.standin.messages) >= count:
                    return self.standin.messages
                assert time.monotonic() < deadline, len(self.standin.messages)
        finally:
            runtime.close()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn(callback_delay=0.01).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def world(redis_url: str, standin: StandIn, tmp_path: Path) -> AsyncIterator[World]:
    port = free_port()
    relay_file = tmp_path / "relay.toml"
    relay_file.write_text(f'[agents.dana]\nnumber = "{DANA}"\nlanguage = "fr"\n')
    tokens = ",".join(f"{a}:agent:{t}" for a, t in TOKENS.items())
    settings = load_settings(
        None,
        env={
            "HOTLINE_HASH_KEY": "scenario-hash-key-0123456789",
            "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
            "HOTLINE_TWILIO_ACCOUNT_SID": standin.account_sid,
            "HOTLINE_TWILIO_AUTH_TOKEN": standin.auth_token,
            "HOTLINE_REDIS_URL": redis_url,
            "HOTLINE_SMS_TWILIO_BASE_URL": standin.base_url,
            "HOTLINE_SMS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "HOTLINE_SMS_SENDER_TYPE": "short_code",
            "HOTLINE_SMS_RETRY_BASE_SECONDS": "0",
            "HOTLINE_SMS_RELAY_FILE": str(relay_file),
            "HOTLINE_IVR_LANGUAGES": "fr,en",
            "HOTLINE_API_TOKENS": f"{tokens},sup:supervisor:{SUPERVISOR}",
        },
    )
    client = redisconn.connect(settings.redis)
    keys = Keys(settings.redis.prefix)
    vault = Vault(
        client,
        keys,
        hash_key=settings.secrets.hash_key,
        fernet_keys=settings.secrets.vault_keys,
        default_region=settings.privacy.default_region,
    )
    acd = AcdStore(client, keys, {"general": QueueConfig("general")})
    await acd.sync_agents(list(AGENTS.values()))
    rq_client = redisconn.connect_rq(settings.redis)
    gateway = SmsGateway(
        settings,
        redis_client=client,
        rq_client=rq_client,
        vault=vault,
        agents=AGENTS,
        chats=ChatRouter(client, keys, AGENTS),
        texter_calls=TexterCalls(acd, "app-1"),
    )

    async def health() -> dict[str, bool]:
        return {"redis": True}

    app = build_web_app(settings, health, gateway.routes())
    try:
        async with TestServer(app, port=port), ClientSession() as http:
            yield World(
                settings, standin, gateway, acd, client, http, f"http://127.0.0.1:{port}", []
            )
    finally:
        rq_client.close()
        await client.aclose()


def sent_to(messages: list[dict[str, Any]], number: str) -> list[str]:
    return [m["body"] for m in messages if m["to"] == number]


async def dump_redis(url: str) -> str:
    """Every key and value in Redis, as text (the vault's encrypted field included)."""
    c = redis.Redis.from_url(url, decode_responses=True)
    read: dict[str, Callable[[str], Any]] = {
        "string": c.get,
        "hash": c.hgetall,
        "list": lambda k: c.lrange(k, 0, -1),
        "set": c.smembers,
        "zset": lambda k: c.zrange(k, 0, -1, withscores=True),
        "stream": c.xrange,
    }
    parts = []
    try:
        for key in c.scan_iter():
            parts.append(f"{key!r} {read[str(c.type(key))](key)!r}")
    finally:
        c.close()
    return "\n".join(parts)


def forms(number: str) -> tuple[str, ...]:
    """A North American number as it may be written."""
    area, exchange, line = number[2:5], number[5:8], number[8:]
    return (number, number[1:], number[2:], f"{area}-{exchange}-{line}", f"{exchange}-{line}")


async def test_sms_scenario_leaks_no_number(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    w = world
    voice = Device(DeviceKind.SIP, "PJSIP/phone")
    await w.acd.login("alice", ["general"], voice, time.time())
    await w.acd.pause("alice", "break", time.time())
    await w.acd.login("dana", ["general"], voice, time.time())

    # A caller texts: a conversation opens, the caller gets an automatic reply, and the text
    # is relayed to Dana's phone from the hotline number under the caller's pseudonym.
    await w.text(CALLER, "Bonjour, je suis seul ce soir")
    messages = await w.settle(2)
    assert sent_to(messages, CALLER) == [
        "Votre message est bien arrivé. Un(e) bénévole vous répondra ici dès que possible."
    ]
    [relayed] = sent_to(messages, DANA)
    pseudonym = relayed[1 : relayed.index("]")]
    assert relayed == f"[{pseudonym}] Bonjour, je suis seul ce soir"
    assert {m["from"] for m in messages} == {HOTLINE}

    # Dana answers from her phone; the caller gets it from the hotline number.
    await w.text(DANA, "Je suis là. Voulez-vous en parler ?")
    messages = await w.settle(3)
    assert sent_to(messages, CALLER)[-1] == "Je suis là. Voulez-vous en parler ?"

    # A number written in a text is cut out before it is stored or relayed.
    await w.text(CALLER, "Oui. Mon numéro est le 514-555-0123")
    messages = await w.settle(4)
    assert sent_to(messages, DANA)[-1] == f"[{pseudonym}] Oui. Mon numéro est le [#]"

    # "#call": a call-back request for the ARI side, confirmed to the caller with a reference.
    await w.text(DANA, "#call")
    messages = await w.settle(6)
    confirmation = sent_to(messages, CALLER)[-1]
    assert confirmation.startswith("Votre demande est enregistrée, référence ")
    reference = confirmation.split("référence ")[1][:4]
    assert reference.isdigit()
    assert sent_to(messages, DANA)[-1] == f"[{pseudonym}] Rappel demandé."
    entries = await w.redis.xrange(Keys("hotline").voice_requests)
    [(_, request)] = cast(list[tuple[str, dict[str, str]]], entries)
    assert request["kind"] == "callback"
    assert request["reference"] == reference
    assert request["agent"] == "dana"
    first = request["conversation"]

    # "#end" ends it and frees Dana's slot.
    await w.text(DANA, "#end")
    messages = await w.settle(7)
    assert sent_to(messages, DANA)[-1] == f"[{pseudonym}] Conversation terminée."
    status, ended = await w.api("GET", f"/chat/conversations/{first}", SUPERVISOR)
    assert (status, ended["state"], ended["agent"]) == (200, "ended", "dana")

    # Another caller; Alice is back and least loaded, and answers from the console.
    await w.acd.resume("alice", time.time())
    await w.gateway.conversations.dispatch()
    await w.text(CALLER2, "Allo?")
    status, mine = await w.api("GET", "/chat/conversations", TOKENS["alice"])
    [conversation] = mine["conversations"]
    second = conversation["id"]
    assert (status, conversation["agent"], conversation["state"]) == (200, "alice", "open")
    status, log = await w.api("GET", f"/chat/conversations/{second}/messages", TOKENS["alice"])
    assert [m["body"] for m in log["messages"]] == ["Allo?"]
    status, _ = await w.api("GET", f"/chat/conversations/{first}/messages", TOKENS["alice"])
    assert status == 403
    status, _ = await w.api(
        "POST", f"/chat/conversations/{second}/messages", TOKENS["alice"], {"text": "Bonsoir"}
    )
    assert status == 202
    status, moved = await w.api(
        "POST", f"/chat/conversations/{second}/transfer", TOKENS["alice"], {"agent": "dana"}
    )
    assert (status, moved["agent"]) == (200, "dana")
    messages = await w.settle(10)
    assert sent_to(messages, CALLER2)[-1] == "Bonsoir"
    pseudonym2 = moved["pseudonym"]
    assert sent_to(messages, DANA)[-1] == f"[{pseudonym2}] Allo?"
    status, listed = await w.api("GET", "/chat/conversations?agent=dana", SUPERVISOR)
    assert [c["id"] for c in listed["conversations"]] == [second]

    # STOP, then a new text: a new conversation, whose automatic reply is not sent.
    await w.text(CALLER, "STOP")
    await w.text(CALLER, "Encore moi")
    await w.settle(10)
    status, mine = await w.api("GET", "/chat/conversations", TOKENS["alice"])
    [third] = mine["conversations"]
    assert third["id"] not in (first, second)
    assert len(sent_to(w.standin.messages, CALLER)) == 3  # the new automatic reply: opted out

    # Nobody learnt a number: the caller's texts hold neither Dana's nor the other caller's,
    # Dana's none of the callers', and no log line, Redis value or HTTP body holds any.
    for body in sent_to(w.standin.messages, CALLER) + sent_to(w.standin.messages, CALLER2):
        assert not any(f in body for f in forms(DANA))
    for body in sent_to(w.standin.messages, DANA):
        assert not any(f in body for n in (CALLER, CALLER2) for f in forms(n))
    assert len(caplog.records) > 20
    logs = "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])
    stored = await dump_redis(w.settings.redis.url)
    http = "\n".join(w.bodies)
    assert "vault:entry" in stored
    for number in (CALLER, CALLER2, DANA):
        for form in forms(number):
            assert form not in logs, form
            assert form not in stored, form
            assert form not in http, form


async def test_a_supervisor_gets_a_conversations_ref_for_unmasking(world: World) -> None:
    w = world
    await w.acd.login("alice", ["general"], Device(DeviceKind.SIP, "PJSIP/phone"), time.time())
    await w.text(CALLER, "Bonjour")
    status, mine = await w.api("GET", "/chat/conversations", TOKENS["alice"])
    [conversation] = mine["conversations"]
    path = f"/chat/conversations/{conversation['id']}/ref"
    status, found = await w.api("GET", path, SUPERVISOR)
    assert status == 200
    assert found == {
        "conversation": conversation["id"],
        "ref": w.gateway.conversations.vault.ref_for(CALLER),
        "pseudonym": conversation["pseudonym"],
    }
    status, refused = await w.api("GET", path, TOKENS["alice"])
    assert (status, refused["error"]) == (403, "forbidden")
    status, missing = await w.api("GET", "/chat/conversations/nope/ref", SUPERVISOR)
    assert (status, missing["error"]) == (404, "no-such-conversation")


async def test_a_console_reply_over_1600_characters_is_refused(world: World) -> None:
    w = world
    await w.acd.login("alice", ["general"], Device(DeviceKind.SIP, "PJSIP/phone"), time.time())
    await w.text(CALLER, "Bonjour")
    status, mine = await w.api("GET", "/chat/conversations", TOKENS["alice"])
    [conversation] = mine["conversations"]
    path = f"/chat/conversations/{conversation['id']}/messages"
    status, refused = await w.api("POST", path, TOKENS["alice"], {"text": "9" * 200_000})
    assert (status, refused["error"]) == (413, "text-too-long")
    status, _ = await w.api("POST", path, TOKENS["alice"], {"text": "9" * 1600})
    assert status == 202
    status, log = await w.api("GET", path, TOKENS["alice"])
    assert [m["author"] for m in log["messages"]] == ["caller", "agent"]


async def test_a_volunteer_who_is_not_available_cannot_call_a_texter(world: World) -> None:
    w, voice = world, Device(DeviceKind.SIP, "PJSIP/phone")
    await w.acd.login("dana", ["general"], voice, time.time())
    await w.text(CALLER, "Bonjour")
    messages = await w.settle(2)
    [relayed] = sent_to(messages, DANA)
    pseudonym = relayed[1 : relayed.index("]")]
    [conversation] = await w.gateway.conversations.router.conversations("dana")
    # Dana pauses (a break) with the conversation still open: "#call" is refused, she is told
    # so, and neither the caller (no request, no confirmation) nor the ARI side hears of it.
    await w.acd.pause("dana", "break", time.time())
    await w.text(DANA, "#call")
    messages = await w.settle(3)
    assert sent_to(messages, DANA)[-1] == (
        f"[{pseudonym}] Rappel refusé : statut indisponible (en pause, en appel ou déconnecté)."
    )
    path = f"/chat/conversations/{conversation}/callback"
    assert await w.api("POST", path, TOKENS["dana"]) == (409, {"error": "not-available"})
    assert await w.redis.xlen(Keys("hotline").voice_requests) == 0
    assert len(sent_to(messages, CALLER)) == 1  # the automatic reply only
    dana = await w.acd.agent("dana")
    assert dana is not None
    assert dana.state is AgentState.PAUSED
    # Back from her break she may: from then on no queue offers her a call.
    await w.acd.resume("dana", time.time())
    status, asked = await w.api("POST", path, TOKENS["dana"])
    assert status == 202
    entries = await w.redis.xrange(Keys("hotline").voice_requests)
    [(_, request)] = cast(list[tuple[str, dict[str, str]]], entries)
    assert request["reference"] == asked["reference"]
    dana = await w.acd.agent("dana")
    assert dana is not None
    assert (dana.state, dana.call_id) == (AgentState.ON_CALL, request["call"])
    assert await w.api("POST", path, TOKENS["dana"]) == (409, {"error": "not-available"})
