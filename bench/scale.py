"""The SIP proxy's cost and how fast it routes around a dead Asterisk, on this machine.

- ``direct``: the highest call rate with 0 failed calls straight to one Asterisk
  (``Answer()/Playback()/Hangup()`` in the dialplan: Asterisk's own ceiling, no app);
- ``proxy``: the same calls through Kamailio dispatching to two Asterisks (127.0.0.2 and
  127.0.0.3). On one machine both share the same cores, so ``proxy_ratio`` = proxy / direct
  shows what the proxy costs, not what a second box adds (goal >= 0.9);
- ``route_around_s``: seconds from a kill -9 of one Asterisk until calls reach the other one
  without first timing out on the dead one (the dispatcher's OPTIONS probe marked it).

``python -m bench.scale [--quick]``; the last line is JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from bench.load import SCENARIO, Trial, max_clean_rate, run_trial, wait_for_no_channels
from core.config import Settings, load_settings
from hotline.harness import PrivateAsterisk, _die_with_parent, free_port, free_port_range
from hotline.phones import create_missing_secrets
from hotline.sip_proxy import PrivateKamailio

DID = "+18005550101"
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


def box(root: Path, settings: Settings, address: str) -> PrivateAsterisk:
    return PrivateAsterisk.with_free_ports(root, settings, rtp_ports=8000, address=address)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short trials (a few minutes)")
    args = parser.parse_args(argv)
    seconds, bisect, cap = (3.0, 1, 800.0) if args.quick else (10.0, 3, 1600.0)
    env = {
        "HOTLINE_ARI_PASSWORD": secrets.token_urlsafe(12),
        "HOTLINE_HASH_KEY": secrets.token_urlsafe(24),
        "HOTLINE_VAULT_KEYS": Fernet.generate_key().decode(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        env["HOTLINE_PHONES_SECRETS_FILE"] = str(root / "phone-secrets.toml")
        settings = load_settings(None, env=env)
        create_missing_secrets(settings, env={})
        a = box(root / "a", settings, "127.0.0.2")
        b = box(root / "b", settings, "127.0.0.3")
        proxy_settings = dataclasses.replace(
            settings.proxy, sip_port=free_port(), asterisks=(a.sip_address, b.sip_address)
        )
        proxy = PrivateKamailio(
            root / "kamailio", dataclasses.replace(settings, proxy=proxy_settings)
        )
        results: dict[str, tuple[float, list[Trial]]] = {}
        try:
            for instance in (a, b):
                instance.start({"extensions_local.conf": EXTRA_DIALPLAN})
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
            route_around = route_around_seconds(a, proxy.address)
            log(f"route around a dead Asterisk: {route_around} s")
        finally:
            proxy.stop()
            a.stop()
            b.stop()
    direct_cps, proxy_cps = results["direct"][0], results["proxy"][0]
    figures = {
        "direct_max_cps": direct_cps,
        "proxy_max_cps": proxy_cps,
        "proxy_ratio": round(proxy_cps / direct_cps, 3) if direct_cps else None,
        "route_around_s": route_around,
        "probe_interval_s": proxy_settings.probe_interval_s,
        "trial_seconds": seconds,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
