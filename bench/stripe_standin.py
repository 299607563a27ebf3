"""A local stand-in for Stripe's Checkout Sessions API and its signed webhooks, over real HTTP.

It follows Stripe's documented shapes: ``POST /v1/checkout/sessions`` (form-encoded, nested keys
such as ``line_items[0][price_data][unit_amount]``; ``Authorization: Bearer sk_...``), the
``Idempotency-Key`` header (the same key answers the first session again, with
``Idempotent-Replayed: true``; the same key with other parameters is a 400
``idempotency_error``), ``GET /v1/checkout/sessions/{id}``,
``POST /v1/checkout/sessions/{id}/expire`` (an ``open`` session only: its ``status`` becomes
expired and it can no longer be paid; else a 400 ``invalid_request_error``), error bodies
``{"error": {"type", "message"}}``, and events (``{"id": "evt_...", "object": "event",
"type", "data": {"object": session}}``) signed like Stripe signs them: ``Stripe-Signature:
t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed by the endpoint's secret>``. Tests
read every session and make signed events to post to the app's webhook.

Line items are inline ``price_data``: a ``payment`` session takes one-time prices only, a
``subscription`` one at least one recurring price and, beside it, one-time prices that go on
the subscription's first invoice only. ``subscription_data[billing_cycle_anchor]`` must be in
the future and before the next natural billing date (a calendar month after the session is
made), and ``subscription_data[proration_behavior]`` is ``create_prorations`` (the default:
the days until the anchor are billed pro rata at checkout) or ``none`` (they are free); the
session's ``amount_total`` is what checkout takes. ``subscription_data`` in ``payment`` mode is
refused, as Stripe refuses it.

A ``subscription`` mode session makes its subscription when it completes (the
``checkout.session.completed`` event names it in ``subscription``; its ``metadata`` is the
session's ``subscription_data[metadata]``; its ``start_date`` is the payment and its
``billing_cycle_anchor`` the session's, or the payment without one; a payment after the
anchor is billed a full period from the anchor, as Checkout does), read by
``GET /v1/subscriptions/{id}`` and changed
by ``POST /v1/subscriptions/{id}`` (``cancel_at``, ``proration_behavior``; ``Idempotency-Key``
as for sessions) and cancelled by ``DELETE /v1/subscriptions/{id}`` (``status`` canceled,
``canceled_at`` and ``ended_at`` now; a canceled one again is a 400 ``invalid_request_error``;
Stripe ignores idempotency keys on a DELETE, and so does the stand-in). ``invoices`` lists
what a subscription bills: its first invoice at checkout, then one on each monthly date of its
anchor until it is canceled or ends.

Billing follows ``clock`` (the wall clock by default; a test sets the date its links are made
on); webhook signatures are always stamped with the wall clock, as the app checks them.

``StripeStandIn(...).start()`` runs it on its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hotline.harness import free_port
from pledges.payments import months_after

_KEY_PART = re.compile(r"\[([^\]]*)\]")
_PRORATIONS = ("create_prorations", "none", "always_invoice")
#: What ``subscription_data[proration_behavior]`` of a Checkout Session may be.
_CHECKOUT_PRORATIONS = ("create_prorations", "none")


@dataclass
class StripeStandIn:
    """The stand-in server; its state is read from any thread."""

    api_key: str = field(default_factory=lambda: "sk_test_" + secrets.token_hex(12), repr=False)
    webhook_secret: str = field(
        default_factory=lambda: "whsec_" + secrets.token_hex(16), repr=False
    )
    port: int = 0
    #: Billing's time (Unix seconds).
    clock: Callable[[], float] = field(default=time.time, repr=False)
    #: How many create requests came in (replays included).
    create_requests: int = 0
    _sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Each session's ``subscription_data``, for the subscription it makes.
    _subscription_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Each session's one-time total and recurring price.
    _prices: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Each subscription's first invoice and recurring price.
    _billed: dict[str, tuple[int, int]] = field(default_factory=dict)
    _idempotent: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """What to point the stripe library at."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def sessions(self) -> list[dict[str, Any]]:
        """Every session made, oldest first."""
        with self._lock:
            return [dict(s) for s in self._sessions.values()]

    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        """Every subscription made, oldest first."""
        with self._lock:
            return [dict(s) for s in self._subscriptions.values()]

    def event(
        self,
        session_id: str,
        kind: str,
        *,
        at: float | None = None,
        paid_at: int | None = None,
        **changes: Any,
    ) -> tuple[bytes, str]:
        """A ``kind`` event about a session as it is with ``changes`` (e.g.
        ``payment_status="paid"``): its payload and ``Stripe-Signature`` header, signed at
        ``at`` (now by default). A completed event completes the session (ValueError for one
        expired: it cannot be paid); a subscription session's first makes its subscription,
        paid at ``paid_at`` (the clock's now by default)."""
        with self._lock:
            stored = self._sessions[session_id]
            if kind == "checkout.session.completed":
                if stored["status"] == "expired":
                    raise ValueError(f"{session_id} is expired: it cannot be paid")
                stored["status"] = "complete"
            if kind == "checkout.session.completed" and stored["mode"] == "subscription":
                stored["subscription"] = stored["subscription"] or self._subscribe(
                    stored, int(self.clock()) if paid_at is None else paid_at
                )
            session = {**stored, **changes}
            payload = json.dumps(
                {
                    "id": "evt_" + secrets.token_hex(12),
                    "object": "event",
                    "api_version": "2024-06-20",
                    "created": int(time.time()),
                    "livemode": False,
                    "pending_webhooks": 1,
                    "type": kind,
                    "data": {"object": dict(session)},
                }
            ).encode()
        return payload, self.sign(payload, at)

    def invoices(self, subscription_id: str, until: int) -> list[tuple[int, int]]:
        """When a subscription bills and how much, through ``until``: the first invoice at
        checkout, then its price on each monthly date of its anchor after that, until it is
        canceled (``ended_at``) or its ``cancel_at``."""
        with self._lock:
            subscription = dict(self._subscriptions[subscription_id])
            first, price = self._billed[subscription_id]
        start, anchor = subscription["start_date"], subscription["billing_cycle_anchor"]
        ends = [t for t in (subscription["cancel_at"], subscription["ended_at"]) if t]
        end = min([*ends, until + 1])
        billed = [(start, first)]
        months = 0
        while (at := months_after(anchor, months)) < end:
            if at > start:
                billed.append((at, price))
            months += 1
        return billed

    def _subscribe(self, session: dict[str, Any], paid_at: int) -> str:
        subscription_id = "sub_" + secrets.token_hex(12)
        data = self._subscription_data[session["id"]]
        anchor = int(data.get("billing_cycle_anchor", paid_at))
        one_time, price = self._prices[session["id"]]
        first = session["amount_total"]
        if anchor < paid_at:  # paid after the anchor: a full period from it, at checkout
            first = one_time + price
        self._billed[subscription_id] = (first, price)
        self._subscriptions[subscription_id] = {
            "id": subscription_id,
            "object": "subscription",
            "status": "active",
            "start_date": paid_at,
            "billing_cycle_anchor": anchor,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "ended_at": None,
            "currency": session["currency"],
            "metadata": data.get("metadata", {}),
            "created": paid_at,
            "livemode": False,
        }
        return subscription_id

    def sign(self, payload: bytes, at: float | None = None) -> str:
        """Stripe's signature header for ``payload`` sent at ``at``."""
        stamp = int(time.time() if at is None else at)
        signed = f"{stamp}.".encode() + payload
        digest = hmac.new(self.webhook_secret.encode(), signed, hashlib.sha256).hexdigest()
        return f"t={stamp},v1={digest}"

    def start(self) -> StripeStandIn:
        """Serve on a free loopback port from a background thread."""
        self.port = self.port or free_port()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve(ready)), name="stripe-standin", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("Stripe stand-in did not start")
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(10)

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._create)
        app.router.add_get("/v1/checkout/sessions/{id}", self._retrieve)
        app.router.add_post("/v1/checkout/sessions/{id}/expire", self._expire)
        app.router.add_get("/v1/subscriptions/{id}", self._subscription)
        app.router.add_post("/v1/subscriptions/{id}", self._update_subscription)
        app.router.add_delete("/v1/subscriptions/{id}", self._cancel_subscription)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(key, self.api_key)

    async def _create(self, request: web.Request) -> web.Response:
        with self._lock:
            self.create_requests += 1
        if not self._authorized(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        params = nested(await request.post())
        key = request.headers.get("Idempotency-Key", "")
        with self._lock:
            if key in self._idempotent:
                first, session_id = self._idempotent[key]
                if first != params:
                    return _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                return web.json_response(
                    self._sessions[session_id], headers={"Idempotent-Replayed": "true"}
                )
        try:
            session, prices = _session(params, int(self.clock()))
        except (KeyError, ValueError, TypeError) as exc:
            return _error(400, "invalid_request_error", f"Invalid parameters: {exc}")
        with self._lock:
            self._sessions[session["id"]] = session
            self._prices[session["id"]] = prices
            self._subscription_data[session["id"]] = params.get("subscription_data", {})
            if key:
                self._idempotent[key] = (params, session["id"])
        return web.json_response(session)

    async def _retrieve(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        with self._lock:
            session = self._sessions.get(request.match_info["id"])
        if session is None:
            return _error(404, "invalid_request_error", "No such checkout.session")
        return web.json_response(session)

    async def _expire(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        with self._lock:
            session = self._sessions.get(request.match_info["id"])
            if session is None:
                return _error(404, "invalid_request_error", "No such checkout.session")
            if session["status"] != "open":
                return _error(400, "invalid_request_error", "Only Checkout Sessions with a "
                              "status in [open] can be expired.")  # fmt: skip
            session["status"] = "expired"
            return web.json_response(session)

    async def _subscription(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        with self._lock:
            subscription = self._subscriptions.get(request.match_info["id"])
        if subscription is None:
            return _error(404, "invalid_request_error", "No such subscription")
        return web.json_response(subscription)

    async def _update_subscription(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        params = nested(await request.post())
        key = request.headers.get("Idempotency-Key", "")
        subscription_id = request.match_info["id"]
        with self._lock:
            subscription = self._subscriptions.get(subscription_id)
            if subscription is None:
                return _error(404, "invalid_request_error", "No such subscription")
            if key in self._idempotent:
                if self._idempotent[key] != (params, subscription_id):
                    return _error(400, "idempotency_error", "Keys for idempotent requests "
                                  "can only be used with the same parameters.")  # fmt: skip
                return web.json_response(subscription, headers={"Idempotent-Replayed": "true"})
            try:
                if params.get("proration_behavior", "none") not in _PRORATIONS:
                    raise ValueError("proration_behavior")
                if "cancel_at" in params:
                    cancel_at = int(params["cancel_at"]) if params["cancel_at"] else None
                    if cancel_at is not None and cancel_at <= self.clock():
                        raise ValueError("cancel_at must be in the future")
                    subscription["cancel_at"] = cancel_at
            except ValueError as exc:
                return _error(400, "invalid_request_error", f"Invalid parameters: {exc}")
            if key:
                self._idempotent[key] = (params, subscription_id)
            return web.json_response(subscription)

    async def _cancel_subscription(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        with self._lock:
            subscription = self._subscriptions.get(request.match_info["id"])
            if subscription is None:
                return _error(404, "invalid_request_error", "No such subscription")
            if subscription["status"] == "canceled":
                return _error(400, "invalid_request_error", "A canceled subscription can only "
                              "update its cancellation_details and metadata.")  # fmt: skip
            now = int(self.clock())
            subscription.update(status="canceled", canceled_at=now, ended_at=now)
            return web.json_response(subscription)


def nested(form: Any) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) decoded into dicts and lists."""
    root: dict[str, Any] = {}
    for flat, value in form.items():
        name, _, rest = flat.partition("[")
        parts = [name, *_KEY_PART.findall("[" + rest)] if rest else [name]
        node: Any = root
        for part, after in zip(parts, [*parts[1:], None], strict=True):
            key: Any = int(part) if part.isdigit() and isinstance(node, list) else part
            if after is None:
                _put(node, key, str(value))
                break
            child: Any = [] if after.isdigit() else {}
            node = _get_or_put(node, key, child)
    return root


def _put(node: Any, key: Any, value: Any) -> None:
    if isinstance(node, list):
        node.extend([None] * (key + 1 - len(node)))
    node[key] = value


def _get_or_put(node: Any, key: Any, child: Any) -> Any:
    if isinstance(node, list):
        if key >= len(node) or node[key] is None:
            _put(node, key, child)
        return node[key]
    return node.setdefault(key, child)


def _session(params: dict[str, Any], now: int) -> tuple[dict[str, Any], tuple[int, int]]:
    """A session for ``params`` made at ``now``, and its one-time total and recurring price."""
    mode = params["mode"]
    if mode not in ("payment", "subscription"):
        raise ValueError("mode")
    prices = [(item["price_data"], int(item.get("quantity", 1))) for item in params["line_items"]]
    currencies = {price["currency"] for price, _ in prices}
    if len(currencies) != 1:
        raise ValueError("all line items must have the same currency")
    one_time = sum(int(p["unit_amount"]) * n for p, n in prices if "recurring" not in p)
    recurring = [int(p["unit_amount"]) * n for p, n in prices if "recurring" in p]
    data = params.get("subscription_data", {})
    if mode == "payment" and recurring:
        raise ValueError("You specified `payment` mode but passed a recurring price.")
    if mode == "payment" and data:
        raise ValueError("subscription_data can only be used in `subscription` mode.")
    if mode == "subscription" and not recurring:
        raise ValueError(
            "You must provide at least one recurring price in `subscription` mode when "
            "using prices."
        )
    unit = sum(recurring)
    first = one_time + (_first_period(unit, data, now) if mode == "subscription" else 0)
    session_id = "cs_test_" + secrets.token_hex(16)
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_total": first,
        "currency": currencies.pop(),
        "mode": mode,
        "status": "open",
        "payment_status": "unpaid",
        "client_reference_id": params.get("client_reference_id"),
        "metadata": params.get("metadata", {}),
        "subscription": None,
        "success_url": params["success_url"],
        "locale": params.get("locale"),
        "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        "livemode": False,
        "created": now,
        "expires_at": now + 24 * 3600,
    }
    return session, (one_time, unit)


def _first_period(unit: int, data: dict[str, Any], now: int) -> int:
    """What checkout bills of the recurring prices: a full period without an anchor, else the
    days until the anchor pro rata, or nothing with ``proration_behavior`` none."""
    proration = data.get("proration_behavior", "create_prorations")
    if proration not in _CHECKOUT_PRORATIONS:
        raise ValueError(f"Invalid proration_behavior: must be one of {_CHECKOUT_PRORATIONS}")
    if "billing_cycle_anchor" not in data:
        return unit
    anchor = int(data["billing_cycle_anchor"])
    natural = months_after(now, 1)
    if anchor <= now:
        raise ValueError("billing_cycle_anchor must be in the future")
    if anchor >= natural:
        raise ValueError(
            f"billing_cycle_anchor cannot be later than next natural billing date ({natural})"
        )
    return 0 if proration == "none" else round(unit * (anchor - now) / (natural - now))


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)
