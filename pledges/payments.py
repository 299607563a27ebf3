"""Payment links and the provider's signed webhooks, behind a small interface that leaves room
for a second provider.

Stripe (its ``stripe`` package, asynchronous over aiohttp): a pledge's link is a Checkout
Session (``POST /v1/checkout/sessions``; one-off gifts in ``payment`` mode, monthly ones in
``subscription`` mode with a monthly price), created with the pledge's id as Stripe's
``Idempotency-Key`` (a retry gets the same session, never a second one) and as
``client_reference_id`` and ``metadata[pledge_id]``. Its webhooks are checked by
``stripe.Webhook.construct_event`` (the ``Stripe-Signature`` header, ``t=...,v1=...``, and a
timestamp tolerance); ``checkout.session.completed`` with ``payment_status`` paid,
``checkout.session.async_payment_succeeded``, ``...async_payment_failed`` and
``checkout.session.expired`` move a pledge; other events are acknowledged and ignored. The API's
base URL is configurable (the tests point it at ``bench.stripe_standin``).

A monthly gift's first instalment is taken at checkout (the telethon's night counts it) and
the following ones on the donor's chosen day of the month (UTC). The session holds the
recurring monthly price and a one-time price of the same amount (Checkout puts one-time prices
on the subscription's first invoice only), with ``subscription_data[billing_cycle_anchor]``
at noon UTC on the chosen day and ``proration_behavior`` none (the days until the anchor are
not billed). ``first_anchor`` picks the day: the first one dated at least two days after the
link is made (neither today nor tomorrow, so the donor is not charged twice within a day or so,
and the link, which Checkout keeps 24 hours, cannot be paid after its anchor, when Checkout
would bill a full period on top); today's day is then next month's (at midnight UTC if noon is
past Stripe's limit). Stripe refuses an anchor past the next natural billing date (a month
after the session), so when the chosen day is tomorrow the month after is too far: the session
has no anchor and no one-time price, and the subscription bills its first instalment at
checkout and the next ones on the day of payment, a day before the chosen day (or on it, if
the donor pays tomorrow). The anchor depends on when the link is made, so it is part of the
idempotency key (a retry across a day boundary makes a second session, never a refused one).

A monthly gift of N instalments: Checkout cannot end a subscription, so once the session is
paid the subscription it made (``subscription`` on the session) is given ``cancel_at`` at the
end of its N-th paid period (``POST /v1/subscriptions/{id}``, no proration): N calendar months
after its ``billing_cycle_anchor``, or N - 1 when the anchor is later than its start (the first
instalment was the one-time price), so N invoices are paid and no more. A paid monthly gift
cancelled afterwards stops its subscription (``DELETE /v1/subscriptions/{id}``; Stripe takes
no idempotency key on a DELETE and refuses to cancel a canceled subscription, so one found
canceled, before or after the attempt, is left as it is). A pledge cancelled before it is paid
has its open session expired (``POST /v1/checkout/sessions/{id}/expire``), so the donor can no
longer pay it; one paid meanwhile is left to its webhook.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Protocol

import stripe

from core.api import ApiError
from pledges.rules import Frequency, Status

logger = logging.getLogger(__name__)
#: The hour (UTC) of a monthly gift's billing anchor: noon is the same calendar day from
#: UTC-11 to UTC+11.
ANCHOR_HOUR: Final = 12
#: Days from the link to the earliest anchor: not today, not tomorrow.
ANCHOR_LEAD_DAYS: Final = 2
#: Seconds an anchor keeps clear of Stripe's limit, which its own clock measures.
ANCHOR_MARGIN_S: Final = 3600

#: Stripe event types and the status each gives a pledge.
_MOVES = {
    "checkout.session.completed": Status.PAID,  # if its payment_status is "paid"
    "checkout.session.async_payment_succeeded": Status.PAID,
    "checkout.session.async_payment_failed": Status.FAILED,
    "checkout.session.expired": Status.EXPIRED,
}


@dataclass(frozen=True)
class LinkRequest:
    """What a payment link is made for: amounts in minor units."""

    pledge_id: str
    campaign_title: str
    amount: int
    currency: str
    frequency: Frequency
    language: str
    #: A monthly gift's day of the month for the instalments after the first.
    day_of_month: int | None = None


@dataclass(frozen=True)
class PaymentLink:
    """A link made by the provider, and its reference there."""

    provider_ref: str
    url: str


@dataclass(frozen=True)
class PaymentEvent:
    """A verified webhook about a pledge: None ``status`` means nothing to do."""

    event_id: str
    pledge_id: str
    provider_ref: str
    status: Status | None
    #: The provider's recurring payment the event made ("" for one-off gifts).
    subscription_ref: str = ""


class PaymentProvider(Protocol):
    """Makes payment links and reads the provider's webhooks."""

    async def create_link(self, request: LinkRequest) -> PaymentLink:
        """The link for ``request.pledge_id``; the same link again for the same pledge."""

    def read_webhook(self, payload: bytes, signature: str | None) -> PaymentEvent:
        """The verified event; ApiError 400 unsigned-webhook, bad-signature, stale-webhook or
        bad-webhook otherwise."""

    async def end_after(self, subscription_ref: str, instalments: int, pledge_id: str) -> None:
        """Have the recurring payment end after ``instalments`` payments (the same again
        changes nothing)."""

    async def stop(self, provider_ref: str, pledge_id: str) -> None:
        """Stop the recurring payment the paid link ``provider_ref`` started, if any (one
        already stopped is left as it is)."""

    async def close_link(self, provider_ref: str, pledge_id: str) -> None:
        """Make the link ``provider_ref`` unpayable if it is still open (one paid or expired
        is left as it is)."""

    async def close(self) -> None:
        """Release the HTTP connections."""


