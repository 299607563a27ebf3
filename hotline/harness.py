"""Private servers for the demo, the tests and the benchmarks: redis-server, Asterisk and
PostgreSQL.

Each runs on free loopback ports from its own directory, as a child that the kernel kills if
this process dies (``PR_SET_PDEATHSIG``), so a crashed test run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis

from core.config import ENV_PREFIX, SECRET_ENV, SECTIONS, TOP_LEVEL, Settings
from core.processes import die_with_parent
from hotline.dialplans import AsteriskDirs, render_dialplans


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as the ``HOTLINE_*`` environment that ``load_settings`` reads back into
    equal settings, secrets included: how a test configures the app started as a process."""

    def text(value: object) -> str:
        if isinstance(value, tuple):
            return ",".join(text(item) for item in value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    env = {
        f"{ENV_PREFIX}{name.upper()}_{f.name.upper()}": text(getattr(section, f.name))
        for name in SECTIONS
        for section in [getattr(settings, name)]
        for f in dataclasses.fields(section)
    }
    env.update({f"{ENV_PREFIX}{key.upper()}": str(getattr(settings, key)) for key in TOP_LEVEL})
    secrets = settings.secrets
    env.update(
        {
            SECRET_ENV["ari_password"]: secrets.ari_password,
            SECRET_ENV["hash_key"]: secrets.hash_key.decode(),
            SECRET_ENV["vault_keys"]: ",".join(key.decode() for key in secrets.vault_keys),
            SECRET_ENV["twilio_account_sid"]: secrets.twilio_account_sid,
            SECRET_ENV["twilio_auth_token"]: secrets.twilio_auth_token,
            f"{ENV_PREFIX}API_TOKENS": secrets.api_tokens,
        }
    )
    return env


class HarnessError(RuntimeError):
    """A private server did not start; the message says which and where its log is."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    die_with_parent()


def _own_process() -> None:  # runs in the child between fork and exec
    """Die with the parent, and take Ctrl-C's signals by default: a shell starts its
    background jobs with SIGINT and SIGQUIT ignored, and exec keeps ignored signals, so a
    test run started with ``&`` would otherwise hand servers that cannot be interrupted."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def spawn(
    args: list[str], log: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own process group, output to ``log``, killed if we die. Only
    from the main thread: the kernel kills the child when the *thread* that forked it ends
    (``PR_SET_PDEATHSIG``), so one started from a worker thread dies with that thread."""
    if threading.current_thread() is not threading.main_thread():
        raise HarnessError(f"{args[0]} must be started from the main thread")
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            preexec_fn=_own_process,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port that is free now for ``kind`` (TCP by default) and for UDP."""
    while True:
        with socket.socket(socket.AF_INET, kind) as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
            with socket.socket(socket.AF_INET, other) as second:
                try:
                    second.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


def udp_bound(port: int) -> bool:
    """Whether some process has bound UDP ``port`` (``/proc/net/udp``): a SIP server that is
    ready to receive."""
    suffix = f":{port:04X}"
    with open("/proc/net/udp", encoding="ascii") as table:
        return any(line.split()[1].endswith(suffix) for line in table.readlines()[1:])


def free_port_range(size: int) -> int:
    """The first of ``size`` consecutive UDP ports that are free now (an even number)."""
    for _ in range(200):
        base = free_port(socket.SOCK_DGRAM) & ~1
        if base + size > 65000:
            continue
        socks = []
        try:
            for port in range(base, base + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base
    raise HarnessError(f"no {size} consecutive free UDP ports")


def _wait(
    check: object, what: str, log: Path, proc: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"{what} exited with {proc.returncode}; see {log}")
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise HarnessError(f"{what} not ready after {timeout:.0f} s; see {log}")


@dataclass
class RedisServer:
    """A throw-away redis-server on a free loopback port."""

    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    #: The port of the primary this server replicates (0: it is a primary).
    replica_of: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start it (from the snapshot in its directory, if any) and wait until it answers
        PING."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        log = self.root / "redis.log"
        self.proc = spawn(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--dbfilename",
                self.snapshot.name,
                *(["--replicaof", "127.0.0.1", str(self.replica_of)] if self.replica_of else []),
            ],
            log,
        )
        _wait(self._pong, "redis-server", log, self.proc, 15)
        return self

    @property
    def snapshot(self) -> Path:
        """The RDB file the server saves to and loads at start."""
        return self.root / "dump.rdb"

    def _send(self, command: bytes) -> bytes:
        """One inline command's reply (its first line)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(command + b"\r\n")
            return sock.recv(64)

    def _pong(self) -> bool:
        try:
            return self._send(b"PING").startswith(b"+PONG")
        except OSError:
            return False

    def restart(self, keep_data: bool, down_s: float = 0.0) -> RedisServer:
        """Stop the server and start it again ``down_s`` seconds later on the same port: with
        ``keep_data``, from a snapshot saved just before (a restart with persistence);
        without, empty (a server that lost its data, or a replica promoted without the latest
        writes). Blocks: call it in a thread from a running event loop."""
        if keep_data:
            reply = self._send(b"SAVE")
            if not reply.startswith(b"+OK"):
                raise HarnessError(f"redis-server SAVE answered {reply!r}")
        self.stop()
        if not keep_data:
            self.snapshot.unlink(missing_ok=True)
        time.sleep(down_s)
        return self.start()

    def stop(self) -> None:
        """Stop the server (it saves nothing on the way out)."""
        if self.proc:
            stop_process(self.proc)

    def kill(self) -> None:
        """Kill it at once (SIGKILL), as a crash of its machine would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class RedisSentinels:
    """A Redis primary, its replica and three Sentinels watching them, on free loopback
    ports: a failover takes ``down_after_ms`` plus an election (a second or two)."""

    root: Path
    master_name: str = "hotline"
    down_after_ms: int = 1000
    primary: RedisServer = field(init=False)
    replica: RedisServer = field(init=False)
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> RedisSentinels:
        """Start the primary, its replica once it has synced, then the Sentinels, and wait
        until every Sentinel knows the replica."""
        self.primary = RedisServer(self.root / "primary").start()
        self.replica = RedisServer(self.root / "replica", replica_of=self.primary.port).start()
        assert self.replica.proc is not None
        replica_log = self.root / "replica" / "redis.log"
        _wait(self._synced, "redis replica sync", replica_log, self.replica.proc, 15)
        for n in range(3):
            directory = self.root / f"sentinel{n}"
            directory.mkdir(parents=True, exist_ok=True)
            port = free_port()
            conf = directory / "sentinel.conf"  # Sentinel rewrites it: one each
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {self.master_name} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.master_name} 10000\n"
                f"sentinel parallel-syncs {self.master_name} 1\n"
            )
            self.ports.append(port)
            self.procs.append(
                spawn(["redis-server", str(conf), "--sentinel"], directory / "sentinel.log")
            )
        first_log = self.root / "sentinel0" / "sentinel.log"
        _wait(self._watching, "redis sentinels", first_log, self.procs[0], 20)
        return self

    @property
    def addresses(self) -> tuple[str, ...]:
        """The Sentinels as ``[redis] sentinels`` takes them."""
        return tuple(f"127.0.0.1:{port}" for port in self.ports)

    def primary_port(self) -> int:
        """The port of the server the Sentinels name as primary now."""
        with redis.Redis(port=self.ports[0], socket_timeout=5) as sentinel:
            _host, port = sentinel.sentinel_get_master_addr_by_name(self.master_name)
        return int(port)

    def wait_for_replica(self, timeout: float = 10) -> None:
        """Wait until the replica has every write the primary took (replication is
        asynchronous: what the primary acknowledged in its last moments can be lost with it)."""
        with redis.Redis(port=self.primary.port, socket_timeout=timeout + 1) as primary:
            if primary.wait(1, int(timeout * 1000)) < 1:
                raise HarnessError(f"the replica did not catch up within {timeout} s")

    def _synced(self) -> bool:
        with redis.Redis(port=self.replica.port, socket_timeout=5) as replica:
            return bool(replica.info("replication").get("master_link_status") == "up")

    def _watching(self) -> bool:
        for port in self.ports:
            try:
                with redis.Redis(port=port, socket_timeout=5) as sentinel:
                    info = sentinel.info("sentinel")["master0"]
            except (redis.RedisError, KeyError):
                return False
            if (info["slaves"], info["sentinels"]) != (1, 3):
                return False
        return True

    def stop(self) -> None:
        """Stop the Sentinels, then both servers."""
        for proc in self.procs:
            stop_process(proc)
        self.replica.stop()
        self.primary.stop()


