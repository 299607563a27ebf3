"""The pledge rules, pure and typed: what a pledge form may hold for a campaign, and how a
pledge's status moves. No I/O here: the service (``pledges/service.py``) applies them.

The form has no card field (no card number is ever taken by phone); its free text (the
comment) is scrubbed by the service before storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from core.ports import Refused
from pledges.campaigns import Campaign, ReceiptRule

#: Days of the month a monthly gift may be taken on (every month has them).
DAYS: Final = range(1, 29)
#: Most instalments a monthly gift may have (None: until the donor stops it).
MAX_INSTALMENTS: Final = 120
NAME_MAX: Final = 120
ADDRESS_MAX: Final = 400
ALIAS_MAX: Final = 40
COMMENT_MAX: Final = 2000
EMAIL_MAX: Final = 254


class Frequency(StrEnum):
    """One gift, or one a month."""

    ONE_OFF = "one_off"
    MONTHLY = "monthly"


class Method(StrEnum):
    """How the donor pays: never a card number said on the phone."""

    SMS_LINK = "sms_link"
    EMAIL_LINK = "email_link"
    CHEQUE = "cheque"


class Status(StrEnum):
    """Where a pledge is: pledged -> link_sent -> paid, or failed, expired, cancelled."""

    PLEDGED = "pledged"
    LINK_SENT = "link_sent"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


#: The moves a pledge may make. A failed payment may still be paid: a payment link outlives
#: a declined card. Paid, expired and cancelled are final.
TRANSITIONS: Final = {
    Status.PLEDGED: frozenset(
        {Status.LINK_SENT, Status.PAID, Status.EXPIRED, Status.CANCELLED}
    ),  # paid: a cheque arrived
    Status.LINK_SENT: frozenset({Status.PAID, Status.FAILED, Status.EXPIRED, Status.CANCELLED}),
    Status.FAILED: frozenset({Status.PAID, Status.EXPIRED, Status.CANCELLED}),
    Status.PAID: frozenset[Status](),
    Status.EXPIRED: frozenset[Status](),
    Status.CANCELLED: frozenset[Status](),
}


class PledgeRefused(Refused):
    """A pledge form or a status move the rules refuse; ``code`` is the API's error id."""


@dataclass(frozen=True)
class DonorDetails:
    """What a donor may give for a receipt or an e-mailed link (stored encrypted)."""

    name: str = ""
    address: str = ""
    email: str = ""


@dataclass(frozen=True)
class PledgeForm:
    """A pledge as the operator's form submits it; ``amount`` in the campaign's minor units."""

    amount: int
    frequency: Frequency = Frequency.ONE_OFF
    #: Monthly gifts: the day of the month, and the number of instalments (None: open-ended).
    day_of_month: int | None = None
    instalments: int | None = None
    method: Method = Method.SMS_LINK
    receipt: bool = False
    donor: DonorDetails = DonorDetails()
    #: The donor agrees that their name and address be kept for their next call.
    keep_details: bool = False
    consent_sms: bool = False
    #: The donor agrees to be thanked on air, by ``alias``.
    on_air: bool = False
    alias: str = ""
    comment: str = ""


