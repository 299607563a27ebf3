"""The test harness's own parts that fault drills rest on: a Redis restarted with or without
its data, on the same port, and settings handed to a process through its environment."""

from __future__ import annotations

import signal
from pathlib import Path

import redis

from core.config import Settings, load_settings
from hotline.harness import RedisServer, settings_env, spawn


def test_redis_restarts_on_its_port_with_or_without_its_data(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        port = server.port
        with redis.Redis(port=port) as client:
            client.set("kept", "1")
        server.restart(keep_data=True, down_s=0.2)
        assert server.port == port
        with redis.Redis(port=port) as client:
            assert client.get("kept") == b"1"
        server.restart(keep_data=False)
        assert server.port == port
        with redis.Redis(port=port) as client:
            assert client.dbsize() == 0
    finally:
        server.stop()


def test_settings_survive_the_trip_through_the_environment(base_settings: Settings) -> None:
    assert base_settings.secrets.vault_keys  # secrets are part of the trip
    assert load_settings(None, env=settings_env(base_settings)) == base_settings
    assert load_settings(None, env=settings_env(Settings())) == Settings()


def test_a_spawned_server_takes_ctrl_c_even_from_a_background_test_run(tmp_path: Path) -> None:
    # A shell starts `pytest ... &` with SIGINT and SIGQUIT ignored; exec keeps that.
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = spawn(["grep", "^SigIgn:", "/proc/self/status"], tmp_path / "out.log")
    finally:
        signal.signal(signal.SIGINT, before)
    assert proc.wait(10) == 0
    ignored = int((tmp_path / "out.log").read_text().split()[1], 16)
    assert not ignored & (1 << (signal.SIGINT - 1))
    assert not ignored & (1 << (signal.SIGQUIT - 1))
