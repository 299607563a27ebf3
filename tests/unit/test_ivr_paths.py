"""The caller's menu choices as the screen-pop shows them (``ivr.paths.readable_path``)."""

from __future__ import annotations

from ivr.flow import load_flow
from ivr.paths import readable_path
from tests.conftest import TESTS

FLOW = load_flow(TESTS / "flows" / "test.toml")


def test_each_choice_names_its_node_and_a_menus_choice_where_it_led() -> None:
    history = ("language=fr", "main_menu=*", "more_queues=3")
    assert readable_path(FLOW, history) == (
        "language: fr > main_menu: * (more_queues) > more_queues: 3 (to_callbacks)"
    )


def test_no_choice_is_an_empty_path_and_an_unknown_node_is_shown_as_kept() -> None:
    assert readable_path(FLOW, ()) == ""
    assert readable_path(FLOW, ("gone=4",)) == "gone: 4"
