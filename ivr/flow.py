"""IVR flow files: TOML parsing and validation into an immutable graph of nodes."""

import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar, Final, NoReturn, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.frozen import FrozenMap
from ivr.hours import Hours, parse_weekly

DEMO_FLOW: Final = Path(__file__).parent / "flows" / "demo.toml"
DIGITS: Final = "0123456789*#"
DEFAULT_INVALID_PROMPT: Final = ("pm-invalid-option",)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SOUND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(/[A-Za-z0-9_][A-Za-z0-9_-]*)*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class FlowError(ValueError):
    """An invalid flow; the message names the file and, where relevant, the node."""


@dataclass(frozen=True)
class PlayNode:
    """Play a prompt, then go to ``next``."""

    kind: ClassVar[str] = "play"
    id: str
    prompt: tuple[str, ...]
    next: str


@dataclass(frozen=True)
class MenuNode:
    """Play a prompt and route on one DTMF digit."""

    kind: ClassVar[str] = "menu"
    id: str
    prompt: tuple[str, ...]
    options: FrozenMap[str, str]
    timeout: float
    retries: int
    invalid_prompt: tuple[str, ...]
    timeout_prompt: tuple[str, ...]
    on_failure: str


@dataclass(frozen=True)
class LanguageNode:
    """Play a prompt and set the call language from one DTMF digit."""

    kind: ClassVar[str] = "language"
    id: str
    prompt: tuple[str, ...]
    choices: FrozenMap[str, str]
    next: str
    timeout: float
    retries: int
    invalid_prompt: tuple[str, ...]
    timeout_prompt: tuple[str, ...]
    on_failure: str


@dataclass(frozen=True)
class HoursNode:
    """Branch on business hours."""

    kind: ClassVar[str] = "hours"
    id: str
    hours: Hours
    open: str
    closed: str


@dataclass(frozen=True)
class SetNode:
    """Set call variables, then go to ``next``."""

    kind: ClassVar[str] = "set"
    id: str
    vars: FrozenMap[str, str]
    next: str


@dataclass(frozen=True)
class QueueNode:
    """Hand the call to an ACD queue."""

    kind: ClassVar[str] = "queue"
    id: str
    queue: str


@dataclass(frozen=True)
class HangupNode:
    """Play an optional farewell, then hang up."""

    kind: ClassVar[str] = "hangup"
    id: str
    prompt: tuple[str, ...]


@dataclass(frozen=True)
class TextNode:
    """The caller goes on by text (SMS) with the call's context: an optional message, then
    the call ends."""

    kind: ClassVar[str] = "text"
    id: str
    prompt: tuple[str, ...]


Node: TypeAlias = (
    PlayNode | MenuNode | LanguageNode | HoursNode | SetNode | QueueNode | HangupNode | TextNode
)


@dataclass(frozen=True)
class Flow:
    """A validated flow: every reference resolves and every node is reachable."""

    start: str
    default_language: str
    nodes: Mapping[str, Node]
    source: str
    #: The node a call to one of these numbers (E.164) starts at instead of ``start``, such as
    #: a telethon's own line going straight to its operators.
    lines: Mapping[str, str] = FrozenMap()
    #: The language a call to one of ``lines`` speaks until its caller chooses one (a
    #: telethon's own, from its campaign), instead of ``default_language``.
    line_languages: Mapping[str, str] = FrozenMap()

    def start_of(self, line: str) -> str:
        """The node a call dialled to ``line`` starts at."""
        return self.lines.get(line, self.start)

    def language_of(self, line: str) -> str:
        """The language a call dialled to ``line`` starts in."""
        return self.line_languages.get(line, self.default_language)


