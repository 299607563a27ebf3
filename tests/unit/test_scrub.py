"""Wrap-up notes lose phone numbers and Luhn-valid card numbers, and say how many."""

from __future__ import annotations

from core.scrub import CARD_MARK, PHONE_MARK, scrub


def test_phone_numbers_in_any_usual_form_are_replaced() -> None:
    notes = "Call back at (514) 555-0123 or +1 438 555 0199; her sister: 514.555.0100."
    result = scrub(notes, "CA")
    assert result.text == (f"Call back at {PHONE_MARK} or {PHONE_MARK}; her sister: {PHONE_MARK}.")
    assert result.removed == {"phone": 3}


def test_card_numbers_go_only_when_they_pass_luhn() -> None:
    result = scrub("paid with 4111 1111 1111 1111, ref 4111 1111 1111 1112", "CA")
    assert result.text.startswith(f"paid with {CARD_MARK}, ref ")
    assert result.removed["card"] == 1
    assert "4111 1111 1111 1111" not in result.text


def test_notes_without_numbers_are_kept_as_written() -> None:
    notes = "Felt better after 20 minutes; talked about school (grade 9)."
    assert scrub(notes, "CA").text == notes
    assert scrub(notes, "CA").removed == {}
