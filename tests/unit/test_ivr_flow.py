"""Flow-file parsing and validation."""

import copy
import re
import tomllib
from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from core.frozen import FrozenMap
from ivr.flow import (
    DEFAULT_INVALID_PROMPT,
    DEMO_FLOW,
    FlowError,
    HangupNode,
    HoursNode,
    LanguageNode,
    MenuNode,
    PlayNode,
    QueueNode,
    SetNode,
    load_flow,
    parse_flow,
)
from ivr.hours import TimeRange

SOURCE = "flows/test.toml"
DEMO_DATA: dict[str, Any] = tomllib.loads(DEMO_FLOW.read_text(encoding="utf-8"))
SOUNDS = Path("/usr/share/asterisk/sounds")


def demo() -> dict[str, Any]:
    return copy.deepcopy(DEMO_DATA)


def test_demo_flow_loads() -> None:
    flow = load_flow(DEMO_FLOW)
    assert flow.start == "hours"
    assert flow.default_language == "en"
    assert flow.source == str(DEMO_FLOW)
    hours = flow.nodes["hours"]
    assert isinstance(hours, HoursNode)
    assert hours.hours.weekly.days == ((TimeRange(time(0), None),),) * 7
    language = flow.nodes["language"]
    assert isinstance(language, LanguageNode)
    assert dict(language.choices) == {"1": "en", "2": "fr"}
    menu = flow.nodes["main_menu"]
    assert isinstance(menu, MenuNode)
    assert dict(menu.options) == {"1": "tag_general", "2": "info", "3": "by_text", "0": "goodbye"}
    assert flow.nodes["tag_general"] == SetNode(
        "tag_general", FrozenMap({"topic": "general"}), "to_queue"
    )
    assert flow.nodes["to_queue"] == QueueNode("to_queue", "general")
    assert flow.nodes["goodbye"] == HangupNode("goodbye", ("vm-goodbye",))
    assert isinstance(flow.nodes["info"], PlayNode)


def test_demo_sounds_exist_in_both_languages_and_are_short() -> None:
    flow = load_flow(DEMO_FLOW)
    names = {
        sound
        for node in flow.nodes.values()
        for attr in ("prompt", "invalid_prompt", "timeout_prompt")
        for sound in getattr(node, attr, ())
    }
    assert names
    for folder in ("en_US_f_Allison", "fr_CA_f_June"):
        for name in names:
            path = SOUNDS / folder / f"{name}.gsm"
            assert path.is_file(), path
            assert path.stat().st_size / 1650 < 3.0, path


def test_optional_keys_take_their_defaults() -> None:
    data = demo()
    del data["nodes"]["language"]["on_failure"]
    del data["nodes"]["language"]["invalid_prompt"]
    del data["nodes"]["goodbye"]["prompt"]
    data["nodes"]["hours"]["holidays"] = [date(2026, 12, 25), "2027-01-01"]
    flow = parse_flow(data, source=SOURCE)
    language = flow.nodes["language"]
    assert isinstance(language, LanguageNode)
    assert language.on_failure == language.next == "main_menu"
    assert language.invalid_prompt == DEFAULT_INVALID_PROMPT
    assert language.timeout_prompt == ()
    assert flow.nodes["goodbye"] == HangupNode("goodbye", ())
    hours = flow.nodes["hours"]
    assert isinstance(hours, HoursNode)
    assert hours.hours.holidays == {date(2026, 12, 25), date(2027, 1, 1)}


Mutation = Callable[[dict[str, Any]], None]


def _set(*path_and_value: Any) -> Mutation:
    *path, key, value = path_and_value

    def mutate(data: dict[str, Any]) -> None:
        target = data
        for part in path:
            target = target[part]
        target[key] = value

    return mutate


