"""The start of the supervisor's day and the calls counted in it (pure parts of
``records.today``)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from records.today import connects, day_start


def test_the_day_starts_at_midnight_in_the_lines_time_zone() -> None:
    ten_past_two_utc = datetime(2026, 12, 7, 2, 10, tzinfo=UTC).timestamp()
    assert (
        day_start(ten_past_two_utc, ZoneInfo("UTC"))
        == datetime(2026, 12, 7, tzinfo=UTC).timestamp()
    )
    # Still Sunday evening in Montréal: the day began on the 6th at 05:00 UTC.
    assert (
        day_start(ten_past_two_utc, ZoneInfo("America/Montreal"))
        == datetime(2026, 12, 6, 5, tzinfo=UTC).timestamp()
    )


def test_only_calls_taken_since_the_start_count() -> None:
    entries = [
        ("1-0", {"event": "CONNECT", "agent": "alice", "time": "99.5"}),  # yesterday
        ("2-0", {"event": "CONNECT", "agent": "alice", "time": "100"}),
        ("3-0", {"event": "OFFER", "agent": "bruno", "time": "101"}),
        ("4-0", {"event": "CONNECT", "agent": "bruno", "time": "102", "from": "alice"}),
    ]
    assert connects(entries, 100.0) == {"2-0": "alice", "4-0": "bruno"}
