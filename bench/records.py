"""The records store under load, on a private redis-server, a SQLite file and a private
PostgreSQL cluster (default durability settings).

- ``contacts_per_s_sqlite`` / ``contacts_per_s_postgresql``: calls recorded a second through
  the records' path: each call's IVR journal (5 entries) and queue log (4 entries: ENTERQUEUE,
  OFFER, CONNECT, COMPLETECALLER) are written to Redis as the app writes them, then the drain
  (``records.drain.Drain``, as ``hotline worker`` runs it) moves them into contacts and queue
  history; the rate is calls over the drain's wall time (goal >= 1,000/s on each);
  ``drain_cpu_ms_per_call_sqlite`` / ``_postgresql``: the draining process's CPU a call (the
  worker's, not the app's; SQLite's work is in that process, PostgreSQL's in its own);
- ``report_month_by_hour_s``: one queue's report over a month by hour (``queue_report``), best
  of 3, on PostgreSQL holding 1 million contacts' queue history spread over a year (100,000
  with ``--quick``; generated in the database) (goal <= 1 s);
- ``cpu_ms_per_call_added``: the app process's CPU a call with recording minus without, both
  measured as ``bench.acd`` measures the app's CPU (``bench/records_app.py``: real calls
  through Asterisk; a worker draining into PostgreSQL, or none), goal <= 0.5 ms; with
  ``app_cpu_ms_per_call_with_records`` / ``_without_records`` and the worker's CPU a call
  during the same trials (``worker_cpu_ms_per_call``).

``python -m bench.records [--quick]``; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.records_app import measure
from core.config import RecordsSettings
from core.keys import Keys
from hotline.harness import PostgresServer, RedisServer, postgres_bin
from records.database import connect, upgrade
from records.drain import Drain
from records.reports import By, queue_report
from records.wrapups import QueueRules

KEYS = Keys("bench")
T0 = 1_767_225_600.0  # 2026-01-01 UTC
RULES = QueueRules(("information",), 10, 20, 5)
DETAIL = {
    "call": '{"caller": "h:0123456789ab", "did": "+18005550100"}',
    "digit": '{"node": "menu", "digit": "1", "target": "q"}',
    "language": '{"node": "lang", "language": "en"}',
    "queue": '{"node": "q", "queue": "general"}',
    "play": '{"playback": "1", "media": "sound:beep", "language": "en"}',
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def write_calls(client: aioredis.Redis, calls: int, first: int) -> None:
    """``calls`` calls' stream entries, as the IVR and the ACD's scripts write them."""
    for start in range(first, first + calls, 200):
        async with client.pipeline(transaction=False) as pipe:
            for n in range(start, min(start + 200, first + calls)):
                call, t = f"call-{n}", T0 + n
                for kind, detail in DETAIL.items():
                    pipe.xadd(KEYS.journal, {"channel": call, "kind": kind, "detail": detail})
                for event, at, extra in (
                    ("ENTERQUEUE", t, {"position": 1, "kind": "voice", "priority": 0}),
                    ("OFFER", t + 1, {"offer": n}),
                    ("CONNECT", t + 3, {"holdtime": 3.0, "ringtime": 2.0}),
                    ("COMPLETECALLER", t + 63, {"holdtime": 3.0, "calltime": 60.0}),
                ):
                    fields = {"time": at, "event": event, "queue": "general", "call": call,
                              "agent": "alice", **extra}  # fmt: skip
                    pipe.xadd(KEYS.acd_queue_log, fields)  # type: ignore[arg-type]
            await pipe.execute()


async def drain_rate(
    client: aioredis.Redis, engine: AsyncEngine, calls: int
) -> tuple[float, float]:
    """(calls a second, the drain's CPU ms a call) draining ``calls`` calls into ``engine``."""
    await client.flushdb()
    await upgrade(engine)
    await write_calls(client, 50, 0)  # warm up: connections, statements
    drain = Drain(client, KEYS, engine, batch=1000, keep_s=0, clock=time.time)
    await drain.catch_up()
    await write_calls(client, calls, 50)
    cpu, wall = time.process_time(), time.perf_counter()
    await drain.catch_up()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return calls / wall, 1000 * cpu / calls


def fill_history(server: PostgresServer, database: str, contacts: int) -> None:
    """``contacts`` answered or abandoned calls' queue history over a year, in the database
    (generate_series: the bench's data only, not the store's own SQL)."""
    year = 365 * 86400
    sql = f"""
    INSERT INTO queue_events (id, at, hour, event, queue, call_id, agent, wait_s, talk_s, detail)
    SELECT n || '-' || e, at, floor(at / 3600)::int,
           CASE WHEN e = 0 THEN 'ENTERQUEUE' WHEN n % 5 = 0 THEN 'ABANDON' ELSE 'CONNECT' END,
           CASE WHEN n % 4 = 0 THEN 'other' ELSE 'general' END, 'c' || n,
           CASE WHEN e = 1 AND n % 5 <> 0 THEN 'agent' || (n % 50) ELSE '' END,
           CASE WHEN e = 1 THEN (n % 60)::float ELSE NULL END, NULL, ''
    FROM generate_series(1, {contacts}) AS n, generate_series(0, 1) AS e,
         LATERAL (SELECT {T0} + (n::float * {year}) / {contacts} + e * 10 AS at) AS t;
    ANALYZE queue_events;
    """
    subprocess.run(
        [str(postgres_bin() / "psql"), "-q", "-h", "127.0.0.1", "-p", str(server.port),
         "-U", server.user, "-d", database, "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
    )  # fmt: skip


async def report_time(engine: AsyncEngine) -> float:
    """Best of 3: a month (the year's fifth) of the general queue, by hour."""
    start = T0 + 4 * 30 * 86400
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        report = await queue_report(engine, "general", RULES, start, start + 30 * 86400, By.HOUR)
        best = min(best, time.perf_counter() - began)
    assert report.total.offered > 0
    return best


def create_database(server: PostgresServer, name: str) -> str:
    subprocess.run(
        [str(postgres_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(server.port),
         "-U", server.user, name],
        check=True,
    )  # fmt: skip
    return name


async def run(
    quick: bool, root: Path, redis: RedisServer, postgres: PostgresServer
) -> dict[str, float]:
    calls = 2000 if quick else 10000
    contacts = 100_000 if quick else 1_000_000
    client = aioredis.Redis.from_url(redis.url, decode_responses=True)
    figures: dict[str, float] = {}
    try:
        sqlite = connect(RecordsSettings(data_dir=root / "sqlite"))
        try:
            rate, cpu = await drain_rate(client, sqlite, calls)
        finally:
            await sqlite.dispose()
        log(f"sqlite: {rate:.0f} calls/s, {cpu:.3f} ms CPU a call")
        figures |= {
            "contacts_per_s_sqlite": round(rate),
            "drain_cpu_ms_per_call_sqlite": round(cpu, 3),
        }
        pg = connect(RecordsSettings(url=postgres.url(create_database(postgres, "drain"))))
        try:
            rate, cpu = await drain_rate(client, pg, calls)
        finally:
            await pg.dispose()
        log(f"postgresql: {rate:.0f} calls/s, {cpu:.3f} ms CPU a call")
        figures |= {
            "contacts_per_s_postgresql": round(rate),
            "drain_cpu_ms_per_call_postgresql": round(cpu, 3),
        }
        reports = connect(RecordsSettings(url=postgres.url(create_database(postgres, "report"))))
        try:
            await upgrade(reports)
            log(f"filling {contacts} contacts' queue history...")
            await asyncio.to_thread(fill_history, postgres, "report", contacts)
            seconds = await report_time(reports)
        finally:
            await reports.dispose()
        log(f"report, a month by hour over {contacts} contacts: {seconds:.3f} s")
        figures |= {"report_month_by_hour_s": round(seconds, 3), "report_contacts": contacts}
    finally:
        await client.aclose()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.records", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, about a minute")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-records-"))
    redis = RedisServer(root / "redis").start()
    postgres = PostgresServer().start()
    try:
        figures = asyncio.run(run(args.quick, root, redis, postgres))
        seconds, rounds = (5.0, 2) if args.quick else (10.0, 3)
        url = postgres.url(create_database(postgres, "app"))
        cpu = measure(root / "app", url, seconds, rounds)
        log(
            f"app: {cpu.with_records:.3f} ms CPU a call with records, "
            f"{cpu.without_records:.3f} without; worker {cpu.worker:.3f}"
        )
        figures |= {
            "cpu_ms_per_call_added": round(cpu.added, 3),
            "app_cpu_ms_per_call_with_records": round(cpu.with_records, 3),
            "app_cpu_ms_per_call_without_records": round(cpu.without_records, 3),
            "worker_cpu_ms_per_call": round(cpu.worker, 3),
        }
    finally:
        postgres.remove()
        redis.stop()
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
