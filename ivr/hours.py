"""Business hours: weekly opening ranges in a time zone, with holidays."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import pairwise
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_RANGE = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")


@dataclass(frozen=True)
class TimeRange:
    """Wall-clock range ``[start, end)``; ``end=None`` means end of day ("24:00")."""

    start: time
    end: time | None

    def contains(self, moment: time) -> bool:
        """Whether a naive wall-clock time falls inside the range (end exclusive)."""
        return self.start <= moment and (self.end is None or moment < self.end)


@dataclass(frozen=True)
class WeeklySchedule:
    """Opening ranges per weekday; ``days[0]`` is Monday, as in ``date.weekday()``."""

    days: tuple[tuple[TimeRange, ...], ...]

    def __post_init__(self) -> None:
        if len(self.days) != len(DAY_NAMES):
            raise ValueError(f"a weekly schedule needs 7 days, got {len(self.days)}")


@dataclass(frozen=True)
class Hours:
    """Opening hours in a time zone; holidays are closed all day."""

    timezone: ZoneInfo
    weekly: WeeklySchedule
    holidays: frozenset[date]


def parse_time_range(text: str) -> TimeRange:
    """Parse ``"HH:MM-HH:MM"``; the end may be ``"24:00"`` and must be after the start."""
    match = _RANGE.fullmatch(text)
    if match is None:
        raise ValueError(f"time range {text!r} is not HH:MM-HH:MM")
    sh, sm, eh, em = (int(part) for part in match.groups())
    if sh > 23 or sm > 59 or eh > 24 or em > 59 or (eh == 24 and em != 0):
        raise ValueError(f"time range {text!r} has an invalid time")
    start = time(sh, sm)
    end = None if eh == 24 else time(eh, em)
    if end is not None and end <= start:
        raise ValueError(f"time range {text!r} ends before it starts")
    return TimeRange(start, end)


def parse_weekly(days: Mapping[str, Sequence[str]]) -> WeeklySchedule:
    """Build a schedule from day keys (mon..sun) to range strings; missing days are closed."""
    for name in days:
        if name not in DAY_NAMES:
            raise ValueError(f"unknown day {name!r} (expected one of {', '.join(DAY_NAMES)})")
    parsed: list[tuple[TimeRange, ...]] = []
    for name in DAY_NAMES:
        ranges = sorted(map(parse_time_range, days.get(name, ())), key=lambda r: r.start)
        for before, after in pairwise(ranges):
            if before.end is None or before.end > after.start:
                raise ValueError(f"{name}: time ranges overlap")
        parsed.append(tuple(ranges))
    return WeeklySchedule(tuple(parsed))


def is_open(hours: Hours, now: datetime) -> bool:
    """Whether ``now`` (timezone-aware) falls in the opening hours, using local wall time."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(hours.timezone)
    if local.date() in hours.holidays:
        return False
    return any(r.contains(local.time()) for r in hours.weekly.days[local.weekday()])
