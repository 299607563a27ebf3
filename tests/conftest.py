"""Fixtures that start real servers: redis-server and a private Asterisk (session-wide), the
app in-process or as a process of its own (per test) and SIPp callers (per call). Every
process they start is stopped on the way out, also when a test fails, and is killed by the
kernel if pytest itself dies."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
import redis
from cryptography.fernet import Fernet

from core.config import RecordsSettings, Settings, load_settings
from core.keys import Keys
from hotline.app import HotlineApp, utc_now
from hotline.harness import (
    PostgresServer,
    PrivateAsterisk,
    RedisServer,
    _die_with_parent,
    free_port,
    free_port_range,
    postgres_bin,
    settings_env,
    spawn,
    stop_process,
)
from hotline.phones import create_missing_secrets
from ivr.flow import Flow, load_flow

TESTS = Path(__file__).resolve().parent
CALLER = "+15145550123"
#: How many keys tests/sipp/caller.xml can press.
KEY_SLOTS = 12
FAIL2BAN_FILTER = TESTS.parent / "deploy" / "fail2ban" / "filter.d" / "hotline-asterisk.conf"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A real, empty Redis (no Asterisk needed)."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster (durability off: tests need speed, not crash safety)."""
    server = PostgresServer(
        options=("fsync=off", "synchronous_commit=off", "full_page_writes=off")
    ).start()
    try:
        yield server
    finally:
        server.remove()