def _delete(*path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


def _add_node(node_id: str, table: dict[str, Any]) -> Mutation:
    return _set("nodes", node_id, table)


MENU = ("nodes", "main_menu")
LANG = ("nodes", "language")
HOURS = ("nodes", "hours")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            _set(*MENU, "options", {"1": "info", "7": "nowhere"}),
            "node 'main_menu': option '7' goes to unknown node 'nowhere'",
        ),
        (_set("nodes", "info", "next", "nowhere"), "node 'info': next goes to unknown node"),
        (_set(*MENU, "on_failure", "nope"), "node 'main_menu': on_failure goes to unknown node"),
        (_set(*HOURS, "closed", "shut"), "node 'hours': closed goes to unknown node 'shut'"),
        (_set("nodes", "tag_general", "next", "x"), "node 'tag_general': next goes to unknown"),
        (_set("start", "begin"), "start node 'begin' does not exist"),
        (_set("strat", "hours"), "unknown key 'strat'"),
        (_delete("default_language"), "missing required key 'default_language'"),
        (_set("default_language", "de"), "default_language 'de' is not one of en, fr"),
        (_set("nodes", {}), "'nodes' must be a non-empty table"),
        (_set("nodes", "info", "promt", ["x"]), "node 'info': unknown key 'promt'"),
        (_delete("nodes", "info", "prompt"), "node 'info': missing required key 'prompt'"),
        (_set("nodes", "info", "prompt", []), "node 'info': 'prompt' must not be empty"),
        (_set("nodes", "info", "prompt", "beep"), "node 'info': 'prompt' must be a list"),
        (_set("nodes", "info", "prompt", ["../x"]), "node 'info': 'prompt' has an invalid sound"),
        (_set("nodes", "info", "prompt", ["sound:x"]), "node 'info': 'prompt' has an invalid"),
        (_set("nodes", "info", "type", "playback"), "node 'info': 'type' must be one of"),
        (_delete("nodes", "info", "type"), "node 'info': 'type' must be one of"),
        (_set("nodes", "info", "oops"), "node 'info': must be a table"),
        (_delete(*MENU, "timeout"), "node 'main_menu': missing required key 'timeout'"),
        (_delete(*MENU, "on_failure"), "node 'main_menu': missing required key 'on_failure'"),
        (_set(*MENU, "timeout", 0), "node 'main_menu': 'timeout' must be a number"),
        (_set(*MENU, "timeout", -1.5), "node 'main_menu': 'timeout' must be a number"),
        (_set(*MENU, "timeout", "5"), "node 'main_menu': 'timeout' must be a number"),
        (_set(*MENU, "timeout", float("nan")), "node 'main_menu': 'timeout' must be a number"),
        (_set(*MENU, "retries", -1), "node 'main_menu': 'retries' must be an integer >= 0"),
        (_set(*MENU, "retries", 1.0), "node 'main_menu': 'retries' must be an integer"),
        (_set(*MENU, "retries", True), "node 'main_menu': 'retries' must be an integer"),
        (_set(*MENU, "options", {"12": "info"}), "node 'main_menu': 'options' key '12' is not"),
        (_set(*MENU, "options", {"a": "info"}), "node 'main_menu': 'options' key 'a' is not"),
        (_set(*MENU, "options", {}), "node 'main_menu': 'options' must be a non-empty table"),
        (_set(*MENU, "options", {"1": 3}), "node 'main_menu': 'options.1' must be a non-empty"),
        (_set(*LANG, "choices", {"1": "en", "3": "de"}), "node 'language': choice '3' selects"),
        (_set(*LANG, "on_failure", "x"), "node 'language': on_failure goes to unknown node 'x'"),
        (_set(*HOURS, "timezone", "Mars/Olympus"), "node 'hours': unknown time zone"),
        (_set(*HOURS, "timezone", "America"), "node 'hours': unknown time zone 'America'"),
        (_set(*HOURS, "weekly", "mon", ["17:00-09:00"]), "node 'hours': weekly: time range"),
        (_set(*HOURS, "weekly", "mon", ["9-17"]), "node 'hours': weekly: time range '9-17'"),
        (_set(*HOURS, "weekly", "mon", "09:00-17:00"), "node 'hours': 'weekly' must map days"),
        (_set(*HOURS, "weekly", "lun", []), "node 'hours': weekly: unknown day 'lun'"),
        (_set(*HOURS, "holidays", ["2026-13-01"]), "node 'hours': holiday '2026-13-01' is not"),
        (_set(*HOURS, "holidays", ["20261225"]), "node 'hours': holiday '20261225' is not"),
        (_set(*HOURS, "holidays", "2026-12-25"), "node 'hours': 'holidays' must be a list"),
        (_set("nodes", "tag_general", "vars", {"a b": "x"}), "node 'tag_general': variable"),
        (_set("nodes", "to_queue", "queue", ""), "node 'to_queue': 'queue' must be a non-empty"),
        (_set("nodes", "bad id", {"type": "hangup"}), "node id 'bad id' must match"),
        (_add_node("orphan", {"type": "hangup"}), "node 'orphan': unreachable from start node"),
        (
            _set("nodes", "tag_general", "next", "tag_general"),
            "node 'tag_general': set/hours nodes loop without a prompt: tag_general -> tag_general",
        ),
    ],
)
def test_validation_errors_name_file_and_node(mutate: Mutation, message: str) -> None:
    data = demo()
    mutate(data)
    with pytest.raises(FlowError) as info:
        parse_flow(data, source=SOURCE)
    assert str(info.value).startswith(f"{SOURCE}: ")
    assert message in str(info.value)


def test_exact_error_message() -> None:
    data = demo()
    data["nodes"]["main_menu"]["options"]["7"] = "nowhere"
    with pytest.raises(FlowError) as info:
        parse_flow(data, source="ivr/flows/demo.toml")
    assert str(info.value) == (
        "ivr/flows/demo.toml: node 'main_menu': option '7' goes to unknown node 'nowhere'"
    )


def test_loop_through_hours_and_set_nodes_is_rejected() -> None:
    data = demo()
    data["start"] = "hours"
    data["nodes"]["hours"]["closed"] = "tag_general"
    data["nodes"]["tag_general"]["next"] = "hours"
    with pytest.raises(FlowError, match="loop without a prompt: hours -> tag_general -> hours"):
        parse_flow(data, source=SOURCE)


def test_loop_with_a_prompt_is_allowed() -> None:
    data = demo()
    data["nodes"]["tag_general"]["next"] = "info"  # set -> play -> menu -> set
    del data["nodes"]["to_queue"]
    flow = parse_flow(data, source=SOURCE)
    assert "to_queue" not in flow.nodes


def test_every_unreachable_node_is_listed() -> None:
    data = demo()
    data["nodes"]["a"] = {"type": "hangup"}
    data["nodes"]["b"] = {"type": "hangup"}
    with pytest.raises(
        FlowError, match=r"node 'a': unreachable from start node 'hours' \(also: b\)"
    ):
        parse_flow(data, source=SOURCE)


def test_languages_parameter_limits_choices() -> None:
    with pytest.raises(FlowError, match="choice '2' selects unknown language 'fr'"):
        parse_flow(demo(), source=SOURCE, languages=("en",))
    assert parse_flow(demo(), source=SOURCE, languages=("en", "fr", "es")).start == "hours"


def test_load_flow_reports_bad_toml_and_missing_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('start = "a\n', encoding="utf-8")
    with pytest.raises(FlowError, match=f"^{broken}: invalid TOML"):
        load_flow(broken)
    with pytest.raises(FlowError, match="cannot read flow file"):
        load_flow(tmp_path / "missing.toml")
    invalid = tmp_path / "invalid.toml"
    invalid.write_text('start = "x"\ndefault_language = "en"\n[nodes.x]\ntype = "queue"\n')
    with pytest.raises(FlowError, match=f"^{invalid}: node 'x': missing required key 'queue'$"):
        load_flow(invalid)


def test_a_line_of_its_own_starts_its_calls_at_its_node() -> None:
    flow = load_flow(DEMO_FLOW)
    assert dict(flow.lines) == {"+18005550177": "to_telethon"}
    assert flow.nodes["to_telethon"] == QueueNode("to_telethon", "telethon")
    assert flow.start_of("+18005550177") == "to_telethon"
    assert flow.start_of("+18005550100") == flow.start_of("") == "hours"
    data = demo()
    del data["lines"]  # the telethon's node is then reached from nowhere
    with pytest.raises(FlowError, match="node 'to_telethon': unreachable from start node"):
        parse_flow(data, source=SOURCE)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ({"18005550177": "to_telethon"}, "line '18005550177' must be an E.164 number"),
        ({"+18005550177": "nowhere"}, "line '+18005550177' starts at unknown node 'nowhere'"),
        ("to_telethon", "'lines' must be a table of numbers to start nodes"),
    ],
)
def test_lines_name_numbers_and_existing_nodes(lines: object, message: str) -> None:
    data = demo()
    data["lines"] = lines
    with pytest.raises(FlowError, match=re.escape(message)):
        parse_flow(data, source=SOURCE)
