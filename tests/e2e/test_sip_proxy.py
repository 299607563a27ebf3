"""Kamailio in front of two Asterisks (127.0.0.2 and 127.0.0.3): the dispatcher spreads new
calls over both and routes around one that died."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings
from hotline.harness import PrivateAsterisk
from hotline.sip_proxy import PrivateKamailio
from tests.conftest import place_call

#: Keep each call short: answered by the fallback (no app is connected), hung up at once.
HANGUP_MS = 200


@dataclass
class Farm:
    """Kamailio and the Asterisks it dispatches to, in dispatch order."""

    proxy: PrivateKamailio
    boxes: tuple[PrivateAsterisk, ...]


def box(root: Path, settings: Settings, address: str, name: str) -> PrivateAsterisk:
    """An Asterisk on ``address`` whose carrier is the proxy (127.0.0.1), with its own ARI
    app name."""
    instance = PrivateAsterisk.with_free_ports(root, settings, rtp_ports=200, address=address)
    ari = dataclasses.replace(instance.settings.ari, app=f"{settings.ari.app}-{name}")
    instance.settings = dataclasses.replace(instance.settings, ari=ari)
    return instance


@pytest.fixture
def farm(tmp_path: Path, base_settings: Settings) -> Iterator[Farm]:
    boxes = (
        box(tmp_path / "a", base_settings, "127.0.0.2", "a"),
        box(tmp_path / "b", base_settings, "127.0.0.3", "b"),
    )
    addresses = tuple(instance.sip_address for instance in boxes)
    proxy = PrivateKamailio.with_free_port(tmp_path / "kamailio", addresses)
    started: list[PrivateAsterisk] = []
    try:
        for instance in boxes:
            started.append(instance.start())
        yield Farm(proxy.start(base_settings), boxes)
    finally:
        proxy.stop()
        for instance in started:
            instance.stop()


async def calls_through(farm: Farm, count: int) -> list[float]:
    """Place ``count`` calls one after another through the proxy; each one's duration."""
    seconds = []
    for _ in range(count):
        result = await place_call(farm.boxes[0], hangup_ms=HANGUP_MS, via=farm.proxy.address)
        assert result.ok, result.output[-6000:]
        seconds.append(result.seconds)
    return seconds


def processed(farm: Farm) -> list[int]:
    return [instance.calls_processed() for instance in farm.boxes]


async def test_calls_spread_over_both_boxes_and_route_around_a_dead_one(farm: Farm) -> None:
    await calls_through(farm, 4)
    assert await asyncio.to_thread(processed, farm) == [2, 2]

    a, b = farm.boxes
    await asyncio.to_thread(a.kill)
    # Before a probe notices, a call tried on A times out there and is sent on to B.
    before = await asyncio.to_thread(b.calls_processed)
    await calls_through(farm, 2)
    assert await asyncio.to_thread(b.calls_processed) == before + 2

    # Within a probe interval, A is out of the set: calls go straight to B, no timeout first.
    await asyncio.sleep(farm.proxy.config.probe_interval_s + 0.5)
    timeout_s = farm.proxy.config.invite_timeout_ms / 1000
    start = time.monotonic()
    durations = await calls_through(farm, 4)
    assert max(durations) < timeout_s, durations
    assert await asyncio.to_thread(b.calls_processed) == before + 6
    assert time.monotonic() - start < 4 * timeout_s
