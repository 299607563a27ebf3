"""The SIP proxy's cost and how fast it routes around a dead Asterisk, on this machine.

- ``direct``: the highest call rate with 0 failed calls straight to one Asterisk
  (``Answer()/Playback()/Hangup()`` in the dialplan: Asterisk's own ceiling, no app);
- ``proxy``: the same calls through Kamailio dispatching to two Asterisks (127.0.0.2 and
  127.0.0.3). On one machine both share the same cores, so ``proxy_ratio`` = proxy / direct
  shows what the proxy costs, not what a second box adds (goal >= 0.9);
- ``route_around_s``: seconds from a kill -9 of one Asterisk until calls reach the other one
  without first timing out on the dead one (the dispatcher's OPTIONS probe marked it);
- ``calls_lost_on_failover`` (goal 0): calls through the proxy into the ACD (an app instance
  per Asterisk, 200 volunteers on a SIPp phone, Redis as a primary, a replica and three
  Sentinels) while the primary is killed (SIGKILL) a third into the run: a call is lost when
  SIPp's caller fails or no volunteer's phone got its INVITE (``failover_s``: kill to
  promotion; ``failover_calls``: calls placed).

``python -m bench.scale [--quick]``; the last line is JSON.
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
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from bench.acd import QUEUES, agent_ids
from bench.ivr import spawn_python, wait_for_apps
from bench.load import SCENARIO, Trial, max_clean_rate, run_trial, wait_for_no_channels
from bench.operators import AgentPhone, agents_toml, login_agents
from core.config import Settings, load_settings
from hotline.harness import (
    PrivateAsterisk,
    RedisSentinels,
    _die_with_parent,
    free_port,
    free_port_range,
    settings_env,
    stop_process,
)
from hotline.phones import create_missing_secrets
from hotline.sip_proxy import PrivateKamailio

HERE = Path(__file__).resolve().parent
#: Answered and played by the dialplan alone (Asterisk's ceiling, no app).
DID = "+18005550101"
#: Into the app's ACD (``bench/flows/queue.toml``), for the failover figures.
ACD_DID = "+18005550100"
#: Volunteers hang up this long after answering; callers wait for the end.
TALK_MS = 1000
EXTRA_DIALPLAN = f"""
[from-carrier]
exten => {DID.lstrip("+")},1,Answer()
same => n,Playback(hello-world)
same => n,Hangup()
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def one_call(via: str, within: float) -> bool:
    """One call through ``via`` that hangs up at once after the answer; whether it was answered
    within ``within`` seconds."""
    args = [
        "sipp", "-sf", str(SCENARIO), "-m", "1", "-s", DID.lstrip("+"),
        "-key", "caller", "+15145550100", "-set", "hangup_ms", "100",
        *[arg for i in range(1, 13) for arg in ("-set", f"wait{i}", "0", "-set", f"key{i}", "x")],
        "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(free_port()),
        "-mp", str(free_port_range(4)), "-timeout", "10s", "-nostdin", via,
    ]  # fmt: skip
    start = time.monotonic()
    result = subprocess.run(args, capture_output=True, check=False, preexec_fn=_die_with_parent)
    return result.returncode == 0 and time.monotonic() - start < within


def route_around_seconds(dead: PrivateAsterisk, proxy: str) -> float:
    """Kill ``dead`` and place calls until two in a row are answered promptly (no timeout on
    the dead box first); seconds from the kill to the first of them."""
    dead.kill()
    killed = time.monotonic()
    prompt_since: float | None = None
    streak = 0
    while time.monotonic() - killed < 60:
        at = time.monotonic()
        if one_call(proxy, within=1.0):
            prompt_since = at if streak == 0 else prompt_since
            streak += 1
            if streak == 2 and prompt_since is not None:
                return round(prompt_since - killed, 2)
        else:
            streak = 0
    raise RuntimeError("calls kept timing out on the dead Asterisk for 60 s")


