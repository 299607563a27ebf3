"""Calls queued for volunteers, three ways, on one private Asterisk under the same SIPp load
(callers and agents' phones both send RTP from a pcap; callers hang up 1 s after the answer):

- ``app_queue``: ``Answer()`` + ``Queue(bench)``, leastrecent over 200 static members, no
  announcements, no hold music (ringing), wrap-up 0;
- ``bare_ari``: ``bench/bare_acd.py``, originate the longest-idle agent + bridge in a few dozen
  lines of aiohttp, any ARI ACD's ceiling;
- ``ours``: the hotline app, flow ``bench/flows/queue.toml`` into queue ``bench``
  (``bench/acd/queues.toml``: longest idle, no announcements, wrap-up 0, no whisper) with 200
  generated agents, all logged in.

The two ARI setups enter Stasis the same way: ``Answer()`` in the dialplan, then ``Stasis()``
(ours through ``dialplans/extensions.conf``), so neither waits on Asterisk 16's Stasis loop to
answer. All three ring the same 200 endpoints ``PJSIP/agent001``.. on one SIPp UAS that answers
at once. A call counts as clean when the caller's SIPp scenario succeeds *and* an agent's phone
got its INVITE within 1 s (a caller still waiting after 1 s hangs up "successfully"; a setup
falling behind shows as late INVITEs first). With 1 s calls, 200 agents cap every setup near 200/s;
the search goes up to 320/s.

Latency (caller INVITE sent -> agent INVITE received) comes from both SIPp message traces
(``-trace_msg``, microsecond timestamps on one clock): the first INVITE of each Call-ID on
each side, sorted by time, paired in order. Every setup offers a call at once to an idle agent
(at the common rate no call waits), so calls reach agents in the order they arrived; the
numbers cannot pair them since ours masks the caller's. The common rate is 80 % of the lowest
max clean rate; CPU figures are from that trial.

``python -m bench.acd [--quick]``; the last line is JSON. ratio = ours / app_queue and
ours_vs_bare = ours / bare ARI (max clean rates), ours_vs_app_queue_latency_p95 = ours p95 /
app_queue p95, added_latency_p95_ms = ours p95 - bare ARI p95.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from bench.acd_decision import decision_ms
from bench.ivr import log, spawn_python, summary, wait_for_apps
from bench.load import Trial, invite_times, max_clean_rate, run_trial
from bench.operators import AgentPhone, agents_toml, login_agents, percentile
from core.config import load_settings
from core.keys import Keys
from hotline.harness import PrivateAsterisk, RedisServer, free_port, stop_process
from hotline.phones import create_missing_secrets

HERE = Path(__file__).resolve().parent
OURS_DID, QUEUE_DID, BARE_DID = "+18005550100", "+18005550101", "+18005550102"
OURS_APP, BARE_APP = "hotline-bench", "bench-bare-acd"
QUEUES = HERE / "acd" / "queues.toml"
AGENTS = 200
TALK_MS = 1000
#: A call reaching an agent later than this counts as failed: the setup fell behind.
MAX_RING_MS = 1000
#: The highest rate tried (the search doubles from 10/s: 320 is its sixth step).
MAX_RATE = 320
SETUPS = (("app_queue", QUEUE_DID), ("bare_ari", BARE_DID), ("ours", OURS_DID))
EXTRA_DIALPLAN = f"""
[from-carrier]
exten => {QUEUE_DID.lstrip("+")},1,Answer()
same => n,Queue(bench,r)
same => n,Hangup()
exten => {BARE_DID.lstrip("+")},1,Answer()
same => n,Stasis({BARE_APP})
same => n,Hangup()
"""


def agent_ids() -> list[str]:
    return [f"agent{n:03d}" for n in range(1, AGENTS + 1)]


def queues_conf() -> str:
    """app_queue's [bench]: the settings of bench/acd/queues.toml, without hold music."""
    members = "".join(f"member => PJSIP/{agent}\n" for agent in agent_ids())
    return (
        "[general]\npersistentmembers = no\n\n[bench]\nstrategy = leastrecent\nringinuse = no\n"
        "wrapuptime = 0\ntimeout = 15\nautofill = yes\nautopause = no\njoinempty = yes\n"
        "leavewhenempty = no\n"
        "announce-frequency = 0\nperiodic-announce-frequency = 0\nannounce-holdtime = no\n"
        "announce-position = no\nreportholdtime = no\n" + members
    )


