"""Queue and agent files: TOML parsing and validation into frozen configuration objects.

Errors name the file and the queue or agent, like IVR flow errors. PINs are stored only as
argon2id hashes (``hash_pin``); ``verify_pin`` checks a typed PIN against one.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Final, NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.auth import ROLES
from core.frozen import FrozenMap

ACD_DIR: Final = Path(__file__).parent
DEMO_QUEUES: Final = ACD_DIR / "queues" / "demo.toml"
DEMO_AGENTS: Final = ACD_DIR / "agents" / "demo.toml"
MIN_LEVEL: Final = 1
MAX_LEVEL: Final = 5
MAX_PRIORITY: Final = 99
#: Canned replies a queue may hold in each language, and their length at most (an SMS
#: reply's cap).
MAX_CANNED: Final = 50
CANNED_CHARS: Final = 1600
#: The language key of a queue's canned replies given as a plain list: any language.
ANY_LANGUAGE: Final = "*"

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
LANGUAGE = re.compile(r"[a-z]{2,3}")
_HASHER = PasswordHasher()


class AcdConfigError(ValueError):
    """An invalid queue or agent file; the message names the file and the queue or agent."""


class Strategy(Enum):
    """How a queue picks among available agents (app_queue's name in the comment)."""

    LONGEST_IDLE = "longest_idle"  # leastrecent
    ROUND_ROBIN = "round_robin"  # rrmemory
    FEWEST_CALLS = "fewest_calls"  # fewestcalls
    RING_ALL = "ring_all"  # ringall
    RANDOM = "random"  # random
    LINEAR = "linear"  # linear


class OverflowKind(Enum):
    """Where a call goes when the queue rejects it or it leaves the queue."""

    QUEUE = "queue"  # another queue (target: its name)
    CALLBACK = "callback"  # offer a callback that keeps the caller's place
    TEXT = "text"  # an SMS/chat invitation (target: a template name)
    HANGUP = "hangup"  # a farewell prompt, then hang up (target: a sound name or "")


@dataclass(frozen=True)
class Overflow:
    """The queue's overflow destination."""

    kind: OverflowKind = OverflowKind.HANGUP
    target: str = ""


@dataclass(frozen=True)
class WideningRule:
    """After waiting ``after_s`` seconds, a call accepts agents with skill level >= min_level."""

    after_s: float
    min_level: int


#: Call types of a wrap-up unless the queue file names its own (Aselo's).
DISPOSITIONS = ("information", "crisis", "silent", "abusive", "hang-up", "prank", "thanks")


@dataclass(frozen=True)
class QueueConfig:
    """One ACD queue."""

    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    ring_timeout_s: float = 15.0
    #: Offers an agent misses in a row (RONA) before being paused with reason "no-answer".
    max_misses: int = 3
    wrapup_s: float = 10.0
    announce_every_s: float = 30.0
    announce_position: bool = True
    announce_wait: bool = True
    #: Seconds a call may wait before it leaves through the overflow; 0 = no limit.
    max_wait_s: float = 0.0
    #: Waiting calls beyond which new calls are rejected as "full"; 0 = no limit.
    max_len: int = 0
    overflow: Overflow = field(default_factory=Overflow)
    join_empty: bool = True
    leave_when_empty: bool = False
    #: Skill a call of this queue needs; a call may override it (e.g. by language).
    skill: str | None = None
    widening: tuple[WideningRule, ...] = ()
    service_level_s: float = 20.0
    short_abandon_s: float = 5.0
    priority: int = 0
    moh_class: str = "default"
    nailed_up: bool = False
    #: The agent (say, a supervisor) a volunteer hands a call to by pressing the
    #: ``supervisor_key`` during it; None: no hand-over by phone in this queue.
    supervisor: str | None = None
    #: The call types a volunteer picks from when wrapping up a call (records/wrapups.py).
    dispositions: tuple[str, ...] = DISPOSITIONS
    #: The flags a volunteer may set on a contact when wrapping it up (e.g. "risk"); the
    #: next volunteer's screen-pop shows those of the caller's earlier contacts.
    flags: tuple[str, ...] = ()
    #: Whether a volunteer's console shows that a supervisor listens to, whispers into or
    #: barges into their call.
    tell_volunteer_when_monitored: bool = False
    #: The queue's default language: whose canned replies a conversation in a language
    #: without its own gets (None: the line's default language).
    language: str | None = None
    #: Ready-made replies a volunteer's chat panel offers in this queue's text conversations,
    #: by language (``ANY_LANGUAGE`` for a plain list): see ``canned_replies``.
    canned: Mapping[str, tuple[str, ...]] = field(default_factory=FrozenMap)


class DeviceKind(Enum):
    """How an agent is reached."""

    SIP = "sip"  # a registered endpoint, e.g. "PJSIP/alice"
    EXTERNAL = "external"  # a number dialled through the trunk


@dataclass(frozen=True)
class Device:
    """One way of reaching an agent."""

    kind: DeviceKind
    address: str = field(repr=False)


@dataclass(frozen=True)
class AgentProfile:
    """One volunteer; ``pin_hash`` is an argon2 hash, never the PIN."""

    id: str
    name: str
    pin_hash: str = field(repr=False)
    devices: tuple[Device, ...]
    skills: Mapping[str, int] = field(default_factory=FrozenMap)
    queues: tuple[str, ...] = ()
    wrapup_s: float | None = None
    auto_answer: bool = False
    nailed_up: bool = False
    chat_capacity: int = 3
    #: Digits the volunteer keys on the volunteer line to log in ("" = no phone login).
    phone_code: str = ""
    #: Argon2 hash of the web console password ("" = no console sign-in).
    password_hash: str = field(default="", repr=False)
    #: The console role: agent, supervisor or admin (``core.auth.ROLES``).
    role: str = "agent"
    #: The queues a supervisor or admin oversees in the console (empty: every queue).
    supervises: tuple[str, ...] = ()


def canned_replies(queue: QueueConfig, language: str, line_language: str) -> tuple[str, ...]:
    """The canned replies of ``queue`` for a conversation in ``language``: that language's,
    else those of the queue's default language (``line_language``, the line's default, if
    the queue names none), else the first configured (a plain list's, which serves any
    language)."""
    for wanted in (language, queue.language or line_language):
        if wanted in queue.canned:
            return queue.canned[wanted]
    return next(iter(queue.canned.values()), ())


def hash_pin(pin: str) -> str:
    """An argon2id hash of ``pin`` for an agent file."""
    return _HASHER.hash(pin)


def verify_pin(profile: AgentProfile, pin: str) -> bool:
    """Whether ``pin`` matches the agent's PIN hash."""
    try:
        return _HASHER.verify(profile.pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


def load_queues(path: Path, languages: Sequence[str] | None = None) -> Mapping[str, QueueConfig]:
    """Read and validate a queue file; raise AcdConfigError on any problem. With
    ``languages`` (the line's), canned replies may only be in those."""
    return parse_queues(_read(path), source=str(path), languages=languages)


def load_agents(
    path: Path, queues: Mapping[str, QueueConfig] | None = None
) -> tuple[AgentProfile, ...]:
    """Read and validate an agent file (in file order, which is the LINEAR order); when
    ``queues`` is given, every queue an agent names must exist."""
    return parse_agents(_read(path), source=str(path), queues=queues)


def parse_queues(
    data: Mapping[str, Any], *, source: str, languages: Sequence[str] | None = None
) -> Mapping[str, QueueConfig]:
    """Validate decoded queue data; ``source`` names the file in error messages; with
    ``languages``, canned replies may only be in those."""
    tables = _tables(data, "queues", source)
    result = {
        name: _queue(_Reader(source, "queue", name, table), languages)
        for name, table in tables.items()
    }
    for queue in result.values():
        target = queue.overflow.target
        if queue.overflow.kind is OverflowKind.QUEUE and target not in result:
            _fail(source, "queue", queue.name, f"overflow goes to unknown queue '{target}'")
        if queue.overflow.kind is OverflowKind.QUEUE and target == queue.name:
            _fail(source, "queue", queue.name, "overflow goes to the queue itself")
    return FrozenMap(result)


def parse_agents(
    data: Mapping[str, Any], *, source: str, queues: Mapping[str, QueueConfig] | None = None
) -> tuple[AgentProfile, ...]:
    """Validate decoded agent data; ``source`` names the file in error messages."""
    tables = _tables(data, "agents", source)
    agents = tuple(_agent(_Reader(source, "agent", aid, table)) for aid, table in tables.items())
    for agent in agents:
        for queue in agent.queues:
            if queues is not None and queue not in queues:
                _fail(source, "agent", agent.id, f"member of unknown queue '{queue}'")
        for queue in agent.supervises:
            if queues is not None and queue not in queues:
                _fail(source, "agent", agent.id, f"supervises unknown queue '{queue}'")
    ids = {agent.id for agent in agents}
    for config in (queues or {}).values():
        if config.supervisor is not None and config.supervisor not in ids:
            _fail(source, "queue", config.name, f"supervisor '{config.supervisor}' is no agent")
    return agents


def _read(path: Path) -> Mapping[str, Any]:
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise AcdConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AcdConfigError(f"{path}: invalid TOML: {exc}") from exc


def _tables(data: Mapping[str, Any], top: str, source: str) -> Mapping[str, Mapping[str, Any]]:
    if set(data) != {top}:
        raise AcdConfigError(f"{source}: expected only a [{top}.NAME] table per {top[:-1]}")
    tables = data[top]
    if not isinstance(tables, Mapping) or not tables:
        raise AcdConfigError(f"{source}: '{top}' must be a non-empty table")
    for name, table in tables.items():
        if not NAME.fullmatch(name):
            raise AcdConfigError(f"{source}: {top[:-1]} '{name}' must match {NAME.pattern}")
        if not isinstance(table, Mapping):
            _fail(source, top[:-1], name, "must be a table")
    return tables


def _fail(source: str, what: str, name: str, message: str) -> NoReturn:
    raise AcdConfigError(f"{source}: {what} '{name}': {message}")


class _Reader:
    """Typed access to one queue or agent table, failing with the file and name."""

    def __init__(self, source: str, what: str, name: str, table: Mapping[str, Any]) -> None:
        self.source, self.what, self.name, self.table = source, what, name, table

    def fail(self, message: str) -> NoReturn:
        _fail(self.source, self.what, self.name, message)

    def check_keys(self, required: set[str], optional: set[str]) -> None:
        for key in self.table:
            if key not in required | optional:
                self.fail(
                    f"unknown key '{key}' (allowed: {', '.join(sorted(required | optional))})"
                )
        for key in sorted(required - set(self.table)):
            self.fail(f"missing required key '{key}'")

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            self.fail(f"'{key}' must be a number >= {minimum:g}")
        return float(value)

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(f"'{key}' must be an integer from {low} to {high}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"'{key}' must be true or false")
        return value

    def text(self, key: str, default: str | None = None, *, pattern: re.Pattern[str] = NAME) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            self.fail(f"'{key}' must be a string matching {pattern.pattern}")
        return value

    def choice(
        self, key: str, enum: type[Strategy] | type[OverflowKind] | type[DeviceKind], default: str
    ) -> Any:
        value = self.table.get(key, default)
        allowed = [member.value for member in enum]
        if value not in allowed:
            self.fail(f"'{key}' must be one of {', '.join(allowed)}")
        return enum(value)

    def choice_of(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.table.get(key, default)
        if value not in allowed:
            self.fail(f"'{key}' must be one of {', '.join(allowed)}")
        return str(value)

    def sub(self, key: str, table: Any) -> _Reader:
        if not isinstance(table, Mapping):
            self.fail(f"'{key}' must be a table")
        return _Reader(self.source, self.what, self.name, table)


def _queue(r: _Reader, languages: Sequence[str] | None) -> QueueConfig:
    d = QueueConfig(r.name)
    r.check_keys(set(), {f for f in QueueConfig.__dataclass_fields__ if f != "name"})
    return QueueConfig(
        name=r.name,
        strategy=r.choice("strategy", Strategy, d.strategy.value),
        ring_timeout_s=r.number("ring_timeout_s", d.ring_timeout_s, minimum=1),
        max_misses=r.integer("max_misses", d.max_misses, low=1, high=100),
        wrapup_s=r.number("wrapup_s", d.wrapup_s),
        announce_every_s=r.number("announce_every_s", d.announce_every_s),
        announce_position=r.flag("announce_position", d.announce_position),
        announce_wait=r.flag("announce_wait", d.announce_wait),
        max_wait_s=r.number("max_wait_s", d.max_wait_s),
        max_len=r.integer("max_len", d.max_len, low=0, high=100_000),
        overflow=_overflow(r),
        join_empty=r.flag("join_empty", d.join_empty),
        leave_when_empty=r.flag("leave_when_empty", d.leave_when_empty),
        skill=r.text("skill") if "skill" in r.table else None,
        widening=_widening(r),
        service_level_s=r.number("service_level_s", d.service_level_s),
        short_abandon_s=r.number("short_abandon_s", d.short_abandon_s),
        priority=r.integer("priority", d.priority, low=-MAX_PRIORITY, high=MAX_PRIORITY),
        moh_class=r.text("moh_class", d.moh_class),
        nailed_up=r.flag("nailed_up", d.nailed_up),
        supervisor=r.text("supervisor") if "supervisor" in r.table else None,
        dispositions=_dispositions(r, d.dispositions),
        flags=_flags(r),
        tell_volunteer_when_monitored=r.flag(
            "tell_volunteer_when_monitored", d.tell_volunteer_when_monitored
        ),
        language=_language(r, languages),
        canned=_canned(r, languages),
    )


def _language(r: _Reader, languages: Sequence[str] | None) -> str | None:
    if "language" not in r.table:
        return None
    language = r.text("language", pattern=LANGUAGE)
    if languages is not None and language not in languages:
        r.fail(f"'language' '{language}' is not one of {', '.join(languages)}")
    return language


def _canned(r: _Reader, languages: Sequence[str] | None) -> Mapping[str, tuple[str, ...]]:
    """A plain list (any language) or a table of lists by language: ``{en = [...], ...}``."""
    value = r.table.get("canned", [])
    if isinstance(value, list):
        return FrozenMap({ANY_LANGUAGE: _canned_list(r, "canned", value)}) if value else FrozenMap()
    if not isinstance(value, Mapping):
        r.fail("'canned' must be a list of replies, or a table of such lists by language")
    by_language = {}
    for language, replies in value.items():
        if not LANGUAGE.fullmatch(language):
            r.fail(f"'canned' language '{language}' must match {LANGUAGE.pattern}")
        if languages is not None and language not in languages:
            r.fail(f"'canned' language '{language}' is not one of {', '.join(languages)}")
        if found := _canned_list(r, f"canned.{language}", replies):
            by_language[language] = found
    return FrozenMap(by_language)


def _canned_list(r: _Reader, key: str, value: Any) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or len(value) > MAX_CANNED
        or not all(isinstance(v, str) and v.strip() and len(v) <= CANNED_CHARS for v in value)
        or len(set(value)) != len(value)
    ):
        r.fail(
            f"'{key}' must be a list of at most {MAX_CANNED} distinct, non-blank strings of "
            f"at most {CANNED_CHARS} characters"
        )
    return tuple(value)


def _dispositions(r: _Reader, default: tuple[str, ...]) -> tuple[str, ...]:
    value = r.table.get("dispositions", list(default))
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and NAME.fullmatch(v) for v in value)
    ):
        r.fail(f"'dispositions' must be a non-empty list of strings matching {NAME.pattern}")
    return tuple(value)


def _flags(r: _Reader) -> tuple[str, ...]:
    value = r.table.get("flags", [])
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) and NAME.fullmatch(v) for v in value)
        or len(set(value)) != len(value)
    ):
        r.fail(f"'flags' must be a list of distinct strings matching {NAME.pattern}")
    return tuple(value)


