"""The calls' side of ``bench.telethon``: a TV-appeal burst of SIPp callers through the
private Asterisk into the hotline app (``hotline run``, flow ``bench/flows/queue.toml``, queue
``bench``, campaign ``bench/telethon/campaigns.toml`` on the same line), twice:

- onto **ringing** agents (each call rings its agent's phone, which answers at once: a
  machine's answer, the fastest a ringing agent can be);
- onto **nailed-up** operators (auto-answer: each operator's phone was rung once before the
  burst, by a warm-up call each, and every caller is joined to a standing connection).

Both sets of phones are one SIPp UAS; callers send RTP (Asterisk 16's Stasis loop waits on
audio) and hang up ``talk_ms`` after the answer. No ``hotline worker`` runs: each pledge
request catches the records (SQLite) up itself, requests at once sharing one catch-up.
While a trial runs, simulated operators follow the ACD's queue log and save a pledge through
the app's HTTP API for each call they get (``POST /acd/calls/{id}/pledges``, as the form
does), each on its own bearer token.

Latency, "the operator hears the caller": from the caller's INVITE (SIPp's message trace) to the
app's ``CONNECT`` in the queue log (the store's verdict, just before the caller joins the
operator's bridge; for a ringing agent, after its phone answered). Both are on this machine's
clock. Calls are paired in time order, as the queue log names no caller (at a rate the
operators absorb, no caller waits, so calls connect in the order they came); a lost caller's
INVITE is skipped once the next CONNECT is more than ``PAIR_WITHIN_S`` later. ``calls_lost``:
callers placed less CONNECTs seen, whatever the pairing.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from acd.config import load_queues
from acd.records import Records
from acd.store import AcdStore
from bench.acd import HERE, OURS_APP, OURS_DID, QUEUES
from bench.ivr import log, spawn_python, wait_for_apps
from bench.load import Trial, invite_times, run_trial, wait_for_no_channels
from bench.operators import AgentPhone, agents_toml, login_agents, percentile
from core.config import Settings, load_settings
from core.keys import Keys
from hotline.harness import PrivateAsterisk, RedisServer, free_port, stop_process
from hotline.phones import create_missing_secrets

CAMPAIGNS = HERE / "telethon" / "campaigns.toml"
QUEUE = "bench"
#: A CONNECT later than this after an INVITE is not that caller's (it was lost).
PAIR_WITHIN_S = 10.0
#: What a simulated operator saves for each call (minor units; SMS link, consent given).
FORM = {"amount": 5000, "consent_sms": True, "comment": "burst"}


@dataclass(frozen=True)
class Burst:
    """A TV-appeal burst: ``calls`` callers in ``seconds`` onto ``operators``."""

    calls: int
    seconds: float
    operators: int
    talk_ms: int

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


QUICK = Burst(calls=120, seconds=6, operators=20, talk_ms=1000)
FULL = Burst(calls=2000, seconds=60, operators=100, talk_ms=2000)


@dataclass(frozen=True)
class Taken:
    """What the operators of one trial saw: each CONNECT's time, and their pledges."""

    connects: list[float] = field(default_factory=list)
    #: The API's answer time of each pledge saved (ms).
    pledge_ms: list[float] = field(default_factory=list)
    #: Statuses of the pledges the API refused (0: no answer), with how many.
    refused: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Measured:
    """One trial: SIPp's counts, the latencies (ms) and the operators' pledges."""

    trial: Trial
    latencies: list[float]
    taken: Taken

    @property
    def calls_lost(self) -> int:
        return self.trial.calls - len(self.taken.connects)


def pair_in_order(sent: Sequence[float], connected: Sequence[float], within: float) -> list[float]:
    """Seconds from each INVITE ``sent`` to the CONNECT that is its call's, both lists in time
    order: the first CONNECT after an INVITE (and within ``within``) is its call's; an INVITE
    with none was lost."""
    out: list[float] = []
    i = 0
    for at in sorted(connected):
        while i < len(sent) and at - sent[i] > within:
            i += 1  # never connected
        if i < len(sent) and sent[i] <= at:
            out.append(at - sent[i])
            i += 1
    return out


async def take_calls(
    redis_url: str,
    api_url: str,
    tokens: Mapping[str, str],
    key: str,
    since: str,
    done: asyncio.Event,
) -> Taken:
    """Follow the queue log ``key`` after ``since`` until ``done``; for each CONNECT of an
    operator in ``tokens``, save a pledge on the call as that operator."""
    taken = Taken()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)

    async def pledge(http: aiohttp.ClientSession, call: str, agent: str) -> None:
        body = {**FORM, "client_key": uuid.uuid4().hex}
        started = time.perf_counter()
        try:
            async with http.post(
                f"{api_url}/acd/calls/{call}/pledges",
                json=body,
                headers={"Authorization": f"Bearer {tokens[agent]}"},
            ) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError:
            status = 0  # no answer
        if status == 201:
            taken.pledge_ms.append(1000 * (time.perf_counter() - started))
        else:
            taken.refused[status] = taken.refused.get(status, 0) + 1

    try:
        async with aiohttp.ClientSession() as http, asyncio.TaskGroup() as group:
            last = since
            while True:
                finished = done.is_set()  # read once more after the trial's end
                read = await client.xread({key: last}, count=500, block=200)
                for _, entries in cast(list[tuple[str, list[tuple[str, dict[str, str]]]]], read):
                    for entry_id, fields in entries:
                        last = entry_id
                        if fields["event"] == "CONNECT" and fields["agent"] in tokens:
                            taken.connects.append(float(fields["time"]))
                            group.create_task(pledge(http, fields["call"], fields["agent"]))
                if finished and not read:
                    break
    finally:
        await client.aclose()
    return taken