async def acd_leftovers(redis_url: str, prefix: str) -> dict[str, int]:
    """What our ACD still holds once the trial's channels are gone: waiting calls, caller
    records, and agents per state (all should be available or wrapping up)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    try:
        left = Counter[str]()
        left["waiting"] = await client.zcard(keys.acd_queue("bench", "wait"))
        async for _ in client.scan_iter(match=f"{keys.acd}:caller:*", count=1000):
            left["caller"] += 1
        for agent in agent_ids():
            state = cast(str | None, await client.hget(keys.acd_agent(agent), "state"))
            if state not in ("available", "wrapup"):
                left[f"agent_{state}"] += 1
        return {k: v for k, v in left.items() if v}
    finally:
        await client.aclose()


@dataclass(frozen=True)
class Measured:
    """A trial with its caller -> agent latencies (ms), paired in time order."""

    trial: Trial
    latencies: list[float]


@dataclass
class Bench:
    """The private servers and the agents' phone of one run, and every trial's figures."""

    root: Path
    seconds: float
    asterisk: PrivateAsterisk
    redis: RedisServer
    phone: AgentPhone
    watch: dict[str, int]
    prefix: str
    seen: dict[tuple[str, float], Measured] = field(default_factory=dict)

    def trial(self, setup: str, rate: float) -> Trial:
        """One trial; calls that reached no agent, or one only after MAX_RING_MS, fail."""
        trace = self.root / f"caller-{setup}-{rate:g}.msg"
        offset = self.phone.offset()
        t = run_trial(
            self.asterisk, dict(SETUPS)[setup], rate, self.seconds, self.watch,
            self.root / "sipp.log", hangup_ms=TALK_MS, trace=trace,
        )  # fmt: skip
        time.sleep(0.5)  # let SIPp's trace reach the file
        sent = invite_times(trace.read_text(errors="replace"), sent=True)
        received = self.phone.invites_since(offset)
        trace.unlink()
        pairs = zip(sent, received, strict=True) if len(sent) == len(received) else iter(())
        latencies = [1000 * (b - a) for a, b in pairs]
        late = sum(ms > MAX_RING_MS for ms in latencies)
        bad = min(t.ok, max(0, t.ok - len(received)) + late)
        t = dataclasses.replace(t, ok=t.ok - bad, failed=t.failed + bad)
        self.seen[setup, rate] = Measured(t, latencies)
        left = self.asterisk.channel_count()
        acd = asyncio.run(acd_leftovers(self.redis.url, self.prefix)) if setup == "ours" else {}
        if left or acd or late:
            log(f"  {setup} at {rate:g}/s: {late} late, left {left} channel(s), ACD {acd}")
        return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.acd", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short trials (under 5 minutes)")
    args = parser.parse_args(argv)
    seconds, bisect, rounds = (3.0, 2, 200) if args.quick else (10.0, 3, 1000)
    with tempfile.TemporaryDirectory(prefix="bench-acd-") as tmp:
        figures = run(Path(tmp), seconds, bisect, rounds)
    print(json.dumps(figures), flush=True)
    return 0


def run(root: Path, seconds: float, bisect: int, rounds: int) -> dict[str, object]:
    """Start everything under ``root``, measure, stop everything; the figures."""
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
    }
    (root / "agents.toml").write_text(agents_toml(agent_ids(), "bench"))
    settings = load_settings(None, env=env)
    create_missing_secrets(settings, env={})
    redis = RedisServer(root / "redis").start()
    asterisk = PrivateAsterisk.with_free_ports(root / "asterisk", settings, rtp_ports=8000)
    phone = AgentPhone(root / "agents.msg", free_port(socket.SOCK_DGRAM))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        asterisk.start(
            {
                "extensions_local.conf": EXTRA_DIALPLAN,
                "queues.conf": queues_conf(),
            },
            contacts={a: f"sip:{a}@127.0.0.1:{phone.port}" for a in agent_ids()},
        )
        if "leastrecent" not in asterisk.rx("queue show bench"):
            raise RuntimeError(f"app_queue has no queue bench; see {asterisk.root}")
        ari_url = asterisk.settings.ari.url
        app_env = {
            **os.environ,
            **env,
            "HOTLINE_ARI_URL": ari_url,
            "HOTLINE_REDIS_URL": redis.url,
            "BARE_ARI_PASSWORD": password,
        }
        ours = spawn_python(["-m", "hotline.cli", "run"], root / "ours.log", app_env)
        bare = spawn_python(
            ["-m", "bench.bare_acd", ari_url, settings.ari.username, BARE_APP, str(AGENTS)],
            root / "bare.log",
            app_env,
        )
        procs += [ours, bare, phone.start(root / "phone.log")]
        wait_for_apps(asterisk, [OURS_APP, BARE_APP])
        asyncio.run(login_agents(redis.url, settings.redis.prefix, QUEUES, "bench", agent_ids()))
        assert asterisk.proc is not None
        assert redis.proc is not None
        watch = {"asterisk": asterisk.proc.pid, "ours": ours.pid, "bare": bare.pid}
        watch["redis"] = redis.proc.pid
        bench = Bench(root, seconds, asterisk, redis, phone, watch, settings.redis.prefix)
        best: dict[str, float] = {}
        for setup, _ in SETUPS:
            trial = functools.partial(bench.trial, setup)
            best[setup], trials = max_clean_rate(trial, start=10, cap=MAX_RATE, bisect_steps=bisect)
            summary(setup, best[setup], trials)
        common = max(5.0, round(0.8 * min(best.values())))
        for setup, _ in SETUPS:
            t = bench.trial(setup, common)
            lat = bench.seen[setup, common].latencies
            log(
                f"{setup} at {common:g}/s: {'ok' if t.clean else f'{t.failed} failed'}, "
                f"latency p50 {percentile(lat, 50)} ms p95 {percentile(lat, 95)} ms "
                f"({len(lat)} paired), Asterisk {100 * t.cpu['asterisk'] / t.seconds:.0f} % CPU"
            )
        decision = {
            n: round(decision_ms(n, 500, redis_url=redis.url, rounds=rounds), 3) for n in (10, 1000)
        }
        log(f"decision: {decision[10]} ms at 10 agents, {decision[1000]} ms at 1,000")
    finally:
        for proc in procs:
            stop_process(proc)
        asterisk.stop()
        redis.stop()
        errors = (root / "ours.log").read_text(errors="replace").count("Traceback")
        if errors:
            log(f"ours: {errors} traceback(s) in {root / 'ours.log'}")
    return figures(best, common, bench.seen, decision, seconds)


def figures(
    best: dict[str, float],
    common: float,
    seen: dict[tuple[str, float], Measured],
    decision: dict[int, float],
    seconds: float,
) -> dict[str, object]:
    """The JSON line: max clean rates, then latencies and CPU at the common rate."""

    def latency(setup: str, p: int) -> float | None:
        return percentile(seen[setup, common].latencies, p)

    def per_call(setup: str, process: str) -> float | None:
        t = seen[setup, common].trial
        return round(1000 * t.cpu[process] / t.ok, 3) if t.ok else None

    def asterisk_pct(setup: str) -> int:
        t = seen[setup, common].trial
        return round(100 * t.cpu["asterisk"] / t.seconds)

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    ours_p95, bare_p95 = latency("ours", 95), latency("bare_ari", 95)
    queue_p95 = latency("app_queue", 95)
    added = None if ours_p95 is None or bare_p95 is None else round(ours_p95 - bare_p95, 2)
    return {
        "ours_max_cps": best["ours"],
        "app_queue_max_cps": best["app_queue"],
        "bare_ari_max_cps": best["bare_ari"],
        "ratio": ratio(best["ours"], best["app_queue"]),
        "ours_vs_bare": ratio(best["ours"], best["bare_ari"]),
        "ours_vs_app_queue_latency_p95": ratio(ours_p95, queue_p95),
        "latency_rate_cps": common,
        "ours_latency_p50_ms": latency("ours", 50),
        "ours_latency_p95_ms": ours_p95,
        "bare_latency_p50_ms": latency("bare_ari", 50),
        "bare_latency_p95_ms": bare_p95,
        "app_queue_latency_p50_ms": latency("app_queue", 50),
        "app_queue_latency_p95_ms": queue_p95,
        "added_latency_p95_ms": added,
        "decision_ms_10_agents": decision[10],
        "decision_ms_1000_agents": decision[1000],
        "cpu_ms_per_call": per_call("ours", "ours"),
        "redis_cpu_ms_per_call": per_call("ours", "redis"),
        "bare_ari_cpu_ms_per_call": per_call("bare_ari", "bare"),
        "asterisk_cpu_pct": {setup: asterisk_pct(setup) for setup, _ in SETUPS},
        "trial_seconds": seconds,
    }


if __name__ == "__main__":
    sys.exit(main())
