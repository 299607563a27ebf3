"""Opt-out keywords: a whole inbound message saying STOP (or ARRÊT...) or START (pure)."""

from __future__ import annotations

import unicodedata
from enum import StrEnum

STOP_WORDS = frozenset({"stop", "arret", "unsubscribe", "stopall", "cancel", "end", "quit"})
START_WORDS = frozenset({"start", "unstop", "yes"})


class Keyword(StrEnum):
    """What an opt-out keyword asks for."""

    STOP = "stop"
    START = "start"


def keyword(body: str) -> Keyword | None:
    """STOP or START if the whole message is one of their words (any case, accents, and
    surrounding spaces or final punctuation ignored), otherwise None."""
    decomposed = unicodedata.normalize("NFKD", body.strip().rstrip(".!").strip().casefold())
    word = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if word in STOP_WORDS:
        return Keyword.STOP
    if word in START_WORDS:
        return Keyword.START
    return None
