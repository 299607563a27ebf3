"""The app's records service stops without leaving a database connection behind, wherever its
work was when the app stopped: SQLite's driver thread for an open connection is not a daemon,
so one left open keeps the process from exiting. It migrates and drains nothing: the workers
do (``tests/integration/test_records_worker.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import load_settings
from records.models import QueueEvent
from records.service import RecordsService
from tests.integration.test_records_store import KEYS, T0, one_call


async def test_stopping_at_any_point_of_the_migration_leaves_no_database_thread(
    redis_url: str, tmp_path: Path
) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for turns in range(0, 40, 2):  # cancelled after 0, 2, 4... turns of the event loop
            data_dir = tmp_path / f"records-{turns}"
            settings = load_settings(None, env={"HOTLINE_RECORDS_DATA_DIR": str(data_dir)})
            before = set(threading.enumerate())
            service = RecordsService(settings, client, {})
            task = asyncio.create_task(service.run())
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await service.close()
            for _ in range(50):  # a closed connection's thread ends at once
                left = [
                    t
                    for t in threading.enumerate()
                    if t not in before and not t.daemon and not t.name.startswith("asyncio_")
                ]  # the loop's idle executor threads end with it
                if not any(t.is_alive() for t in left):
                    break
                await asyncio.sleep(0.02)
            assert not [t.name for t in left if t.is_alive()], f"after {turns} turns"
    finally:
        await client.aclose()


async def test_the_app_migrates_and_leaves_the_streams_to_the_workers(
    redis_url: str, tmp_path: Path
) -> None:
    settings = load_settings(
        None, env={"HOTLINE_RECORDS_DATA_DIR": str(tmp_path), "HOTLINE_REDIS_PREFIX": KEYS.prefix}
    )
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    service = RecordsService(settings, client, {})
    try:
        await one_call(client, "c0", T0)
        await asyncio.wait_for(service.run(), 30)  # migrated, and done: no drain to run
        assert service.ready.is_set()
        async with AsyncSession(service.engine) as session:
            assert await session.scalar(select(func.count()).select_from(QueueEvent)) == 0
        assert await client.xlen(KEYS.acd_queue_log) == 4
    finally:
        await service.close()
        await client.aclose()