def load_flow(path: Path, *, languages: Sequence[str] = ("en", "fr")) -> Flow:
    """Read and validate a TOML flow file; raise FlowError on any problem."""
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise FlowError(f"{path}: cannot read flow file: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FlowError(f"{path}: invalid TOML: {exc}") from exc
    return parse_flow(data, source=str(path), languages=languages)


def parse_flow(
    data: Mapping[str, Any], *, source: str, languages: Sequence[str] = ("en", "fr")
) -> Flow:
    """Validate decoded flow data; ``source`` names the file in error messages."""
    top = _Reader(source, None, data, languages)
    top.check_keys({"start", "default_language", "nodes"}, {"lines"})
    start = top.text("start")
    default_language = top.text("default_language")
    if default_language not in languages:
        top.fail(f"default_language '{default_language}' is not one of {_listing(languages)}")
    tables = data["nodes"]
    if not isinstance(tables, Mapping) or not tables:
        top.fail("'nodes' must be a non-empty table of node tables")
    nodes: dict[str, Node] = {}
    for node_id, table in tables.items():
        if not _NAME.fullmatch(node_id):
            top.fail(f"node id '{node_id}' must match {_NAME.pattern}")
        if not isinstance(table, Mapping):
            _fail(source, node_id, "must be a table")
        nodes[node_id] = _parse_node(_Reader(source, node_id, table, languages), node_id)
    if start not in nodes:
        top.fail(f"start node '{start}' does not exist")
    lines = _lines(top, nodes)
    for node in nodes.values():
        for label, target in _edges(node):
            if target not in nodes:
                _fail(source, node.id, f"{label} goes to unknown node '{target}'")
    loop = _silent_loop(nodes)
    if loop:
        _fail(source, loop[0], f"set/hours nodes loop without a prompt: {' -> '.join(loop)}")
    reachable = _reachable(nodes, start, *lines.values())
    unreachable = [node_id for node_id in nodes if node_id not in reachable]
    if unreachable:
        others = f" (also: {', '.join(unreachable[1:])})" if unreachable[1:] else ""
        _fail(source, unreachable[0], f"unreachable from start node '{start}'{others}")
    return Flow(start, default_language, FrozenMap(nodes), source, FrozenMap(lines))


def _lines(top: "_Reader", nodes: Mapping[str, Node]) -> dict[str, str]:
    """The ``lines`` table: E.164 numbers to the nodes their calls start at."""
    table = top.table.get("lines", {})
    if not isinstance(table, Mapping):
        top.fail("'lines' must be a table of numbers to start nodes")
    for line, node_id in table.items():
        if not _E164.fullmatch(line):
            top.fail(f"line '{line}' must be an E.164 number such as +18005550177")
        if node_id not in nodes:
            top.fail(f"line '{line}' starts at unknown node '{node_id}'")
    return dict(table)


def _fail(source: str, node_id: str | None, message: str) -> NoReturn:
    where = f"{source}: node '{node_id}'" if node_id is not None else source
    raise FlowError(f"{where}: {message}")


def _listing(values: Sequence[str]) -> str:
    return ", ".join(values)


class _Reader:
    """Typed access to one TOML table, failing with the file and node in the message."""

    def __init__(
        self,
        source: str,
        node_id: str | None,
        table: Mapping[str, Any],
        languages: Sequence[str],
    ) -> None:
        self.source = source
        self.node_id = node_id
        self.table = table
        self.languages = languages

    def fail(self, message: str) -> NoReturn:
        _fail(self.source, self.node_id, message)

    def check_keys(self, required: set[str], optional: set[str]) -> None:
        for key in self.table:
            if key not in required | optional:
                allowed = _listing(sorted(required | optional))
                self.fail(f"unknown key '{key}' (allowed: {allowed})")
        for key in sorted(required - set(self.table)):
            self.fail(f"missing required key '{key}'")

    def text(self, key: str) -> str:
        value = self.table[key]
        if not isinstance(value, str) or not value:
            self.fail(f"'{key}' must be a non-empty string")
        return value

    def name(self, key: str) -> str:
        value = self.text(key)
        if not _NAME.fullmatch(value):
            self.fail(f"'{key}' value '{value}' must match {_NAME.pattern}")
        return value

    def prompt(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A list of sound names; required and non-empty when ``default`` is None."""
        if key not in self.table and default is not None:
            return default
        value = self.table[key]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.fail(f"'{key}' must be a list of sound names")
        if default is None and not value:
            self.fail(f"'{key}' must not be empty")
        for sound in value:
            if not _SOUND.fullmatch(sound):
                self.fail(f"'{key}' has an invalid sound name '{sound}'")
        return tuple(value)

    def timeout(self) -> float:
        value = self.table["timeout"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 3600:
            self.fail("'timeout' must be a number of seconds > 0 (and < 3600)")
        return float(value)

    def retries(self) -> int:
        value = self.table["retries"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail("'retries' must be an integer >= 0")
        return value

    def strings(self, key: str) -> FrozenMap[str, str]:
        value = self.table[key]
        if not isinstance(value, Mapping) or not value:
            self.fail(f"'{key}' must be a non-empty table")
        for item_key, item in value.items():
            if not isinstance(item, str) or not item:
                self.fail(f"'{key}.{item_key}' must be a non-empty string")
        return FrozenMap(value)

    def digits(self, key: str) -> FrozenMap[str, str]:
        value = self.strings(key)
        for digit in value:
            if len(digit) != 1 or digit not in DIGITS:
                self.fail(f"'{key}' key '{digit}' is not a single digit from {DIGITS}")
        return value


def _parse_node(r: _Reader, node_id: str) -> Node:
    kind = r.table.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        r.fail(f"'type' must be one of {_listing(list(_PARSERS))}")
    return parser(r, node_id)


_MENU_KEYS = {"prompt", "timeout", "retries"}
_MENU_OPTIONAL = {"invalid_prompt", "timeout_prompt"}


def _play(r: _Reader, node_id: str) -> PlayNode:
    r.check_keys({"type", "prompt", "next"}, set())
    return PlayNode(node_id, r.prompt("prompt"), r.name("next"))


def _menu(r: _Reader, node_id: str) -> MenuNode:
    r.check_keys({"type", "options", "on_failure", *_MENU_KEYS}, _MENU_OPTIONAL)
    options = r.digits("options")
    for digit, target in options.items():
        if not _NAME.fullmatch(target):
            r.fail(f"option '{digit}' target '{target}' must match {_NAME.pattern}")
    return MenuNode(
        id=node_id,
        prompt=r.prompt("prompt"),
        options=options,
        timeout=r.timeout(),
        retries=r.retries(),
        invalid_prompt=r.prompt("invalid_prompt", DEFAULT_INVALID_PROMPT),
        timeout_prompt=r.prompt("timeout_prompt", ()),
        on_failure=r.name("on_failure"),
    )


def _language(r: _Reader, node_id: str) -> LanguageNode:
    r.check_keys({"type", "choices", "next", *_MENU_KEYS}, {"on_failure", *_MENU_OPTIONAL})
    choices = r.digits("choices")
    for digit, language in choices.items():
        if language not in r.languages:
            allowed = _listing(r.languages)
            r.fail(f"choice '{digit}' selects unknown language '{language}' (allowed: {allowed})")
    next_node = r.name("next")
    return LanguageNode(
        id=node_id,
        prompt=r.prompt("prompt"),
        choices=choices,
        next=next_node,
        timeout=r.timeout(),
        retries=r.retries(),
        invalid_prompt=r.prompt("invalid_prompt", DEFAULT_INVALID_PROMPT),
        timeout_prompt=r.prompt("timeout_prompt", ()),
        on_failure=r.name("on_failure") if "on_failure" in r.table else next_node,
    )


def _hours(r: _Reader, node_id: str) -> HoursNode:
    r.check_keys({"type", "timezone", "weekly", "open", "closed"}, {"holidays"})
    zone_name = r.text("timezone")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        r.fail(f"unknown time zone '{zone_name}'")
    weekly = r.table["weekly"]
    if not isinstance(weekly, Mapping) or not all(
        isinstance(ranges, list) and all(isinstance(item, str) for item in ranges)
        for ranges in weekly.values()
    ):
        r.fail("'weekly' must map days (mon..sun) to lists of \"HH:MM-HH:MM\" strings")
    try:
        schedule = parse_weekly(weekly)
    except ValueError as exc:
        r.fail(f"weekly: {exc}")
    return HoursNode(
        id=node_id,
        hours=Hours(zone, schedule, _holidays(r)),
        open=r.name("open"),
        closed=r.name("closed"),
    )


def _holidays(r: _Reader) -> frozenset[date]:
    value = r.table.get("holidays", [])
    if not isinstance(value, list):
        r.fail("'holidays' must be a list of YYYY-MM-DD dates")
    days: set[date] = set()
    for item in value:
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
            continue
        if not isinstance(item, str) or not _ISO_DATE.fullmatch(item):
            r.fail(f"holiday {item!r} is not a YYYY-MM-DD date")
        try:
            days.add(date.fromisoformat(item))
        except ValueError:
            r.fail(f"holiday '{item}' is not a valid date")
    return frozenset(days)


def _set(r: _Reader, node_id: str) -> SetNode:
    r.check_keys({"type", "vars", "next"}, set())
    variables = r.strings("vars")
    for key in variables:
        if not _NAME.fullmatch(key):
            r.fail(f"variable name '{key}' must match {_NAME.pattern}")
    return SetNode(node_id, variables, r.name("next"))


def _queue(r: _Reader, node_id: str) -> QueueNode:
    r.check_keys({"type", "queue"}, set())
    return QueueNode(node_id, r.name("queue"))


def _hangup(r: _Reader, node_id: str) -> HangupNode:
    r.check_keys({"type"}, {"prompt"})
    return HangupNode(node_id, r.prompt("prompt", ()))


def _text(r: _Reader, node_id: str) -> TextNode:
    r.check_keys({"type"}, {"prompt"})
    return TextNode(node_id, r.prompt("prompt", ()))


_PARSERS: Final[Mapping[str, Callable[[_Reader, str], Node]]] = {
    PlayNode.kind: _play,
    MenuNode.kind: _menu,
    LanguageNode.kind: _language,
    HoursNode.kind: _hours,
    SetNode.kind: _set,
    QueueNode.kind: _queue,
    HangupNode.kind: _hangup,
    TextNode.kind: _text,
}


def _edges(node: Node) -> Iterator[tuple[str, str]]:
    """(label, target node) pairs for every transition out of ``node``."""
    match node:
        case PlayNode() | SetNode():
            yield "next", node.next
        case MenuNode():
            for digit, target in node.options.items():
                yield f"option '{digit}'", target
            yield "on_failure", node.on_failure
        case LanguageNode():
            yield "next", node.next
            yield "on_failure", node.on_failure
        case HoursNode():
            yield "open", node.open
            yield "closed", node.closed
        case QueueNode() | HangupNode() | TextNode():
            return


def _silent_loop(nodes: Mapping[str, Node]) -> list[str] | None:
    """A cycle made only of set/hours nodes (which would spin without waiting), if any."""
    finished: set[str] = set()

    def visit(node_id: str, path: list[str]) -> list[str] | None:
        if node_id in path:
            return [*path[path.index(node_id) :], node_id]
        node = nodes[node_id]
        if node_id in finished or not isinstance(node, SetNode | HoursNode):
            return None
        for _, target in _edges(node):
            loop = visit(target, [*path, node_id])
            if loop:
                return loop
        finished.add(node_id)
        return None

    for node_id in nodes:
        loop = visit(node_id, [])
        if loop:
            return loop
    return None


def _reachable(nodes: Mapping[str, Node], *starts: str) -> set[str]:
    seen = set(starts)
    pending = list(starts)
    while pending:
        for _, target in _edges(nodes[pending.pop()]):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen
