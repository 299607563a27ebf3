"""The wallboard's figures from the stats script's snapshot (``acd.stats.from_snapshot``)."""

from __future__ import annotations

from acd.config import QueueConfig
from acd.stats import from_snapshot

QUEUE = QueueConfig("q")


def test_before_any_call_the_averages_and_the_service_level_are_unknown() -> None:
    snapshot = {"counters": [], "waiting": 0, "oldest": False, "agents": [], "callbacks": 0}
    stats = from_snapshot(QUEUE, snapshot, 100.0)
    assert (stats.asa_s, stats.aht_s, stats.service_level_pct) == (None, None, None)
    assert (stats.today.asa_s, stats.today.aht_s, stats.today.service_level_pct) == (
        None,
        None,
        None,
    )
    assert stats.agents == {"available": 0, "paused": 0, "offered": 0, "on_call": 0, "wrap_up": 0}
    assert (stats.answered, stats.abandoned, stats.callbacks_pending) == (0, 0, 0)


def test_short_abandons_count_apart_and_stay_out_of_the_service_level() -> None:
    counters = {
        "answered": "3",
        "answered_in_sl": "2",
        "abandoned": "1",
        "short_abandoned": "4",
        "wait_sum": "45",
        "handle_sum": "600",
        "handle_n": "2",
    }
    snapshot = {
        "counters": counters,
        "waiting": 2,
        "oldest": "70.5",
        "agents": {"on_call": 2, "wrap_up": 1},
        "callbacks": 1,
    }
    stats = from_snapshot(QUEUE, snapshot, 100.0)
    assert (stats.answered, stats.abandoned, stats.short_abandoned) == (3, 1, 4)
    assert stats.service_level_pct == 50.0  # 2 of 3 answered + 1 abandoned; short ones apart
    assert (stats.asa_s, stats.aht_s) == (15.0, 300.0)
    assert (stats.waiting, stats.longest_wait_s, stats.callbacks_pending) == (2, 29.5, 1)
    assert (stats.agents["on_call"], stats.agents["wrap_up"], stats.agents["available"]) == (
        2,
        1,
        0,
    )


def test_todays_figures_come_from_the_days_counters_alone() -> None:
    snapshot = {
        "counters": {"answered": "9", "wait_sum": "90", "handle_sum": "900", "handle_n": "9"},
        "today": {
            "entered": "3",
            "answered": "2",
            "answered_in_sl": "1",
            "abandoned": "2",
            "short_abandoned": "1",
            "wait_sum": "30",
            "handle_sum": "100",
            "handle_n": "1",
            "completed": "1",
        },
        "waiting": 0,
        "oldest": False,
        "agents": [],
        "callbacks": 0,
    }
    stats = from_snapshot(QUEUE, snapshot, 100.0)
    assert (stats.answered, stats.asa_s, stats.aht_s) == (9, 10.0, 100.0)
    today = stats.today
    assert (today.entered, today.answered, today.abandoned, today.short_abandoned) == (3, 2, 2, 1)
    assert (today.asa_s, today.aht_s, today.service_level_pct, today.completed) == (
        15.0,
        100.0,
        25.0,
        1,
    )
    assert stats.to_dict()["today"]["answered"] == 2  # the API's JSON carries both
