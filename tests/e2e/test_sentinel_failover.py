"""A Sentinel failover under calls: the app's Redis primary is killed while a caller talks to a
volunteer, one waits and one is arriving; once a replica is promoted the app goes on with it
and every caller is served in turn."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings
from hotline.harness import PrivateAsterisk, RedisSentinels
from ivr.flow import load_flow
from tests.conftest import agent_phone, place_call, running_app, wait_until_idle
from tests.e2e.test_acd_calls import log_in, on_call
from tests.e2e.test_drills import HELD, STRAIGHT, agent_state, until_one_waits

pytestmark = pytest.mark.e2e


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[RedisSentinels]:
    servers = RedisSentinels(tmp_path / "redis").start()
    try:
        yield servers
    finally:
        servers.stop()


async def test_a_sentinel_failover_under_calls_loses_no_caller(
    asterisk: PrivateAsterisk,
    settings: Settings,
    sentinels: RedisSentinels,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    redis = dataclasses.replace(
        settings.redis,
        url="redis://sentinels/0",
        sentinels=sentinels.addresses,
        master_name=sentinels.master_name,
    )
    through = dataclasses.replace(settings, redis=redis)
    flow = load_flow(STRAIGHT, languages=settings.ivr.languages)
    alice = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, calls=3))
    async with running_app(through, flow) as app:
        await log_in(app, "alice")
        first = asyncio.create_task(place_call(asterisk))
        talking = await on_call(app, "alice")
        second = asyncio.create_task(place_call(asterisk, caller="+15145550124"))
        await until_one_waits(app.acd.store, "the second caller waits")

        await asyncio.to_thread(sentinels.wait_for_replica)
        await asyncio.to_thread(sentinels.primary.kill)
        third = asyncio.create_task(place_call(asterisk, caller="+15145550125"))
        deadline = time.monotonic() + 30
        while await asyncio.to_thread(sentinels.primary_port) != sentinels.replica.port:
            assert time.monotonic() < deadline, "no replica was promoted"
            await asyncio.sleep(0.2)

        served = [talking]
        for _ in range(2):
            await app.ari.hangup(served[-1])
            served.append(await on_call(app, "alice", 30, besides=tuple(served)))
        await app.ari.hangup(served[-1])
        results = await asyncio.gather(first, second, third)
        assert all(r.ok for r in results), [r.output[-800:] for r in results]
        assert (await alice).returncode == 0
        await wait_until_idle(app, asterisk)
        assert await agent_state(app, "alice") not in HELD