class StripeCheckout:
    """Payment links as Stripe Checkout Sessions."""

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        base_url: str,
        success_url: str,
        tolerance_s: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = stripe.AIOHTTPClient(timeout=10)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": base_url},
            http_client=self._http,
            max_network_retries=2,
        )
        self._secret, self._success_url, self._tolerance_s = (
            webhook_secret,
            success_url,
            tolerance_s,
        )
        self._clock = clock

    async def create_link(self, request: LinkRequest) -> PaymentLink:
        """A Checkout Session for the pledge (Stripe answers a retry with the same one); a
        monthly gift's first instalment at checkout, the next ones on its day."""
        price: dict[str, Any] = {
            "currency": request.currency.lower(),
            "unit_amount": request.amount,
            "product_data": {"name": request.campaign_title},
        }
        monthly = request.frequency is Frequency.MONTHLY
        one_time = {"price_data": price, "quantity": 1}
        params: dict[str, Any] = {
            "mode": "subscription" if monthly else "payment",
            "line_items": [one_time],
            "success_url": self._success_url,
            "client_reference_id": request.pledge_id,
            "metadata": {"pledge_id": request.pledge_id},
            "locale": request.language if request.language in ("en", "fr") else "auto",
        }
        key = f"pledge-link-{request.pledge_id}"
        if monthly:
            recurring = {"price_data": {**price, "recurring": {"interval": "month"}}, "quantity": 1}
            subscription: dict[str, Any] = {"metadata": {"pledge_id": request.pledge_id}}
            day = request.day_of_month
            anchor = first_anchor(self._clock(), day) if day is not None else None
            if anchor is None:  # the recurring price's first invoice is the first instalment
                params["line_items"] = [recurring]
            else:
                params["line_items"] = [recurring, one_time]
                subscription |= {"billing_cycle_anchor": anchor, "proration_behavior": "none"}
                key = f"{key}-{anchor}"
            params["subscription_data"] = subscription
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            logger.warning("pledge %s: Stripe refused a link: %s", request.pledge_id, exc)
            raise ApiError(502, "payment-provider-error", type(exc).__name__) from None
        if not session.url:
            raise ApiError(502, "payment-provider-error", "the session has no url")
        return PaymentLink(session.id, session.url)

    def read_webhook(self, payload: bytes, signature: str | None) -> PaymentEvent:
        """The verified Stripe event, checked by the ``stripe`` library."""
        if not signature:
            raise ApiError(400, "unsigned-webhook", "the Stripe-Signature header is missing")
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, self._secret, tolerance=self._tolerance_s
            )
        except stripe.SignatureVerificationError as exc:
            if "tolerance" in str(exc):
                raise ApiError(400, "stale-webhook", "its timestamp is too old") from None
            raise ApiError(400, "bad-signature", "the signature does not match") from None
        except ValueError:
            raise ApiError(400, "bad-webhook", "the payload is not an event") from None
        session: dict[str, Any] = event.data.object.to_dict()
        move = _MOVES.get(event.type)
        if event.type == "checkout.session.completed" and session.get("payment_status") not in (
            "paid",
            "no_payment_required",
        ):
            move = None  # a delayed method: async_payment_succeeded or _failed follows
        pledge_id = (session.get("metadata") or {}).get("pledge_id") or session.get(
            "client_reference_id"
        )
        if move is not None and not pledge_id:
            raise ApiError(400, "bad-webhook", "the session names no pledge")
        return PaymentEvent(
            event.id,
            str(pledge_id or ""),
            str(session.get("id", "")),
            move,
            subscription_ref=str(session.get("subscription") or ""),
        )

    async def end_after(self, subscription_ref: str, instalments: int, pledge_id: str) -> None:
        """Set the subscription's ``cancel_at`` to its anchor plus the months of the
        ``instalments`` it bills (all but the first when that was taken at checkout, before
        the anchor)."""
        subscriptions = self._client.v1.subscriptions
        try:
            subscription = await subscriptions.retrieve_async(subscription_ref)
            anchor = subscription.billing_cycle_anchor
            on_anchor = instalments - 1 if anchor > subscription.start_date else instalments
            cancel_at = months_after(anchor, on_anchor)
            if subscription.cancel_at == cancel_at:
                return
            await subscriptions.update_async(
                subscription_ref,
                {"cancel_at": cancel_at, "proration_behavior": "none"},
                options={"idempotency_key": f"pledge-end-{pledge_id}-{cancel_at}"},
            )
        except stripe.StripeError as exc:
            logger.warning("pledge %s: Stripe refused its end date: %s", pledge_id, exc)
            raise ApiError(502, "payment-provider-error", type(exc).__name__) from None
        logger.info(
            "pledge %s: %s ends after %s payments", pledge_id, subscription_ref, instalments
        )

    async def stop(self, provider_ref: str, pledge_id: str) -> None:
        """Cancel now the subscription the Checkout Session ``provider_ref`` made, unless it
        made none or it is canceled already."""
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(provider_ref)
            subscription_ref = session.subscription
            if subscription_ref is None:
                return
            if not isinstance(subscription_ref, str):
                subscription_ref = subscription_ref.id
            subscriptions = self._client.v1.subscriptions
            if (await subscriptions.retrieve_async(subscription_ref)).status == "canceled":
                return
            try:
                await subscriptions.cancel_async(subscription_ref)
            except stripe.InvalidRequestError:  # a concurrent cancel got there first?
                if (await subscriptions.retrieve_async(subscription_ref)).status != "canceled":
                    raise
        except stripe.StripeError as exc:
            logger.warning("pledge %s: Stripe refused to stop it: %s", pledge_id, exc)
            raise ApiError(502, "payment-provider-error", type(exc).__name__) from None
        logger.info("pledge %s: %s stopped", pledge_id, subscription_ref)

    async def close_link(self, provider_ref: str, pledge_id: str) -> None:
        """Expire the Checkout Session ``provider_ref`` while it is open (Stripe refuses to
        expire one complete or expired: found so, before or after the attempt, it is left)."""
        sessions = self._client.v1.checkout.sessions
        try:
            if (await sessions.retrieve_async(provider_ref)).status != "open":
                return
            try:
                await sessions.expire_async(provider_ref)
            except stripe.InvalidRequestError:  # paid or expired meanwhile?
                if (await sessions.retrieve_async(provider_ref)).status == "open":
                    raise
                return
        except stripe.StripeError as exc:
            logger.warning("pledge %s: Stripe refused to close its link: %s", pledge_id, exc)
            raise ApiError(502, "payment-provider-error", type(exc).__name__) from None
        logger.info("pledge %s: link %s closed", pledge_id, provider_ref)

    async def close(self) -> None:
        """Close the aiohttp session the library opened."""
        await self._http.close_async()  # type: ignore[no-untyped-call]


