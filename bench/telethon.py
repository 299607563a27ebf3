"""A telethon's burst, both sides of issue 13's benchmark.

The calls (``bench.telethon_calls``): a TV-appeal burst of callers through a private Asterisk
onto nailed-up operators, who save a pledge on each call through the app's API, and the same
burst onto ringing agents; ``hear_p50_ms`` / ``hear_p95_ms`` (caller's INVITE to the operator
hearing them), ``ringing_hear_p50_ms`` / ``_p95_ms`` and their ratios
(``nailed_vs_ringing_p50`` / ``_p95``), ``calls_lost`` (goal 0 while operators are free), the
pledges the operators saved during the burst and the API's p50 and p95 answer times.

The store, on a private redis-server, a SQLite file and a private PostgreSQL cluster:

- ``pledges_per_s_sqlite`` / ``pledges_per_s_postgresql``: pledges saved a second by
  ``--operators`` simulated operators at once, each through ``Pledges.save`` as the API calls
  it (the call found in the records, the form checked, the comment scrubbed, the donor's
  details sealed, one row written), for calls whose queue log and journal the drain wrote;
- ``tote_lag_p95_ms_sqlite`` / ``_postgresql``: the 95th percentile of the time from a
  pledge's save returning to the tote board's feed showing it (goal <= 1,000 ms).

``python -m bench.telethon [--quick]``; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.records import KEYS, RULES, T0, create_database, log, write_calls
from bench.telethon_calls import FULL, QUICK, run_burst
from core.config import RecordsSettings
from hotline.harness import PostgresServer, RedisServer
from pledges.campaigns import DEMO_CAMPAIGNS, load_campaigns
from pledges.donors import DonorSeal
from pledges.rules import DonorDetails, PledgeForm
from pledges.service import Pledges
from pledges.tote import ToteFeed
from records.database import connect, upgrade
from records.drain import Drain
from records.wrapups import Wrapups

#: The demo campaign on the line bench.records' calls come in on.
CAMPAIGN = dataclasses.replace(
    load_campaigns(DEMO_CAMPAIGNS)["demo-telethon"], dids=("+18005550100",), queue="general"
)
FORM = PledgeForm(
    amount=5000,
    consent_sms=True,
    receipt=True,
    donor=DonorDetails("Ada Lovelace", "12 rue des Lilas, 75011 Paris"),
    comment="Called during the appeal; card 4111 1111 1111 1111 not taken",
)


async def measure(
    client: aioredis.Redis, engine: AsyncEngine, calls: int, operators: int, samples: int
) -> tuple[float, float]:
    """(pledges a second, the tote board's p95 lag in ms) on ``engine``."""
    await client.flushdb()
    await upgrade(engine)
    await write_calls(client, calls + samples, 0)
    drain = Drain(client, KEYS, engine, batch=1000, keep_s=0, clock=time.time)
    await drain.catch_up()
    wrapups = Wrapups(
        engine, drain, {"general": RULES}, grace_s=600, notes_max=4000, region="FR", clock=time.time
    )
    seal = DonorSeal([Fernet.generate_key()])
    campaigns = {CAMPAIGN.name: CAMPAIGN}
    pledges = Pledges(engine, campaigns, wrapups, seal, region="FR", clock=lambda: T0)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(calls):
        queue.put_nowait(n)

    async def operator() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            await pledges.save(f"call-{n}", "alice", f"form-{n:08}", FORM)

    wall = time.perf_counter()
    await asyncio.gather(*(operator() for _ in range(operators)))
    rate = calls / (time.perf_counter() - wall)
    feed = ToteFeed(engine, campaigns, clock=time.time)
    poller = asyncio.create_task(feed.run())
    lags: list[float] = []
    try:
        with feed.follow():
            while feed.latest(CAMPAIGN.name) is None:
                await feed.changed(1.0)
            for n in range(calls, calls + samples):
                await pledges.save(f"call-{n}", "alice", f"form-{n:08}", FORM)
                saved = time.perf_counter()
                while (board := feed.latest(CAMPAIGN.name)) is None or board.count <= n:
                    await feed.changed(5.0)
                lags.append(1000 * (time.perf_counter() - saved))
    finally:
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
    return rate, statistics.quantiles(lags, n=20)[-1]


async def run(
    quick: bool, root: Path, redis: RedisServer, postgres: PostgresServer
) -> dict[str, float]:
    calls, operators, samples = (500, 20, 20) if quick else (5000, 100, 60)
    client = aioredis.Redis.from_url(redis.url, decode_responses=True)
    figures: dict[str, float] = {"pledges": calls, "operators": operators}
    try:
        for name, settings in (
            ("sqlite", RecordsSettings(data_dir=root / "sqlite")),
            ("postgresql", RecordsSettings(url=postgres.url(create_database(postgres, "tele")))),
        ):
            engine = connect(settings)
            try:
                rate, lag = await measure(client, engine, calls, operators, samples)
            finally:
                await engine.dispose()
            log(f"{name}: {rate:.0f} pledges/s, tote board lag p95 {lag:.0f} ms")
            figures |= {f"pledges_per_s_{name}": round(rate), f"tote_lag_p95_ms_{name}": round(lag)}
    finally:
        await client.aclose()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.telethon", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, under two minutes")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-telethon-"))
    (root / "calls").mkdir()
    calls = run_burst(root / "calls", QUICK if args.quick else FULL)
    redis = RedisServer(root / "redis").start()
    postgres = PostgresServer().start()
    try:
        figures = asyncio.run(run(args.quick, root, redis, postgres))
    finally:
        postgres.remove()
        redis.stop()
    print(json.dumps({**calls, **figures}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