def check_form(form: PledgeForm, campaign: Campaign) -> PledgeForm:
    """The form with its text fields trimmed, or PledgeRefused naming the first problem."""
    if not campaign.minimum <= form.amount <= campaign.maximum:
        raise PledgeRefused(
            "amount-out-of-range",
            f"amount must be from {campaign.minimum} to {campaign.maximum} "
            f"(minor units of {campaign.currency})",
        )
    _check_frequency(form, campaign)
    donor = DonorDetails(
        form.donor.name.strip(), form.donor.address.strip(), form.donor.email.strip()
    )
    _check_lengths(donor, form)
    if form.receipt and campaign.receipt is ReceiptRule.NONE:
        raise PledgeRefused("receipt-unavailable", "this campaign issues no tax receipts")
    if form.receipt and not (donor.name and donor.address):
        raise PledgeRefused("receipt-needs-name-and-address", "a tax receipt needs both")
    if form.method is Method.EMAIL_LINK and "@" not in donor.email:
        raise PledgeRefused("email-required", "an e-mailed link needs an e-mail address")
    if form.method is Method.SMS_LINK and not form.consent_sms:
        raise PledgeRefused("sms-consent-required", "an SMS link needs the donor's consent")
    alias = form.alias.strip()
    if form.on_air and not alias:
        raise PledgeRefused("alias-required", "being named on air needs an alias")
    return PledgeForm(
        amount=form.amount,
        frequency=form.frequency,
        day_of_month=form.day_of_month,
        instalments=form.instalments,
        method=form.method,
        receipt=form.receipt,
        donor=donor,
        keep_details=form.keep_details,
        consent_sms=form.consent_sms,
        on_air=form.on_air,
        alias=alias if form.on_air else "",
        comment=form.comment.strip(),
    )


def _check_frequency(form: PledgeForm, campaign: Campaign) -> None:
    if form.frequency is Frequency.ONE_OFF:
        if not campaign.one_off:
            raise PledgeRefused("frequency-unavailable", "this campaign takes monthly gifts only")
        if form.day_of_month is not None or form.instalments is not None:
            raise PledgeRefused("not-monthly", "day_of_month and instalments are for monthly")
        return
    if not campaign.monthly:
        raise PledgeRefused("frequency-unavailable", "this campaign takes one-off gifts only")
    if form.day_of_month not in DAYS:
        raise PledgeRefused("day-out-of-range", f"day_of_month must be from 1 to {DAYS[-1]}")
    if form.instalments is not None and not 1 <= form.instalments <= MAX_INSTALMENTS:
        raise PledgeRefused(
            "instalments-out-of-range", f"instalments must be from 1 to {MAX_INSTALMENTS}"
        )


def _check_lengths(donor: DonorDetails, form: PledgeForm) -> None:
    for field, value, most in (
        ("name", donor.name, NAME_MAX),
        ("address", donor.address, ADDRESS_MAX),
        ("email", donor.email, EMAIL_MAX),
        ("alias", form.alias.strip(), ALIAS_MAX),
        ("comment", form.comment.strip(), COMMENT_MAX),
    ):
        if len(value) > most:
            raise PledgeRefused(f"{field}-too-long", f"{field} holds {most} characters at most")


def advance(current: Status, target: Status) -> Status:
    """The status after moving ``current`` to ``target``: the same status again is a replay
    and changes nothing; a move the machine lacks is PledgeRefused ``pledge-<current>``
    (``pledge-cancelled``, ``pledge-link-sent``...)."""
    if target is current or target in TRANSITIONS[current]:
        return target
    code = "pledge-" + current.value.replace("_", "-")
    raise PledgeRefused(code, f"a {current.value} pledge cannot become {target.value}")


def cancelled_from(status: Status, frequency: Frequency) -> Status:
    """The status a cancel gives: cancelled, also for a paid monthly gift (its recurring
    payment is then stopped); PledgeRefused ``pledge-<status>`` for any other final one."""
    if status is Status.PAID and frequency is Frequency.MONTHLY:
        return Status.CANCELLED
    return advance(status, Status.CANCELLED)


def is_final(status: Status) -> bool:
    """Whether nothing can happen to a pledge any more."""
    return not TRANSITIONS[status]


def reminder_due(
    status: Status, reminders_sent: int, texted_at: float | None, campaign: Campaign, now: float
) -> bool:
    """Whether an unpaid link gets its next reminder at ``now``: its link went out (or failed
    to be paid) at least ``reminder_every_s`` ago, and reminders are left."""
    return (
        status in (Status.LINK_SENT, Status.FAILED)
        and reminders_sent < campaign.reminders
        and texted_at is not None
        and now >= texted_at + campaign.reminder_every_s
    )
