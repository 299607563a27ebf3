"""The retention purge on a real Redis: old vault entries, conversations (with their chat
tasks) and requests go, fresh ones stay; the RQ job run by a real worker purges the records
too (SQLite and PostgreSQL) and schedules tomorrow's; ``hotline worker`` migrates the records
at start."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import redis
from cryptography.fernet import Fernet
from rq import Queue
from sqlalchemy import insert, select

from acd import chat
from acd.chat import ChatRouter
from acd.config import AgentProfile, Device, DeviceKind, QueueConfig
from acd.store import AcdStore
from core import redisconn
from core.config import RecordsSettings, Settings, load_settings
from core.keys import Keys
from core.privacy import Vault
from hotline.harness import free_port, settings_env
from records.database import connect, current_revision, head_revision, upgrade
from records.models import Contact
from sms.conversations import Conversations
from sms.inbound import InboundDesk, InboundSms
from sms.outbox import Outbox
from sms.recipients import sender_key, store_in
from sms.relay import RelayBook
from sms.requests import RequestDesk
from sms.templates import load_templates
from workers.retention import JOB, purge_now
from workers.sms import SmsRuntime

OLD, FRESH = "+15145550111", "+15145550122"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
AGENTS = {"ann": AgentProfile("ann", "Ann", "x", (), queues=("general",), chat_capacity=3)}


async def test_purge_removes_old_content_and_vault_entries_and_keeps_fresh_ones(
    redis_url: str,
) -> None:
    settings = load_settings(
        None,
        env={
            "HOTLINE_HASH_KEY": "retention-hash-key-0123456789",
            "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
            "HOTLINE_REDIS_URL": redis_url,
            "HOTLINE_PRIVACY_RETENTION_DAYS": "30",
            "HOTLINE_SMS_RETENTION_SECONDS": str(7 * 86400),
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
    await acd.login("ann", ["general"], Device(DeviceKind.SIP, "PJSIP/ann"), 0)
    templates = load_templates()
    desk = RequestDesk(client, keys, outbox, templates, settings)
    now = [0.0]
    conversations = Conversations(
        redis=client,
        settings=settings,
        vault=vault,
        outbox=outbox,
        router=ChatRouter(client, keys, AGENTS),
        templates=templates,
        requests=desk,
        relay=RelayBook(),
        clock=lambda: now[0],
    )
    hash_key = settings.secrets.hash_key
    try:
        opened: dict[str, str] = {}
        for number, at in ((OLD, NOW - timedelta(days=40)), (FRESH, NOW - timedelta(days=1))):
            now[0] = at.timestamp()
            sid = f"SM{len(opened)}"
            sms = InboundSms(sid, sender_key(number, hash_key), number, "+18005550100", "hi", 0)
            await conversations.on_inbound(sms)
            held = cast(set[str], await client.smembers(keys.chat_agent("ann")))
            [opened[number]] = held - set(opened.values())
            await desk.record_request("pledge", vault.ref_for(number), "en", {}, at)
        purged = await asyncio.to_thread(purge_now, settings, chat.drop, NOW)
        assert (purged.vault, purged.conversations, purged.requests) == (1, 1, 1)
        assert await vault.find(OLD) is None
        assert await vault.find(FRESH) is not None
        assert await conversations.get(opened[OLD]) is None
        assert await client.llen(keys.conversation_messages(opened[OLD])) == 0
        assert await client.smembers(keys.chat_agent("ann")) == {opened[FRESH]}
        assert [m.body for m in await conversations.messages(opened[FRESH])] == ["hi"]
        assert await client.zcard(keys.request_index) == 1
        assert (await asyncio.to_thread(purge_now, settings, chat.drop, NOW)).vault == 0
    finally:
        raw.close()
        await client.aclose()


def worker_settings(redis_url: str, records: RecordsSettings) -> Settings:
    settings = load_settings(
        None,
        env={
            "HOTLINE_HASH_KEY": "retention-hash-key-0123456789",
            "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
            "HOTLINE_REDIS_URL": redis_url,
        },
    )
    return dataclasses.replace(settings, records=records)


async def add_contacts(records: RecordsSettings, arrived: dict[str, float]) -> None:
    engine = connect(records)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            rows = [{"id": key, "arrived_at": at} for key, at in arrived.items()]
            await conn.execute(insert(Contact), rows)
    finally:
        await engine.dispose()


async def revision(records: RecordsSettings) -> str | None:
    engine = connect(records)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def contact_ids(records: RecordsSettings) -> list[str]:
    engine = connect(records)
    try:
        async with engine.connect() as conn:
            return list((await conn.scalars(select(Contact.id).order_by(Contact.id))).all())
    finally:
        await engine.dispose()


def test_the_job_purges_and_schedules_tomorrow(
    redis_url: str, records_settings: RecordsSettings
) -> None:
    records = dataclasses.replace(records_settings, contacts_days=30)
    settings = worker_settings(redis_url, records)
    now = time.time()
    asyncio.run(add_contacts(records, {"old": now - 31 * 86400, "fresh": now - 29 * 86400}))
    raw = redis.Redis.from_url(redis_url)
    queue = Queue(settings.sms.rq_queue, connection=raw)
    queue.enqueue(JOB)
    runtime = SmsRuntime(settings, drop_chat=chat.drop)
    try:
        runtime.worker().work(burst=True)
    finally:
        runtime.close()
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert queue.scheduled_job_registry.get_job_ids() == [f"retention-{tomorrow:%Y%m%d}"]
    assert queue.failed_job_registry.count == 0
    assert asyncio.run(contact_ids(records)) == ["fresh"]
    raw.close()


def test_the_worker_migrates_the_records_at_start(
    redis_url: str, records_settings: RecordsSettings, tmp_path: Path
) -> None:
    settings = worker_settings(redis_url, records_settings)
    assert asyncio.run(revision(records_settings)) is None
    subprocess.run(
        [sys.executable, "-m", "hotline.cli", "worker", "--burst"],
        env={**os.environ, **settings_env(settings)},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert asyncio.run(revision(records_settings)) == head_revision()


def test_the_worker_starts_with_the_records_database_away(redis_url: str, tmp_path: Path) -> None:
    records = RecordsSettings(url=f"postgresql+asyncpg://hotline@127.0.0.1:{free_port()}/none")
    settings = worker_settings(redis_url, records)
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "worker", "--burst"],
        env={**os.environ, **settings_env(settings)},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "records: database unreachable" in done.stderr


def everything_in(client: redis.Redis) -> bytes:
    """Every key and value in Redis, as bytes (RQ's jobs included)."""
    read: dict[bytes, Callable[[bytes], Any]] = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"list": lambda k: client.lrange(k, 0, -1),
        b"set": client.smembers,
        b"zset": lambda k: client.zrange(k, 0, -1),
        b"stream": client.xrange,
    }
    return b"\n".join(
        repr((key, read[cast(bytes, client.type(key))](key))).encode() for key in client.scan_iter()
    )