def months_after(at: int, months: int) -> int:
    """``at`` (Unix time) ``months`` calendar months later, UTC, the day kept or clamped to
    the month's last (Jan 31 + 1 month: Feb 28 or 29), as Stripe bills monthly periods."""
    start = datetime.fromtimestamp(at, UTC)
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def first_anchor(now: float, day: int) -> int | None:
    """The billing anchor (Unix time) of a monthly gift on ``day`` whose link is made at
    ``now``: the first ``day`` of a month (its last day if it has fewer) dated
    ``ANCHOR_LEAD_DAYS`` or more after ``now``, at ``ANCHOR_HOUR`` UTC, or at midnight UTC if
    only that is before the next natural billing date (a calendar month after ``now``, the
    furthest anchor Stripe accepts, less ``ANCHOR_MARGIN_S``); None if neither is (the chosen
    day is tomorrow)."""
    earliest = datetime.fromtimestamp(now, UTC).date() + timedelta(days=ANCHOR_LEAD_DAYS)
    on = _day_in(earliest.year, earliest.month, day)
    if on < earliest:
        year, month = divmod(earliest.month, 12)  # the next month, 0-based
        on = _day_in(earliest.year + year, month + 1, day)
    limit = months_after(int(now), 1) - ANCHOR_MARGIN_S
    for hour in (ANCHOR_HOUR, 0):
        anchor = int(datetime(on.year, on.month, on.day, hour, tzinfo=UTC).timestamp())
        if anchor < limit:
            return anchor
    return None


def _day_in(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))