def _overflow(r: _Reader) -> Overflow:
    if "overflow" not in r.table:
        return Overflow()
    o = r.sub("overflow", r.table["overflow"])
    o.check_keys({"kind"}, {"target"})
    kind: OverflowKind = o.choice("kind", OverflowKind, "")
    if kind in (OverflowKind.QUEUE, OverflowKind.TEXT) and "target" not in o.table:
        r.fail(f"overflow of kind '{kind.value}' needs a 'target'")
    return Overflow(kind, o.text("target") if "target" in o.table else "")


def _widening(r: _Reader) -> tuple[WideningRule, ...]:
    raw = r.table.get("widening", [])
    if not isinstance(raw, list):
        r.fail("'widening' must be a list of {after_s, min_level} tables")
    rules = []
    for item in raw:
        w = r.sub("widening", item)
        w.check_keys({"after_s", "min_level"}, set())
        rules.append(
            WideningRule(
                w.number("after_s", 0), w.integer("min_level", 1, low=MIN_LEVEL, high=MAX_LEVEL)
            )
        )
    for before, after in itertools.pairwise(rules):
        if after.after_s <= before.after_s or after.min_level > before.min_level:
            r.fail("'widening' rules must have rising after_s and non-rising min_level")
    return tuple(rules)


_ADDRESS = re.compile(r"[^\s;,]+")


