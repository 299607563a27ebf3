"""Volunteers and operators for the call benchmarks: their agent file, their logins into the
ACD store, one SIPp phone answering all of them, and the percentiles of what was measured.
Shared by ``bench.acd``, ``bench.records_app`` and ``bench.telethon``."""

from __future__ import annotations

import secrets
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from acd.config import Device, DeviceKind, hash_pin, load_queues
from acd.store import AcdStore
from bench.load import invite_times
from core.keys import Keys
from hotline.harness import free_port, spawn

AGENT_SCENARIO = Path(__file__).resolve().parent.parent / "tests" / "sipp" / "agent.xml"


def agents_toml(ids: Sequence[str], queue: str, *, nailed_up: bool = False) -> str:
    """An agent file of ``ids``, members of ``queue``, each on its own SIP endpoint
    ``PJSIP/{id}`` (one PIN hash for all); with ``nailed_up``, telethon operators."""
    pin = hash_pin(secrets.token_hex(4))
    nailed = "nailed_up = true\n" if nailed_up else ""
    return "".join(
        f'[agents.{a}]\nname = "{a}"\npin_hash = "{pin}"\n'
        f'devices = [{{ kind = "sip", address = "PJSIP/{a}" }}]\nqueues = ["{queue}"]\n{nailed}'
        for a in ids
    )


async def login_agents(
    redis_url: str, prefix: str, queues: Path, queue: str, ids: Sequence[str]
) -> None:
    """Log ``ids`` into ``queue`` (of the queue file ``queues``), one millisecond apart (the
    first idle longest)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        store = AcdStore(client, Keys(prefix), load_queues(queues))
        now = time.time() - 1
        for n, agent in enumerate(ids):
            device = Device(DeviceKind.SIP, f"PJSIP/{agent}")
            await store.login(agent, [queue], device, now + n / 1000)
    finally:
        await client.aclose()


@dataclass
class AgentPhone:
    """One SIPp UAS answering every agent endpoint at once, tracing SIP to ``messages``;
    it hangs up after ``talk_ms`` (0: waits for the caller's end)."""

    messages: Path
    port: int
    talk_ms: int = 0

    def start(self, log_path: Path) -> subprocess.Popen[bytes]:
        args = [
            "sipp", "-sf", str(AGENT_SCENARIO), "-m", "10000000", "-l", "5000",
            "-set", "mode", "answer", "-set", "ring_ms", "0", "-set", "key", "x",
            "-set", "key_ms", "0", "-set", "talk_ms", str(self.talk_ms),
            "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(self.port),
            "-mp", str(free_port() & ~1), "-trace_msg", "-message_file", str(self.messages),
            "-nostdin",
        ]  # fmt: skip
        return spawn(args, log_path)

    def offset(self) -> int:
        return self.messages.stat().st_size if self.messages.exists() else 0

    def invites_since(self, offset: int) -> list[float]:
        with self.messages.open("rb") as f:
            f.seek(offset)
            return invite_times(f.read().decode(errors="replace"), sent=False)


def percentile(values: list[float], p: int) -> float | None:
    """The ``p``-th percentile of ``values`` (None for fewer than two)."""
    if len(values) < 2:
        return None
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 2)
