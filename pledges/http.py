"""The pledges API for operators and staff.

| method | path                             | role                | body                          |
|--------|----------------------------------|---------------------|-------------------------------|
| GET    | /acd/calls/{call_id}/pledge-form | the call's operator |                               |
| POST   | /acd/calls/{call_id}/pledges     | the call's operator | ``{client_key, amount, ...}`` |
| PUT    | /pledges/{pledge_id}             | its operator        | ``{amount, ...}``             |
| GET    | /pledges/{pledge_id}             | its operator, staff |                               |
| POST   | /pledges/{pledge_id}/link        | its operator, staff |                               |
| POST   | /pledges/{pledge_id}/cancel      | staff               |                               |
| POST   | /pledges/webhooks/stripe         | none: signed        | Stripe's event                |
| GET    | /reports/pledges?campaign&since  | supervisor, admin   | accounting CSV (audited)      |
| GET    | /on-air/{campaign}?count         | supervisor, admin   | the read queue (aliases)      |
| POST   | /on-air/{campaign}/{pledge}/read | supervisor, admin   |                               |
| GET    | /tote/{campaign}                 | none: public        | the tote board's page         |
| GET    | /tote/{campaign}/board.json      | none: public        |                               |
| GET    | /tote/{campaign}/events          | none: public        | SSE ``board`` events          |

The form's fields: ``amount`` (minor units), ``frequency`` (one_off, monthly),
``day_of_month``, ``instalments``, ``method`` (sms_link, email_link, cheque), ``receipt``,
``donor`` ``{name, address, email}``, ``keep_details``, ``consent_sms``, ``on_air``, ``alias``,
``comment``. There is no card field. A new pledge answers 201; the same ``client_key`` again
answers 200 with the pledge stored the first time, nothing doubled. Refusals: 400 bad-request,
bad-client-key and each rule's id (amount-out-of-range, receipt-needs-name-and-address...),
403 not-your-call or not-your-pledge, 404 no-such-call or no-such-pledge, 409
not-a-campaign-call, client-key-taken, pledge-closed (after the wrap-up time and its grace) or
``pledge-<status>`` (a pledge is corrected only before its link goes out); 503
records-unavailable.

The link (``pledges.links``) is made and texted once: asking again answers the pledge as it
is (409 not-an-sms-pledge, no-caller-number, ``pledge-<status>``; 502 payment-provider-error).
A webhook answers 200 with the pledge's status and whether it ``changed`` (false for a repeated
event; ``pledge`` null for an event about no pledge's status); 400 unsigned-webhook,
bad-signature, stale-webhook (a replay past the tolerance) or bad-webhook; 404 no-such-pledge;
409 ``pledge-<status>`` (a payment for a cancelled pledge) or provider-ref-mismatch. A cancel
answers the cancelled pledge (again for a repeated one); a paid monthly gift's subscription is
stopped at the provider first (502 payment-provider-error: still paid, retry); 409
``pledge-<status>`` for a paid one-off gift, an expired pledge.

The accounting export is the CLI's (``pledges.export``: no donor details), written to the
staff audit stream first; 400 bad-period for a ``since`` that is not ISO 8601, 404
no-such-campaign.

The on-air read queue (``pledges.onair``) gives the presenter the aliases and gifts of donors
who agreed to be named, oldest first; marking one read twice answers ``"marked": false``.

The tote board (``pledges.tote``) shows totals only, to anyone: its page, its JSON, and its
Server-Sent Events (the board at once, then each change within ``ToteFeed.every_s``); 404
no-such-campaign.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

import redis.asyncio as aioredis
from aiohttp import web
from aiohttp_sse import sse_response
from sqlalchemy.ext.asyncio import AsyncEngine

from core.api import ApiError, count_param, database_available, json_object
from core.audit import AuditAction, audit
from core.auth import PRINCIPAL_KEY, require_role
from core.keys import Keys
from pledges.export import accounting_rows, as_csv
from pledges.links import PaymentDesk
from pledges.onair import mark_read, read_queue
from pledges.rules import DonorDetails, Frequency, Method, PledgeForm
from pledges.service import Pledges
from pledges.tote import ToteFeed

STAFF = ("supervisor", "admin")
_FLAGS = ("receipt", "keep_details", "consent_sms", "on_air")
_TEXTS = ("alias", "comment")
_DONOR = ("name", "address", "email")
TOTE_PAGE = Path(__file__).parent / "static" / "tote.html"
#: Seconds an SSE follower waits for a change before checking its connection again.
_FOLLOW_S = 5.0


def parse_form(body: dict[str, Any]) -> PledgeForm:
    """The pledge form in a JSON body (``client_key`` aside); 400 bad-request naming the
    first field of a wrong type or an unknown field."""
    allowed = {
        "client_key", "amount", "frequency", "day_of_month", "instalments", "method", "donor",
        *_FLAGS, *_TEXTS,
    }  # fmt: skip
    unknown = sorted(set(body) - allowed)
    if unknown:  # a card number has no field to go in
        raise ApiError(400, "bad-request", f"unknown field(s): {', '.join(unknown)}")
    amount = body.get("amount")
    if not _is_int(amount):
        raise ApiError(400, "bad-request", "amount must be an integer (minor units)")
    for key in ("day_of_month", "instalments"):
        if body.get(key) is not None and not _is_int(body[key]):
            raise ApiError(400, "bad-request", f"{key} must be an integer or null")
    for key in _FLAGS:
        if not isinstance(body.get(key, False), bool):
            raise ApiError(400, "bad-request", f"{key} must be true or false")
    for key in _TEXTS:
        if not isinstance(body.get(key, ""), str):
            raise ApiError(400, "bad-request", f"{key} must be a string")
    donor = body.get("donor", {})
    if not isinstance(donor, dict) or set(donor) - set(_DONOR):
        raise ApiError(400, "bad-request", f"donor must be an object of {', '.join(_DONOR)}")
    if not all(isinstance(donor.get(key, ""), str) for key in _DONOR):
        raise ApiError(400, "bad-request", "donor's fields must be strings")
    try:
        frequency = Frequency(body.get("frequency", Frequency.ONE_OFF.value))
        method = Method(body.get("method", Method.SMS_LINK.value))
    except ValueError:
        raise ApiError(
            400,
            "bad-request",
            f"frequency is one of {', '.join(Frequency)}; method one of {', '.join(Method)}",
        ) from None
    return PledgeForm(
        amount=amount,
        frequency=frequency,
        day_of_month=body.get("day_of_month"),
        instalments=body.get("instalments"),
        method=method,
        receipt=body.get("receipt", False),
        donor=DonorDetails(**{key: donor.get(key, "") for key in _DONOR}),
        keep_details=body.get("keep_details", False),
        consent_sms=body.get("consent_sms", False),
        on_air=body.get("on_air", False),
        alias=body.get("alias", ""),
        comment=body.get("comment", ""),
    )


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def pledges_routes(pledges: Pledges) -> list[web.RouteDef]:
    """The pledge form, save, correct and read endpoints."""

    async def prefill(request: web.Request) -> web.Response:
        agent = request[PRINCIPAL_KEY].actor
        found = await pledges.prefill(request.match_info["call_id"], agent)
        return web.json_response(found.to_dict())

    async def save(request: web.Request) -> web.Response:
        body = await json_object(request)
        form = parse_form(body)
        client_key = body.get("client_key")
        if not isinstance(client_key, str):
            raise ApiError(400, "bad-client-key", "client_key must be a string")
        agent = request[PRINCIPAL_KEY].actor
        saved = await pledges.save(request.match_info["call_id"], agent, client_key, form)
        return web.json_response(saved.pledge.to_dict(), status=201 if saved.created else 200)

    async def correct(request: web.Request) -> web.Response:
        form = parse_form(await json_object(request))
        agent = request[PRINCIPAL_KEY].actor
        view = await pledges.correct(request.match_info["pledge_id"], agent, form)
        return web.json_response(view.to_dict())

    async def read(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL_KEY]
        agent = None if principal.role in STAFF else principal.actor
        view = await pledges.get(request.match_info["pledge_id"], agent)
        return web.json_response(view.to_dict())

    return [
        web.get("/acd/calls/{call_id}/pledge-form", database_available(prefill)),
        web.post("/acd/calls/{call_id}/pledges", database_available(save)),
        web.put("/pledges/{pledge_id}", database_available(correct)),
        web.get("/pledges/{pledge_id}", database_available(read)),
    ]


def payment_routes(desk: PaymentDesk) -> list[web.RouteDef]:
    """The link, cancel and webhook endpoints."""

    async def link(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL_KEY]
        agent = None if principal.role in STAFF else principal.actor
        view = await desk.send_link(request.match_info["pledge_id"], agent)
        return web.json_response(view.to_dict())

    async def cancel(request: web.Request) -> web.Response:
        require_role(request, *STAFF)
        view = await desk.cancel(request.match_info["pledge_id"])
        return web.json_response(view.to_dict())

    async def webhook(request: web.Request) -> web.Response:
        payload = await request.read()
        applied = await desk.receive(payload, request.headers.get("Stripe-Signature"))
        pledge = applied.pledge
        return web.json_response(
            {
                "event": applied.event_id,
                "pledge": pledge.id if pledge else None,
                "status": pledge.status if pledge else None,
                "changed": applied.changed,
            }
        )

    return [
        web.post("/pledges/{pledge_id}/link", database_available(link)),
        web.post("/pledges/{pledge_id}/cancel", database_available(cancel)),
        web.post("/pledges/webhooks/stripe", database_available(webhook)),
    ]


def tote_routes(feed: ToteFeed) -> list[web.RouteDef]:
    """The tote board's page, JSON and events: public, totals only."""
    page = TOTE_PAGE.read_text(encoding="utf-8")

    def campaign_of(request: web.Request) -> str:
        name = request.match_info["campaign"]
        if name not in feed.campaigns:
            raise ApiError(404, "no-such-campaign", name)
        return name

    async def show(request: web.Request) -> web.Response:
        campaign_of(request)
        return web.Response(text=page, content_type="text/html")

    async def board(request: web.Request) -> web.Response:
        found = await feed.board(campaign_of(request))
        return web.json_response(found.to_dict())

    async def events(request: web.Request) -> web.StreamResponse:
        campaign = campaign_of(request)
        with feed.follow():
            last = await feed.board(campaign)
            async with sse_response(request) as stream:
                with contextlib.suppress(ConnectionResetError):  # the screen went away
                    await stream.send(json.dumps(last.to_dict()), event="board")
                    while stream.is_connected():
                        await feed.changed(_FOLLOW_S)
                        current = feed.latest(campaign)
                        if current is not None and current != last:
                            await stream.send(json.dumps(current.to_dict()), event="board")
                            last = current
        return stream

    return [
        web.get("/tote/{campaign}", show),
        web.get("/tote/{campaign}/board.json", database_available(board)),
        web.get("/tote/{campaign}/events", database_available(events)),
    ]


