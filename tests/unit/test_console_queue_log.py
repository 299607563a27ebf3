"""The queue log tail's pure parts: the filter, the supervisor's scope and the lines."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from console.queue_log import LogFilter, in_scope, log_line

PAUSE = {"time": "1767225600.5", "event": "PAUSE", "queue": "general", "agent": "chen"}
RECONCILE = {"time": "1767225600", "event": "RECONCILE", "queue": "NONE", "agent": "chen"}


def queues_of(agent: str) -> tuple[str, ...]:
    return {"chen": ("general", "crisis")}.get(agent, ())


def test_a_filter_passes_what_each_given_field_names_and_ignores_unknown_events() -> None:
    assert LogFilter().matches(PAUSE)
    assert LogFilter(queue="general", agent="chen", event="PAUSE").matches(PAUSE)
    assert not LogFilter(agent="alice").matches(PAUSE)
    assert not LogFilter(event="UNPAUSE").matches(PAUSE)
    assert LogFilter.from_query({"event": "<script>", "queue": "general"}) == LogFilter(
        queue="general"
    )
    assert LogFilter(agent="chen").as_query() == {"agent": "chen"}


def test_an_entry_without_a_queue_is_in_the_scope_of_its_agents_queues() -> None:
    assert in_scope((), PAUSE, queues_of)  # overseeing every queue
    assert in_scope(("general",), PAUSE, queues_of)
    assert not in_scope(("ringall",), PAUSE, queues_of)
    assert in_scope(("crisis",), RECONCILE, queues_of)
    assert not in_scope(("ringall",), RECONCILE, queues_of)


def test_a_line_shows_the_time_in_the_consoles_zone_and_blanks_for_none() -> None:
    line = log_line("1-0", RECONCILE | {"call": "NONE"}, "", ZoneInfo("Europe/Paris"))
    assert (line.at, line.event, line.queue, line.agent, line.pseudonym) == (
        "01:00:00",
        "RECONCILE",
        "",
        "chen",
        "",
    )
