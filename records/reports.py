"""Queue reports from the queue history in SQL: offered, answered, abandoned (short abandons
apart), service level, ASA, AHT, longest wait, callbacks, timeouts, moved-to-text, and per
volunteer calls, talk time and pause time by reason, per hour or per day (UTC).

The figures are counted as the ACD's scripts count the live statistics (``acd/stats.py``), so
a period's report and the live figures over the same calls agree: answered is a queue's own
CONNECT (not a hand-over's), the service level is answered within the queue's threshold over
answered plus (non-short) abandoned, AHT is the talk time of every completion (the live one
averages the last 100).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from records.contacts import HOUR_S, Outcome
from records.models import Contact, QueueEvent
from records.wrapups import QueueRules


class By(Enum):
    """A report's buckets."""

    HOUR = "hour"
    DAY = "day"

    @property
    def seconds(self) -> int:
        """The length of one bucket."""
        return HOUR_S if self is By.HOUR else 24 * HOUR_S


@dataclass(frozen=True)
class Figures:
    """One queue over one bucket (or the whole period)."""

    start: float
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_in_sl: int = 0
    timed_out: int = 0
    callbacks: int = 0
    completed: int = 0
    wait_sum_s: float = 0.0
    talk_sum_s: float = 0.0
    longest_wait_s: float = 0.0

    @property
    def service_level_pct(self) -> float | None:
        """Answered within the threshold, over answered and abandoned (as the live view)."""
        handled = self.answered + self.abandoned
        return round(100 * self.answered_in_sl / handled, 2) if handled else None

    @property
    def asa_s(self) -> float | None:
        """Average speed of answer."""
        return round(self.wait_sum_s / self.answered, 3) if self.answered else None

    @property
    def aht_s(self) -> float | None:
        """Average handle (talk) time."""
        return round(self.talk_sum_s / self.completed, 3) if self.completed else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with the derived figures."""
        return {
            **asdict(self),
            "service_level_pct": self.service_level_pct,
            "asa_s": self.asa_s,
            "aht_s": self.aht_s,
        }


@dataclass(frozen=True)
class AgentFigures:
    """One volunteer in one queue over the period."""

    agent: str
    calls: int = 0
    talk_s: float = 0.0
    pause_s: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueReport:
    """A queue's report: the buckets that had events, the total, the volunteers."""

    queue: str
    start: float
    end: float
    by: By
    rows: Sequence[Figures]
    total: Figures
    moved_to_text: int
    agents: Sequence[AgentFigures]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "queue": self.queue,
            "from": self.start,
            "to": self.end,
            "by": self.by.value,
            "rows": [row.to_dict() for row in self.rows],
            "total": {**self.total.to_dict(), "moved_to_text": self.moved_to_text},
            "agents": [{**asdict(a), "pause_s": dict(a.pause_s)} for a in self.agents],
        }


#: The events of a volunteer's calls and pauses.
_AGENT_EVENTS = (
    "CONNECT", "COMPLETEAGENT", "COMPLETECALLER", "TRANSFER", "PAUSE", "UNPAUSE", "REMOVEMEMBER",
)  # fmt: skip
#: Events that carry how long a caller waited before leaving the queue.
_WAIT_ENDS = ("CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY")


def parse_time(text: str) -> float:
    """An ISO 8601 date or date and time as epoch seconds (UTC unless it says otherwise);
    ValueError if it is neither."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def queue_report(
    engine: AsyncEngine, queue: str, rules: QueueRules, start: float, end: float, by: By
) -> QueueReport:
    """The report of ``queue`` over [``start``, ``end``) (epoch seconds) by ``by``."""
    e = QueueEvent
    answered = and_(e.event == "CONNECT", e.detail == "")
    bucket = e.hour if by is By.HOUR else e.hour // 24
    period = (
        e.queue == queue,
        e.hour >= int(start // HOUR_S),
        e.hour <= int(end // HOUR_S),
        e.at >= start,
        e.at < end,
    )
    query = (
        select(
            bucket.label("bucket"),
            _count(e.event == "ENTERQUEUE"),
            _count(answered),
            _count(and_(e.event == "ABANDON", e.wait_s >= rules.short_abandon_s)),
            _count(and_(e.event == "ABANDON", e.wait_s < rules.short_abandon_s)),
            _count(and_(answered, e.wait_s <= rules.service_level_s)),
            _count(e.event == "EXITWITHTIMEOUT"),
            _count(e.event == "CALLBACK"),
            func.count(e.talk_s),
            func.coalesce(func.sum(case((answered, e.wait_s), else_=0.0)), 0.0),
            func.coalesce(func.sum(e.talk_s), 0.0),
            func.coalesce(func.max(case((e.event.in_(_WAIT_ENDS), e.wait_s), else_=0.0)), 0.0),
        )
        .where(*period)
        .group_by(bucket)
        .order_by(bucket)
    )
    async with AsyncSession(engine) as session:
        rows = [
            Figures(
                float(r[0] * by.seconds),
                *(int(v) for v in r[1:9]),
                *(round(float(v), 3) for v in r[9:]),
            )
            for r in (await session.execute(query)).all()
        ]
        moved = await session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(
                Contact.outcome == Outcome.TEXT.value,
                Contact.arrived_at >= start,
                Contact.arrived_at < end,
                (literal(" ") + Contact.queues + " ").contains(f" {queue} "),
            )
        )
        agents = await _agents(session, queue, start, end, period)
    return QueueReport(queue, start, end, by, rows, _total(start, rows), moved or 0, agents)


def _total(start: float, rows: Sequence[Figures]) -> Figures:
    sums = {
        name: round(sum(getattr(row, name) for row in rows), 3)
        for name in Figures.__dataclass_fields__
        if name not in ("start", "longest_wait_s")
    }
    longest = max((row.longest_wait_s for row in rows), default=0.0)
    return Figures(start=start, longest_wait_s=longest, **sums)


async def _agents(
    session: AsyncSession,
    queue: str,
    start: float,
    end: float,
    period: tuple[ColumnElement[bool], ...],
) -> list[AgentFigures]:
    """Calls and talk time per volunteer, and pause time by reason (PAUSE to UNPAUSE or
    REMOVEMEMBER, cut at the period's edges)."""
    e = QueueEvent
    rows = (
        await session.execute(
            select(e.agent, e.event, e.at, e.talk_s, e.detail)
            .where(*period, e.agent != "")
            .where(e.event.in_(_AGENT_EVENTS))
            .order_by(e.id)
        )
    ).all()
    calls: dict[str, int] = defaultdict(int)
    talk: dict[str, float] = defaultdict(float)
    pauses: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    paused: dict[str, tuple[str, float]] = {}
    for agent, event, at, talk_s, detail in rows:
        if event == "CONNECT":
            calls[agent] += 1
        elif talk_s is not None:
            talk[agent] += talk_s
        elif event == "PAUSE":
            paused.setdefault(agent, (detail, at))
        elif agent in paused:
            reason, since = paused.pop(agent)
            pauses[agent][reason] += at - since
    for agent, (reason, since) in paused.items():
        pauses[agent][reason] += end - since
    names = sorted(set(calls) | set(talk) | set(pauses))
    return [
        AgentFigures(a, calls[a], round(talk[a], 3), {r: round(s, 3) for r, s in pauses[a].items()})
        for a in names
    ]
