"""Free text (wrap-up notes, pledge comments) is scrubbed before storage: phone numbers
(anything ``phonenumbers``' matcher takes as a possible number) and card-like numbers (13 to 19
digits passing the Luhn check) become markers; the writer learns what kinds were removed, and
how many, never the values."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import phonenumbers
from stdnum import luhn

PHONE_MARK = "[phone number removed]"
CARD_MARK = "[card number removed]"
#: 13 to 19 digits, possibly grouped by spaces or dashes (how card numbers are written).
_CARD_LIKE = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


@dataclass(frozen=True)
class Scrubbed:
    """Notes with numbers replaced, and what was removed: {"phone": 1, "card": 2}."""

    text: str
    removed: Mapping[str, int]


def scrub(text: str, region: str) -> Scrubbed:
    """Replace card-like numbers that pass Luhn, then phone numbers (read in ``region``)."""
    removed: Counter[str] = Counter()

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if not luhn.is_valid(digits):
            return match.group()
        removed["card"] += 1
        return CARD_MARK

    text = _CARD_LIKE.sub(card, text)
    parts, last = [], 0
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE)
    for found in matcher:
        parts += [text[last : found.start], PHONE_MARK]
        last = found.end
        removed["phone"] += 1
    parts.append(text[last:])
    return Scrubbed("".join(parts), dict(removed))
