"""Live queue statistics, kept incrementally in Redis by the ACD scripts (since the counters
began, and per local day) and read in one snapshot (``AcdStore.queue_stats``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from acd.config import QueueConfig
from acd.routing import AgentState


@dataclass(frozen=True)
class Tally:
    """Calls counted over a span: since the counters began, or one local day. Abandons
    shorter than ``short_abandon_s`` count only as ``short_abandoned``; the service level is
    the share of answered calls answered within ``service_level_s`` among answered and
    (non-short) abandoned calls; averages are None before any call is counted."""

    entered: int
    answered: int
    abandoned: int
    short_abandoned: int
    timed_out: int
    completed: int
    asa_s: float | None  # average speed of answer
    service_level_pct: float | None
    aht_s: float | None  # average handle (talk) time


@dataclass(frozen=True)
class QueueStats:
    """One queue now: the counts since the counters began (AHT over the recent calls), and
    ``today``'s, since midnight in the line's time zone."""

    queue: str
    waiting: int
    longest_wait_s: float
    agents: Mapping[str, int]  # by AgentState value, logged-out agents excluded
    entered: int
    answered: int
    abandoned: int
    short_abandoned: int
    timed_out: int
    completed: int
    asa_s: float | None  # average speed of answer
    service_level_pct: float | None
    aht_s: float | None  # average handle (talk) time over the recent calls
    callbacks_pending: int  # callbacks waiting in the queue, not yet being made
    today: Tally

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        data = asdict(self)
        data["agents"] = dict(self.agents)
        return data


def tally(counters: Mapping[str, str]) -> Tally:
    """The figures of one set of the stats scripts' counters."""

    def count(name: str) -> float:
        return float(counters.get(name, 0))

    answered, abandoned = int(count("answered")), int(count("abandoned"))
    handled = int(count("handle_n"))
    return Tally(
        entered=int(count("entered")),
        answered=answered,
        abandoned=abandoned,
        short_abandoned=int(count("short_abandoned")),
        timed_out=int(count("timed_out")),
        completed=int(count("completed")),
        asa_s=round(count("wait_sum") / answered, 3) if answered else None,
        service_level_pct=(
            round(100 * count("answered_in_sl") / (answered + abandoned), 2)
            if answered + abandoned
            else None
        ),
        aht_s=round(count("handle_sum") / handled, 3) if handled else None,
    )


def from_snapshot(queue: QueueConfig, snapshot: Mapping[str, Any], now: float) -> QueueStats:
    """Build the statistics from the stats script's snapshot."""
    oldest = snapshot["oldest"]
    agents = {state.value: 0 for state in AgentState if state is not AgentState.LOGGED_OUT}
    agents.update({state: int(n) for state, n in (snapshot["agents"] or {}).items()})
    return QueueStats(
        queue=queue.name,
        waiting=int(snapshot["waiting"]),
        longest_wait_s=max(0.0, now - float(oldest)) if oldest else 0.0,
        agents=agents,
        **asdict(tally(snapshot["counters"] or {})),
        callbacks_pending=int(snapshot.get("callbacks", 0)),
        today=tally(snapshot.get("today") or {}),
    )