def box(root: Path, settings: Settings, address: str, name: str) -> PrivateAsterisk:
    """An Asterisk on ``address`` with its own ARI app and system name (as each box of a
    deployment sharing one Redis)."""
    instance = PrivateAsterisk.with_free_ports(root, settings, rtp_ports=8000, address=address)
    s = instance.settings
    instance.settings = dataclasses.replace(
        s,
        ari=dataclasses.replace(s.ari, app=f"{s.ari.app}-{name}"),
        asterisk=dataclasses.replace(s.asterisk, system_name=f"box-{name}"),
    )
    return instance


@dataclass(frozen=True)
class Failover:
    """Calls through the proxy into the ACD across a Sentinel failover."""

    calls: int
    lost: int
    #: Seconds from the primary's kill until the Sentinels named the replica.
    failover_s: float


def kill_primary_after(
    delay: float, sentinels: RedisSentinels
) -> tuple[threading.Thread, list[float]]:
    """A thread that kills the primary after ``delay`` seconds (once the replica holds every
    write so far) and waits for the Sentinels to promote the replica; it puts the seconds
    from kill to promotion in the list."""
    promoted: list[float] = []

    def run() -> None:
        time.sleep(delay)
        sentinels.wait_for_replica()
        killed = time.monotonic()
        sentinels.primary.kill()
        while time.monotonic() - killed < 60:
            if sentinels.primary_port() == sentinels.replica.port:
                promoted.append(round(time.monotonic() - killed, 2))
                return
            time.sleep(0.05)

    return threading.Thread(target=run, name="kill-primary"), promoted


def calls_across_failover(
    boxes: tuple[PrivateAsterisk, ...],
    proxy: PrivateKamailio,
    sentinels: RedisSentinels,
    phone: AgentPhone,
    rate: float,
    seconds: float,
    log_path: Path,
) -> Failover:
    """Callers at ``rate`` for ``seconds`` through the proxy into the ACD while the Redis
    primary is killed a third of the way in; how many were lost (SIPp's caller failed or no
    volunteer's phone got the call)."""
    offset = phone.offset()
    killer, promoted = kill_primary_after(seconds / 3, sentinels)
    killer.start()
    try:
        trial = run_trial(
            boxes[0], ACD_DID, rate, seconds, {}, log_path, hangup_ms=0, via=proxy.address
        )
    finally:
        killer.join()
    for instance in boxes:
        wait_for_no_channels(instance)
    reached = phone.invites_since(offset)
    deadline = time.monotonic() + 5  # SIPp writes its trace a moment after the messages
    while len(reached) < trial.ok and time.monotonic() < deadline:
        time.sleep(0.1)
        reached = phone.invites_since(offset)
    if not promoted:
        raise RuntimeError("the Sentinels promoted no replica within 60 s")
    lost = trial.calls - min(trial.ok, len(reached))
    return Failover(trial.calls, lost, promoted[0])


