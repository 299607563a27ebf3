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

A monthly gift of N instalments: Checkout cannot end a subscription, so once the session is
paid the subscription it made (``subscription`` on the session) is given ``cancel_at`` N
calendar months after its ``billing_cycle_anchor`` (``POST /v1/subscriptions/{id}``, no
proration): the N-th period's end, so N invoices are paid and no more. A paid monthly gift
cancelled afterwards stops its subscription (``DELETE /v1/subscriptions/{id}``; Stripe takes
no idempotency key on a DELETE and refuses to cancel a canceled subscription, so one found
canceled, before or after the attempt, is left as it is).
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import stripe

from core.api import ApiError
from pledges.rules import Frequency, Status

logger = logging.getLogger(__name__)

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

    async def create_link(self, request: LinkRequest) -> PaymentLink:
        """A Checkout Session for the pledge (Stripe answers a retry with the same one)."""
        price: dict[str, Any] = {
            "currency": request.currency.lower(),
            "unit_amount": request.amount,
            "product_data": {"name": request.campaign_title},
        }
        monthly = request.frequency is Frequency.MONTHLY
        if monthly:
            price["recurring"] = {"interval": "month"}
        params: dict[str, Any] = {
            "mode": "subscription" if monthly else "payment",
            "line_items": [{"price_data": price, "quantity": 1}],
            "success_url": self._success_url,
            "client_reference_id": request.pledge_id,
            "metadata": {"pledge_id": request.pledge_id},
            "locale": request.language if request.language in ("en", "fr") else "auto",
        }
        if monthly:
            params["subscription_data"] = {"metadata": {"pledge_id": request.pledge_id}}
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": f"pledge-link-{request.pledge_id}"},
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
        """Set the subscription's ``cancel_at`` to its anchor plus ``instalments`` months."""
        subscriptions = self._client.v1.subscriptions
        try:
            subscription = await subscriptions.retrieve_async(subscription_ref)
            cancel_at = months_after(subscription.billing_cycle_anchor, instalments)
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
