"""The pledge rules: amounts within the campaign's limits, one-off and monthly gifts, a tax
receipt only with name and address, the status machine, and donor details sealed."""

import dataclasses

import pytest
from cryptography.fernet import Fernet, InvalidToken
from hypothesis import given
from hypothesis import strategies as st

from pledges.campaigns import DEMO_CAMPAIGNS, ReceiptRule, load_campaigns
from pledges.donors import DonorSeal
from pledges.rules import (
    TRANSITIONS,
    DonorDetails,
    Frequency,
    Method,
    PledgeForm,
    PledgeRefused,
    Status,
    advance,
    cancelled_from,
    check_form,
    is_final,
    reminder_due,
)

CAMPAIGN = load_campaigns(DEMO_CAMPAIGNS)["demo-telethon"]  # 5.00 to 5,000.00 EUR
FORM = PledgeForm(amount=5000, consent_sms=True)
DONOR = DonorDetails(name=" Ada Lovelace ", address="12 rue des Lilas\n75011 Paris")


def refusal(form: PledgeForm, campaign: object = CAMPAIGN) -> str:
    with pytest.raises(PledgeRefused) as refused:
        check_form(form, campaign)  # type: ignore[arg-type]
    return refused.value.code


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_an_amount_is_taken_exactly_within_the_limits(amount: int) -> None:
    form = dataclasses.replace(FORM, amount=amount)
    if CAMPAIGN.minimum <= amount <= CAMPAIGN.maximum:
        assert check_form(form, CAMPAIGN).amount == amount
    else:
        assert refusal(form) == "amount-out-of-range"


def test_every_preset_is_a_valid_amount() -> None:
    for preset in CAMPAIGN.presets:
        assert check_form(dataclasses.replace(FORM, amount=preset), CAMPAIGN).amount == preset


def test_a_monthly_gift_needs_a_day_and_sane_instalments() -> None:
    monthly = dataclasses.replace(FORM, frequency=Frequency.MONTHLY, day_of_month=5)
    assert check_form(monthly, CAMPAIGN).day_of_month == 5
    assert check_form(dataclasses.replace(monthly, instalments=12), CAMPAIGN).instalments == 12
    assert refusal(dataclasses.replace(monthly, day_of_month=None)) == "day-out-of-range"
    assert refusal(dataclasses.replace(monthly, day_of_month=29)) == "day-out-of-range"
    assert refusal(dataclasses.replace(monthly, instalments=0)) == "instalments-out-of-range"
    assert refusal(dataclasses.replace(FORM, day_of_month=5)) == "not-monthly"


def test_a_campaign_refuses_the_kind_of_gift_it_does_not_take() -> None:
    one_off_only = dataclasses.replace(CAMPAIGN, monthly=False)
    monthly = dataclasses.replace(FORM, frequency=Frequency.MONTHLY, day_of_month=1)
    assert refusal(monthly, one_off_only) == "frequency-unavailable"
    assert refusal(FORM, dataclasses.replace(CAMPAIGN, one_off=False)) == "frequency-unavailable"


def test_a_tax_receipt_needs_name_and_address() -> None:
    wanted = dataclasses.replace(FORM, receipt=True)
    assert refusal(wanted) == "receipt-needs-name-and-address"
    named_only = dataclasses.replace(wanted, donor=DonorDetails(name="Ada", address="  "))
    assert refusal(named_only) == "receipt-needs-name-and-address"
    checked = check_form(dataclasses.replace(wanted, donor=DONOR), CAMPAIGN)
    assert checked.donor.name == "Ada Lovelace"  # trimmed
    no_receipts = dataclasses.replace(CAMPAIGN, receipt=ReceiptRule.NONE)
    assert refusal(dataclasses.replace(wanted, donor=DONOR), no_receipts) == "receipt-unavailable"


def test_payment_methods_need_what_they_use() -> None:
    assert refusal(dataclasses.replace(FORM, consent_sms=False)) == "sms-consent-required"
    by_email = dataclasses.replace(FORM, method=Method.EMAIL_LINK, consent_sms=False)
    assert refusal(by_email) == "email-required"
    with_email = dataclasses.replace(by_email, donor=DonorDetails(email="ada@example.org"))
    assert check_form(with_email, CAMPAIGN).method is Method.EMAIL_LINK
    cheque = dataclasses.replace(FORM, method=Method.CHEQUE, consent_sms=False)
    assert check_form(cheque, CAMPAIGN).method is Method.CHEQUE