@dataclass
class Telethon:
    """The app, its servers and the operators' phone of one run."""

    root: Path
    settings: Settings
    asterisk: PrivateAsterisk
    redis: RedisServer
    tokens: dict[str, str]
    watch: dict[str, int]

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.redis.prefix)

    def trial(self, name: str, burst: Burst, agents: Sequence[str], standing: int) -> Measured:
        """The burst onto ``agents`` (logged in; ``standing``: their nailed-up legs): SIPp's
        counts, latencies, pledges."""
        trace = self.root / f"caller-{name}.msg"
        api = f"http://127.0.0.1:{self.settings.http.port}"
        tokens = {agent: self.tokens[agent] for agent in agents}

        async def measure() -> tuple[Trial, Taken]:
            since = await self._last_id()
            done = asyncio.Event()
            operators = asyncio.create_task(
                take_calls(self.redis.url, api, tokens, self.keys.acd_queue_log, since, done)
            )
            try:
                trial = await asyncio.to_thread(
                    run_trial, self.asterisk, OURS_DID, burst.rate, burst.seconds, self.watch,
                    self.root / "sipp.log", hangup_ms=burst.talk_ms, trace=trace,
                    standing=standing,
                )  # fmt: skip
            finally:
                done.set()
            return trial, await operators

        trial, taken = asyncio.run(measure())
        sent = invite_times(trace.read_text(errors="replace"), sent=True)
        latencies = [1000 * s for s in pair_in_order(sent, taken.connects, PAIR_WITHIN_S)]
        return Measured(trial, latencies, taken)

    def warm_up(self, operators: Sequence[str], rounds: int = 5) -> None:
        """Short calls until every operator's phone is nailed up before the burst (as
        operators connect before the appeal goes on air): a round places one call for each
        operator not yet nailed up (the longest idle, so each call finds a new one), whose
        caller stays 2 s; a caller who left before being put through nailed nobody up."""
        missing = list(operators)
        for _ in range(rounds):
            run_trial(
                self.asterisk, OURS_DID, max(1.0, len(missing) / 3), min(3.0, len(missing)),
                self.watch, self.root / "sipp.log", hangup_ms=2000, standing=len(operators),
            )  # fmt: skip
            missing = asyncio.run(self._not_nailed(operators))
            wait_for_no_channels(self.asterisk, standing=len(operators) - len(missing))
            if not missing:
                return
        raise RuntimeError(f"{len(missing)} operator(s) not nailed up: {missing[:5]}")

    async def _not_nailed(self, operators: Sequence[str]) -> list[str]:
        client = aioredis.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            records = Records(client, self.keys)
            return [a for a in operators if not ((nail := await records.nail(a)) and nail.ready)]
        finally:
            await client.aclose()

    async def _last_id(self) -> str:
        client = aioredis.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            last = await client.xrevrange(self.keys.acd_queue_log, count=1)
            return str(last[0][0]) if last else "0"
        finally:
            await client.aclose()

    def log_out(self, agents: Sequence[str]) -> None:
        async def out() -> None:
            client = aioredis.Redis.from_url(self.redis.url, decode_responses=True)
            try:
                store = AcdStore(client, self.keys, load_queues(QUEUES))
                for agent in agents:
                    await store.logout(agent, time.time())
            finally:
                await client.aclose()

        asyncio.run(out())


