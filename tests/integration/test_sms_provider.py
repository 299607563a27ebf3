"""TwilioProvider (the real twilio library) against the stand-in over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bench.twilio_standin import StandIn
from sms.provider import ProviderError, TwilioProvider

TO, FROM = "+15145550123", "+18005550100"


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn(callbacks=False).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def provider(standin: StandIn) -> AsyncIterator[TwilioProvider]:
    made = TwilioProvider(standin.account_sid, standin.auth_token, standin.base_url, timeout=1)
    yield made
    await made.close()


async def test_send_and_find_sent(provider: TwilioProvider, standin: StandIn) -> None:
    result = await provider.send(TO, FROM, "Rappel prévu à 14 h, ça marche ?", "https://x/cb")
    assert len(result.sid) == 34
    assert result.sid.startswith("SM")
    assert (result.status, result.segments) == ("queued", 1)
    since = datetime.now(UTC) - timedelta(minutes=1)
    body = "Rappel prévu à 14 h, ça marche ?"
    assert await provider.find_sent(TO, FROM, since, body) == [result.sid]
    assert await provider.find_sent(TO, FROM, since, "other") == []
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await provider.find_sent(TO, FROM, later, body) == []


async def test_wrong_credentials_are_permanent(standin: StandIn) -> None:
    provider = TwilioProvider(standin.account_sid, "wrong", standin.base_url)
    with pytest.raises(ProviderError) as caught:
        await provider.send(TO, FROM, "hi", "https://x/cb")
    await provider.close()
    assert (caught.value.code, caught.value.status, caught.value.retryable) == (20003, 401, False)


@pytest.mark.parametrize(
    ("number", "code"), [("+1514", 21211), ("+33142685300", 21614), ("unsubscribed", 21610)]
)
async def test_permanent_codes(
    provider: TwilioProvider, standin: StandIn, number: str, code: int
) -> None:
    if number == "unsubscribed":
        number = TO
        standin.unsubscribed.add(TO)
    with pytest.raises(ProviderError) as caught:
        await provider.send(number, FROM, "hi", "https://x/cb")
    assert (caught.value.code, caught.value.retryable) == (code, False)
    assert number not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_throttled_failing_and_hanging_are_retryable(
    provider: TwilioProvider, standin: StandIn
) -> None:
    standin.fail_next(1, 429)
    standin.fail_next(1, 503)
    standin.hang_next(1, 2)
    outcomes = []
    for _ in range(3):
        with pytest.raises(ProviderError) as caught:
            await provider.send(TO, FROM, "hi", "https://x/cb")
        outcomes.append((caught.value.status, caught.value.retryable, caught.value.reason))
    assert outcomes == [(429, True, "http-429"), (503, True, "http-503"), (None, True, "timeout")]
    assert (await provider.send(TO, FROM, "hi", "https://x/cb")).status == "queued"
