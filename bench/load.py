"""SIPp load against a private Asterisk: one trial at a call rate, and the search for the
highest rate that completes every call. Shared by the benchmarks."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hotline.harness import PrivateAsterisk, _die_with_parent, free_port

SCENARIO = Path(__file__).resolve().parent.parent / "tests" / "sipp" / "caller.xml"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass(frozen=True)
class Trial:
    """One run of SIPp at a fixed call rate."""

    rate: float
    calls: int
    ok: int
    failed: int
    seconds: float
    #: CPU seconds used during the trial, per watched process name.
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return self.failed == 0 and self.ok == self.calls


def _counter(output: str, name: str) -> int:
    matches = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", output)
    return int(matches[-1]) if matches else 0


def run_trial(
    asterisk: PrivateAsterisk,
    did: str,
    rate: float,
    seconds: float,
    watch: dict[str, int],
    log: Path,
    *,
    hangup_ms: int = 0,
    trace: Path | None = None,
    via: str = "",
    standing: int = 0,
) -> Trial:
    """Place ``rate`` calls/s for ``seconds`` to ``did`` and count how they ended. Callers hang
    up ``hangup_ms`` after the answer (0 = wait for the service's BYE); with ``trace``, SIPp
    writes every SIP message there with its time (see ``invite_times``); ``via``: the
    ``host:port`` of a SIP proxy to call through instead of ``asterisk``; ``standing``: the
    channels that outlive every call (nailed-up operators' legs), not waited for."""
    calls = max(1, round(rate * seconds))
    args = [
        "sipp", "-sf", str(SCENARIO), "-r", f"{rate:g}", "-m", str(calls), "-l", str(calls),
        "-s", did.lstrip("+"), "-key", "caller", "+15145550100",
        "-set", "wait1", "0", "-set", "wait2", "0", "-set", "wait3", "0",
        "-set", "key1", "x", "-set", "key2", "x", "-set", "key3", "x",
        "-set", "hangup_ms", str(hangup_ms),
        "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port() & ~1),
        "-recv_timeout", "10000", "-timeout", f"{seconds + 30:.0f}s", "-nostdin",
        via or asterisk.sip_address,
    ]  # fmt: skip
    if trace:
        args[1:1] = ["-trace_msg", "-message_file", str(trace)]
    before = {name: cpu_seconds(pid) for name, pid in watch.items()}
    start = time.monotonic()
    result = subprocess.run(
        args, capture_output=True, text=True, check=False, preexec_fn=_die_with_parent
    )
    elapsed = time.monotonic() - start
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in watch.items()}
    with log.open("a") as out:
        out.write(f"--- {did} at {rate:g}/s\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}\n")
    ok = _counter(result.stdout, "Successful call")
    failed = _counter(result.stdout, "Failed call")
    wait_for_no_channels(asterisk, standing=standing)
    return Trial(rate, calls, ok, failed, elapsed, cpu)


_MESSAGE = re.compile(
    r"^-{47} (\S+ \S+)\nUDP message (sent|received)[^\n]*\n\n(.*?)(?=^-{47} |\Z)",
    re.MULTILINE | re.DOTALL,
)


def invite_times(messages: str, *, sent: bool) -> list[float]:
    """The time (epoch seconds) of each call's first INVITE sent (or received) in a SIPp
    ``-trace_msg`` message file, in time order; retransmissions and re-INVITEs are skipped."""
    first: dict[str, float] = {}
    for stamp, direction, text in _MESSAGE.findall(messages):
        if (direction == "sent") != sent or not text.startswith("INVITE "):
            continue
        call_id = re.search(r"^Call-ID:\s*(\S+)", text, re.MULTILINE | re.IGNORECASE)
        if call_id and call_id[1] not in first:
            first[call_id[1]] = datetime.fromisoformat(stamp).timestamp()
    return sorted(first.values())


def wait_for_no_channels(asterisk: PrivateAsterisk, within: float = 30, standing: int = 0) -> None:
    """Let the previous trial's calls end before the next one starts (``standing`` channels
    outlive them)."""
    deadline = time.monotonic() + within
    while asterisk.channel_count() > standing and time.monotonic() < deadline:
        time.sleep(0.5)


def max_clean_rate(
    trial: Callable[[float], Trial], start: float, cap: float, bisect_steps: int
) -> tuple[float, list[Trial]]:
    """Double the rate until a trial fails, then bisect; the highest rate with 0 failures."""
    trials: list[Trial] = []
    best, worst = 0.0, 0.0
    rate = start
    while rate <= cap:
        t = trial(rate)
        trials.append(t)
        if not t.clean:
            worst = rate
            break
        best = rate
        rate *= 2
    for _ in range(bisect_steps if worst else 0):
        rate = round((best + worst) / 2)
        if rate in (best, worst):
            break
        t = trial(rate)
        trials.append(t)
        if t.clean:
            best = rate
        else:
            worst = rate
    return best, trials
