"""Campaign files: TOML parsing and validation into frozen campaign objects.

A telethon campaign names its DIDs, the queue of its nailed-up operators, its currency, goal
and milestones, preset amounts and limits, the kinds of gift allowed, its payment provider, the
SMS template of its payment link (fr/en), its reminders of unpaid links (how many, how far
apart, their SMS), its tax-receipt rule and the language of a caller on its lines who chose
none (``language``, en or fr; none given: the IVR flow's default language). Amounts are
written in the currency's major unit (``20`` or ``12.50`` euros) and kept in minor units
(cents), as payment providers count them. Errors name the file and the campaign, like queue
file errors.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, NoReturn

from core.frozen import FrozenMap

DEMO_CAMPAIGNS: Final = Path(__file__).parent / "campaigns" / "demo.toml"
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_CURRENCY = re.compile(r"[A-Z]{3}")
#: The placeholder every payment-link SMS template must hold.
LINK_FIELD: Final = "{link}"
#: Languages a campaign's SMS templates must cover.
LANGUAGES: Final = ("en", "fr")
#: Most reminders a campaign may send for one unpaid pledge.
MAX_REMINDERS: Final = 5
#: Longest SMS template accepted, the link excluded (Twilio's body limit less a long link).
TEMPLATE_MAX: Final = 1200


class CampaignError(ValueError):
    """An invalid campaign file; the message names the file and the campaign."""


class Provider(StrEnum):
    """Payment providers a campaign may use."""

    STRIPE = "stripe"


class ReceiptRule(StrEnum):
    """What a donor who wants a tax receipt must give."""

    NONE = "none"  # no receipts issued by this campaign
    NAME_AND_ADDRESS = "name_and_address"  # e.g. France: full name and postal address


@dataclass(frozen=True)
class Campaign:
    """One telethon campaign; amounts in minor units of ``currency``."""

    name: str
    title: str
    dids: tuple[str, ...]
    queue: str
    currency: str
    goal: int
    milestones: tuple[int, ...]
    presets: tuple[int, ...]
    minimum: int
    maximum: int
    one_off: bool
    monthly: bool
    provider: Provider
    #: Payment-link SMS by language, each holding ``{link}``.
    sms_templates: Mapping[str, str]
    receipt: ReceiptRule
    #: Reminders of an unpaid link (0: none), the seconds between two texts, and their SMS.
    reminders: int = 0
    reminder_every_s: float = 86_400.0
    reminder_templates: Mapping[str, str] = FrozenMap()
    #: The language of a caller on the campaign's lines who chose none ("": the IVR flow's
    #: default language).
    language: str = ""


def load_campaigns(path: Path) -> Mapping[str, Campaign]:
    """Read and validate a campaign file; raise CampaignError on any problem."""
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise CampaignError(f"{path}: cannot read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CampaignError(f"{path}: invalid TOML: {exc}") from exc
    return parse_campaigns(data, source=str(path))


def parse_campaigns(data: Mapping[str, Any], *, source: str) -> Mapping[str, Campaign]:
    """Validate decoded campaign data; ``source`` names the file in error messages. A DID
    belongs to one campaign at most."""
    tables = data.get("campaigns")
    if set(data) != {"campaigns"} or not isinstance(tables, Mapping) or not tables:
        raise CampaignError(f"{source}: expected only [campaigns.NAME] tables, at least one")
    result: dict[str, Campaign] = {}
    owners: dict[str, str] = {}
    for name, table in tables.items():
        if not NAME.fullmatch(name):
            raise CampaignError(f"{source}: campaign '{name}' must match {NAME.pattern}")
        if not isinstance(table, Mapping):
            _fail(source, name, "must be a table")
        campaign = _campaign(_Reader(source, name, table))
        for did in campaign.dids:
            if did in owners:
                _fail(source, name, f"DID {did} already belongs to campaign '{owners[did]}'")
            owners[did] = name
        result[name] = campaign
    return FrozenMap(result)


def _campaign(r: _Reader) -> Campaign:
    r.check_keys(
        {"title", "dids", "queue", "currency", "goal", "minimum", "maximum", "sms"},
        {
            "milestones", "presets", "one_off", "monthly", "provider", "receipt", "reminders",
            "reminder_every_h", "reminder_sms", "language",
        },
    )  # fmt: skip
    dids = r.strings("dids", _E164)
    if not dids:
        r.fail("'dids' must name at least one DID")
    currency = r.text("currency", _CURRENCY)
    minimum, maximum = r.amount("minimum"), r.amount("maximum")
    if not 0 < minimum <= maximum:
        r.fail("'minimum' must be above 0 and at most 'maximum'")
    goal = r.amount("goal")
    milestones = tuple(r.amount_at("milestones", i) for i in range(len(r.items("milestones"))))
    if list(milestones) != sorted(set(milestones)) or any(m > goal for m in milestones):
        r.fail("'milestones' must rise strictly and stay within 'goal'")
    presets = tuple(r.amount_at("presets", i) for i in range(len(r.items("presets"))))
    for preset in presets:
        if not minimum <= preset <= maximum:
            r.fail(f"preset {_major(preset)} lies outside 'minimum'..'maximum'")
    reminders, every_h = r.integer("reminders", 0, high=MAX_REMINDERS), r.hours("reminder_every_h")
    if reminders and "reminder_sms" not in r.table:
        r.fail("'reminders' needs a 'reminder_sms' table of en and fr templates")
    one_off, monthly = r.flag("one_off", True), r.flag("monthly", False)
    if not (one_off or monthly):
        r.fail("a campaign must allow one-off or monthly gifts")
    language = r.table.get("language", "")
    if language not in ("", *LANGUAGES):
        r.fail(f"'language' must be one of {', '.join(LANGUAGES)}")
    return Campaign(
        name=r.name,
        title=r.text("title", re.compile(r".{1,120}")),
        dids=dids,
        queue=r.text("queue", NAME),
        currency=currency,
        goal=goal,
        milestones=milestones,
        presets=presets,
        minimum=minimum,
        maximum=maximum,
        one_off=one_off,
        monthly=monthly,
        provider=Provider(r.choice("provider", tuple(Provider), Provider.STRIPE)),
        sms_templates=_templates(r, "sms"),
        receipt=ReceiptRule(r.choice("receipt", tuple(ReceiptRule), ReceiptRule.NONE)),
        reminders=reminders,
        reminder_every_s=every_h * 3600,
        language=language,
        reminder_templates=_templates(r, "reminder_sms") if reminders else FrozenMap(),
    )


def _templates(r: _Reader, key: str) -> Mapping[str, str]:
    table = r.table[key]
    if not isinstance(table, Mapping) or set(table) != set(LANGUAGES):
        r.fail(f"'{key}' must be a table of exactly {', '.join(LANGUAGES)} templates")
    for language, text in table.items():
        if not isinstance(text, str) or text.count(LINK_FIELD) != 1:
            r.fail(f"{key} template '{language}' must hold {LINK_FIELD} exactly once")
        if len(text) - len(LINK_FIELD) > TEMPLATE_MAX:
            r.fail(f"{key} template '{language}' is longer than {TEMPLATE_MAX} characters")
        try:
            text.format(link="")
        except (KeyError, IndexError, ValueError):
            r.fail(f"{key} template '{language}' may hold no field but {LINK_FIELD}")
    return FrozenMap({language: str(text) for language, text in table.items()})


def _major(minor: int) -> str:
    return f"{Decimal(minor) / 100:.2f}"


def _fail(source: str, name: str, message: str) -> NoReturn:
    raise CampaignError(f"{source}: campaign '{name}': {message}")


class _Reader:
    """Typed access to one campaign table, failing with the file and campaign."""

    def __init__(self, source: str, name: str, table: Mapping[str, Any]) -> None:
        self.source, self.name, self.table = source, name, table

    def fail(self, message: str) -> NoReturn:
        _fail(self.source, self.name, message)

    def check_keys(self, required: set[str], optional: set[str]) -> None:
        for key in self.table:
            if key not in required | optional:
                allowed = ", ".join(sorted(required | optional))
                self.fail(f"unknown key '{key}' (allowed: {allowed})")
        for key in sorted(required - set(self.table)):
            self.fail(f"missing required key '{key}'")

    def text(self, key: str, pattern: re.Pattern[str]) -> str:
        value = self.table.get(key)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            self.fail(f"'{key}' must be a string matching {pattern.pattern}")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.table.get(key, [])
        if not isinstance(value, list):
            self.fail(f"'{key}' must be a list")
        return value

    def strings(self, key: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
        values = self.items(key)
        for value in values:
            if not isinstance(value, str) or not pattern.fullmatch(value):
                self.fail(f"'{key}' items must be strings matching {pattern.pattern}")
        return tuple(values)

    def amount(self, key: str) -> int:
        return self._minor(self.table.get(key), f"'{key}'")

    def amount_at(self, key: str, index: int) -> int:
        return self._minor(self.items(key)[index], f"'{key}' items")

    def _minor(self, value: Any, what: str) -> int:
        """A major-unit amount (integer or decimal, cents at most) in minor units."""
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            self.fail(f"{what} must be an amount of 0 or more")
        cents = Decimal(str(value)) * 100
        if cents != cents.to_integral_value():
            self.fail(f"{what} must have two decimals at most")
        return int(cents)

    def integer(self, key: str, default: int, *, high: int) -> int:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            self.fail(f"'{key}' must be an integer from 0 to {high}")
        return value

    def hours(self, key: str) -> float:
        value = self.table.get(key, 24)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.fail(f"'{key}' must be a number of hours above 0")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"'{key}' must be true or false")
        return value

    def choice(self, key: str, allowed: tuple[StrEnum, ...], default: StrEnum) -> str:
        value = self.table.get(key, default.value)
        if value not in [member.value for member in allowed]:
            self.fail(f"'{key}' must be one of {', '.join(m.value for m in allowed)}")
        return str(value)
