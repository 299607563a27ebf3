"""Failed SIP authentications, read from Asterisk's security log (``dialplans/logger.conf``'s
``security`` file) and counted by reason for ``/metrics``.

The counter's only label is the reason, from a fixed set: never a user name, an address or a
number. fail2ban reads the same log to ban the addresses (``deploy/fail2ban/``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

#: Asterisk's failure events (``Severity="Error"``) and the reason each is counted as.
REASONS: Final = {
    "ChallengeResponseFailed": "wrong_secret",
    "InvalidPassword": "wrong_secret",
    "InvalidAccountID": "unknown_user",
    "FailedACL": "acl",
    "UnexpectedAddress": "unexpected_address",
}
OTHER: Final = "other"
#: A user name no endpoint has is answered by Asterisk's artificial endpoint, whose failures
#: name this account.
UNKNOWN_ACCOUNT: Final = "<unknown>"
_FAILURE = re.compile(
    r'SecurityEvent="(?P<event>\w+)".*?,Severity="Error".*?,AccountID="(?P<account>[^"]*)"'
)


def failure_reason(line: str) -> str | None:
    """The reason a security log line counts as a failed authentication, or None."""
    match = _FAILURE.search(line)
    if match is None:
        return None
    if match["account"] == UNKNOWN_ACCOUNT:
        return REASONS["InvalidAccountID"]
    return REASONS.get(match["event"], OTHER)


class SecurityLog(Collector):
    """Follows the security log from where it ended at ``skip_to_end`` (a rotated or
    truncated log is read from its start) and counts the failures it finds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.inode = 0
        self.failures: Counter[str] = Counter()

    def skip_to_end(self) -> None:
        """Count only what is written from now on (blocking: run it in a thread)."""
        with contextlib.suppress(FileNotFoundError):
            stat = self.path.stat()
            self.offset, self.inode = stat.st_size, stat.st_ino

    def read_new_lines(self) -> list[str]:
        """The complete lines written since the last call (blocking: run it in a thread)."""
        try:
            with self.path.open("rb") as log:
                stat = os.fstat(log.fileno())
                if stat.st_ino != self.inode or stat.st_size < self.offset:
                    self.offset, self.inode = 0, stat.st_ino
                size = stat.st_size
                log.seek(self.offset)
                data = log.read(size - self.offset)
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return complete.decode(errors="replace").splitlines()

    def count(self, lines: Iterable[str]) -> None:
        """Count the failures among ``lines``."""
        self.failures.update(r for r in map(failure_reason, lines) if r is not None)

    def collect(self) -> Iterable[Metric]:
        """``hotline_sip_auth_failures_total`` by reason (every reason, 0 included)."""
        family = CounterMetricFamily(
            "hotline_sip_auth_failures",
            "Failed SIP authentications in Asterisk's security log since this app started.",
            labels=["reason"],
        )
        for reason in sorted({*REASONS.values(), OTHER}):
            family.add_metric([reason], self.failures[reason])
        yield family
