"""How fast the console's live feed reaches many consoles, and what it costs the app.

The app (``hotline run`` on a private Asterisk and Redis, as ``bench.acd`` runs it) serves
``--consoles`` Server-Sent-Event streams: nine in ten are volunteers' screens (ten per
volunteer, as tabs and screens of a call centre), one in ten supervisors' wallboards. Queue
events are volunteers pausing and resuming, written by the ACD store at a fixed rate: each
reaches its volunteer's streams (``presence``) and every wallboard (``board``). The latency of
one delivery is its arrival at the console less the time Redis gave the queue log entry (its
id; same machine, same clock). The app's CPU is read from ``/proc`` over the same events
with no console connected and with all connected: the difference, per event and per 100
consoles, is what the consoles add.

    python -m bench.console [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from acd.config import Device, DeviceKind, load_queues
from acd.store import AcdStore
from bench.acd import HERE, OURS_APP, OURS_DID, QUEUES
from bench.ivr import log, spawn_python, wait_for_apps
from bench.load import cpu_seconds
from bench.operators import percentile
from console.accounts import HASHER
from core.config import load_settings
from core.keys import Keys
from hotline.harness import PrivateAsterisk, RedisServer, free_port, stop_process
from hotline.phones import create_missing_secrets

STREAMS_PER_ACCOUNT = 10
#: Queue events a second, and how long each phase writes them.
RATE = 10.0
#: Seconds a delivery may take before it counts as missed.
MISSED_AFTER_S = 10.0
_ID = re.compile(r"^(\d+)-\d+$")


@dataclass
class Stream:
    """One console's stream: who it belongs to and when each entry reached it."""

    account: str
    supervisor: bool
    arrived: dict[str, float] = field(default_factory=dict)
    opened: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Accounts:
    """The bench's console accounts (one password for all)."""

    volunteers: tuple[str, ...]
    supervisors: tuple[str, ...]
    password: str

    @classmethod
    def for_consoles(cls, consoles: int) -> Accounts:
        count = max(2, consoles // STREAMS_PER_ACCOUNT)
        supervisors = max(1, count // 10)
        return cls(
            tuple(f"vol{n:03d}" for n in range(count - supervisors)),
            tuple(f"sup{n:02d}" for n in range(supervisors)),
            secrets.token_urlsafe(12),
        )

    def agents_toml(self) -> str:
        """The agent file: volunteers of queue bench, supervisors; one hash for all (PIN
        and password alike)."""
        hashed = HASHER.hash(self.password)
        rows = [(a, "agent") for a in self.volunteers]
        rows += [(a, "supervisor") for a in self.supervisors]
        return "".join(
            f'[agents.{a}]\nname = "{a}"\nrole = "{role}"\npin_hash = "{hashed}"\n'
            f'password_hash = "{hashed}"\n'
            f'devices = [{{ kind = "sip", address = "PJSIP/{a}" }}]\nqueues = ["bench"]\n'
            for a, role in rows
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 consoles, short phases")
    parser.add_argument("--consoles", type=int, default=0, help="streams (default 500)")
    args = parser.parse_args(argv)
    consoles = args.consoles or (100 if args.quick else 500)
    seconds = 8.0 if args.quick else 20.0
    with tempfile.TemporaryDirectory(prefix="bench-console-") as root:
        figures = run(Path(root), consoles, seconds)
    print(json.dumps(figures))
    return 0


def run(root: Path, consoles: int, seconds: float) -> dict[str, object]:
    """Start Redis, Asterisk and the app under ``root``, measure, stop; the figures."""
    accounts = Accounts.for_consoles(consoles)
    env = {
        "HOTLINE_ARI_PASSWORD": secrets.token_urlsafe(12),
        "HOTLINE_HASH_KEY": secrets.token_urlsafe(24),
        "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
        "HOTLINE_ARI_APP": OURS_APP,
        "HOTLINE_ASTERISK_DIDS": OURS_DID,
        "HOTLINE_IVR_FLOW": str(HERE / "flows" / "queue.toml"),
        "HOTLINE_ACD_QUEUES": str(QUEUES),
        "HOTLINE_ACD_AGENTS": str(root / "agents.toml"),
        "HOTLINE_HTTP_PORT": str(free_port()),
        "HOTLINE_PHONES_SECRETS_FILE": str(root / "phone-secrets.toml"),
        "HOTLINE_RECORDS_DATA_DIR": str(root / "records"),
    }
    (root / "agents.toml").write_text(accounts.agents_toml())
    settings = load_settings(None, env=env)
    create_missing_secrets(settings, env={})
    redis = RedisServer(root / "redis").start()
    asterisk = PrivateAsterisk.with_free_ports(root / "asterisk", settings, rtp_ports=8000)
    app: subprocess.Popen[bytes] | None = None
    try:
        asterisk.start({})
        app_env = {
            **os.environ,
            **env,
            "HOTLINE_ARI_URL": asterisk.settings.ari.url,
            "HOTLINE_REDIS_URL": redis.url,
        }
        app = spawn_python(["-m", "hotline.cli", "run"], root / "app.log", app_env)
        wait_for_apps(asterisk, [OURS_APP])
        base = f"http://127.0.0.1:{env['HOTLINE_HTTP_PORT']}/console"
        bench = Bench(base, redis.url, settings.redis.prefix, accounts, app.pid)
        return asyncio.run(bench.run(consoles, seconds))
    finally:
        if app is not None:
            stop_process(app)
        asterisk.stop()
        redis.stop()


@dataclass
class Bench:
    """The consoles, the event writer and the app's CPU meter."""

    base: str
    redis_url: str
    prefix: str
    accounts: Accounts
    app_pid: int

    async def run(self, consoles: int, seconds: float) -> dict[str, object]:
        client = aioredis.Redis.from_url(self.redis_url, decode_responses=True)
        store = AcdStore(client, Keys(self.prefix), load_queues(QUEUES))
        try:
            for agent in self.accounts.volunteers:
                device = Device(DeviceKind.SIP, f"PJSIP/{agent}")
                await store.login(agent, ["bench"], device, time.time())
            log(f"no console: {seconds:g} s of events at {RATE:g}/s")
            idle_cpu, idle_events = await self._events(store, seconds)
            async with Consoles(self.base, self.accounts, consoles) as streams:
                log(f"{len(streams.streams)} consoles connected: the same events")
                busy_cpu, written = await self._events(store, seconds)
                await streams.settle(written)
            idle, busy = idle_cpu / len(idle_events), busy_cpu / len(written)
            return figures(streams.streams, written, idle, busy)
        finally:
            await client.aclose()

    async def _events(self, store: AcdStore, seconds: float) -> tuple[float, list[Event]]:
        """Pause or resume a random volunteer ``RATE`` times a second; the app's CPU seconds
        over that time (and until its streams had time to deliver) and the entries."""
        paused: set[str] = set()
        written: list[Event] = []
        log_key = Keys(self.prefix).acd_queue_log
        before = cpu_seconds(self.app_pid)
        start = time.monotonic()
        for n in range(int(seconds * RATE)):
            await asyncio.sleep(max(0.0, start + n / RATE - time.monotonic()))
            agent = random.choice(self.accounts.volunteers)
            if agent in paused:
                await store.resume(agent, time.time())
                paused.discard(agent)
            else:
                await store.pause(agent, "bench", time.time())
                paused.add(agent)
            newest = cast(list[tuple[str, object]], await store.redis.xrevrange(log_key, count=1))
            written.append(Event(newest[0][0], agent))
        await asyncio.sleep(1.0)
        return cpu_seconds(self.app_pid) - before, written


@dataclass(frozen=True)
class Event:
    """A queue log entry the bench wrote, and the volunteer it names."""

    entry_id: str
    agent: str

    @property
    def written_at(self) -> float:
        found = _ID.match(self.entry_id)
        assert found, self.entry_id
        return int(found.group(1)) / 1000


class Consoles:
    """Every account signed in, each with its streams open, read until closed."""

    def __init__(self, base: str, accounts: Accounts, consoles: int) -> None:
        self.base, self.accounts = base, accounts
        names = [(a, False) for a in accounts.volunteers] + [
            (a, True) for a in accounts.supervisors
        ]
        self.streams = [Stream(*names[n // STREAMS_PER_ACCOUNT]) for n in range(consoles)]
        self.sessions: dict[str, aiohttp.ClientSession] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Consoles:
        try:
            for account in dict.fromkeys(s.account for s in self.streams):
                # unsafe: the console is reached at 127.0.0.1, whose cookies aiohttp refuses.
                jar = aiohttp.CookieJar(unsafe=True)
                session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0), cookie_jar=jar
                )
                self.sessions[account] = session
                await self._sign_in(session, account)
            self.tasks = [asyncio.create_task(self._read(s)) for s in self.streams]
            opened = asyncio.gather(*(s.opened.wait() for s in self.streams))
            await asyncio.wait_for(opened, 120)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for session in self.sessions.values():
            await session.close()

    async def _sign_in(self, session: aiohttp.ClientSession, account: str) -> None:
        async with session.get(f"{self.base}/signin") as resp:
            found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        if found is None:
            raise RuntimeError("the sign-in page has no CSRF token")
        form = {"csrf": found.group(1), "account": account, "password": self.accounts.password}
        async with session.post(f"{self.base}/signin", data=form, allow_redirects=False) as resp:
            if resp.status != 303:
                raise RuntimeError(f"sign-in of {account} answered {resp.status}")

    async def _read(self, stream: Stream) -> None:
        path = "/supervisor/events" if stream.supervisor else "/events"
        session = self.sessions[stream.account]
        async with session.get(f"{self.base}{path}", timeout=aiohttp.ClientTimeout()) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{path} answered {resp.status}")
            stream.opened.set()
            entry_id = ""
            async for raw in resp.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("id:"):
                    entry_id = line[3:].strip()
                elif not line and entry_id:
                    stream.arrived.setdefault(entry_id, time.time())
                    entry_id = ""

    async def settle(self, written: Sequence[Event]) -> None:
        """Wait until every delivery arrived or ``MISSED_AFTER_S`` passed."""
        for _ in range(int(MISSED_AFTER_S / 0.2)):
            if not _missing(self.streams, written):
                return
            await asyncio.sleep(0.2)


def _expected(stream: Stream, event: Event) -> bool:
    return stream.supervisor or stream.account == event.agent


def _missing(streams: Sequence[Stream], written: Sequence[Event]) -> int:
    return sum(
        1
        for event in written
        for stream in streams
        if _expected(stream, event) and event.entry_id not in stream.arrived
    )


def figures(
    streams: Sequence[Stream], written: Sequence[Event], idle_cpu: float, busy_cpu: float
) -> dict[str, object]:
    """The JSON figures: delivery latency, misses and the CPU the consoles add."""
    latencies = [
        1000 * (stream.arrived[event.entry_id] - event.written_at)
        for event in written
        for stream in streams
        if _expected(stream, event) and event.entry_id in stream.arrived
    ]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    added_ms = 1000 * (busy_cpu - idle_cpu) / (len(streams) / 100)
    log(f"{len(latencies)} deliveries of {len(written)} events: p50 {p50} ms, p95 {p95} ms")
    return {
        "consoles": len(streams),
        "events": len(written),
        "deliveries": len(latencies),
        "missed": _missing(streams, written),
        "p50_ms": p50,
        "p95_ms": p95,
        "goal_p95_ms": 250,
        "app_cpu_ms_per_event_per_100_consoles": round(added_ms, 3),
    }


if __name__ == "__main__":
    sys.exit(main())