def run_burst(root: Path, burst: Burst) -> dict[str, object]:
    """Start the servers and the app under ``root``, run the burst onto ringing agents then
    onto nailed-up operators, stop everything; the figures."""
    ringing = [f"rg{n:03d}" for n in range(1, burst.operators + 1)]
    nailed = [f"op{n:03d}" for n in range(1, burst.operators + 1)]
    (root / "agents.toml").write_text(
        agents_toml(ringing, QUEUE) + agents_toml(nailed, QUEUE, nailed_up=True)
    )
    tokens = {agent: secrets.token_urlsafe(16) for agent in (*ringing, *nailed)}
    env = {
        "HOTLINE_ARI_PASSWORD": secrets.token_urlsafe(12),
        "HOTLINE_HASH_KEY": secrets.token_urlsafe(24),
        "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
        "HOTLINE_API_TOKENS": ",".join(f"{a}:agent:{t}" for a, t in tokens.items()),
        "HOTLINE_STRIPE_API_KEY": "sk_test_" + secrets.token_hex(12),
        "HOTLINE_STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "HOTLINE_ARI_APP": OURS_APP,
        "HOTLINE_ASTERISK_DIDS": OURS_DID,
        "HOTLINE_IVR_FLOW": str(HERE / "flows" / "queue.toml"),
        "HOTLINE_ACD_QUEUES": str(QUEUES),
        "HOTLINE_ACD_AGENTS": str(root / "agents.toml"),
        "HOTLINE_ACD_WHISPER": "",
        "HOTLINE_PLEDGES_CAMPAIGNS": str(CAMPAIGNS),
        "HOTLINE_RECORDS_DATA_DIR": str(root / "records"),
        "HOTLINE_HTTP_PORT": str(free_port()),
        "HOTLINE_PHONES_SECRETS_FILE": str(root / "phone-secrets.toml"),
    }
    settings = load_settings(None, env=env)
    create_missing_secrets(settings, env={})
    redis = RedisServer(root / "redis").start()
    asterisk = PrivateAsterisk.with_free_ports(root / "asterisk", settings, rtp_ports=4000)
    phone = AgentPhone(root / "agents.msg", free_port(socket.SOCK_DGRAM))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        asterisk.start(contacts={a: f"sip:{a}@127.0.0.1:{phone.port}" for a in tokens})
        app_env = {
            **os.environ,
            **env,
            "HOTLINE_ARI_URL": asterisk.settings.ari.url,
            "HOTLINE_REDIS_URL": redis.url,
        }
        ours = spawn_python(["-m", "hotline.cli", "run"], root / "ours.log", app_env)
        procs += [ours, phone.start(root / "phone.log")]
        wait_for_apps(asterisk, [OURS_APP])
        assert asterisk.proc is not None
        assert redis.proc is not None
        watch = {"asterisk": asterisk.proc.pid, "ours": ours.pid, "redis": redis.proc.pid}
        bench = Telethon(root, settings, asterisk, redis, tokens, watch)
        seen: dict[str, Measured] = {}
        for name, agents in (("ringing", ringing), ("nailed", nailed)):
            asyncio.run(login_agents(redis.url, settings.redis.prefix, QUEUES, QUEUE, agents))
            if name == "nailed":
                bench.warm_up(agents)
            standing = len(agents) if name == "nailed" else 0
            seen[name] = bench.trial(name, burst, agents, standing)
            report(name, seen[name])
            if name == "ringing":
                bench.log_out(agents)
    finally:
        for proc in procs:
            stop_process(proc)
        asterisk.stop()
        redis.stop()
        errors = (root / "ours.log").read_text(errors="replace").count("Traceback")
        if errors:
            log(f"ours: {errors} traceback(s) in {root / 'ours.log'}")
    return figures(burst, seen)


def report(name: str, seen: Measured) -> None:
    t, lat, taken = seen.trial, seen.latencies, seen.taken
    log(
        f"{name}: {t.calls} calls at {t.rate:.1f}/s, {t.failed} failed in SIPp, "
        f"{seen.calls_lost} lost; hears the caller p50 {percentile(lat, 50)} ms "
        f"p95 {percentile(lat, 95)} ms ({len(lat)} paired); {len(taken.pledge_ms)} pledges "
        f"saved (API p50 {percentile(taken.pledge_ms, 50)} ms, p95 "
        f"{percentile(taken.pledge_ms, 95)} ms), refused {taken.refused}; "
        + ", ".join(f"{k} {100 * cpu / t.seconds:.0f} %" for k, cpu in t.cpu.items())
        + " CPU"
    )


def figures(burst: Burst, seen: Mapping[str, Measured]) -> dict[str, object]:
    """The burst's part of the JSON line."""
    nailed, ringing = seen["nailed"], seen["ringing"]

    def ratio(p: int) -> float | None:
        a, b = percentile(nailed.latencies, p), percentile(ringing.latencies, p)
        return round(a / b, 3) if a is not None and b else None

    return {
        "burst_calls": burst.calls,
        "burst_seconds": burst.seconds,
        "burst_operators": burst.operators,
        "hear_p50_ms": percentile(nailed.latencies, 50),
        "hear_p95_ms": percentile(nailed.latencies, 95),
        "ringing_hear_p50_ms": percentile(ringing.latencies, 50),
        "ringing_hear_p95_ms": percentile(ringing.latencies, 95),
        "nailed_vs_ringing_p50": ratio(50),
        "nailed_vs_ringing_p95": ratio(95),
        "calls_lost": nailed.calls_lost,
        "ringing_calls_lost": ringing.calls_lost,
        "sipp_failed": nailed.trial.failed,
        "burst_pledges_saved": len(nailed.taken.pledge_ms),
        "burst_pledges_refused": sum(nailed.taken.refused.values()),
        "burst_pledge_api_p50_ms": percentile(nailed.taken.pledge_ms, 50),
        "burst_pledge_api_p95_ms": percentile(nailed.taken.pledge_ms, 95),
        "burst_cpu_pct": {
            k: round(100 * v / nailed.trial.seconds) for k, v in nailed.trial.cpu.items()
        },
    }