@dataclass
class PrivateAsterisk:
    """An Asterisk configured from ``dialplans/`` with its own directory and free ports."""

    root: Path
    settings: Settings
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def with_free_ports(
        cls, root: Path, settings: Settings, rtp_ports: int = 2000, address: str = "127.0.0.1"
    ) -> PrivateAsterisk:
        """Copy ``settings`` with free SIP, HTTP and ``rtp_ports`` RTP ports on loopback
        ``address`` (another of 127.0.0.0/8 for a second Asterisk beside the first)."""
        rtp = free_port_range(rtp_ports)
        ast = dataclasses.replace(
            settings.asterisk,
            sip_bind=address,
            sip_port=free_port(socket.SOCK_DGRAM),
            http_bind=address,
            http_port=free_port(),
            rtp_start=rtp,
            rtp_end=rtp + rtp_ports - 1,
        )
        ari = dataclasses.replace(settings.ari, url=f"http://{address}:{ast.http_port}")
        return cls(root=root, settings=dataclasses.replace(settings, asterisk=ast, ari=ari))

    @property
    def dirs(self) -> AsteriskDirs:
        return AsteriskDirs.private(self.root)

    @property
    def conf(self) -> Path:
        return self.dirs.etc_dir / "asterisk.conf"

    @property
    def sip_address(self) -> str:
        """Its SIP (UDP) address, ``host:port``."""
        return f"{self.settings.asterisk.sip_bind}:{self.settings.asterisk.sip_port}"

    @property
    def log(self) -> Path:
        return self.root / "asterisk.out"

    @property
    def messages(self) -> Path:
        """Asterisk's own log of notices, warnings and errors (``dialplans/logger.conf``)."""
        return self.dirs.log_dir / "messages"

    def start(
        self, extra_files: dict[str, str] | None = None, contacts: Mapping[str, str] | None = None
    ) -> PrivateAsterisk:
        """Render the configuration (plus ``extra_files``; ``contacts``: fixed contacts of
        phones that do not register) and boot; wait for ARI to answer."""
        if shutil.which("asterisk") is None:
            raise HarnessError("asterisk is not installed; run scripts/setup.sh")
        self.dirs.create()
        render_dialplans(self.settings, self.dirs, contacts=contacts)
        for name, text in (extra_files or {}).items():
            (self.dirs.etc_dir / name).write_text(text, encoding="utf-8")
        self._boot()
        return self

    def restart(self, down_s: float = 0.0) -> PrivateAsterisk:
        """Stop Asterisk (every call on it is cut) and boot it again ``down_s`` seconds later
        with the same ports and configuration; wait for ARI to answer. Blocks: call it in a
        thread from a running event loop."""
        self.stop()
        time.sleep(down_s)
        self._boot()
        return self

    def _boot(self) -> None:
        self.proc = spawn(["asterisk", "-C", str(self.conf), "-f", "-n"], self.log, cwd=self.root)
        _wait(self.ari_ready, "asterisk", self.log, self.proc, 60)

    def ari_ready(self) -> bool:
        """Whether ARI answers now."""
        token = b64encode(
            f"{self.settings.ari.username}:{self.settings.secrets.ari_password}".encode()
        ).decode()
        request = urllib.request.Request(
            f"{self.settings.ari.url}/ari/asterisk/info",
            headers={"Authorization": f"Basic {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def rx(self, command: str, timeout: float = 15) -> str:
        """Run one CLI command on this instance and return its output."""
        result = subprocess.run(
            ["asterisk", "-C", str(self.conf), "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return result.stdout

    def calls_processed(self) -> int:
        """How many calls this instance has taken since it started."""
        out = self.rx("core show channels count")
        for line in out.splitlines():
            if "call processed" in line or "calls processed" in line:
                return int(line.split()[0])
        raise HarnessError(f"unexpected 'core show channels count' output: {out!r}")

    def hang_up_all(self, within: float = 10) -> None:
        """Hang up every channel (what a failed test left) and wait until none is left."""
        deadline = time.monotonic() + within
        while self.channel_count():
            if time.monotonic() > deadline:
                raise HarnessError(f"channels still up {within} s after hanging them up")
            self.rx("channel request hangup all")
            time.sleep(0.1)

    def kill(self) -> None:
        """Kill Asterisk at once (SIGKILL), as a crashed box: nothing is closed cleanly."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def channel_count(self) -> int:
        """How many channels exist now."""
        out = self.rx("core show channels count")
        for line in out.splitlines():
            if "active channel" in line:
                return int(line.split()[0])
        raise HarnessError(f"unexpected 'core show channels count' output: {out!r}")

    def stop(self) -> None:
        """Stop Asterisk now (calls are cut)."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.rx("core stop now", timeout=5)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                stop_process(self.proc)


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's binaries (Debian keeps them out of PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: p.parts[-3])
    if not found:
        raise HarnessError("PostgreSQL is not installed; run scripts/setup.sh")
    return found[-1].parent


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster (``initdb``, then ``postgres``) on a free loopback port,
    in a directory of its own; user ``hotline``, no password (trust on loopback).

    PostgreSQL refuses to run as root: run as root (CI), the cluster belongs to the
    ``postgres`` system user, in a temporary directory that user can reach."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hotline-pg-")))
    port: int = 0
    user: str = "hotline"
    #: Extra ``-c name=value`` settings, e.g. ``fsync=off`` for tests.
    options: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this server (asyncpg driver)."""
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def start(self) -> PostgresServer:
        """Create the cluster if needed, start it (unless it runs) and wait until it accepts
        connections."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        bin_dir = postgres_bin()
        data = self.root / "data"
        self.port = self.port or free_port()
        owner = _postgres_owner()
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        if not data.exists():
            result = subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", self.user,
                 "-E", "UTF8", "--no-sync"],
                capture_output=True, text=True, check=False, preexec_fn=_as_user(owner),
            )  # fmt: skip
            if result.returncode != 0:
                raise HarnessError(f"initdb failed: {result.stderr.strip()}")
        args = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port), "-k",
                str(self.root), "-c", "listen_addresses=127.0.0.1"]  # fmt: skip
        for option in self.options:
            args += ["-c", option]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_as_user(owner, die=True),
                start_new_session=True,
            )
        if owner is not None:
            os.chown(self.log, owner.pw_uid, owner.pw_gid)
        ready = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        _wait(
            lambda: subprocess.run(ready, check=False).returncode == 0,
            "postgres",
            self.log,
            self.proc,
            30,
        )
        return self

    def stop(self) -> None:
        """Stop the server now (fast shutdown: open sessions are cut), keeping its data."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, grace=1)

    def remove(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _postgres_owner() -> pwd.struct_passwd | None:
    """The user a cluster runs as when this process is root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise HarnessError("as root, a cluster needs the 'postgres' user") from None


def _as_user(owner: pwd.struct_passwd | None, *, die: bool = False) -> Callable[[], None]:
    """What a child runs before exec: become ``owner`` (if given), then, with ``die``, have
    the kernel kill it with us (after the change of user, which would clear that setting)."""

    def prepare() -> None:
        if owner is not None:
            os.setgroups([])
            os.setgid(owner.pw_gid)
            os.setuid(owner.pw_uid)
        if die:
            die_with_parent()

    return prepare
