"""A monthly gift's billing anchor on the chosen day, and its end: the anchor plus N calendar
months."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pledges.payments import first_anchor, months_after


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


@pytest.mark.parametrize(
    ("now", "day", "anchor"),
    [
        (at(2027, 1, 5, 10), 20, at(2027, 1, 20, 12)),  # later this month, at noon UTC
        (at(2027, 1, 5, 23, 59), 7, at(2027, 1, 7, 12)),  # the day after tomorrow
        (at(2027, 1, 5, 10), 3, at(2027, 2, 3, 12)),  # gone this month: next month's
        (at(2027, 1, 5, 15), 5, at(2027, 2, 5, 12)),  # today: the one after, at noon...
        (at(2027, 1, 5, 10), 5, at(2027, 2, 5)),  # ...or at midnight, before Stripe's limit
        (at(2027, 1, 5, 12, 30), 5, at(2027, 2, 5)),  # noon: not an hour before the limit
        (at(2027, 1, 5, 10), 6, None),  # tomorrow: next month's is past Stripe's limit
        (at(2027, 1, 5), 5, None),  # today at midnight: not even midnight is before it
        (at(2027, 12, 20, 10), 2, at(2028, 1, 2, 12)),  # December -> January
        (at(2027, 12, 30, 10), 1, at(2028, 1, 1, 12)),  # two days later, a new year
        (at(2027, 12, 31, 10), 1, None),  # tomorrow, a new year
        (at(2027, 2, 26, 10), 28, at(2027, 2, 28, 12)),  # a month of 28 days
        (at(2027, 2, 27, 10), 1, at(2027, 3, 1, 12)),
        (at(2028, 2, 27, 10), 29, at(2028, 2, 29, 12)),  # 29 days (a leap year)
        (at(2027, 2, 20, 10), 31, at(2027, 2, 28, 12)),  # clamped to the month's last day
        (at(2027, 4, 20, 10), 31, at(2027, 4, 30, 12)),  # a month of 30 days
        (at(2027, 1, 29, 10), 31, at(2027, 1, 31, 12)),  # a month of 31 days
        # Jan 30 + 1 month is Feb 28 at 10:00, Stripe's limit: Feb 28 at midnight fits
        (at(2027, 1, 30, 10), 28, at(2027, 2, 28)),
    ],
)
def test_first_anchor_is_the_chosen_day_neither_today_nor_tomorrow_within_a_month(
    now: int, day: int, anchor: int | None
) -> None:
    assert first_anchor(now, day) == anchor
    if anchor is not None:
        assert now + 36 * 3600 <= anchor <= months_after(now, 1) - 3600  # after the link's 24 h
