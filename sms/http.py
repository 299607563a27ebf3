"""Twilio's SMS webhooks: inbound messages and status callbacks, as aiohttp routes.

Every request must carry a valid ``X-Twilio-Signature`` for the URL Twilio called, which is the
configured public base URL plus the path (the app may sit behind a proxy), else 403. Twilio
retries webhooks, so both handlers are idempotent on ``MessageSid``: a duplicate answers 200 and
changes nothing. A signed form that lacks a field answers 400 naming it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from aiohttp import web
from twilio.request_validator import RequestValidator

from hotline.config import Settings
from hotline.keys import Keys
from hotline.privacy import number_token
from sms.optout import Keyword, keyword
from sms.outbox import Transition, apply_async
from sms.recipients import sender_key
from sms.redact import redact_numbers
from sms.state import PROVIDER_STATUS

logger = logging.getLogger(__name__)

INBOUND_PATH = "/sms/twilio/inbound"
STATUS_PATH = "/sms/twilio/status"

# KEYS: seen marker, conversation list; ARGV: content JSON, ttl.
# Stores a new inbound message once; returns 'new', or the marker ('stored' or 'handled').
RECORD_INBOUND = """
local seen = redis.call('GET', KEYS[1])
if seen then return seen end
redis.call('SET', KEYS[1], 'stored', 'EX', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 'new'
"""


@dataclass(frozen=True)
class InboundSms:
    """An SMS someone sent us. ``sender`` is their number (kept out of the repr); everything
    that is stored or logged uses ``sender_key``."""

    sid: str
    sender_key: str
    sender: str = field(repr=False)
    to: str
    body: str
    received_at: float


InboundHandler = Callable[[InboundSms], Awaitable[None]]


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
        self.hash_key = settings.secrets.hash_key
        self.region = settings.privacy.default_region
        self.validator = RequestValidator(settings.secrets.twilio_auth_token)
        self.on_inbound = on_inbound
        self.clock = clock
        self._record_inbound = redis.register_script(RECORD_INBOUND)

    async def inbound(self, request: web.Request) -> web.Response:
        """An inbound SMS: stored under the sender's keyed hash (with any phone number written
        in it cut out), STOP/START applied, then
        handed to ``on_inbound``; a failed handover answers 500 so that Twilio retries it."""
        form = await self._signed_form(request)
        sid, sender, to = _require(form, "MessageSid", "From", "To")
        body = form.get("Body", "")
        key = sender_key(sender, self.hash_key)
        token = number_token(sender, self.hash_key)
        stored = redact_numbers(body, self.region)
        content = json.dumps({"sid": sid, "to": to, "body": stored, "at": self.clock()})
        seen = self.keys.sms_seen("inbound", sid)
        marker = await self._record_inbound(
            keys=[seen, self.keys.sms_conversation(key)], args=[content, self.ttl]
        )
        if marker == "handled":
            logger.info("sms inbound %s: duplicate, ignored", sid)
            return web.Response(status=200)
        word = keyword(body)
        if word is Keyword.STOP:
            await self.redis.sadd(self.keys.sms_optout, key)
            logger.info("sms inbound %s: %s opted out", sid, token)
        elif word is Keyword.START:
            await self.redis.srem(self.keys.sms_optout, key)
            logger.info("sms inbound %s: %s opted back in", sid, token)
        else:
            message = InboundSms(sid, key, sender, to, body, self.clock())
            await self.on_inbound(message)
            logger.info("sms inbound %s: from %s handed over", sid, token)
        await self.redis.set(seen, "handled", ex=self.ttl)
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
        moved = await apply_async(self.redis, transition)
        await self.redis.set(seen, "1", ex=self.ttl)
        logger.info("sms %s: status %s from %s (%s)", message_id, status, sid, moved)
        return web.Response(status=200)

    async def _signed_form(self, request: web.Request) -> dict[str, str]:
        form = await request.post()
        params = {name: str(value) for name, value in form.items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        url = self.public_base_url + request.path_qs
        if not signature or not self.validator.validate(url, params, signature):
            logger.warning("sms webhook %s: bad or missing Twilio signature", request.path)
            raise _error(web.HTTPForbidden, "bad-signature", "invalid X-Twilio-Signature")
        return params


def _require(form: dict[str, str], *names: str) -> list[str]:
    missing = [name for name in names if not form.get(name)]
    if missing:
        raise _error(web.HTTPBadRequest, "malformed-form", f"missing {', '.join(missing)}")
    return [form[name] for name in names]


def _error(cls: type[web.HTTPError], error: str, message: str) -> web.HTTPError:
    body = json.dumps({"error": error, "message": message})
    return cls(text=body, content_type="application/json")
