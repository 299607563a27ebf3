"""The pledge form an operator fills during a telethon call: the desk the console saves it
through, and the pure reading of the posted form into the pledges API's body.

The telethon side serves the desk (wired in ``hotline``) with the API's own rules (the
payment link too, made and texted once whatever is asked again): refusals
arrive as ``core.api.ApiError`` with their ids (amount-out-of-range,
receipt-needs-name-and-address, pledge-closed...), each with a message for the operator here.
The form has no card field; its comment is scrubbed by the telethon side before storage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from console.i18n import N_
from core.api import ApiError

#: An amount in major units: up to 9 digits, and cents after a point or a comma.
_AMOUNT: Final = re.compile(r"([0-9]{1,9})(?:[.,]([0-9]{1,2}))?")
#: Form fields read as checkboxes (present: true).
FLAGS: Final = ("receipt", "keep_details", "consent_sms", "on_air")
#: What the operator reads for each refusal (the id is shown beside it).
MESSAGES: Final = {
    "bad-amount": N_("Write the amount as a number, such as 50 or 12.50."),
    "amount-out-of-range": N_("The amount is outside this campaign's limits."),
    "bad-number": N_("The day and the number of instalments are whole numbers."),
    "day-out-of-range": N_("A monthly gift needs a day of the month from 1 to 28."),
    "instalments-out-of-range": N_("The number of instalments is from 1 to 120."),
    "receipt-needs-name-and-address": N_(
        "A tax receipt needs the donor's name and postal address."
    ),
    "receipt-unavailable": N_("This campaign issues no tax receipts."),
    "email-required": N_("An e-mailed link needs the donor's e-mail address."),
    "sms-consent-required": N_("An SMS link needs the donor's consent to SMS."),
    "alias-required": N_("Being named on air needs an alias."),
    "pledge-closed": N_("The wrap-up time of this call is over: the pledge is closed."),
    "not-your-call": N_("This call is not yours."),
    "not-your-pledge": N_("This pledge is not yours."),
    "not-an-sms-pledge": N_("Only a pledge paid by an SMS link gets a link by SMS."),
    "no-caller-number": N_("The caller's number cannot be reached: no SMS can be sent."),
    "payment-provider-error": N_("The payment provider did not answer: try again."),
}
#: The message of a refusal without one of its own.
REFUSED: Final = N_("The pledge was refused.")


@dataclass(frozen=True)
class SavedPledge:
    """A pledge as stored (the pledges API's view) and whether this submission created it."""

    pledge: Mapping[str, object]
    created: bool


class PledgeDesk(Protocol):
    """Pledges of telethon calls, by the operator who took the call."""

    def queues(self) -> frozenset[str]:
        """The queues whose calls are campaign calls (their operators get the form)."""

    async def form(self, call_id: str, agent_id: str) -> Mapping[str, object]:
        """The form the operator's call opens with (the API's ``pledge-form``): campaign,
        presets and limits in minor units, pseudonym, language, a returning donor's earlier
        pledges and, if they agreed, their details."""

    async def save(
        self, call_id: str, agent_id: str, client_key: str, body: Mapping[str, object]
    ) -> SavedPledge:
        """Store the pledge once per ``client_key``; ``body`` as the API's."""

    async def correct(
        self, pledge_id: str, agent_id: str, body: Mapping[str, object]
    ) -> Mapping[str, object]:
        """Replace the operator's pledge while its call's wrap-up is open."""

    async def send_link(self, pledge_id: str, agent_id: str) -> Mapping[str, object]:
        """Make the operator's pledge's payment link and text it to the caller, once."""


def minor_units(text: str) -> int:
    """An amount written in the currency's major unit ("50", "12.50", "12,50", "1 000") in
    minor units; 400 bad-amount for anything else."""
    found = _AMOUNT.fullmatch(text.replace(" ", ""))
    if found is None:
        raise ApiError(400, "bad-amount", "an amount such as 50 or 12.50")
    units, cents = found.group(1), found.group(2) or ""
    return int(units) * 100 + int(cents.ljust(2, "0"))


def _whole(form: Mapping[str, str], key: str) -> int | None:
    text = form.get(key, "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 4:
        raise ApiError(400, "bad-number", f"{key} must be a whole number")
    return int(text)


def pledge_body(form: Mapping[str, str]) -> dict[str, object]:
    """The pledges API's body for the posted form (its amount in major units, checkboxes
    present or not); the day and instalments count only for a monthly gift."""
    frequency = form.get("frequency", "one_off")
    monthly = frequency == "monthly"
    return {
        "amount": minor_units(form.get("amount", "")),
        "frequency": frequency,
        "day_of_month": _whole(form, "day_of_month") if monthly else None,
        "instalments": _whole(form, "instalments") if monthly else None,
        "method": form.get("method", "sms_link"),
        "donor": {key: form.get(key, "") for key in ("name", "address", "email")},
        **{flag: flag in form for flag in FLAGS},
        "alias": form.get("alias", ""),
        "comment": form.get("comment", ""),
    }
