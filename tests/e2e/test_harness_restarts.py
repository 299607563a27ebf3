"""The harness's parts for fault drills, against real servers: Asterisk restarted on its
ports and configuration, and the app run as a process of its own that can be killed."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from core.config import Settings
from hotline.harness import PrivateAsterisk
from tests.conftest import TESTS, app_process, journal, place_call

pytestmark = pytest.mark.e2e


def test_asterisk_restarts_with_the_same_ports_and_configuration(
    tmp_path: Path, base_settings: Settings
) -> None:
    asterisk = PrivateAsterisk.with_free_ports(tmp_path, base_settings, rtp_ports=20)
    try:
        asterisk.start()
        before = asterisk.proc
        assert before is not None
        asterisk.restart(down_s=0.2)
        assert before.poll() is not None
        assert asterisk.proc is not before
        assert asterisk.ari_ready()
        assert "fiona" in asterisk.rx("pjsip show endpoints")  # rendered from the agent file
    finally:
        asterisk.stop()


async def test_the_app_runs_as_a_process_takes_calls_and_can_be_killed(
    settings: Settings, asterisk: PrivateAsterisk, tmp_path: Path
) -> None:
    async with app_process(settings, TESTS / "flows" / "test.toml", tmp_path) as app:
        result = await place_call(asterisk, hangup_ms=1500)
        assert result.ok, result.output
        (entries,) = journal(settings).values()
        assert "hours" in [kind for kind, _ in entries]
        app.kill()
        assert app.proc.returncode == -9
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(f"{app.url}/healthz")
    assert "ARI events at" in app.log.read_text()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_the_app_process_stops_cleanly_on_the_way_out(
    settings: Settings, asterisk: PrivateAsterisk, tmp_path: Path, stop: signal.Signals
) -> None:
    async with app_process(settings, TESTS / "flows" / "test.toml", tmp_path) as app:
        assert app.proc.poll() is None
        os.kill(app.proc.pid, stop)
        returncode = await asyncio.to_thread(app.proc.wait, 15)
    log = app.log.read_text()
    assert returncode == 0, log[-4000:]
    assert "INFO hotline.app: stopped in" in log
    assert "threads still run" not in log
