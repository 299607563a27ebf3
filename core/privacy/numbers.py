"""Phone numbers: E.164 normalisation and whether a number can receive text messages."""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

#: Number types a text message cannot reach: landlines, numbers billed or shared per call
#: (premium rate, shared cost, universal access) and voicemail access numbers.
_NO_SMS = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
        PhoneNumberType.UAN,
        PhoneNumberType.VOICEMAIL,
    }
)


class InvalidNumber(ValueError):
    """Not a valid phone number. The message never repeats the input (it may be a number)."""


def normalize(raw: str, default_region: str) -> str:
    """``raw`` in E.164 (``+15145550123``); national formats are read as ``default_region``'s."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber("not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber("not a valid phone number")
    return str(phonenumbers.format_number(parsed, PhoneNumberFormat.E164))


def can_receive_sms(e164: str) -> bool:
    """Whether a text to ``e164`` can be delivered, judged from the number's type alone.

    False for fixed lines, premium-rate, shared-cost, universal-access (UAN) and voicemail
    numbers. True for mobile, VoIP and personal numbers, for FIXED_LINE_OR_MOBILE (North
    American numbers cannot be told apart), TOLL_FREE (some carriers text-enable them), pagers
    and UNKNOWN: a text that may not arrive beats none, and the SMS gateway reports failures.
    """
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        raise InvalidNumber("not an E.164 number") from None
    return phonenumbers.number_type(parsed) not in _NO_SMS