def export_routes(
    engine: AsyncEngine,
    redis: aioredis.Redis,
    keys: Keys,
    campaigns: Collection[str],
    clock: Callable[[], float],
) -> list[web.RouteDef]:
    """The staff's accounting export."""

    async def export(request: web.Request) -> web.Response:
        principal = require_role(request, *STAFF)
        campaign = request.query.get("campaign", "")
        if campaign not in campaigns:
            raise ApiError(404, "no-such-campaign", campaign)
        since_text = request.query.get("since", "")
        try:
            since = datetime.fromisoformat(since_text) if since_text else None
        except ValueError:
            raise ApiError(400, "bad-period", "since must be ISO 8601") from None
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        await audit(
            redis,
            keys,
            actor=principal.actor,
            role=principal.role,
            action=AuditAction.EXPORT,
            target=campaign[:64],
            reason=f"pledges since {since_text or 'the start'}",
            now=datetime.fromtimestamp(clock(), UTC),
        )
        rows = await accounting_rows(engine, campaign, since.timestamp() if since else None)
        return web.Response(text=as_csv(rows), content_type="text/csv")

    return [web.get("/reports/pledges", database_available(export))]


def on_air_routes(
    engine: AsyncEngine, campaigns: Collection[str], clock: Callable[[], float]
) -> list[web.RouteDef]:
    """The presenter's read queue."""

    def campaign_of(request: web.Request) -> str:
        require_role(request, *STAFF)
        name = request.match_info["campaign"]
        if name not in campaigns:
            raise ApiError(404, "no-such-campaign", name)
        return name

    async def queue(request: web.Request) -> web.Response:
        found = await read_queue(engine, campaign_of(request), count_param(request))
        return web.json_response({"pledges": [entry.to_dict() for entry in found]})

    async def read(request: web.Request) -> web.Response:
        campaign, pledge = campaign_of(request), request.match_info["pledge_id"]
        marked = await mark_read(engine, campaign, pledge, clock())
        return web.json_response({"pledge": pledge, "marked": marked})

    return [
        web.get("/on-air/{campaign}", database_available(queue)),
        web.post("/on-air/{campaign}/{pledge_id}/read", database_available(read)),
    ]
