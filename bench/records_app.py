"""The app's CPU a call with recording and without, counted as ``bench.acd`` counts it: the
app (``hotline run``, the ``bench.acd`` setup "ours": flow ``bench/flows/queue.toml``, 200
agents on one SIPp phone) takes the same SIPp calls at a fixed rate, and the CPU its process
used during a trial is divided by the calls that went through. Recording on: a
``hotline worker`` drains the app's streams into PostgreSQL during the trial (and has caught
up before it starts); off: no worker runs, nothing reaches SQL. Trials alternate (off, on, off,
on...) so that a drift of the machine falls on both.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.acd import (
    HERE,
    OURS_APP,
    OURS_DID,
    QUEUES,
    TALK_MS,
    agent_ids,
)
from bench.ivr import log, spawn_python, wait_for_apps
from bench.load import Trial, run_trial
from bench.operators import AgentPhone, agents_toml, login_agents
from core.config import RecordsSettings, load_settings
from core.keys import Keys
from hotline.harness import PrivateAsterisk, RedisServer, free_port, stop_process
from hotline.phones import create_missing_secrets
from records.database import connect
from records.models import StreamCursor

#: Calls a second: far below the app's ceiling, as in bench.acd's CPU figures.
RATE = 20.0


@dataclass(frozen=True)
class AppCpu:
    """The app's CPU ms a call, with recording and without, and the worker's with it."""

    with_records: float
    without_records: float
    worker: float

    @property
    def added(self) -> float:
        """What recording adds to the app's CPU a call."""
        return self.with_records - self.without_records


async def wait_drained(redis_url: str, records_url: str, prefix: str, within: float = 120) -> None:
    """Wait until the records' queue-log cursor is the stream's last entry (a worker drained
    everything the app wrote)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    engine = connect(RecordsSettings(url=records_url))
    deadline = time.monotonic() + within
    try:
        while True:
            last = cast(list[tuple[str, object]], await client.xrevrange(
                Keys(prefix).acd_queue_log, count=1
            ))  # fmt: skip
            async with AsyncSession(engine) as session:
                cursor = await session.scalar(
                    select(StreamCursor.last_id).where(StreamCursor.stream == "queue_log")
                )
            if not last or cursor == last[0][0]:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not drain the queue log")
            await asyncio.sleep(0.2)
    finally:
        await client.aclose()
        await engine.dispose()


def measure(root: Path, records_url: str, seconds: float, rounds: int) -> AppCpu:
    """Start Asterisk, Redis, the app and the agents' phone under ``root``; ``rounds`` trials
    of ``seconds`` each way; stop everything."""
    password = secrets.token_urlsafe(12)
    env = {
        "HOTLINE_ARI_PASSWORD": password,
        "HOTLINE_HASH_KEY": secrets.token_urlsafe(24),
        "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
        "HOTLINE_ARI_APP": OURS_APP,
        "HOTLINE_ASTERISK_DIDS": OURS_DID,
        "HOTLINE_IVR_FLOW": str(HERE / "flows" / "queue.toml"),
        "HOTLINE_ACD_QUEUES": str(QUEUES),
        "HOTLINE_ACD_AGENTS": str(root / "agents.toml"),
        "HOTLINE_ACD_WHISPER": "",
        "HOTLINE_HTTP_PORT": str(free_port()),
        "HOTLINE_PHONES_SECRETS_FILE": str(root / "phone-secrets.toml"),
        "HOTLINE_RECORDS_URL": records_url,
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "agents.toml").write_text(agents_toml(agent_ids(), "bench"))
    settings = load_settings(None, env=env)
    create_missing_secrets(settings, env={})
    redis = RedisServer(root / "redis").start()
    asterisk = PrivateAsterisk.with_free_ports(root / "asterisk", settings, rtp_ports=4000)
    phone = AgentPhone(root / "agents.msg", free_port(socket.SOCK_DGRAM))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        asterisk.start(contacts={a: f"sip:{a}@127.0.0.1:{phone.port}" for a in agent_ids()})
        app_env = {
            **os.environ,
            **env,
            "HOTLINE_ARI_URL": asterisk.settings.ari.url,
            "HOTLINE_REDIS_URL": redis.url,
        }
        ours = spawn_python(["-m", "hotline.cli", "run"], root / "ours.log", app_env)
        procs += [ours, phone.start(root / "phone.log")]
        wait_for_apps(asterisk, [OURS_APP])
        asyncio.run(login_agents(redis.url, settings.redis.prefix, QUEUES, "bench", agent_ids()))
        prefix = settings.redis.prefix

        @contextmanager
        def worker() -> Iterator[subprocess.Popen[bytes]]:
            proc = spawn_python(["-m", "hotline.cli", "worker"], root / "worker.log", app_env)
            try:
                asyncio.run(wait_drained(redis.url, records_url, prefix))
                yield proc
                asyncio.run(wait_drained(redis.url, records_url, prefix))
            finally:
                stop_process(proc)

        def trial(watch: dict[str, int]) -> Trial:
            t = run_trial(
                asterisk, OURS_DID, RATE, seconds, {"ours": ours.pid, **watch},
                root / "sipp.log", hangup_ms=TALK_MS,
            )  # fmt: skip
            if not t.clean:
                log(f"  {t.failed} of {t.calls} calls failed; see {root}")
            return t

        on: list[Trial] = []
        off: list[Trial] = []
        for _ in range(rounds):
            off.append(trial({}))
            with worker() as proc:
                on.append(trial({"worker": proc.pid}))
    finally:
        for proc in procs:
            stop_process(proc)
        asterisk.stop()
        redis.stop()

    def per_call(trials: list[Trial], process: str) -> float:
        return 1000 * sum(t.cpu[process] for t in trials) / max(1, sum(t.ok for t in trials))

    return AppCpu(per_call(on, "ours"), per_call(off, "ours"), per_call(on, "worker"))
