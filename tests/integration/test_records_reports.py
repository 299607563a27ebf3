"""Queue reports on both databases against the live statistics: a day of calls (answered,
abandoned, short abandons, timeouts, callbacks, pauses) played through the real ACD store on
Redis, drained into SQL; the report's figures equal the live ones, hour by hour as scripted."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import random
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from acd.config import QueueConfig
from acd.store import AcdStore
from core.config import RecordsSettings
from core.keys import Keys
from records.chart import draw
from records.database import connect, upgrade
from records.drain import Drain
from records.reports import By, queue_report
from records.wrapups import QueueRules
from tests.integration.test_acd_http import AGENTS, T0, waiting_call

KEYS = Keys("t")
QUEUE = QueueConfig("q", wrapup_s=30, service_level_s=20, short_abandon_s=5, max_wait_s=120)
RULES = QueueRules(QUEUE.dispositions, 30, 20, 5)
DAY = 86400.0


@dataclass
class Day:
    """What the script did, counted independently of the ACD."""

    arrivals_by_hour: Counter[int]
    talk_by_agent: Counter[str]
    end: float


async def play_a_day(store: AcdStore, seed: int = 7) -> Day:
    rng = random.Random(seed)
    for name in ("alice", "bruno"):
        await store.login(name, ("q",), AGENTS[name].devices[0], T0)
    arrivals: Counter[int] = Counter()
    talk: Counter[str] = Counter()
    t = T0
    for n in range(90):
        call = f"c{n}"
        t += rng.uniform(300, 1500)
        if n == 40:
            await store.pause("alice", "lunch", t - 200)
            await store.resume("alice", t - 20)
        arrivals[int(t // 3600)] += 1
        await store.enqueue(waiting_call(call, t), t)
        fate = rng.choice(("answered", "answered", "answered", "abandoned", "short", "timeout",
                           "callback"))  # fmt: skip
        if fate == "answered":
            offer = await store.claim("q", t + rng.uniform(0, 40))
            assert offer is not None
            agent = offer.agents[0].agent_id
            answered_at = t + rng.uniform(41, 60)
            await store.accept(offer.offer_id, agent, answered_at)
            length = round(rng.uniform(30, 200), 3)
            await store.complete(call, agent, answered_at + length)
            talk[agent] += 1
        elif fate in ("abandoned", "short"):
            await store.abandon(call, t + (rng.uniform(6, 90) if fate == "abandoned" else 2))
        elif fate == "timeout":
            exits = (await store.expire("q", "app-1", t + 121)).exits
            assert [e.call_id for e in exits] == [call]
        else:
            await store.to_callback(call, t + 10)
            offer = await store.claim("q", t + 30)
            assert offer is not None
            await store.accept(offer.offer_id, offer.agents[0].agent_id, t + 35)
            await store.complete(call, offer.agents[0].agent_id, t + 95)
            talk[offer.agents[0].agent_id] += 1
    return Day(arrivals, talk, t + 1000)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_a_days_report_matches_the_live_statistics(
    redis_client: aioredis.Redis, records_settings: RecordsSettings, tmp_path: Path
) -> None:
    store = AcdStore(redis_client, KEYS, {"q": QUEUE})
    await store.sync_agents([AGENTS["alice"], AGENTS["bruno"]])
    day = await play_a_day(store)
    engine = connect(records_settings)
    await upgrade(engine)
    try:
        await Drain(redis_client, KEYS, engine, clock=lambda: T0).catch_up()
        report = await queue_report(engine, "q", RULES, T0, T0 + DAY, By.HOUR)
        daily = await queue_report(engine, "q", RULES, T0, T0 + DAY, By.DAY)
    finally:
        await engine.dispose()
    live = await store.queue_stats("q", day.end)
    total = report.total
    assert total.offered == live.entered == 90
    assert (total.answered, total.completed) == (live.answered, live.completed)
    assert (total.abandoned, total.short_abandoned) == (live.abandoned, live.short_abandoned)
    assert total.timed_out == live.timed_out > 0
    assert (total.asa_s, total.aht_s) == (live.asa_s, live.aht_s)
    assert total.service_level_pct == live.service_level_pct
    assert total.callbacks > 0
    assert {int(r.start // 3600): r.offered for r in report.rows} == dict(day.arrivals_by_hour)
    assert daily.total.to_dict() == total.to_dict() | {"start": T0}
    assert len(daily.rows) == len({int(r.start // 86400) for r in report.rows})
    agents = {a.agent: a for a in report.agents}
    assert {a: agents[a].calls for a in agents} == dict(day.talk_by_agent)
    assert list(agents["alice"].pause_s) == ["lunch"]
    assert agents["alice"].pause_s["lunch"] == pytest.approx(180)

    # The command line prints the same figures.
    queues = tmp_path / "queues.toml"
    queues.write_text(
        "[queues.q]\nwrapup_s = 30\nservice_level_s = 20\nshort_abandon_s = 5\n", "utf-8"
    )
    env = {
        **os.environ,
        "HOTLINE_ACD_QUEUES": str(queues),
        "HOTLINE_RECORDS_URL": records_settings.url,
        "HOTLINE_RECORDS_DATA_DIR": str(records_settings.data_dir),
    }
    period = ("--from", "2023-11-14T22:00", "--to", "2023-11-15T22:00")
    chart = tmp_path / "day.png"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "report", *period, "--format", "csv",
        "--chart", str(chart),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    table = list(csv.DictReader(io.StringIO(out.decode())))
    assert table[-1]["bucket"] == "total"
    assert int(table[-1]["answered"]) == total.answered
    assert float(table[-1]["service_level_pct"]) == total.service_level_pct
    assert len(table) == len(report.rows) + 1
    assert chart.read_bytes().startswith(b"\x89PNG")
    # The SVG twin: three bars a bucket (offered, answered, abandoned) and the line.
    svg = tmp_path / "day.svg"
    draw(report, svg)
    text = svg.read_text("utf-8")
    bars = len(re.findall(r'<g id="patch_\d+">', text))
    assert bars >= 3 * len(report.rows)
    assert 'id="line2d_' in text
