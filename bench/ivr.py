"""Highest call rate with 0 failed calls through auto-answer + greeting + hang-up, for three
setups on the same private Asterisk under the same SIPp load (RTP from a pcap):

- ``dialplan``: ``Answer()/Playback()/Hangup()``, Asterisk's own ceiling;
- ``bare_ari``: a few dozen lines of aiohttp making the same ARI calls, any ARI app's ceiling;
- ``ours``: the hotline app running its IVR flow (``bench/flows/greeting.toml``).

``python -m bench.ivr [--quick]``; the last line is JSON. ratio = ours / bare ARI.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from bench.load import Trial, max_clean_rate, run_trial
from core.config import load_settings
from hotline.harness import PrivateAsterisk, RedisServer, spawn, stop_process
from hotline.phones import create_missing_secrets

HERE = Path(__file__).resolve().parent
OURS_DID, DIALPLAN_DID, BARE_DID = "+18005550100", "+18005550101", "+18005550102"
BARE_APP = "bench-bare"
EXTRA_DIALPLAN = f"""
[from-carrier]
exten => {DIALPLAN_DID.lstrip("+")},1,Answer()
same => n,Playback(hello-world)
same => n,Hangup()
exten => {BARE_DID.lstrip("+")},1,Answer()
same => n,Stasis({BARE_APP})
same => n,Hangup()
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def wait_for_apps(asterisk: PrivateAsterisk, apps: list[str], within: float = 30) -> None:
    """Block until every ARI app has its websocket connected."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        listed = asterisk.rx("ari show apps")
        if all(app in listed for app in apps):
            return
        time.sleep(0.2)
    raise RuntimeError(f"ARI apps {apps} did not connect; see {asterisk.root}")


def summary(name: str, best: float, trials: list[Trial]) -> None:
    steps = ", ".join(f"{t.rate:g}/s {'ok' if t.clean else f'{t.failed} failed'}" for t in trials)
    log(f"{name}: max clean {best:g} calls/s ({steps})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ivr", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short trials (under 3 minutes)")
    args = parser.parse_args(argv)
    seconds, bisect, cap = (3.0, 1, 800.0) if args.quick else (10.0, 3, 1600.0)

    password, hash_key = secrets.token_urlsafe(12), secrets.token_urlsafe(24)
    env = {
        "HOTLINE_ARI_PASSWORD": password,
        "HOTLINE_HASH_KEY": hash_key,
        "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
        "HOTLINE_ARI_APP": "hotline-bench",
        "HOTLINE_ASTERISK_DIDS": OURS_DID,
        "HOTLINE_IVR_FLOW": str(HERE / "flows" / "greeting.toml"),
    }
    with tempfile.TemporaryDirectory(prefix="bench-ivr-") as tmp:
        root = Path(tmp)
        env["HOTLINE_PHONES_SECRETS_FILE"] = str(root / "phone-secrets.toml")
        settings = load_settings(None, env=env)
        create_missing_secrets(settings, env={})
        redis = RedisServer(root / "redis").start()
        asterisk = PrivateAsterisk.with_free_ports(root / "asterisk", settings, rtp_ports=8000)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            asterisk.start({"extensions_local.conf": EXTRA_DIALPLAN})
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
                ["-m", "bench.bare_ari", ari_url, settings.ari.username, BARE_APP],
                root / "bare.log",
                app_env,
            )
            procs += [ours, bare]
            wait_for_apps(asterisk, ["hotline-bench", BARE_APP])
            assert asterisk.proc is not None
            watch = {"asterisk": asterisk.proc.pid, "ours": ours.pid, "bare": bare.pid}
            results: dict[str, tuple[float, list[Trial]]] = {}
            for name, did in (
                ("dialplan", DIALPLAN_DID),
                ("bare_ari", BARE_DID),
                ("ours", OURS_DID),
            ):
                trial = functools.partial(
                    run_trial, asterisk, did, seconds=seconds, watch=watch, log=root / "sipp.log"
                )
                results[name] = max_clean_rate(
                    trial,
                    start=25,
                    cap=cap,
                    bisect_steps=bisect,
                )
                summary(name, *results[name])
        finally:
            for proc in procs:
                stop_process(proc)
            asterisk.stop()
            redis.stop()

    figures = {
        "ours_max_cps": results["ours"][0],
        "bare_ari_max_cps": results["bare_ari"][0],
        "dialplan_max_cps": results["dialplan"][0],
        "ratio": round(results["ours"][0] / results["bare_ari"][0], 3)
        if results["bare_ari"][0]
        else None,
        "cpu_ms_per_call": cpu_ms_per_call(results["ours"], "ours"),
        "bare_ari_cpu_ms_per_call": cpu_ms_per_call(results["bare_ari"], "bare"),
        "trial_seconds": seconds,
    }
    print(json.dumps(figures), flush=True)
    return 0


def cpu_ms_per_call(result: tuple[float, list[Trial]], process: str) -> float | None:
    """CPU milliseconds the app process spent per call at its highest clean rate."""
    best, trials = result
    clean = [t for t in trials if t.clean and t.rate == best]
    if not clean:
        return None
    return round(1000 * clean[-1].cpu[process] / clean[-1].ok, 3)


def spawn_python(args: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Run a Python module of this project as a child process."""
    return spawn([sys.executable, *args], log_path, env=env)


if __name__ == "__main__":
    sys.exit(main())
