"""Phone numbers written inside message text, cut out before the text is stored or relayed, so
that a caller who types a number (theirs or another's) never puts it in Redis or in front of a
volunteer, and a volunteer's number never reaches a caller."""

from __future__ import annotations

import phonenumbers

#: What a removed number is replaced with.
REDACTED = "[#]"


def redact_numbers(text: str, region: str) -> str:
    """``text`` with every possible phone number (national formats read as ``region``'s)
    replaced by ``REDACTED``."""
    matches = list(phonenumbers.PhoneNumberMatcher(text, region, phonenumbers.Leniency.POSSIBLE))
    for match in reversed(matches):
        text = text[: match.start] + REDACTED + text[match.end :]
    return text
