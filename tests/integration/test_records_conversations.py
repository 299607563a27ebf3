"""SMS conversations reach the records as contacts (channel "sms") through the drain, on SQLite
and PostgreSQL: opened, assigned, transferred and ended by the real conversation service on a
real Redis, keyed by the caller's reference only, and a replayed log doubles nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import pytest
import redis
from cryptography.fernet import Fernet
from rq import Queue
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from acd.chat import ChatRouter
from acd.config import AgentProfile, Device, DeviceKind, QueueConfig
from acd.store import AcdStore
from core import redisconn
from core.config import RecordsSettings, load_settings
from core.keys import Keys
from core.privacy import Vault
from records.database import connect, upgrade
from records.drain import Drain, Entries
from records.models import Contact, StreamCursor
from sms.conversations import Conversations
from sms.inbound import InboundSms
from sms.outbox import Outbox
from sms.recipients import sender_key, store_in
from sms.relay import RelayBook
from sms.requests import RequestDesk
from sms.templates import load_templates

CALLER, OTHER = "+15145550111", "+15145550122"
T0 = 1_750_000_000.0
AGENTS = {
    name: AgentProfile(name, name.title(), "x", (), queues=("general",), chat_capacity=2)
    for name in ("ann", "bob")
}


@dataclass
class Desk:
    """The conversation service on a real Redis, its clock, and a drain into the records."""

    conversations: Conversations
    vault: Vault
    acd: AcdStore
    drain: Drain
    engine: AsyncEngine
    now: list[float]

    async def text(self, number: str, sid: str) -> str:
        """An inbound text from ``number``; the id of its conversation."""
        hash_key = self.conversations.settings.secrets.hash_key
        sms = InboundSms(sid, sender_key(number, hash_key), number, "+18005550100", "hi", 0)
        await self.conversations.on_inbound(sms)
        ref = self.vault.ref_for(number)
        conv = await self.conversations.redis.get(self.conversations.keys.open_conversation(ref))
        assert isinstance(conv, str)
        return conv

    async def contact(self, conversation_id: str) -> Contact | None:
        async with AsyncSession(self.engine) as session:
            return await session.get(Contact, conversation_id)


@pytest.fixture
async def desk(redis_url: str, records_settings: RecordsSettings) -> AsyncIterator[Desk]:
    settings = load_settings(
        None,
        env={
            "HOTLINE_HASH_KEY": "records-conv-hash-key-0123456789",
            "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
            "HOTLINE_REDIS_URL": redis_url,
        },
    )
    keys = Keys(settings.redis.prefix)
    client = redisconn.connect(settings.redis)
    raw = redis.Redis.from_url(redis_url)
    vault = Vault(
        client,
        keys,
        hash_key=settings.secrets.hash_key,
        fernet_keys=settings.secrets.vault_keys,
        default_region="CA",
    )
    outbox = Outbox(Queue("sms", connection=raw), keys, settings.sms, store_in(vault))
    acd = AcdStore(client, keys, {"general": QueueConfig("general")})
    await acd.sync_agents(list(AGENTS.values()))
    await acd.login("ann", ["general"], Device(DeviceKind.SIP, "PJSIP/ann"), T0)
    templates = load_templates()
    now = [T0]
    conversations = Conversations(
        redis=client,
        settings=settings,
        vault=vault,
        outbox=outbox,
        router=ChatRouter(client, keys, AGENTS),
        templates=templates,
        requests=RequestDesk(client, keys, outbox, templates, settings),
        relay=RelayBook(),
        clock=lambda: now[0],
    )
    engine = connect(records_settings)
    await upgrade(engine)
    drain = Drain(client, keys, engine, batch=2, clock=lambda: now[0])
    try:
        yield Desk(conversations, vault, acd, drain, engine, now)
    finally:
        await engine.dispose()
        raw.close()
        await client.aclose()


async def test_a_conversation_becomes_an_sms_contact_keyed_by_reference_only(
    desk: Desk,
) -> None:
    conv = await desk.text(CALLER, "SM1")
    desk.now[0] = T0 + 30
    await desk.acd.login("bob", ["general"], Device(DeviceKind.SIP, "PJSIP/bob"), T0 + 30)
    await desk.conversations.transfer(conv, "ann", to_agent="bob")
    desk.now[0] = T0 + 90
    await desk.conversations.end(conv, "bob")
    keys = desk.conversations.keys
    log = cast(Entries, await desk.conversations.redis.xrange(keys.conversation_log))
    assert [fields["event"] for _, fields in log] == ["open", "assign", "assign", "end"]
    assert CALLER[2:] not in repr(log)
    assert desk.vault.ref_for(CALLER) not in repr(log)
    await desk.drain.catch_up()

    contact = await desk.contact(conv)
    assert contact is not None
    ref = desk.vault.ref_for(CALLER)
    row = {
        name: getattr(contact, name)
        for name in ("channel", "caller_key", "queues", "agent", "transfers", "outcome")
    }
    assert row == {
        "channel": "sms",
        "caller_key": ref[:12],
        "queues": "general",
        "agent": "bob",
        "transfers": 1,
        "outcome": "answered",
    }
    assert (contact.arrived_at, contact.offered_at) == (T0, T0)
    assert (contact.answered_at, contact.ended_at) == (T0, T0 + 90)  # answered by ann
    entry = await desk.vault.find(CALLER)
    assert entry is not None
    assert contact.pseudonym == entry.pseudonym
    stored = repr({c.key: getattr(contact, c.key) for c in Contact.__table__.columns})
    assert CALLER[2:] not in stored
    assert ref not in stored


async def test_a_replayed_conversation_log_doubles_nothing(desk: Desk) -> None:
    conv = await desk.text(CALLER, "SM1")
    other = await desk.text(OTHER, "SM2")
    await desk.acd.login("bob", ["general"], Device(DeviceKind.SIP, "PJSIP/bob"), T0)
    await desk.conversations.transfer(conv, "ann", to_agent="bob")
    desk.now[0] = T0 + 60
    await desk.conversations.end(conv, "bob")
    await desk.drain.catch_up()
    before = await rows(desk.engine)
    async with desk.engine.begin() as conn:
        await conn.execute(delete(StreamCursor))
    replayed = 0
    while (step := await desk.drain.step()).total:
        replayed += step.conversations
    assert replayed == 6  # opened twice, assigned thrice, ended once
    assert await rows(desk.engine) == before
    assert [row[0] for row in before] == sorted([conv, other])
    contact = await desk.contact(conv)
    assert contact is not None
    assert contact.transfers == 1


async def rows(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        found = await conn.execute(select(Contact.__table__).order_by(Contact.id))
        return [tuple(row) for row in found.all()]
