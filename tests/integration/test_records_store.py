"""The records store on both databases (SQLite and a private PostgreSQL): migrations, and the
drain of the Redis streams into SQL (contacts, queue history, audit), replayed or raced
without doubling anything, and waiting in Redis while the database is down."""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from redis.exceptions import LockError
from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.config import RecordsSettings
from core.keys import Keys
from hotline.harness import PostgresServer
from pledges.models import Base as PledgesBase
from records.database import (
    _migrating,
    connect,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from records.drain import Drain, Entries
from records.models import AuditEntry, Base, Contact, QueueEvent, StreamCursor, Wrapup
from records.retention import PurgedRecords, purge_records
from records.today import calls_since
from tests.conftest import create_database

KEYS = Keys("t")
T0 = 1_700_000_000.0


@pytest.fixture
async def engine(records_settings: RecordsSettings) -> AsyncIterator[AsyncEngine]:
    made = connect(records_settings)
    await upgrade(made)
    yield made
    await made.dispose()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def drain_of(client: aioredis.Redis, engine: AsyncEngine, keep_s: float = 3600) -> Drain:
    return Drain(client, KEYS, engine, batch=3, keep_s=keep_s, clock=time.time)


async def one_call(client: aioredis.Redis, call: str, t: float, *, agent: str = "alice") -> None:
    """One answered call as the IVR and the ACD's scripts write it (field for field)."""
    journal = [
        ("call", {"caller": "h:0123456789ab", "did": "+18005550100", "pseudonym": "Calm Heron"}),
        ("digit", {"node": "lang", "digit": "1", "target": "menu"}),
        ("language", {"node": "lang", "language": "fr"}),
        ("digit", {"node": "menu", "digit": "2", "target": "q"}),
        ("queue", {"node": "q", "queue": "general"}),
    ]
    for kind, detail in journal:
        await client.xadd(
            KEYS.journal, {"channel": call, "kind": kind, "detail": json.dumps(detail)}
        )
    for event, at, extra in (
        ("ENTERQUEUE", t, {"position": "1", "kind": "voice", "priority": "0"}),
        ("OFFER", t + 1, {"offer": "7"}),
        ("CONNECT", t + 3, {"holdtime": "3.0", "ringtime": "2.0"}),
        ("COMPLETECALLER", t + 63, {"holdtime": "3.0", "calltime": "60.0"}),
    ):
        fields: dict[str, str] = {
            "time": str(at), "event": event, "queue": "general", "call": call,
            "agent": agent if event != "ENTERQUEUE" else "NONE", **extra,
        }  # fmt: skip
        await client.xadd(KEYS.acd_queue_log, cast(dict[Any, Any], fields))


async def counts(engine: AsyncEngine) -> tuple[int, int, int]:
    async with AsyncSession(engine) as session:
        return (
            await session.scalar(select(func.count()).select_from(Contact)) or 0,
            await session.scalar(select(func.count()).select_from(QueueEvent)) or 0,
            await session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


async def test_migrations_build_the_models_schema_and_go_back_down(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()

    def differences(sync: object) -> list[object]:
        models = [Base.metadata, PledgesBase.metadata]  # one database, two features' tables
        return list(compare_metadata(MigrationContext.configure(sync), models))  # type: ignore[arg-type]

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []
    await downgrade(engine, "base")
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    assert set(tables) <= {"alembic_version"}
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = connect(RecordsSettings(data_dir=tmp_path / "data"))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await engine.dispose()


async def test_a_call_becomes_a_contact_and_queue_history(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    await one_call(redis_client, "c1", T0)
    written = await drain_of(redis_client, engine).catch_up()
    assert written == 9
    async with AsyncSession(engine) as session:
        contact = await session.get_one(Contact, "c1")
        events = (await session.scalars(select(QueueEvent).order_by(QueueEvent.id))).all()
    assert (contact.caller_key, contact.line, contact.language) == (
        "0123456789ab", "+18005550100", "fr",
    )  # fmt: skip
    assert (contact.ivr_path, contact.queues, contact.agent) == ("1 2", "general", "alice")
    assert contact.pseudonym == "Calm Heron"
    assert (contact.offered_at, contact.answered_at, contact.ended_at) == (T0 + 1, T0 + 3, T0 + 63)
    assert contact.outcome == "answered"
    assert [e.event for e in events] == ["ENTERQUEUE", "OFFER", "CONNECT", "COMPLETECALLER"]
    assert (events[2].wait_s, events[3].talk_s, events[3].hour) == (3.0, 60.0, int(T0 // 3600))


async def test_requests_catching_up_together_share_one_pass_begun_after_they_asked(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    drain = drain_of(redis_client, engine)
    await one_call(redis_client, "c1", T0)
    # Ten requests at once (a burst of operators' forms): the first begins a pass, the other
    # nine share the one that begins after it, instead of ten passes in a row.
    await asyncio.gather(*(drain.caught_up() for _ in range(10)))
    assert drain.passes_begun == 2
    await one_call(redis_client, "c2", T0 + 100)
    await drain.caught_up()  # a pass that ended before this call began does not do
    assert drain.passes_begun == 3
    async with AsyncSession(engine) as session:
        found = (await session.scalars(select(Contact.id).order_by(Contact.id))).all()
    assert list(found) == ["c1", "c2"]


async def test_a_catch_up_ends_at_the_tips_it_began_with_while_entries_keep_coming(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    drain = drain_of(redis_client, engine)
    await one_call(redis_client, "c1", T0)
    asked, stop = asyncio.Event(), asyncio.Event()
    written = 0

    async def keep_calling() -> None:  # a burst: calls keep coming during the catch-up
        nonlocal written
        while not stop.is_set():
            await one_call(redis_client, f"later{written}", T0 + 10 + written)
            written += 1
            if written == 1:
                asked.set()
            await asyncio.sleep(0.005)  # about 200 calls a second

    # Stopped by an event, not cancelled: on Python 3.11 a cancel that arrives as redis-py's
    # send (an asyncio.wait_for) completes is swallowed, and the loop would go on.
    caller = asyncio.create_task(keep_calling())
    try:
        await asyncio.wait_for(asked.wait(), timeout=30)
        # Returns while the calls go on (before, it went on until a step found nothing new,
        # so a pledge request waited for the burst to end) ...
        await asyncio.wait_for(drain.caught_up(), timeout=60)
        assert not caller.done()
    finally:
        stop.set()
        await caller
    async with AsyncSession(engine) as session:
        found = set((await session.scalars(select(Contact.id))).all())
    # ... with what the streams held when it was asked in SQL.
    assert {"c1", "later0"} <= found


async def test_replayed_entries_double_nothing(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    await one_call(redis_client, "c1", T0)
    for reason in ("safety", "police request"):
        await redis_client.xadd(
            KEYS.audit,
            {"at": "2026-12-06T10:00:00+00:00", "actor": "sam", "role": "supervisor",
             "reason": reason, "ref": "0123456789abcdef", "pseudonym": "Brave Otter"},
        )  # fmt: skip
    await drain_of(redis_client, engine).catch_up()
    async with AsyncSession(engine) as session:
        before = (await session.get_one(Contact, "c1")).ivr_path
        await session.execute(delete(StreamCursor))  # as if every entry came again
        await session.commit()
    await drain_of(redis_client, engine).catch_up()
    assert await counts(engine) == (1, 4, 2)
    async with AsyncSession(engine) as session:
        contact = await session.get_one(Contact, "c1")
        (audit_id, _), *_ = cast(Entries, await redis_client.xrange(KEYS.audit))  # the first
        audit = await session.get_one(AuditEntry, audit_id)
    assert (contact.ivr_path, contact.transfers) == (before, 0)
    assert (audit.actor, audit.target, audit.reason) == ("sam", "0123456789ab", "safety")


async def test_two_instances_draining_at_once_double_nothing(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    for n in range(5):
        await one_call(redis_client, f"c{n}", T0 + n * 100)
    first, second = drain_of(redis_client, engine), drain_of(redis_client, engine)
    for _ in range(20):
        await asyncio.gather(first.step(), second.step(), return_exceptions=True)
    await first.catch_up()
    assert await counts(engine) == (5, 20, 0)


async def test_a_step_waits_for_the_drain_lock_another_process_holds(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    await one_call(redis_client, "c0", T0)
    other = redis_client.lock(KEYS.records_drain_lock, timeout=30)
    assert await other.acquire(blocking=False)
    drain = Drain(redis_client, KEYS, engine, clock=time.time, lock_wait_s=0.2)
    with pytest.raises(LockError):
        await drain.step()
    assert await counts(engine) == (0, 0, 0)
    await other.release()
    assert (await drain.step()).queue_events == 4
    assert await redis_client.exists(KEYS.records_drain_lock) == 0  # released after its step


async def test_written_entries_leave_redis_once_older_than_kept(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    old = time.time() - 7200
    for n, event in enumerate(("ENTERQUEUE", "ABANDON")):
        await redis_client.xadd(
            KEYS.acd_queue_log,
            {"time": str(old), "event": event, "queue": "general", "call": "gone",
             "agent": "NONE", "waittime": "9"},
            id=f"{int(old * 1000)}-{n}",
        )  # fmt: skip
    drain = drain_of(redis_client, engine, keep_s=3600)
    await drain.catch_up()
    assert await redis_client.xlen(KEYS.acd_queue_log) == 0
    await one_call(redis_client, "new", old)  # written now: its stream ids are recent
    await drain.catch_up()
    assert await redis_client.xlen(KEYS.acd_queue_log) == 4
    async with AsyncSession(engine) as session:
        assert (await session.get_one(Contact, "gone")).outcome == "abandoned"
    assert await counts(engine) == (2, 6, 0)


async def test_entries_wait_in_redis_while_postgresql_is_down(
    postgres: PostgresServer, redis_client: aioredis.Redis
) -> None:
    engine = connect(RecordsSettings(url=postgres.url(create_database(postgres))))
    await upgrade(engine)
    await one_call(redis_client, "before", T0)
    drain = drain_of(redis_client, engine, keep_s=0)
    await drain.catch_up()
    postgres.stop()
    try:
        await one_call(redis_client, "during", T0 + 100)
        with pytest.raises(ConnectionRefusedError):
            await drain.step()
        assert await redis_client.xlen(KEYS.acd_queue_log) == 4  # nothing trimmed unwritten
    finally:
        postgres.start()
    await one_call(redis_client, "after", T0 + 200)
    await drain.catch_up()
    assert await counts(engine) == (3, 12, 0)
    assert await redis_client.xlen(KEYS.acd_queue_log) == 0
    await engine.dispose()


async def test_the_purge_deletes_rows_past_each_tables_retention_in_batches(
    engine: AsyncEngine, redis_client: aioredis.Redis, records_settings: RecordsSettings
) -> None:
    day = 86400
    now = T0 + 800 * day
    for n, age_days in enumerate((900, 740, 700, 10)):  # contacts and queue history: 730 days
        await one_call(redis_client, f"c{n}", now - age_days * day)
    await drain_of(redis_client, engine).catch_up()
    async with AsyncSession(engine) as session:
        for n, age_days in enumerate((800, 100)):  # wrap-ups: 365 days here
            session.add(
                Wrapup(call_id=f"c{n + 2}", agent="alice", queue="general",
                       disposition="crisis", notes="", removed="{}",
                       written_at=now - age_days * day)
            )  # fmt: skip
        await session.commit()
    settings = dataclasses.replace(records_settings, wrapups_days=365)
    purged = await purge_records(engine, settings, now, batch=3)
    assert purged == PurgedRecords(contacts=2, wrapups=1, queue_events=8)
    assert await counts(engine) == (2, 8, 0)
    async with AsyncSession(engine) as session:
        left = await session.scalars(select(Contact.id).order_by(Contact.id))
        assert left.all() == ["c2", "c3"]
        assert [w.call_id for w in (await session.scalars(select(Wrapup))).all()] == ["c3"]
    assert await purge_records(engine, settings, now) == PurgedRecords(0, 0, 0)


async def test_two_migrations_at_once_in_one_process_both_succeed(
    records_settings: RecordsSettings,
) -> None:
    engines = [connect(records_settings) for _ in range(2)]
    try:
        await asyncio.gather(*(upgrade(engine) for engine in engines))
        assert [await current_revision(e) for e in engines] == [head_revision()] * 2
    finally:
        for engine in engines:
            await engine.dispose()


def test_two_instances_upgrading_a_fresh_database_at_once_both_succeed(
    records_settings: RecordsSettings, tmp_path: Path
) -> None:
    """``hotline db upgrade`` twice at once, as two app hosts starting together would."""
    env = {
        **os.environ,
        "HOTLINE_RECORDS_URL": records_settings.url,
        "HOTLINE_RECORDS_DATA_DIR": str(records_settings.data_dir),
    }
    command = [sys.executable, "-m", "hotline.cli", "db", "upgrade"]
    runs = [
        subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs == [f"records schema at {head_revision()} (newest: {head_revision()})\n"] * 2


async def test_a_child_forked_during_a_migration_does_not_keep_the_sqlite_lock(
    tmp_path: Path,
) -> None:
    # RQ's scheduler is forked by the worker while its drain may be migrating.
    settings = RecordsSettings(data_dir=tmp_path / "records")
    settings.data_dir.mkdir(parents=True)
    engine = connect(settings)
    child = 0
    try:
        async with _migrating(engine):
            child = os.fork()
            if child == 0:  # the child only holds the inherited descriptors, until killed
                signal.pause()
                os._exit(0)
        lock = f"{engine.url.database}.migrate.lock"
        fd = os.open(lock, os.O_WRONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if still held
        finally:
            os.close(fd)
    finally:
        await engine.dispose()
        if child:
            os.kill(child, signal.SIGKILL)
            await asyncio.to_thread(os.waitpid, child, 0)


async def test_calls_today_count_drained_and_undrained_entries_once(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    await one_call(redis_client, "c0", T0 - 100, agent="bruno")  # before the day began
    await one_call(redis_client, "c1", T0 + 10)
    await one_call(redis_client, "c2", T0 + 20, agent="bruno")
    assert await calls_since(engine, redis_client, KEYS, T0) == {"alice": 1, "bruno": 1}
    for _ in range(3):  # c1's CONNECT drained, c2's not (3 entries a step)
        await drain_of(redis_client, engine).step()
    assert await calls_since(engine, redis_client, KEYS, T0) == {"alice": 1, "bruno": 1}
    await drain_of(redis_client, engine).catch_up()
    await one_call(redis_client, "c3", T0 + 30)  # not drained yet
    assert await calls_since(engine, redis_client, KEYS, T0) == {"alice": 2, "bruno": 1}
    await drain_of(redis_client, engine).catch_up()
    await redis_client.delete(KEYS.acd_queue_log)  # as if trimmed once drained
    assert await calls_since(engine, redis_client, KEYS, T0) == {"alice": 2, "bruno": 1}
