"""How many segments an SMS body costs: GSM-7 (160, or 153 a part) or UCS-2 (70, or 67 a part).

One character outside the GSM 03.38 alphabet (for French: ê, â, î, ô, û, ç, œ, typographic
quotes) switches the whole message to UCS-2. Characters of the GSM-7 extension table take two
septets. UCS-2 counts UTF-16 code units, so a character outside the BMP (an emoji) takes two.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
#: The longest body Twilio takes, in characters (longer: error 21617); every SMS path keeps to it.
MAX_CHARS = 1600
#: What ends a body cut to ``MAX_CHARS``.
CUT_MARK = " […]"


class Encoding(StrEnum):
    """The alphabet a message is sent in."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SegmentInfo:
    """The encoding, length in code units (septets or UTF-16 units) and segment count."""

    encoding: Encoding
    units: int
    segments: int


def encoding_of(body: str) -> Encoding:
    """GSM-7 if every character is in the basic or extension table, otherwise UCS-2."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body):
        return Encoding.GSM7
    return Encoding.UCS2


def segment_info(body: str) -> SegmentInfo:
    """How ``body`` is encoded and how many segments it is billed and throttled as."""
    encoding = encoding_of(body)
    if encoding is Encoding.GSM7:
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    segments = 1 if units <= single else -(-units // part)
    return SegmentInfo(encoding, units, segments)


def clip(body: str) -> str:
    """``body``, or its start with ``CUT_MARK`` if it is longer than ``MAX_CHARS``."""
    if len(body) <= MAX_CHARS:
        return body
    return body[: MAX_CHARS - len(CUT_MARK)] + CUT_MARK


def segment_count(body: str) -> int:
    """The number of segments ``body`` costs."""
    return segment_info(body).segments