async def test_no_copy_of_a_body_outlives_content_retention(redis_url: str) -> None:
    """A caller texts, is answered, texts again 15 s later (renewing every TTL); with 20 s of
    content retention, the purge 22 s after the first text leaves no copy of its body or of
    the reply, anywhere in Redis, and keeps the later text."""
    settings = load_settings(
        None,
        env={
            "HOTLINE_HASH_KEY": "retention-hash-key-0123456789",
            "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
            "HOTLINE_REDIS_URL": redis_url,
            "HOTLINE_SMS_RETENTION_SECONDS": "20",
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
    t0 = time.time()
    await acd.login("ann", ["general"], Device(DeviceKind.SIP, "PJSIP/ann"), t0)
    now = [t0]
    templates = load_templates()
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
    desk = InboundDesk(client, settings, conversations.on_inbound, clock=lambda: now[0])
    try:
        await desk.receive("SM1", OLD, "+18005550100", "first-secret", redelivered=True)
        [conversation] = cast(set[str], await client.smembers(keys.chat_agent("ann")))
        now[0] = t0 + 1
        reply = await conversations.reply(conversation, "ann", "reply-secret", via="console")
        await client.hset(keys.sms_message(reply), "state", "delivered")  # as the worker would
        now[0] = t0 + 15
        await desk.receive("SM2", OLD, "+18005550100", "later-text", redelivered=True)
        purge_at = datetime.fromtimestamp(t0 + 22, UTC)
        await asyncio.to_thread(purge_now, settings, chat.drop, purge_at)
        stored = everything_in(raw)
        assert b"first-secret" not in stored
        assert b"reply-secret" not in stored
        assert b"later-text" in stored
        bodies = [m.body for m in await conversations.messages(conversation)]
        assert bodies == ["", "", "later-text"]
    finally:
        raw.close()
        await client.aclose()
