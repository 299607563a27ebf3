"""Recipients: opaque refs instead of numbers, keyed hashes, and who cannot receive an SMS.

Message records hold a recipient *ref*, never a number. ``StoreNumber`` turns a number into a
ref when a message is queued and ``ResolveNumber`` turns it back when it is sent; the number
vault provides both (:func:`store_in` and ``Vault.reveal_for_delivery``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import phonenumbers
from phonenumbers import PhoneNumberType

from core.privacy import Vault

#: (number, language) -> ref
StoreNumber = Callable[[str, str], Awaitable[str]]
#: ref -> number
ResolveNumber = Callable[[str], Awaitable[str]]

#: Number types that cannot receive an SMS.
NO_SMS_TYPES = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
        PhoneNumberType.UAN,
        PhoneNumberType.VOICEMAIL,
    }
)


@dataclass(frozen=True)
class Refusal:
    """Why a message is not sent: a Twilio-like code and a short reason id."""

    code: int
    reason: str


INVALID = Refusal(21211, "invalid-number")
NOT_MOBILE = Refusal(21614, "not-mobile")
OPTED_OUT = Refusal(21610, "opted-out")
#: The recipient's vault entry is gone (purged after the retention period).
GONE = Refusal(0, "recipient-gone")


def sender_key(number: str, key: bytes) -> str:
    """The full keyed hash that stands for ``number`` in Redis keys (opt-outs, conversations)."""
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def number_refusal(number: str) -> Refusal | None:
    """INVALID or NOT_MOBILE if ``number`` (E.164) cannot receive an SMS, else None."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return INVALID
    if not phonenumbers.is_valid_number(parsed):
        return INVALID
    if phonenumbers.number_type(parsed) in NO_SMS_TYPES:
        return NOT_MOBILE
    return None


def store_in(vault: Vault) -> StoreNumber:
    """A ``StoreNumber`` keeping numbers in ``vault`` (a number seen again is seen now)."""

    async def store(number: str, language: str) -> str:
        return (await vault.store(number, language, now=datetime.now(UTC))).ref

    return store
