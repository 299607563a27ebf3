"""The drain runs in ``hotline worker``: two worker processes drain what the app wrote to
the Redis streams into SQL, on both databases, taking turns (the drain lock: neither meets the
other's writes), each call's entries become one contact and its queue history once, and a
worker stopped by SIGTERM exits by itself, drain and all."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from rq import Worker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import RecordsSettings, Settings, load_settings
from records.database import connect, upgrade
from records.models import Contact, QueueEvent
from tests.conftest import worker_process
from tests.integration.test_records_store import KEYS, T0, one_call

CALLS = 30


def settings_for(redis_url: str, records: RecordsSettings) -> Settings:
    settings = load_settings(
        None,
        env={
            "HOTLINE_HASH_KEY": "records-worker-hash-key-0123",
            "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
            "HOTLINE_REDIS_URL": redis_url,
            "HOTLINE_REDIS_PREFIX": KEYS.prefix,
        },
    )
    return dataclasses.replace(settings, records=dataclasses.replace(records, drain_every_s=0.2))


async def written(records: RecordsSettings, within: float = 60) -> tuple[int, int]:
    """(contacts ended, queue events) once every call's contact has ended."""
    engine = connect(records)
    deadline = time.monotonic() + within
    try:
        while True:
            async with AsyncSession(engine) as session:
                ended = await session.scalar(
                    select(func.count()).select_from(Contact).where(Contact.ended_at.is_not(None))
                )
                events = await session.scalar(select(func.count()).select_from(QueueEvent))
            if ended == CALLS:
                return ended, events or 0
            assert time.monotonic() < deadline, f"{ended} of {CALLS} contacts in the records"
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def both_working(redis_url: str, within: float = 60) -> None:
    """Wait until two workers have registered with RQ (past their start and migration)."""
    deadline = time.monotonic() + within
    with redis.Redis.from_url(redis_url) as connection:
        while Worker.count(connection=connection) < 2:
            assert time.monotonic() < deadline, "the two workers did not both start"
            await asyncio.sleep(0.1)


async def test_two_workers_drain_the_streams_into_sql_once(
    redis_url: str, records_settings: RecordsSettings, tmp_path: Path
) -> None:
    settings = settings_for(redis_url, records_settings)
    engine = connect(records_settings)
    await upgrade(engine)  # as the app does at start (the workers migrate too, meanwhile)
    await engine.dispose()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    try:
        async with (
            worker_process(settings, logs[0]) as first,
            worker_process(settings, logs[1]) as second,
        ):
            await both_working(redis_url)
            for n in range(CALLS):
                await one_call(client, f"c{n}", T0 + n * 100)
            assert await written(records_settings) == (CALLS, 4 * CALLS)
        # SIGTERM: each stopped by itself (its drain's database work ended, nothing left open)
        assert (first.returncode, second.returncode) == (0, 0)
        assert await client.xlen(KEYS.acd_queue_log) == 4 * CALLS  # kept an hour: recent ids
    finally:
        await client.aclose()
    for log in logs:
        text = log.read_text(errors="replace")
        assert "drain failed" not in text, text[-3000:]
        assert "Traceback" not in text, text[-3000:]