def test_on_air_needs_an_alias_and_an_alias_needs_on_air() -> None:
    assert refusal(dataclasses.replace(FORM, on_air=True, alias=" ")) == "alias-required"
    assert check_form(dataclasses.replace(FORM, on_air=True, alias=" Ada "), CAMPAIGN).alias == (
        "Ada"
    )
    assert check_form(dataclasses.replace(FORM, alias="Ada"), CAMPAIGN).alias == ""


def test_long_text_is_refused_by_field() -> None:
    assert refusal(dataclasses.replace(FORM, comment="x" * 2001)) == "comment-too-long"
    long_name = DonorDetails(name="x" * 121)
    assert refusal(dataclasses.replace(FORM, donor=long_name)) == "name-too-long"


@given(st.lists(st.sampled_from(list(Status)), max_size=12))
def test_a_pledge_moves_only_along_the_machine(targets: list[Status]) -> None:
    status = Status.PLEDGED
    for target in targets:
        if target is status or target in TRANSITIONS[status]:
            status = advance(status, target)
            assert status is target
        else:
            code = "pledge-" + status.value.replace("_", "-")
            with pytest.raises(PledgeRefused, match=code):
                advance(status, target)
    assert is_final(status) == (status in (Status.PAID, Status.EXPIRED, Status.CANCELLED))


def test_named_moves() -> None:
    assert advance(Status.LINK_SENT, Status.PAID) is Status.PAID
    assert advance(Status.PAID, Status.PAID) is Status.PAID  # a replayed webhook
    assert advance(Status.FAILED, Status.PAID) is Status.PAID  # paid on a second try
    with pytest.raises(PledgeRefused, match="pledge-cancelled"):
        advance(Status.CANCELLED, Status.PAID)
    with pytest.raises(PledgeRefused, match="pledge-paid"):
        advance(Status.PAID, Status.FAILED)
    assert not is_final(Status.FAILED)


def test_donor_details_are_sealed_with_the_vault_keys() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = DonorSeal([old]).seal(DONOR)
    assert "Lovelace" not in token
    assert DonorSeal([new, old]).open(token) == DONOR  # after a key rotation
    assert DonorSeal([new]).seal(DonorDetails()) == ""
    assert DonorSeal([new]).open("") == DonorDetails()
    with pytest.raises(InvalidToken):
        DonorSeal([new]).open(token)


def test_a_reminder_is_due_a_while_after_an_unpaid_link_while_some_are_left() -> None:
    every = CAMPAIGN.reminder_every_s
    assert reminder_due(Status.LINK_SENT, 0, 100.0, CAMPAIGN, 100 + every)
    assert reminder_due(Status.FAILED, 1, 100.0, CAMPAIGN, 100 + every)
    assert not reminder_due(Status.LINK_SENT, 0, 100.0, CAMPAIGN, 99 + every)
    assert not reminder_due(Status.LINK_SENT, CAMPAIGN.reminders, 100.0, CAMPAIGN, 1e12)
    for status in (Status.PLEDGED, Status.PAID, Status.CANCELLED, Status.EXPIRED):
        assert not reminder_due(status, 0, 100.0, CAMPAIGN, 1e12)
    assert not reminder_due(Status.LINK_SENT, 0, None, CAMPAIGN, 1e12)


def test_a_cancel_ends_an_unpaid_pledge_or_a_paid_monthly_gift_only() -> None:
    assert cancelled_from(Status.LINK_SENT, Frequency.ONE_OFF) is Status.CANCELLED
    assert cancelled_from(Status.PAID, Frequency.MONTHLY) is Status.CANCELLED
    assert cancelled_from(Status.CANCELLED, Frequency.MONTHLY) is Status.CANCELLED
    for status in (Status.EXPIRED, Status.PAID):
        with pytest.raises(PledgeRefused, match="pledge-"):
            cancelled_from(status, Frequency.ONE_OFF)
