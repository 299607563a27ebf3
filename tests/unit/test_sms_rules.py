"""Pure SMS rules: opt-out keywords, the state machine, retry backoff, error mapping, number
checks."""

from __future__ import annotations

import random

import pytest
from twilio.base.exceptions import TwilioRestException

from core.config import ConfigError, load_settings
from sms.optout import Keyword, keyword
from sms.outbox import backoff_intervals
from sms.provider import ProviderError
from sms.recipients import INVALID, NOT_MOBILE, number_refusal
from sms.state import MessageState, sources


@pytest.mark.parametrize(
    "body", ["STOP", "stop", " Stop ", "ARRÊT", "arret", "Arrêt!", "unsubscribe", "STOPALL",
             "cancel", "End", "quit."],
)  # fmt: skip
def test_stop_words(body: str) -> None:
    assert keyword(body) is Keyword.STOP


@pytest.mark.parametrize("body", ["START", "unstop", "Yes"])
def test_start_words(body: str) -> None:
    assert keyword(body) is Keyword.START


@pytest.mark.parametrize("body", ["please stop calling me", "stopp", "", "non"])
def test_not_a_keyword(body: str) -> None:
    assert keyword(body) is None


def test_states() -> None:
    S = MessageState
    assert sources(S.SENDING) == {S.QUEUED, S.SENDING}
    assert sources(S.SENT) == {S.SENDING}
    assert all(s.is_final for s in (S.DELIVERED, S.UNDELIVERED, S.FAILED))
    assert S.DELIVERED not in sources(S.SENT)


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    intervals = backoff_intervals(6, 2, 20, random.Random(1))
    steps = [2, 4, 8, 16, 20, 20]
    assert all(step / 2 <= got <= step for got, step in zip(intervals, steps, strict=True))
    assert len(set(backoff_intervals(4, 10, 300))) > 1
    assert backoff_intervals(3, 0, 10) == [0, 0, 0]


@pytest.mark.parametrize(
    ("status", "code", "retryable", "maybe_sent"),
    [(429, 20429, True, False), (500, None, True, True), (503, 20500, True, True),
     (400, 21211, False, False), (400, 21610, False, False), (400, 21614, False, False),
     (400, 30003, False, False), (401, 20003, False, False), (404, 20404, False, False)],
)  # fmt: skip
def test_provider_error_mapping(
    status: int, code: int | None, retryable: bool, maybe_sent: bool
) -> None:
    exc = TwilioRestException(status, "https://api", "The 'To' number +15145550123 is bad", code)
    error = ProviderError.from_twilio(exc)
    assert (error.code, error.status, error.retryable) == (code, status, retryable)
    assert error.may_have_been_sent is maybe_sent
    assert "5145550123" not in str(error)


def test_number_refusals() -> None:
    assert number_refusal("+33142685300") is NOT_MOBILE
    assert number_refusal("+1514") is INVALID
    assert number_refusal("not a number") is INVALID
    assert number_refusal("+33612345678") is None
    assert number_refusal("+15145550123") is None


def test_sms_settings() -> None:
    settings = load_settings(None, env={"HOTLINE_SMS_SENDER_TYPE": "long_code"})
    assert settings.sms.rate_limit == (1.0, 1)
    with pytest.raises(ConfigError, match="sender_type"):
        load_settings(None, env={"HOTLINE_SMS_SENDER_TYPE": "pigeon"})
    secrets = load_settings(None, env={"HOTLINE_TWILIO_AUTH_TOKEN": "s3cret"}).secrets
    assert secrets.twilio_auth_token == "s3cret"
    assert "s3cret" not in repr(secrets)
