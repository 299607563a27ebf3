"""Segment counting: GSM-7 (with its extension table) against UCS-2, at every boundary."""

from __future__ import annotations

import pytest

from sms.segments import Encoding, segment_count, segment_info

PLAIN_FR = "Votre rappel est prevu a 14 h. Repondez STOP pour ne plus recevoir de SMS."
ACCENTED_FR = (
    "Votre rappel est prévu à 14 h ; nous vous appellerons, c\u2019est promis. Répondez ARRÊT."
)


def test_plain_french_is_gsm7_one_segment() -> None:
    assert segment_info(PLAIN_FR) == segment_info(PLAIN_FR).__class__(
        Encoding.GSM7, len(PLAIN_FR), 1
    )


def test_french_accents_and_apostrophe_switch_to_ucs2() -> None:
    info = segment_info(ACCENTED_FR)
    assert info.encoding is Encoding.UCS2
    assert info.units == len(ACCENTED_FR) > 70
    assert info.segments == 2


@pytest.mark.parametrize("char", ["é", "è", "à", "ù", "É", "Ç"])
def test_french_letters_in_gsm7(char: str) -> None:
    assert segment_info("Merci " + char).encoding is Encoding.GSM7


@pytest.mark.parametrize("char", ["ê", "â", "î", "ô", "û", "ç", "œ", "\u2019", "«"])
def test_french_letters_outside_gsm7(char: str) -> None:
    assert segment_info("Merci " + char).encoding is Encoding.UCS2


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm7_boundaries(length: int, segments: int) -> None:
    assert segment_count("a" * length) == segments


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_boundaries(length: int, segments: int) -> None:
    assert segment_count("ê" * length) == segments


def test_extension_characters_count_two() -> None:
    assert segment_info("€" * 80) == segment_info("€").__class__(Encoding.GSM7, 160, 1)
    assert segment_count("€" * 81) == 2


def test_emoji_counts_two_utf16_units() -> None:
    assert segment_info("🙂" * 35).units == 70
    assert segment_count("🙂" * 36) == 2
