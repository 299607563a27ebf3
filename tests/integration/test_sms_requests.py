"""Recorded requests on a real Redis: 4-digit references unique among open requests, the
confirmation SMS through the outbox, RQ workers and the Twilio stand-in (exact French body),
and failed confirmations made visible."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import redis
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from rq import Queue

from acd import chat
from bench.twilio_standin import StandIn
from core import redisconn
from core.config import Settings, load_settings
from core.keys import Keys
from core.privacy import Vault
from sms.outbox import Outbox
from sms.recipients import store_in
from sms.requests import RequestDesk, RequestState
from sms.state import MessageState
from sms.templates import load_templates
from workers.sms import SmsRuntime

CALLER = "+15145550123"
LANDLINE = "+33142685300"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn(callbacks=False).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Desk:
    settings: Settings
    desk: RequestDesk
    vault: Vault
    queue: Queue

    def work(self) -> None:
        runtime = SmsRuntime(self.settings, drop_chat=chat.drop)
        try:
            runtime.worker().work(burst=True, with_scheduler=True)
        finally:
            runtime.close()

    async def ref(self, number: str) -> str:
        return (await self.vault.store(number, "fr", now=NOW)).ref


@pytest.fixture
async def desk(redis_url: str, standin: StandIn) -> AsyncIterator[Desk]:
    settings = load_settings(
        None,
        env={
            "HOTLINE_HASH_KEY": "requests-hash-key-0123456789",
            "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
            "HOTLINE_TWILIO_ACCOUNT_SID": standin.account_sid,
            "HOTLINE_TWILIO_AUTH_TOKEN": standin.auth_token,
            "HOTLINE_REDIS_URL": redis_url,
            "HOTLINE_SMS_TWILIO_BASE_URL": standin.base_url,
            "HOTLINE_SMS_SENDER_TYPE": "short_code",
        },
    )
    client: aioredis.Redis = redisconn.connect(settings.redis)
    keys = Keys(settings.redis.prefix)
    raw = redis.Redis.from_url(redis_url)
    queue = Queue(settings.sms.rq_queue, connection=raw)
    vault = Vault(
        client,
        keys,
        hash_key=settings.secrets.hash_key,
        fernet_keys=settings.secrets.vault_keys,
        default_region="CA",
    )
    outbox = Outbox(queue, keys, settings.sms, store_in(vault))
    desk = RequestDesk(client, keys, outbox, load_templates(), settings)
    try:
        yield Desk(settings, desk, vault, queue)
    finally:
        raw.close()
        await client.aclose()


async def test_request_is_confirmed_in_french_with_its_reference(
    desk: Desk, standin: StandIn
) -> None:
    details = {"shelter": "2 adultes, 1 enfant", "note": "joignable au 514 555 0123"}
    request = await desk.desk.record_request("shelter", await desk.ref(CALLER), "fr", details, NOW)
    assert len(request.reference) == 4
    assert request.reference.isdigit()
    assert (request.state, request.confirmation) == (RequestState.OPEN, MessageState.QUEUED)
    assert request.details == {"shelter": "2 adultes, 1 enfant", "note": "joignable au [#]"}
    desk.work()
    [sent] = standin.messages
    assert sent["to"] == CALLER
    assert sent["body"] == (
        f"Votre demande est enregistrée, référence {request.reference}. "
        "Répondez à ce numéro pour nous joindre."
    )
    found = await desk.desk.get(request.id)
    assert found is not None
    assert found.confirmation is MessageState.SENT


async def test_references_are_unique_among_open_requests_and_freed_on_close(
    desk: Desk,
) -> None:
    ref = await desk.ref(CALLER)
    requests = await asyncio.gather(
        *(desk.desk.record_request("pledge", ref, "en", {}, NOW) for _ in range(60))
    )
    codes = {r.reference for r in requests}
    assert len(codes) == 60
    client = desk.desk.redis
    assert await client.get(Keys("hotline").request_code(requests[0].reference)) == requests[0].id
    assert await desk.desk.close(requests[0].id, NOW)
    assert not await desk.desk.close(requests[0].id, NOW)
    assert await client.get(Keys("hotline").request_code(requests[0].reference)) is None


async def test_failed_confirmation_shows_on_the_request(desk: Desk, standin: StandIn) -> None:
    ok = await desk.desk.record_request("callback", await desk.ref(CALLER), "en", {}, NOW)
    failed = await desk.desk.record_request("callback", await desk.ref(LANDLINE), "fr", {}, NOW)
    desk.work()
    [listed] = await desk.desk.failed_confirmations()
    assert (listed.id, listed.confirmation, listed.confirmation_failed) == (
        failed.id,
        MessageState.FAILED,
        True,
    )
    assert [m["to"] for m in standin.messages] == [CALLER]
    assert ok.id != failed.id