def start_apps(
    boxes: tuple[PrivateAsterisk, ...], sentinels: RedisSentinels, root: Path
) -> list[subprocess.Popen[bytes]]:
    """An app instance per box, on Redis through the Sentinels; the volunteers logged in."""
    procs = []
    for n, instance in enumerate(boxes):
        s = instance.settings
        settings = dataclasses.replace(
            s,
            redis=dataclasses.replace(
                s.redis,
                url="redis://sentinels/0",
                sentinels=sentinels.addresses,
                master_name=sentinels.master_name,
            ),
            http=dataclasses.replace(s.http, port=free_port()),
        )
        env = {**os.environ, **settings_env(settings)}
        procs.append(spawn_python(["-m", "hotline.cli", "run"], root / f"app-{n}.log", env))
    for instance in boxes:
        wait_for_apps(instance, [instance.settings.ari.app])
    prefix = boxes[0].settings.redis.prefix
    asyncio.run(login_agents(sentinels.primary.url, prefix, QUEUES, "bench", agent_ids()))
    return procs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short trials (a few minutes)")
    args = parser.parse_args(argv)
    seconds, bisect, cap = (3.0, 1, 800.0) if args.quick else (10.0, 3, 1600.0)
    failover_rate, failover_seconds = (10.0, 12.0) if args.quick else (20.0, 30.0)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        (root / "agents.toml").write_text(agents_toml(agent_ids(), "bench"))
        env = {
            "HOTLINE_ARI_PASSWORD": secrets.token_urlsafe(12),
            "HOTLINE_HASH_KEY": secrets.token_urlsafe(24),
            "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
            "HOTLINE_ASTERISK_DIDS": ACD_DID,
            "HOTLINE_IVR_FLOW": str(HERE / "flows" / "queue.toml"),
            "HOTLINE_ACD_QUEUES": str(QUEUES),
            "HOTLINE_ACD_AGENTS": str(root / "agents.toml"),
            "HOTLINE_ACD_WHISPER": "",
            "HOTLINE_RECORDS_DATA_DIR": str(root / "records"),
            "HOTLINE_PHONES_SECRETS_FILE": str(root / "phone-secrets.toml"),
        }
        settings = load_settings(None, env=env)
        create_missing_secrets(settings, env={})
        a = box(root / "a", settings, "127.0.0.2", "a")
        b = box(root / "b", settings, "127.0.0.3", "b")
        phone = AgentPhone(root / "agents.msg", free_port(socket.SOCK_DGRAM), talk_ms=TALK_MS)
        contacts = {agent: f"sip:{agent}@127.0.0.1:{phone.port}" for agent in agent_ids()}
        sentinels = RedisSentinels(root / "redis")
        procs: list[subprocess.Popen[bytes]] = []
        proxy_settings = dataclasses.replace(
            settings.proxy, sip_port=free_port(), asterisks=(a.sip_address, b.sip_address)
        )
        proxy = PrivateKamailio(
            root / "kamailio", dataclasses.replace(settings, proxy=proxy_settings)
        )
        results: dict[str, tuple[float, list[Trial]]] = {}
        try:
            for instance in (a, b):
                instance.start({"extensions_local.conf": EXTRA_DIALPLAN}, contacts=contacts)
            proxy.start()
            sipp_log = root / "sipp.log"
            direct = functools.partial(run_trial, a, DID, seconds=seconds, watch={}, log=sipp_log)

            def through_proxy(rate: float) -> Trial:
                trial = run_trial(a, DID, rate, seconds, {}, sipp_log, via=proxy.address)
                wait_for_no_channels(b)
                return trial

            for name, trial in (("direct", direct), ("proxy", through_proxy)):
                results[name] = max_clean_rate(trial, start=25, cap=cap, bisect_steps=bisect)
                log(f"{name}: {results[name][0]:g} calls/s clean")
            sentinels.start()
            procs += [phone.start(root / "phone.log"), *start_apps((a, b), sentinels, root)]
            failover = calls_across_failover(
                (a, b), proxy, sentinels, phone, failover_rate, failover_seconds, sipp_log
            )
            log(
                f"Sentinel failover ({failover.failover_s} s) under {failover_rate:g} calls/s: "
                f"{failover.lost} of {failover.calls} calls lost"
            )
            route_around = route_around_seconds(a, proxy.address)
            log(f"route around a dead Asterisk: {route_around} s")
        finally:
            for proc in procs:
                stop_process(proc)
            proxy.stop()
            a.stop()
            b.stop()
            if sentinels.procs:
                sentinels.stop()
    direct_cps, proxy_cps = results["direct"][0], results["proxy"][0]
    figures = {
        "direct_max_cps": direct_cps,
        "proxy_max_cps": proxy_cps,
        "proxy_ratio": round(proxy_cps / direct_cps, 3) if direct_cps else None,
        "route_around_s": route_around,
        "calls_lost_on_failover": failover.lost,
        "failover_calls": failover.calls,
        "failover_s": failover.failover_s,
        "probe_interval_s": proxy_settings.probe_interval_s,
        "trial_seconds": seconds,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
