"""Callers' pseudonyms ("Brave Otter", "Loutre Courageuse"): stable and unique per deployment.

A pseudonym is drawn from a seed (the vault's keyed hash of the caller's number) and an attempt
number; the vault tries attempt 0, 1, 2, ... until it reserves a free one. What is drawn is a
language-neutral :class:`Slot` (adjective, animal, round), so a caller is "the same" animal in
every language and two callers never share one in any language. Attempts past
``ATTEMPTS_PER_ROUND`` draw from the next round, whose names carry a number ("Brave Otter 2"),
so the names never run out.

The word lists (``words/<language>.toml``) are curated for people who may be in crisis; read
the rules at the top of ``words/en.toml`` before changing them.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Literal

ATTEMPTS_PER_ROUND = 32


@dataclass(frozen=True)
class Animal:
    """An animal's name and, where the language has them, its grammatical gender."""

    name: str
    gender: Literal["m", "f"] | None = None


@dataclass(frozen=True)
class Adjective:
    """An adjective's masculine and feminine forms (equal where it does not agree)."""

    masculine: str
    feminine: str

    def agreeing(self, animal: Animal) -> str:
        """The form that agrees with ``animal``."""
        return self.feminine if animal.gender == "f" else self.masculine


@dataclass(frozen=True)
class Lexicon:
    """One language's words; entry N of each list is the same concept in every language."""

    adjectives: tuple[Adjective, ...]
    animals: tuple[Animal, ...]
    #: French order, "Loutre Courageuse"; otherwise "Brave Otter".
    noun_first: bool = False

    def name(self, adjective: int, animal: int) -> str:
        """The pseudonym made of adjective ``adjective`` and animal ``animal``."""
        beast = self.animals[animal]
        word = self.adjectives[adjective].agreeing(beast)
        return f"{beast.name} {word}" if self.noun_first else f"{word} {beast.name}"


def _load(language: str) -> Lexicon:
    text = (resources.files("core.privacy.words") / f"{language}.toml").read_text("utf-8")
    data = tomllib.loads(text)
    return Lexicon(
        adjectives=tuple(
            Adjective(a, a) if isinstance(a, str) else Adjective(a["m"], a["f"])
            for a in data["adjectives"]
        ),
        animals=tuple(
            Animal(a) if isinstance(a, str) else Animal(a["name"], a["gender"])
            for a in data["animals"]
        ),
        noun_first=data.get("noun_first", False),
    )


LEXICONS: dict[str, Lexicon] = {language: _load(language) for language in ("en", "fr")}
LANGUAGES = tuple(LEXICONS)
ADJECTIVE_COUNT = len(LEXICONS["en"].adjectives)
ANIMAL_COUNT = len(LEXICONS["en"].animals)
if any(
    (len(lex.adjectives), len(lex.animals)) != (ADJECTIVE_COUNT, ANIMAL_COUNT)
    for lex in LEXICONS.values()
):
    raise RuntimeError("core/privacy/words: every language needs as many words as en.toml")


@dataclass(frozen=True)
class Slot:
    """A pseudonym before it is put into words: which adjective, which animal, which round."""

    adjective: int
    animal: int
    round: int

    @property
    def id(self) -> str:
        """What the vault reserves, the same in every language."""
        return f"{self.adjective}.{self.animal}.{self.round}"

    def name(self, language: str) -> str:
        """The pseudonym in ``language``; ValueError if there are no words for it."""
        lexicon = LEXICONS.get(language)
        if lexicon is None:
            raise ValueError(f"no pseudonym words for language {language!r}")
        name = lexicon.name(self.adjective, self.animal)
        return f"{name} {self.round + 1}" if self.round else name


def draw(seed: bytes, attempt: int = 0) -> Slot:
    """The slot of ``attempt`` for ``seed``: deterministic, spread evenly over the words."""
    digest = hashlib.sha256(attempt.to_bytes(4, "big") + seed).digest()
    return Slot(
        adjective=int.from_bytes(digest[:8]) % ADJECTIVE_COUNT,
        animal=int.from_bytes(digest[8:16]) % ANIMAL_COUNT,
        round=attempt // ATTEMPTS_PER_ROUND,
    )


def pseudonym(seed: bytes, language: str, attempt: int = 0) -> str:
    """The pseudonym of ``attempt`` for ``seed`` in ``language``."""
    return draw(seed, attempt).name(language)