def create_database(server: PostgresServer) -> str:
    """A new, empty database on ``server``; its name."""
    name = f"t_{secrets.token_hex(5)}"
    subprocess.run(
        [str(postgres_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(server.port),
         "-U", server.user, name],
        check=True, capture_output=True,
    )  # fmt: skip
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def records_settings(request: pytest.FixtureRequest, tmp_path: Path) -> RecordsSettings:
    """The records store on a fresh SQLite file, then on a fresh PostgreSQL database: a test
    using it runs once on each."""
    if request.param == "sqlite":
        return RecordsSettings(data_dir=tmp_path / "records")
    server: PostgresServer = request.getfixturevalue("postgres")
    return RecordsSettings(url=server.url(create_database(server)))


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The test configuration, with a secret for each SIP device in a fresh secrets file."""
    secrets_file = tmp_path_factory.mktemp("phones") / "phone-secrets.toml"
    settings = load_settings(
        None,
        env={
            "HOTLINE_RECORDS_DATA_DIR": str(tmp_path_factory.mktemp("records")),
            "HOTLINE_ARI_PASSWORD": secrets.token_urlsafe(12),
            "HOTLINE_HASH_KEY": secrets.token_urlsafe(24),
            "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
            "HOTLINE_ARI_APP": f"hotline-test-{secrets.token_hex(3)}",
            "HOTLINE_ASTERISK_CARRIER_DTMF_MODE": "info",
            "HOTLINE_ACD_QUEUES": str(TESTS / "acd" / "queues.toml"),
            "HOTLINE_ACD_AGENTS": str(TESTS / "acd" / "agents.toml"),
            "HOTLINE_ACD_TICK_S": "0.3",
            "HOTLINE_ACD_RECONCILE_S": "1",
            "HOTLINE_ACD_CONFIRM_TIMEOUT_S": "3",
            "HOTLINE_PHONES_SECRETS_FILE": str(secrets_file),
        },
    )
    create_missing_secrets(settings, env={})
    return settings


#: Test phones that never register: Asterisk reaches them at fixed contacts.
SIP_PHONES = ("alice", "bruno", "chen")
EXTERNAL = "dana"
#: A volunteer whose phone registers (with its secret) from this address, not the carrier's.
REMOTE_PHONE, REMOTE_ADDRESS = "fiona", "127.0.0.3"


@pytest.fixture(scope="session")
def phone_ports() -> dict[str, int]:
    """The UDP port of each test agent's SIPp phone (dana's is the carrier trunk's)."""
    return {name: free_port(socket.SOCK_DGRAM) for name in (*SIP_PHONES, EXTERNAL)}


@pytest.fixture(scope="session")
def asterisk(
    tmp_path_factory: pytest.TempPathFactory, base_settings: Settings, phone_ports: dict[str, int]
) -> Iterator[PrivateAsterisk]:
    instance = PrivateAsterisk.with_free_ports(tmp_path_factory.mktemp("asterisk"), base_settings)
    carrier = f"127.0.0.1:{phone_ports[EXTERNAL]}"
    instance.settings = dataclasses.replace(
        instance.settings,
        asterisk=dataclasses.replace(instance.settings.asterisk, carrier_host=carrier),
    )
    contacts = {name: f"sip:{name}@127.0.0.1:{phone_ports[name]}" for name in SIP_PHONES}
    try:
        yield instance.start(contacts=contacts)
    finally:
        instance.stop()


@pytest.fixture
def settings(asterisk: PrivateAsterisk, redis_server: RedisServer, tmp_path: Path) -> Settings:
    """Settings pointing at the private servers, with a clean Redis and records store for each
    test, and no channel in Asterisk (a failed test may have left some: the tests after it
    must not fail for that)."""
    asterisk.hang_up_all()
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    s = asterisk.settings
    return dataclasses.replace(
        s,
        redis=dataclasses.replace(s.redis, url=redis_server.url),
        http=dataclasses.replace(s.http, port=free_port()),
        records=dataclasses.replace(s.records, data_dir=tmp_path / "records"),
    )


@pytest.fixture
def test_flow(settings: Settings) -> Flow:
    return load_flow(TESTS / "flows" / "test.toml", languages=settings.ivr.languages)


@asynccontextmanager
async def running_app(
    settings: Settings, flow: Flow, clock: Callable[[], datetime] = utc_now
) -> AsyncIterator[HotlineApp]:
    """The app, started and connected to ARI; closed on the way out."""
    async with HotlineApp(settings, flow, clock=clock) as app:
        deadline = time.monotonic() + 10
        while not app.stream.is_connected:
            assert time.monotonic() < deadline, "app did not connect to ARI"
            await asyncio.sleep(0.05)
        yield app


@dataclass
class AppProcess:
    """The app running as ``hotline run`` in a process of its own."""

    proc: subprocess.Popen[bytes]
    #: Its HTTP API, e.g. ``http://127.0.0.1:8080``.
    url: str
    #: Its output (logs).
    log: Path

    def kill(self) -> None:
        """Kill it at once (SIGKILL), as a crash would: it cleans nothing up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, grace: float = 10) -> None:
        """Stop it as Ctrl-C does (the app closes), killing it if it lingers."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:  # what it is stuck on goes to its log
                os.kill(self.proc.pid, signal.SIGUSR1)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(1)
        stop_process(self.proc)


@asynccontextmanager
async def app_process(
    settings: Settings, flow_path: Path, log_dir: Path | None = None, within: float = 20
) -> AsyncIterator[AppProcess]:
    """``hotline run`` with ``settings`` (as HOTLINE_* variables) and the flow at
    ``flow_path``, once its ``/healthz`` says it is connected; stopped on the way out (and
    killed by the kernel if pytest dies). Its output goes to ``log_dir`` (default: a
    temporary directory)."""
    with contextlib.ExitStack() as stack:
        root = log_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        flowed = dataclasses.replace(
            settings, ivr=dataclasses.replace(settings.ivr, flow=flow_path)
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(settings_env(flowed))
        log = root / f"app-{time.monotonic_ns()}.log"
        # From an empty directory: no ./hotline.toml is read, only the environment.
        proc = spawn([sys.executable, "-m", "hotline.cli", "run"], log, cwd=root, env=env)
        app = AppProcess(proc, f"http://{settings.http.bind}:{settings.http.port}", log)
        try:
            await _healthy(app, within)
            yield app
        finally:
            await asyncio.to_thread(app.stop)


@asynccontextmanager
async def worker_process(settings: Settings, log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """``hotline worker`` with ``settings`` (as HOTLINE_* variables): the SMS queue's jobs and
    the drain of the Redis streams into the records; stopped on the way out (SIGTERM, as a
    service manager does) and killed by the kernel if pytest dies. Its output goes to ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(settings_env(settings))
    # From the log's directory: no ./hotline.toml is read, only the environment.
    proc = spawn([sys.executable, "-m", "hotline.cli", "worker"], log, cwd=log.parent, env=env)
    try:
        yield proc
    finally:
        await asyncio.to_thread(stop_process, proc, 10)


async def _healthy(app: AppProcess, within: float) -> None:
    """Wait until the app's /healthz answers 200 (Redis and ARI connected)."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while True:
            if app.proc.poll() is not None:
                raise AssertionError(
                    f"app exited with {app.proc.returncode}: {app.log.read_text()}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{app.url}/healthz") as response:
                    if response.status == 200:
                        return
            assert time.monotonic() < deadline, f"app not healthy: {app.log.read_text()[-3000:]}"
            await asyncio.sleep(0.1)


@dataclass(frozen=True)
class CallResult:
    """How a SIPp call ended."""

    returncode: int
    seconds: float
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


async def place_call(
    asterisk: PrivateAsterisk,
    *,
    keys: tuple[tuple[int, str], ...] = (),
    hangup_ms: int = 0,
    caller: str = CALLER,
    max_seconds: int = 40,
    dial: str = "",
    via: str = "",
) -> CallResult:
    """One SIPp call to the toll-free number: ``keys`` are (pause ms, digit) pairs sent as SIP
    INFO; ``hangup_ms`` > 0 makes the caller hang up that long after the last key, otherwise the
    caller waits for the service to hang up. ``via``: the ``host:port`` of a SIP proxy to call
    through instead of ``asterisk`` itself."""
    assert len(keys) <= KEY_SLOTS
    padded = list(keys) + [(0, "x")] * (KEY_SLOTS - len(keys))
    args = ["-sf", str(TESTS / "sipp" / "caller.xml"), "-m", "1", "-l", "1"]
    for i, (wait, digit) in enumerate(padded, start=1):
        args += ["-set", f"wait{i}", str(wait), "-set", f"key{i}", digit]
    ast = asterisk.settings.asterisk
    args += [
        "-set", "hangup_ms", str(hangup_ms),
        "-key", "caller", caller,
        "-s", (dial or ast.dids[0]).lstrip("+"),
        "-i", "127.0.0.1", "-mi", "127.0.0.1",
        "-p", str(free_port()), "-mp", str(free_port_range(4)),
        "-nostdin", "-timeout", f"{max_seconds}s", "-timeout_error",
        via or f"{ast.sip_bind}:{ast.sip_port}",
    ]  # fmt: skip
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "sipp",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), max_seconds + 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return CallResult(proc.returncode or 0, time.monotonic() - start, out.decode(errors="replace"))


def journal(settings: Settings) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """The IVR journal, grouped by channel, in order."""
    client = redis.Redis.from_url(settings.redis.url, decode_responses=True)
    try:
        entries: list[tuple[str, dict[str, str]]] = client.xrange(  # type: ignore[assignment]
            Keys(settings.redis.prefix).journal
        )
    finally:
        client.close()
    calls: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for _, fields in entries:
        calls.setdefault(fields["channel"], []).append(
            (fields["kind"], json.loads(fields["detail"]))
        )
    return calls


async def wait_until_idle(app: HotlineApp, asterisk: PrivateAsterisk, within: float = 10) -> None:
    """Wait until Asterisk has no channel and the app no live call."""
    deadline = time.monotonic() + within
    while True:
        channels = await asyncio.to_thread(asterisk.channel_count)
        owned = await app.redis.scard(
            Keys(app.settings.redis.prefix).app_calls(app.settings.ari.app)
        )
        if channels == 0 and owned == 0 and not app.dispatcher.active_channels:
            return
        busy = sorted(app.dispatcher.active_channels)
        assert time.monotonic() < deadline, f"{channels} channel(s), {owned} call(s), {busy} left"
        await asyncio.sleep(0.1)


@pytest.fixture
def app_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of the test, at DEBUG, from every logger."""
    caplog.set_level(logging.DEBUG)
    return caplog


@dataclass(frozen=True)
class PhoneResult:
    """How a SIPp agent phone's call went, and the SIP messages it saw."""

    returncode: int
    messages: str

    @property
    def invites(self) -> list[str]:
        """Every INVITE the phone received, as text."""
        return [m for m in self.messages.split("\n\n") if m.lstrip().startswith("INVITE ")]


async def agent_phone(
    port: int,
    tmp_path: Path,
    *,
    mode: str = "answer",
    ring_ms: int = 200,
    key: str = "x",
    key_ms: int = 0,
    talk_ms: int = 0,
    calls: int = 1,
    max_seconds: int = 40,
    address: str = "127.0.0.1",
) -> PhoneResult:
    """A volunteer's phone (tests/sipp/agent.xml) at ``address``:``port`` for ``calls`` calls;
    see the scenario."""
    log = tmp_path / f"phone-{port}-{time.monotonic_ns()}.log"
    args = [
        "-sf", str(TESTS / "sipp" / "agent.xml"), "-m", str(calls),
        "-set", "mode", mode, "-set", "ring_ms", str(ring_ms), "-set", "key", key,
        "-set", "key_ms", str(key_ms), "-set", "talk_ms", str(talk_ms),
        "-i", address, "-mi", address, "-p", str(port), "-mp", str(free_port_range(4)),
        "-trace_msg", "-message_file", str(log),
        "-nostdin", "-timeout", f"{max_seconds}s", "-timeout_error",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        "sipp",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    try:
        await asyncio.wait_for(proc.wait(), max_seconds + 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    messages = log.read_text(errors="replace") if log.exists() else ""
    return PhoneResult(proc.returncode or 0, messages)


def contacts(asterisk: PrivateAsterisk, name: str) -> list[str]:
    """The contact URIs ``name``'s AOR has now (registered or fixed)."""
    return re.findall(rf"Contact:\s+{name}/(\S+)", asterisk.rx("pjsip show contacts"))


async def wait_for_contact(asterisk: PrivateAsterisk, name: str, within: float = 10) -> str:
    """The first contact of ``name``'s AOR, once there is one (a phone has registered)."""
    deadline = time.monotonic() + within
    while not (found := await asyncio.to_thread(contacts, asterisk, name)):
        assert time.monotonic() < deadline, f"{name} did not register within {within} s"
        await asyncio.sleep(0.1)
    return found[0]


def banned_addresses(log_lines: str, tmp_path: Path) -> list[str]:
    """The addresses the shipped fail2ban filter (deploy/fail2ban) finds in ``log_lines``,
    as ``fail2ban-regex`` reports them."""
    log = tmp_path / "security.log"
    log.write_text(log_lines)
    result = subprocess.run(
        ["fail2ban-regex", "-o", "ip", str(log), str(FAIL2BAN_FILTER)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.split()


def queue_log(settings: Settings) -> list[dict[str, str]]:
    """The ACD's queue_log stream, oldest first."""
    client = redis.Redis.from_url(settings.redis.url, decode_responses=True)
    try:
        entries: list[tuple[str, dict[str, str]]] = client.xrange(  # type: ignore[assignment]
            Keys(settings.redis.prefix).acd_queue_log
        )
    finally:
        client.close()
    return [fields for _, fields in entries]
