"""Outbound SMS throughput and rate-limit accuracy, on a private redis-server and the local
Twilio stand-in (which answers over real HTTP, without status callbacks).

Messages are all queued before the workers start: the backlog path, where a job carries up to
``[sms] batch_max`` messages (the ones queued behind it while it waited). A message queued while
a worker is idle goes alone in its job; the ``_single`` figures queue every message in a job of
its own (``batch_max = 1`` where they are queued) for workers with the default ``batch_max``,
whose jobs claim the one-message jobs waiting behind them.

- ``msgs_per_s_N``: messages a second through job → Redis state machine → provider call, with
  N ``hotline worker`` processes and a rate limit far above what they reach (backlog path);
- ``overhead_ms_per_msg``: one worker's time per message minus the time a bare loop takes to
  make the same provider call (``TwilioProvider.send``), i.e. what RQ and our pipeline add, on
  the backlog path; ``overhead_ms_per_msg_single`` the same with one job per message, claimed
  up to ``batch_max`` jobs at a time by the job a worker starts;
  ``rq_noop_ms_per_job`` is RQ's own cost per job (a no-op job with the same options), which a
  batch or a job's claims share and a lone message on an idle worker pays in full (as latency:
  the worker has nothing else to do);
- ``rate_limit_error_pct``: 4 workers against a limit of 10 segments/s with a burst of 10 and a
  backlog larger than the window; abs(sent per second - 10) / 10 over the window, which starts
  at the first send after the initial burst (RQ's scheduler wakes jobs on whole seconds).

``python -m bench.sms [--quick]``; the last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rq import Queue, Retry, SimpleWorker

from bench.twilio_standin import StandIn, VaultStandIn
from core import redisconn
from core.config import RedisSettings, Settings, load_settings
from core.keys import Keys
from hotline.harness import RedisServer, spawn, stop_process
from sms.outbox import Outbox
from sms.provider import TwilioProvider

TO, FROM, BODY = "+15145550123", "+18005550100", "Your callback is booked for 14:00."


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def env_for(
    redis_url: str, standin: StandIn, rate: float, burst: int, batch_max: int = 0
) -> dict[str, str]:
    batch = {"HOTLINE_SMS_BATCH_MAX": str(batch_max)} if batch_max else {}
    return {
        **batch,
        "HOTLINE_HASH_KEY": "bench-hash-key-0123456789",
        "HOTLINE_TWILIO_ACCOUNT_SID": standin.account_sid,
        "HOTLINE_TWILIO_AUTH_TOKEN": standin.auth_token,
        "HOTLINE_REDIS_URL": redis_url,
        "HOTLINE_SMS_TWILIO_BASE_URL": standin.base_url,
        "HOTLINE_SMS_SENDER_TYPE": "short_code",
        "HOTLINE_SMS_SHORT_CODE_RATE": str(rate),
        "HOTLINE_SMS_SHORT_CODE_BURST": str(burst),
        "HOTLINE_LOG_LEVEL": "WARNING",
    }


def enqueue(settings: Settings, count: int) -> None:
    """Queue ``count`` distinct messages."""
    asyncio.run(_enqueue(settings, count))


async def _enqueue(settings: Settings, count: int) -> None:
    rq = redisconn.connect_rq(settings.redis)
    client = redisconn.connect(settings.redis)
    rq.flushdb()
    vault = VaultStandIn(client, settings.secrets.hash_key)
    queue = Queue(settings.sms.rq_queue, connection=rq)
    outbox = Outbox(queue, Keys("hotline"), settings.sms, vault.store)
    for i in range(count):
        await outbox.enqueue(TO, FROM, BODY, idempotency_key=f"b{i}", kind="bench", language="en")
    log(f"{count} messages in {queue.count} job(s)")
    await client.aclose()
    rq.close()


def run_workers(
    env: dict[str, str], standin: StandIn, workers: int, until: int, root: Path, within: float
) -> list[float]:
    """Start ``workers`` processes; return accept times once ``until`` messages are in."""
    procs = [
        spawn(
            [sys.executable, "-m", "hotline.cli", "worker",
             "--resolver", "bench.twilio_standin:vault_resolver"],
            root / f"worker{i}.log",
            env={**os.environ, **env},
        )
        for i in range(workers)
    ]  # fmt: skip
    try:
        messages = standin.wait_for_messages(until, timeout=within)
    finally:
        for proc in procs:
            stop_process(proc)
    return sorted(m["accepted_at"] for m in messages)


def throughput(
    redis_url: str, standin: StandIn, workers: int, count: int, root: Path, batch_max: int = 0
) -> float:
    """Messages a second; ``batch_max`` applies where they are queued, not in the workers."""
    env = env_for(redis_url, standin, 1e6, 1_000_000)
    enqueue(load_settings(None, env=env_for(redis_url, standin, 1e6, 1_000_000, batch_max)), count)
    start = len(standin.messages)
    times = run_workers(env, standin, workers, start + count, root, 120)[start:]
    rate = (len(times) - 1) / (times[-1] - times[0])
    log(f"{workers} worker(s): {rate:.0f} messages/s over {count}")
    return rate


def provider_ms(standin: StandIn, count: int) -> float:
    ms = asyncio.run(_provider_ms(standin, count))
    log(f"bare provider call: {ms:.2f} ms")
    return ms


async def _provider_ms(standin: StandIn, count: int) -> float:
    """Milliseconds a call, in a loop of ``TwilioProvider.send`` (the worker's provider)."""
    provider = TwilioProvider(standin.account_sid, standin.auth_token, standin.base_url)
    await provider.send(TO, FROM, BODY, "http://127.0.0.1:9/cb")
    start = time.perf_counter()
    for _ in range(count):
        await provider.send(TO, FROM, BODY, "http://127.0.0.1:9/cb")
    ms = (time.perf_counter() - start) * 1000 / count
    await provider.close()
    return ms


def rq_noop_ms(redis_url: str, count: int) -> float:
    """RQ's own time per job: a no-op job with our options, one in-process SimpleWorker."""
    raw = redisconn.connect_rq(RedisSettings(url=redis_url))
    raw.flushdb()
    queue = Queue("noop", connection=raw)
    for _ in range(count):
        queue.enqueue_call("builtins.len", args=("",), result_ttl=0, retry=Retry(3, [1, 2, 4]))
    start = time.perf_counter()
    SimpleWorker([queue], connection=raw).work(burst=True, logging_level="WARNING")
    ms = (time.perf_counter() - start) * 1000 / count
    log(f"RQ no-op job: {ms:.2f} ms")
    return ms


def rate_limit_error(redis_url: str, standin: StandIn, seconds: int, root: Path) -> float:
    rate, burst = 10, 10
    env = env_for(redis_url, standin, rate, burst)
    enqueue(load_settings(None, env=env), burst + rate * (seconds + 5))
    start = len(standin.messages)
    expected = burst + rate * seconds
    times = run_workers(env, standin, 4, start + expected + rate, root, seconds + 30)[start:]
    # Steady state: from the first send after the initial burst, one-second bins.
    t0 = times[burst]
    per_second = [sum(1 for t in times if k <= t - t0 < k + 1) for k in range(seconds)]
    measured = sum(per_second) / seconds
    error = abs(measured - rate) / rate * 100
    log(f"rate limit {rate}/s: {measured:.2f}/s measured, per second {per_second}, "
        f"sd {statistics.pstdev(per_second):.2f}")  # fmt: skip
    return error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sms", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs, under 3 minutes")
    args = parser.parse_args(argv)
    count = 1000 if args.quick else 4000
    seconds = 10 if args.quick else 30
    with tempfile.TemporaryDirectory(prefix="bench-sms-") as tmp:
        root = Path(tmp)
        server = RedisServer(root / "redis").start()
        standin = StandIn(callbacks=False).start()
        try:
            figures: dict[str, float] = {}
            for workers in (1, 2, 4):
                rate = throughput(server.url, standin, workers, count, root)
                figures[f"msgs_per_s_{workers}"] = round(rate, 1)
            single = throughput(server.url, standin, 1, count, root, batch_max=1)
            figures["msgs_per_s_1_single"] = round(single, 1)
            bare = provider_ms(standin, count // 2)
            figures["provider_ms_per_msg"] = round(bare, 3)
            figures["overhead_ms_per_msg"] = round(1000 / figures["msgs_per_s_1"] - bare, 3)
            figures["overhead_ms_per_msg_single"] = round(1000 / single - bare, 3)
            noop = rq_noop_ms(server.url, count // 2)
            figures["rq_noop_ms_per_job"] = round(noop, 3)
            figures["rate_limit_error_pct"] = round(
                rate_limit_error(server.url, standin, seconds, root), 2
            )
        finally:
            standin.stop()
            server.stop()
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
