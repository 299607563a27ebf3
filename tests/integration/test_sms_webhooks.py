"""Twilio's SMS webhooks over real HTTP: signatures (also behind a proxy), duplicates,
malformed forms, STOP/START, and status callbacks sent by the stand-in after a real send."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet
from rq import Queue
from twilio.request_validator import RequestValidator

from acd import chat
from bench.twilio_standin import StandIn
from core.config import Settings, load_settings
from core.keys import Keys
from core.privacy import Vault
from hotline.harness import free_port
from sms.http import sms_routes
from sms.inbound import InboundDesk, InboundSms
from sms.outbox import Outbox, load_message
from sms.recipients import sender_key, store_in
from sms.state import MessageState
from workers.sms import SmsRuntime

SENDER = "+15145550123"
PUBLIC = "https://sms.hotline.example.org"
VAULT_KEY = Fernet.generate_key().decode()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn().start()
    try:
        yield server
    finally:
        server.stop()


def make_settings(redis_url: str, standin: StandIn, public: str) -> Settings:
    return load_settings(
        None,
        env={
            "HOTLINE_HASH_KEY": "sms-test-hash-key-0123456789",
            "HOTLINE_VAULT_KEYS": VAULT_KEY,
            "HOTLINE_TWILIO_ACCOUNT_SID": standin.account_sid,
            "HOTLINE_TWILIO_AUTH_TOKEN": standin.auth_token,
            "HOTLINE_REDIS_URL": redis_url,
            "HOTLINE_SMS_TWILIO_BASE_URL": standin.base_url,
            "HOTLINE_SMS_PUBLIC_BASE_URL": public,
            "HOTLINE_SMS_RETRY_BASE_SECONDS": "0",
        },
    )


@dataclasses.dataclass
class Hooks:
    """A webhook server, its settings, what it handed over, and a Twilio-like poster."""

    settings: Settings
    client: TestClient[web.Request, web.Application]
    redis: aioredis.Redis
    handed: list[InboundSms]

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.redis.prefix)

    async def post(
        self, path: str, params: dict[str, str], signature: str | None = None
    ) -> tuple[int, str]:
        """POST ``params`` to ``path``, signed for the public URL unless ``signature``."""
        if signature is None:
            validator = RequestValidator(self.settings.secrets.twilio_auth_token)
            signature = validator.compute_signature(PUBLIC + path, params)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        async with self.client.post(path, data=params, headers=headers) as resp:
            return resp.status, await resp.text()


@pytest.fixture
async def hooks(redis_url: str, standin: StandIn) -> AsyncIterator[Hooks]:
    settings = make_settings(redis_url, standin, PUBLIC)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    handed: list[InboundSms] = []

    async def on_inbound(message: InboundSms) -> None:
        handed.append(message)

    app = web.Application()
    app.add_routes(sms_routes(redis=client, settings=settings, on_inbound=on_inbound))
    async with TestClient(TestServer(app)) as http:
        yield Hooks(settings, http, client, handed)
    await client.aclose()


def inbound(sid: str = "SM" + "1" * 32, body: str = "Hello, I need to talk") -> dict[str, str]:
    return {"MessageSid": sid, "From": SENDER, "To": "+18005550100", "Body": body}


async def test_signed_inbound_is_stored_and_handed_over(hooks: Hooks) -> None:
    status, _ = await hooks.post("/sms/twilio/inbound", inbound())
    assert status == 200
    [message] = hooks.handed
    assert (message.sender, message.body) == (SENDER, "Hello, I need to talk")
    assert SENDER not in repr(message)
    key = sender_key(SENDER, hooks.settings.secrets.hash_key)
    stored = await hooks.redis.lrange(hooks.keys.sms_conversation(key), 0, -1)
    assert [json.loads(s)["body"] for s in stored] == ["Hello, I need to talk"]
    assert await hooks.redis.ttl(hooks.keys.sms_conversation(key)) > 0


async def test_bad_missing_or_local_url_signature_is_403(hooks: Hooks) -> None:
    validator = RequestValidator(hooks.settings.secrets.twilio_auth_token)
    local_url = str(hooks.client.make_url("/sms/twilio/inbound"))
    signed_locally = validator.compute_signature(local_url, inbound())
    for signature in ("bm9wZQ==", "", signed_locally):
        status, text = await hooks.post("/sms/twilio/inbound", inbound(), signature)
        assert (status, json.loads(text)["error"]) == (403, "bad-signature")
    assert hooks.handed == []


async def test_duplicate_inbound_is_handled_once(hooks: Hooks) -> None:
    for _ in range(3):
        assert (await hooks.post("/sms/twilio/inbound", inbound()))[0] == 200
    assert len(hooks.handed) == 1
    key = sender_key(SENDER, hooks.settings.secrets.hash_key)
    assert await hooks.redis.llen(hooks.keys.sms_conversation(key)) == 1


async def test_simultaneous_copies_of_one_inbound_have_one_effect(
    redis_url: str, standin: StandIn
) -> None:
    """Six copies of one signed SMS at once, served by two app instances, while the first
    handover is still running: one handover, one stored copy."""
    settings = make_settings(redis_url, standin, PUBLIC)
    handed: list[InboundSms] = []

    async def slow_handover(message: InboundSms) -> None:
        handed.append(message)
        await asyncio.sleep(0.3)

    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(2)]
    instances = []
    for client in clients:
        app = web.Application()
        app.add_routes(sms_routes(redis=client, settings=settings, on_inbound=slow_handover))
        instances.append(TestClient(TestServer(app)))
    signature = RequestValidator(standin.auth_token).compute_signature(
        PUBLIC + "/sms/twilio/inbound", inbound()
    )

    async def deliver(http: TestClient[web.Request, web.Application]) -> int:
        headers = {"X-Twilio-Signature": signature}
        async with http.post("/sms/twilio/inbound", data=inbound(), headers=headers) as resp:
            return resp.status

    try:
        for http in instances:
            await http.start_server()
        statuses = await asyncio.gather(*(deliver(instances[i % 2]) for i in range(6)))
        assert statuses == [200] * 6
        assert len(handed) == 1
        key = sender_key(SENDER, settings.secrets.hash_key)
        assert await clients[0].llen(Keys(settings.redis.prefix).sms_conversation(key)) == 1
        assert (await deliver(instances[0])) == 200
        assert len(handed) == 1
    finally:
        for http in instances:
            await http.close()
        for client in clients:
            await client.aclose()


async def test_a_failed_handover_is_handled_again_on_redelivery(hooks: Hooks) -> None:
    failures = [RuntimeError("volunteer side down")]

    async def flaky(message: InboundSms) -> None:
        if failures:
            raise failures.pop()
        hooks.handed.append(message)

    desk = InboundDesk(hooks.redis, hooks.settings, flaky)
    with pytest.raises(RuntimeError):
        await desk.receive("SM9", SENDER, "+18005550100", "hi", redelivered=True)
    assert not await desk.receive("SM9", SENDER, "+18005550100", "hi", redelivered=False)
    assert await desk.receive("SM9", SENDER, "+18005550100", "hi", redelivered=True)
    assert not await desk.receive("SM9", SENDER, "+18005550100", "hi", redelivered=True)
    assert [m.sid for m in hooks.handed] == ["SM9"]


async def test_malformed_form_is_400(hooks: Hooks) -> None:
    params = {"From": SENDER, "Body": "hi"}
    status, text = await hooks.post("/sms/twilio/inbound", params)
    assert status == 400
    assert json.loads(text) == {"error": "malformed-form", "message": "missing MessageSid, To"}


@pytest.mark.parametrize(
    ("content_type", "body", "status", "error"),
    [
        ("application/x-www-form-urlencoded", b"Body=\xff\xfe&From=x", 400, "malformed-form"),
        ("application/x-www-form-urlencoded; charset=nope", b"Body=hi", 400, "malformed-form"),
        ("multipart/form-data", b"--x\r\ngarbage", 400, "malformed-form"),
        ("multipart/form-data; boundary=x", b"--x\r\ngarbage\r\n\r\n", 400, "malformed-form"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="Body"; filename="f"\r\n\r\n'
            b"hi\r\n--x--\r\n",
            400,
            "malformed-form",
        ),
        ("text/plain", b"Body=hi", 415, "not-a-form"),
        ("application/json", b"{}", 415, "not-a-form"),
    ],
)
async def test_unreadable_unsigned_bodies_are_refused_cleanly(
    hooks: Hooks, content_type: str, body: bytes, status: int, error: str
) -> None:
    for path in ("/sms/twilio/inbound", "/sms/twilio/status"):
        headers = {"Content-Type": content_type}
        async with hooks.client.post(path, data=body, headers=headers) as resp:
            assert (resp.status, (await resp.json())["error"]) == (status, error)
    assert hooks.handed == []


async def test_an_overlong_inbound_is_cut_to_1600_characters_with_a_mark(hooks: Hooks) -> None:
    status, _ = await hooks.post("/sms/twilio/inbound", inbound(body="help " + "9" * 20_000))
    assert status == 200
    [message] = hooks.handed
    assert len(message.body) == 1600
    assert message.body.startswith("help 999")
    assert message.body.endswith(" […]")
    key = sender_key(SENDER, hooks.settings.secrets.hash_key)
    [stored] = await hooks.redis.lrange(hooks.keys.sms_conversation(key), 0, -1)
    assert len(json.loads(stored)["body"]) <= 1600


@pytest.mark.parametrize(("stop", "start"), [("STOP", "start"), (" Arrêt. ", "UNSTOP")])
async def test_stop_and_start_keywords(hooks: Hooks, stop: str, start: str) -> None:
    key = sender_key(SENDER, hooks.settings.secrets.hash_key)
    await hooks.post("/sms/twilio/inbound", inbound("SM" + "a" * 32, stop))
    assert await hooks.redis.sismember(hooks.keys.sms_optout, key)
    await hooks.post("/sms/twilio/inbound", inbound("SM" + "b" * 32, start))
    assert not await hooks.redis.sismember(hooks.keys.sms_optout, key)
    assert hooks.handed == []


async def run_until(settings: Settings, done: Callable[[], Awaitable[bool]]) -> None:
    """Burst workers on this (main) thread, as RQ requires, letting the loop serve webhooks
    in between."""
    runtime = SmsRuntime(settings, drop_chat=chat.drop)
    deadline = time.monotonic() + 8
    try:
        while not await done():
            runtime.worker().work(burst=True, with_scheduler=True)
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        runtime.close()


async def test_stop_refuses_then_start_allows_and_callbacks_deliver(
    redis_url: str, standin: StandIn
) -> None:
    """End to end over HTTP both ways: the stand-in's signed status callbacks reach the app."""
    port = free_port()
    settings = make_settings(redis_url, standin, f"http://127.0.0.1:{port}")
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    app = web.Application()

    async def ignore(message: InboundSms) -> None:
        return None

    app.add_routes(sms_routes(redis=client, settings=settings, on_inbound=ignore))
    raw = redis.Redis.from_url(redis_url)
    queue = Queue(settings.sms.rq_queue, connection=raw)
    vault = Vault(
        client,
        Keys("hotline"),
        hash_key=settings.secrets.hash_key,
        fernet_keys=settings.secrets.vault_keys,
        default_region="CA",
    )
    outbox = Outbox(queue, Keys("hotline"), settings.sms, store_in(vault))
    validator = RequestValidator(standin.auth_token)

    async def text_us(sid: str, body: str) -> None:
        params = {**inbound(sid, body)}
        url = f"http://127.0.0.1:{port}/sms/twilio/inbound"
        headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
        async with TestClient(TestServer(web.Application())) as http:
            resp = await http.session.post(url, data=params, headers=headers)
            assert resp.status == 200

    async def state(message_id: str) -> MessageState:
        record = await load_message(client, Keys("hotline"), message_id)
        assert record is not None
        return record.state

    async with TestClient(TestServer(app, port=port)):
        await text_us("SM" + "c" * 32, "stop")
        refused = await outbox.enqueue(
            SENDER, "+18005550100", "Hi", idempotency_key="a", kind="t", language="en"
        )

        async def refusal_recorded() -> bool:
            return await state(refused) is MessageState.FAILED

        await run_until(settings, refusal_recorded)
        assert standin.create_requests == 0
        await text_us("SM" + "d" * 32, "START")
        sent = await outbox.enqueue(
            SENDER, "+18005550100", "Hi", idempotency_key="b", kind="t", language="en"
        )

        async def delivered() -> bool:
            return await state(sent) is MessageState.DELIVERED

        await run_until(settings, delivered)
        assert len(standin.messages) == 1
        # Twilio retries a callback: the duplicate changes nothing.
        sid = standin.messages[0]["sid"]
        params = {"MessageSid": sid, "MessageStatus": "sent", "To": SENDER, "From": "x"}
        url = f"http://127.0.0.1:{port}/sms/twilio/status?m={sent}"
        headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
        async with TestClient(TestServer(web.Application())) as http:
            resp = await http.session.post(url, data=params, headers=headers)
            assert resp.status == 200
        assert await state(sent) is MessageState.DELIVERED
        assert standin.callback_statuses == [200, 200]
    raw.close()
    await client.aclose()


async def test_duplicate_status_callback_changes_nothing(hooks: Hooks) -> None:
    keys = hooks.keys
    await hooks.redis.hset(
        keys.sms_message("m1"),
        mapping={"id": "m1", "state": "sent", "to_ref": "r", "from": "+1", "body": "b",
                 "segments": 1, "kind": "k", "language": "en", "created_at": 0},
    )  # fmt: skip
    failed = {"MessageSid": "SM" + "e" * 32, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    for _ in range(2):
        assert (await hooks.post("/sms/twilio/status?m=m1", failed))[0] == 200
    assert await hooks.redis.hget(keys.sms_message("m1"), "state") == "undelivered"
    assert await hooks.redis.hget(keys.sms_message("m1"), "error_code") == "30003"
    assert await hooks.redis.zrange(keys.sms_failed, 0, -1) == ["m1"]
    late = {"MessageSid": "SM" + "e" * 32, "MessageStatus": "delivered"}
    assert (await hooks.post("/sms/twilio/status?m=m1", late))[0] == 200
    assert await hooks.redis.hget(keys.sms_message("m1"), "state") == "undelivered"
