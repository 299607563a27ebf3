"""The end of a monthly gift: its subscription's anchor plus N calendar months."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pledges.payments import months_after


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (at(2027, 1, 5, 9, 30), 1, at(2027, 2, 5, 9, 30)),
        (at(2027, 1, 31, 10), 1, at(2027, 2, 28, 10)),  # clamped to the month's last day
        (at(2027, 1, 31, 10), 13, at(2028, 2, 29, 10)),  # a leap year's February
        (at(2027, 11, 30), 3, at(2028, 2, 29)),
        (at(2027, 12, 15), 12, at(2028, 12, 15)),
        (at(2027, 12, 15), 120, at(2037, 12, 15)),
    ],
)
def test_months_after_counts_calendar_months(start: int, months: int, end: int) -> None:
    assert months_after(start, months) == end
