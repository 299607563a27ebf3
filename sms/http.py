"""Twilio's SMS webhooks: inbound messages and status callbacks, as aiohttp routes.

Every request must carry a valid ``X-Twilio-Signature`` for the URL Twilio called, which is the
configured public base URL plus the path (the app may sit behind a proxy), else 403. Twilio
retries webhooks, so both handlers are idempotent on ``MessageSid``: a duplicate answers 200 and
changes nothing. A body that is not a form answers 415, a form that does not parse (bytes not
in its charset, an unknown charset, multipart without a boundary or with broken parts, a file)
400, both before the signature is checked; a signed form that lacks a field answers 400 naming
it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from twilio.request_validator import RequestValidator

from core.config import Settings
from core.keys import Keys
from sms.inbound import InboundDesk, InboundHandler
from sms.outbox import Transition, apply
from sms.state import PROVIDER_STATUS

logger = logging.getLogger(__name__)

INBOUND_PATH = "/sms/twilio/inbound"
STATUS_PATH = "/sms/twilio/status"
#: Content types of HTML forms (Twilio sends the first).
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def sms_routes(
    *,
    redis: aioredis.Redis,
    settings: Settings,
    on_inbound: InboundHandler,
    clock: Callable[[], float] = time.time,
) -> list[web.RouteDef]:
    """The webhook routes, to be added to the app's router."""
    hooks = _Webhooks(redis, settings, on_inbound, clock)
    return [web.post(INBOUND_PATH, hooks.inbound), web.post(STATUS_PATH, hooks.status)]


class _Webhooks:
    def __init__(
        self,
        redis: aioredis.Redis,
        settings: Settings,
        on_inbound: InboundHandler,
        clock: Callable[[], float],
    ) -> None:
        self.redis = redis
        self.keys = Keys(settings.redis.prefix)
        self.public_base_url = settings.sms.public_base_url.rstrip("/")
        self.ttl = settings.sms.retention_seconds
        self.validator = RequestValidator(settings.secrets.twilio_auth_token)
        self.desk = InboundDesk(redis, settings, on_inbound, clock)
        self.clock = clock

    async def inbound(self, request: web.Request) -> web.Response:
        """An inbound SMS, received by :class:`InboundDesk`; a failed handover answers 500 so
        that Twilio retries it."""
        form = await self._signed_form(request)
        sid, sender, to = _require(form, "MessageSid", "From", "To")
        await self.desk.receive(sid, sender, to, form.get("Body", ""), redelivered=True)
        return web.Response(status=200)

    async def status(self, request: web.Request) -> web.Response:
        """A status callback: moves the message (found by the ``m`` query parameter our
        StatusCallback URL carries, or by its sid) to sent, delivered, undelivered or failed."""
        form = await self._signed_form(request)
        sid, status = _require(form, "MessageSid", "MessageStatus")
        seen = self.keys.sms_seen(f"status:{status}", sid)
        if await self.redis.exists(seen):
            logger.info("sms status %s %s: duplicate, ignored", sid, status)
            return web.Response(status=200)
        target = PROVIDER_STATUS.get(status)
        message_id = request.query.get("m")
        if message_id is None:
            stored = await self.redis.get(self.keys.sms_sid(sid))
            message_id = stored if isinstance(stored, str) else None
        if target is None or message_id is None:
            logger.info("sms status %s %s: nothing to update", sid, status)
            return web.Response(status=200)
        error = form.get("ErrorCode", "")
        fields: dict[str, str | int | float] = {}
        if error:
            fields = {"error_code": int(error) if error.isdigit() else 0, "reason": status}
        transition = Transition.build(
            self.keys, message_id, target, ttl=self.ttl, sid=sid, fields=fields, now=self.clock()
        )
        moved = await apply(self.redis, transition)
        await self.redis.set(seen, "1", ex=self.ttl)
        logger.info("sms %s: status %s from %s (%s)", message_id, status, sid, moved)
        return web.Response(status=200)

    async def _signed_form(self, request: web.Request) -> dict[str, str]:
        params = await _form(request)
        signature = request.headers.get("X-Twilio-Signature", "")
        url = self.public_base_url + request.path_qs
        if not signature or not self.validator.validate(url, params, signature):
            logger.warning("sms webhook %s: bad or missing Twilio signature", request.path)
            raise _error(web.HTTPForbidden, "bad-signature", "invalid X-Twilio-Signature")
        return params


async def _form(request: web.Request) -> dict[str, str]:
    """The request's form fields; 415 if it is not a form, 400 if it does not parse (the
    parser's message, which may quote the body, is neither logged nor answered)."""
    if request.content_type not in FORM_TYPES:
        raise _error(web.HTTPUnsupportedMediaType, "not-a-form", "expected a form")
    try:
        form = await request.post()
    except (ValueError, LookupError, HttpProcessingError) as exc:
        logger.warning("sms webhook %s: unreadable form (%s)", request.path, type(exc).__name__)
        raise _error(web.HTTPBadRequest, "malformed-form", "the form does not parse") from None
    params = {name: value for name, value in form.items() if isinstance(value, str)}
    if len(params) != len(form):
        raise _error(web.HTTPBadRequest, "malformed-form", "unexpected file in the form")
    return params


def _require(form: dict[str, str], *names: str) -> list[str]:
    missing = [name for name in names if not form.get(name)]
    if missing:
        raise _error(web.HTTPBadRequest, "malformed-form", f"missing {', '.join(missing)}")
    return [form[name] for name in names]


def _error(cls: type[web.HTTPError], error: str, message: str) -> web.HTTPError:
    body = json.dumps({"error": error, "message": message})
    return cls(text=body, content_type="application/json")
