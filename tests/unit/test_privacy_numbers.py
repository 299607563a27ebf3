"""E.164 normalisation and SMS reachability of callers' numbers."""

import pytest

from core.privacy.numbers import InvalidNumber, can_receive_sms, normalize


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(514) 555-0123", "CA", "+15145550123"),
        ("514.555.0123", "CA", "+15145550123"),
        ("1-514-555-0123", "CA", "+15145550123"),
        ("+1 514 555 0123", "FR", "+15145550123"),
        ("(202) 456-1111", "US", "+12024561111"),
        ("202 456 1111", "US", "+12024561111"),
        ("01 42 68 53 00", "FR", "+33142685300"),
        ("06.12.34.56.78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "CA", "+33612345678"),
        ("0033 6 12 34 56 78", "FR", "+33612345678"),
    ],
)
def test_normalize_national_and_international_formats(raw: str, region: str, e164: str) -> None:
    assert normalize(raw, region) == e164


@pytest.mark.parametrize(
    "raw",
    ["", "anonymous", "call me maybe", "12", "+1 514 555", "+1 514 555 0123 4567", "06 12"],
)
def test_garbage_is_invalid_without_echoing_the_input(raw: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalize(raw, "CA")
    assert isinstance(caught.value, ValueError)
    for text in (str(caught.value), repr(caught.value)):
        assert raw not in text or raw == ""
        assert "514" not in text
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+33142685300", False),  # French landline
        ("+33612345678", True),  # French mobile
        ("+33912345678", True),  # French VoIP
        ("+33899123456", False),  # French premium rate
        ("+33810123456", False),  # French shared cost
        ("+33800123456", True),  # French toll-free
        ("+15145550123", True),  # North America: fixed line or mobile
        ("+18005550100", True),  # North American toll-free
    ],
)
def test_can_receive_sms_by_number_type(e164: str, expected: bool) -> None:
    assert can_receive_sms(e164) is expected


def test_can_receive_sms_needs_e164() -> None:
    with pytest.raises(InvalidNumber) as caught:
        can_receive_sms("5145550123")
    assert "5145550123" not in str(caught.value)
