"""The console's reading of a posted pledge form: amounts in major units to minor units, the
monthly fields only for a monthly gift, checkboxes present or not."""

from __future__ import annotations

import pytest

from console.pledges import minor_units, pledge_body
from core.api import ApiError


@pytest.mark.parametrize(
    ("text", "minor"),
    [("50", 5000), ("12.50", 1250), ("12,5", 1250), (" 1 000 ", 100_000), ("0.01", 1)],
)
def test_amounts_in_major_units_become_minor_units(text: str, minor: int) -> None:
    assert minor_units(text) == minor


@pytest.mark.parametrize("text", ["", "fifty", "12.345", "-5", "NaN", "Infinity", "1e400"])
def test_other_amounts_are_refused_as_bad_amounts(text: str) -> None:
    with pytest.raises(ApiError) as refused:
        minor_units(text)
    assert (refused.value.status, refused.value.error) == (400, "bad-amount")


def test_a_one_off_gift_drops_the_monthly_fields_and_reads_checkboxes() -> None:
    form = {"amount": "20", "day_of_month": "5", "instalments": "x", "consent_sms": "1"}
    assert pledge_body(form) == {
        "amount": 2000,
        "frequency": "one_off",
        "day_of_month": None,
        "instalments": None,
        "method": "sms_link",
        "donor": {"name": "", "address": "", "email": ""},
        "receipt": False,
        "keep_details": False,
        "consent_sms": True,
        "on_air": False,
        "alias": "",
        "comment": "",
    }


def test_a_monthly_gift_reads_its_day_and_instalments() -> None:
    body = pledge_body({"amount": "10", "frequency": "monthly", "day_of_month": "15"})
    assert (body["day_of_month"], body["instalments"]) == (15, None)
    with pytest.raises(ApiError) as refused:
        pledge_body({"amount": "10", "frequency": "monthly", "day_of_month": "-1"})
    assert refused.value.error == "bad-number"