def _agent(r: _Reader) -> AgentProfile:
    r.check_keys(
        {"name", "pin_hash", "devices", "queues"},
        {
            "skills",
            "wrapup_s",
            "auto_answer",
            "nailed_up",
            "chat_capacity",
            "phone_code",
            "password_hash",
            "role",
            "supervises",
        },
    )
    name = r.table["name"]
    if not isinstance(name, str) or not name.strip():
        r.fail("'name' must be a non-empty string")
    pin_hash = r.table["pin_hash"]
    if not isinstance(pin_hash, str) or not pin_hash.startswith("$argon2"):
        r.fail("'pin_hash' must be an argon2 hash (see acd.config.hash_pin), never a PIN")
    raw_devices = r.table["devices"]
    if not isinstance(raw_devices, list) or not raw_devices:
        r.fail("'devices' must be a non-empty list of {kind, address} tables")
    devices = []
    for item in raw_devices:
        d = r.sub("devices", item)
        d.check_keys({"kind", "address"}, set())
        devices.append(
            Device(d.choice("kind", DeviceKind, ""), d.text("address", pattern=_ADDRESS))
        )
    raw_queues = r.table["queues"]
    if not isinstance(raw_queues, list) or not all(
        isinstance(q, str) and NAME.fullmatch(q) for q in raw_queues
    ):
        r.fail("'queues' must be a list of queue names")
    skills_table = r.sub("skills", r.table.get("skills", {}))
    skills = {}
    for skill in skills_table.table:
        if not NAME.fullmatch(skill):
            r.fail(f"skill name '{skill}' must match {NAME.pattern}")
        skills[skill] = skills_table.integer(skill, 0, low=MIN_LEVEL, high=MAX_LEVEL)
    wrapup = r.number("wrapup_s", 0) if "wrapup_s" in r.table else None
    return AgentProfile(
        id=r.name,
        name=name,
        pin_hash=pin_hash,
        devices=tuple(devices),
        skills=FrozenMap(skills),
        queues=tuple(dict.fromkeys(raw_queues)),
        wrapup_s=wrapup,
        auto_answer=r.flag("auto_answer", False),
        nailed_up=r.flag("nailed_up", False),
        chat_capacity=r.integer("chat_capacity", 3, low=0, high=50),
        phone_code=_phone_code(r),
        password_hash=_password_hash(r),
        role=r.choice_of("role", ROLES, "agent"),
        supervises=_supervises(r),
    )


def _supervises(r: _Reader) -> tuple[str, ...]:
    value = r.table.get("supervises", [])
    if not isinstance(value, list) or not all(
        isinstance(q, str) and NAME.fullmatch(q) for q in value
    ):
        r.fail("'supervises' must be a list of queue names")
    if value and r.table.get("role", "agent") == "agent":
        r.fail("'supervises' is for a supervisor or an admin (role)")
    return tuple(dict.fromkeys(value))


def _password_hash(r: _Reader) -> str:
    value = r.table.get("password_hash", "")
    if not isinstance(value, str) or (value and not value.startswith("$argon2")):
        r.fail("'password_hash' must be an argon2 hash (see acd.config.hash_pin), never a password")
    return value


def _phone_code(r: _Reader) -> str:
    code = r.table.get("phone_code", "")
    if not isinstance(code, str) or not re.fullmatch(r"[0-9]{0,12}", code):
        r.fail("'phone_code' must be a string of up to 12 digits")
    return code
