"""Business-hours parsing and open/closed decisions."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.hours import DAY_NAMES, Hours, TimeRange, is_open, parse_time_range, parse_weekly

TORONTO = ZoneInfo("America/Toronto")


def toronto(
    year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=TORONTO)


def hours(weekly: dict[str, list[str]], holidays: frozenset[date] = frozenset()) -> Hours:
    return Hours(TORONTO, parse_weekly(weekly), holidays)


def test_parse_time_range() -> None:
    assert parse_time_range("09:00-17:30") == TimeRange(time(9), time(17, 30))
    assert parse_time_range("00:00-24:00") == TimeRange(time(0), None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9:00-17:00", "not HH:MM-HH:MM"),
        ("09:00 - 17:00", "not HH:MM-HH:MM"),
        ("17:00-09:00", "ends before it starts"),
        ("09:00-09:00", "ends before it starts"),
        ("24:00-24:00", "invalid time"),
        ("09:60-10:00", "invalid time"),
        ("00:00-24:30", "invalid time"),
        ("23:00-25:00", "invalid time"),
    ],
)
def test_parse_time_range_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_time_range(text)


def test_parse_weekly_rejects_unknown_day_and_overlap() -> None:
    with pytest.raises(ValueError, match="unknown day 'monday'"):
        parse_weekly({"monday": ["09:00-17:00"]})
    with pytest.raises(ValueError, match="tue: time ranges overlap"):
        parse_weekly({"tue": ["09:00-12:00", "11:00-13:00"]})
    with pytest.raises(ValueError, match="overlap"):
        parse_weekly({"tue": ["12:00-24:00", "09:00-12:30"]})


def test_weekday_ranges_start_inclusive_end_exclusive() -> None:
    h = hours({"mon": ["09:00-12:00", "13:00-17:00"], "sat": ["10:00-12:00"]})
    monday = (2026, 6, 1)
    assert date(*monday).weekday() == 0
    assert not is_open(h, toronto(*monday, 8, 59, 59))
    assert is_open(h, toronto(*monday, 9, 0))
    assert is_open(h, toronto(*monday, 11, 59, 59))
    assert not is_open(h, toronto(*monday, 12, 0))
    assert not is_open(h, toronto(*monday, 12, 30))
    assert is_open(h, toronto(*monday, 13, 0))
    assert not is_open(h, toronto(*monday, 17, 0))
    assert not is_open(h, toronto(2026, 6, 2, 10, 0))  # Tuesday: no ranges
    assert is_open(h, toronto(2026, 6, 6, 11, 0))  # Saturday
    assert not is_open(h, toronto(2026, 6, 7, 11, 0))  # Sunday


def test_now_is_converted_to_the_schedule_zone() -> None:
    h = hours({"mon": ["09:00-17:00"]})
    # 13:30 UTC on Monday 2026-06-01 is 09:30 EDT.
    assert is_open(h, datetime(2026, 6, 1, 13, 30, tzinfo=UTC))
    assert not is_open(h, datetime(2026, 6, 1, 12, 30, tzinfo=UTC))
    # 02:00 UTC on Tuesday is still Monday 22:00 in Toronto.
    late = hours({"mon": ["21:00-23:00"]})
    assert is_open(late, datetime(2026, 6, 2, 2, 0, tzinfo=UTC))


def test_holidays_are_closed_all_day_in_local_time() -> None:
    h = hours({"fri": ["00:00-24:00"], "thu": ["00:00-24:00"]}, frozenset({date(2026, 12, 25)}))
    assert not is_open(h, toronto(2026, 12, 25, 0, 0))
    assert not is_open(h, toronto(2026, 12, 25, 12, 0))
    assert not is_open(h, toronto(2026, 12, 25, 23, 59))
    # 03:00 UTC on the 25th is still the 24th (a Thursday) in Toronto.
    assert is_open(h, datetime(2026, 12, 25, 3, 0, tzinfo=UTC))
    assert is_open(h, toronto(2027, 1, 1, 12, 0))  # another Friday, not a holiday


def test_end_of_day_24_00() -> None:
    h = hours({"wed": ["18:00-24:00"]})
    assert is_open(h, toronto(2026, 6, 3, 23, 59, 59, 999999))
    assert not is_open(h, toronto(2026, 6, 4, 0, 0))  # Thursday
    assert not is_open(h, toronto(2026, 6, 3, 17, 59))


def test_spring_forward_uses_wall_time() -> None:
    h = hours({"sun": ["09:00-17:00"], "sat": ["09:00-17:00"]})
    # Saturday 2026-03-07 is EST (UTC-5): 13:30 UTC is 08:30, closed.
    assert not is_open(h, datetime(2026, 3, 7, 13, 30, tzinfo=UTC))
    # Sunday 2026-03-08 after 02:00 is EDT (UTC-4): 13:30 UTC is 09:30, open.
    assert is_open(h, datetime(2026, 3, 8, 13, 30, tzinfo=UTC))
    assert not is_open(h, datetime(2026, 3, 8, 21, 0, tzinfo=UTC))  # 17:00 EDT


def test_fall_back_repeated_hour_is_open_twice() -> None:
    h = hours({"sun": ["01:00-01:30"]})
    # 2026-11-01 01:15 happens at 05:15 UTC (EDT) and again at 06:15 UTC (EST).
    assert is_open(h, datetime(2026, 11, 1, 5, 15, tzinfo=UTC))
    assert is_open(h, datetime(2026, 11, 1, 6, 15, tzinfo=UTC))
    assert not is_open(h, datetime(2026, 11, 1, 5, 45, tzinfo=UTC))


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(hours({}), datetime(2026, 6, 1, 12, 0))


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(UTC),
    ),
    st.integers(0, 23),
)
def test_one_hour_window_matches_local_hour(now: datetime, hour: int) -> None:
    end = "24:00" if hour == 23 else f"{hour + 1:02d}:00"
    h = hours({name: [f"{hour:02d}:00-{end}"] for name in DAY_NAMES})
    local = now.astimezone(TORONTO)
    assert is_open(h, now) == (local.hour == hour)
    assert is_open(h, local) == is_open(h, now)
