"""Redis with Sentinel: the service's clients find the primary through the Sentinels and follow
a failover (the primary killed), and SMS queued across one are sent once each."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bench.twilio_standin import StandIn
from core import redisconn
from core.config import RedisSettings, load_settings
from hotline.harness import RedisSentinels
from tests.integration.test_sms_pipeline import pipeline_for, sms_env, start_worker

#: With Sentinels the URL only says the scheme and the database.
URL = "redis://sentinels/0"


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[RedisSentinels]:
    servers = RedisSentinels(tmp_path / "redis").start()
    try:
        yield servers
    finally:
        servers.stop()


def settings_for(servers: RedisSentinels) -> RedisSettings:
    return RedisSettings(url=URL, sentinels=servers.addresses, master_name=servers.master_name)


async def test_the_clients_follow_a_failover_to_the_replica(sentinels: RedisSentinels) -> None:
    settings = settings_for(sentinels)
    client = redisconn.connect(settings)
    rq_client = redisconn.connect_rq(settings)
    try:
        await client.set("before", "1")
        assert rq_client.get("before") == b"1"
        await asyncio.to_thread(sentinels.primary.kill)
        deadline = time.monotonic() + 30
        while True:  # what a handler sees: errors until a replica is promoted, then writes
            try:
                await client.set("after", "2")
                break
            except RedisConnectionError:
                assert time.monotonic() < deadline, "no write reached a new primary"
        assert await asyncio.to_thread(sentinels.primary_port) == sentinels.replica.port
        with redis.Redis(port=sentinels.replica.port) as promoted:
            assert promoted.mget("before", "after") == [b"1", b"2"]
        assert rq_client.get("after") == b"2"
    finally:
        await client.aclose()
        rq_client.close()


def test_sms_queued_across_a_failover_are_each_sent_once(
    sentinels: RedisSentinels, tmp_path: Path
) -> None:
    standin = StandIn(callbacks=False).start()
    env = {
        **sms_env(URL, standin),
        "HOTLINE_REDIS_SENTINELS": ",".join(sentinels.addresses),
        "HOTLINE_REDIS_MASTER_NAME": sentinels.master_name,
    }
    settings = load_settings(None, env=env)
    worker = start_worker(env, tmp_path / "worker.log")
    count, kill_after = 20, 6
    try:
        with pipeline_for(settings) as pipeline:
            for n in range(count):
                if n == kill_after:  # the worker busy, its writes replicated: a clean crash
                    standin.wait_for_messages(kill_after // 2, timeout=10)
                    sentinels.wait_for_replica()
                    sentinels.primary.kill()
                deadline = time.monotonic() + 30
                while True:  # as a call's event is handled again: with the same key
                    try:
                        pipeline.send(body=f"message {n}", key=f"key-{n}")
                        break
                    except RedisConnectionError:
                        assert time.monotonic() < deadline, f"message {n} never queued"
        sent = standin.wait_for_messages(count, timeout=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        standin.stop()
    assert sorted(m["body"] for m in sent) == sorted(f"message {n}" for n in range(count))
    assert standin.create_requests == count
    assert sentinels.primary_port() == sentinels.replica.port


def test_a_sentinel_that_is_not_host_and_port_is_refused() -> None:
    with pytest.raises(ValueError, match="not host:port"):
        dataclasses.replace(RedisSettings(), sentinels=("127.0.0.1",))
