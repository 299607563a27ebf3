"""What every provider does with an inbound SMS: store it once under the sender's keyed hash
(with any phone number written in it cut out), apply STOP/START, and hand the rest over.

A body longer than Twilio's 1,600 characters (possible over SIP, or from anything that signs
like Twilio) is cut to them with a visible mark, not refused: what a person in distress wrote
is kept and shown to a volunteer, who can ask for the rest, whereas a refusal would reach
nobody (the provider only logs it). The cut also bounds the number redaction's CPU time on the
event loop (about 30 ms at worst for 1,600 characters)."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import redis.asyncio as aioredis

from core import lua
from core.config import Settings
from core.keys import Keys
from core.privacy import number_token
from sms.optout import Keyword, keyword
from sms.recipients import sender_key
from sms.redact import redact_numbers
from sms.segments import clip

logger = logging.getLogger(__name__)

#: Scripts in ``sms/lua/`` (their keys and arguments are documented there).
RECORD_INBOUND: Final = lua.source("sms", "inbound_record")
RELEASE_INBOUND: Final = lua.source("sms", "inbound_release")
#: Seconds one delivery may hold the handling of a message before a redelivery may take it
#: over (its process died mid-handling); Twilio gives a webhook 15 s.
HANDLING_LEASE = 60


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


class InboundDesk:
    """Receives inbound SMS from any provider, idempotently on the provider's message id."""

    def __init__(
        self,
        redis: aioredis.Redis,
        settings: Settings,
        on_inbound: InboundHandler,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.keys = Keys(settings.redis.prefix)
        self.ttl = settings.sms.retention_seconds
        self.hash_key = settings.secrets.hash_key
        self.region = settings.privacy.default_region
        self.on_inbound = on_inbound
        self.clock = clock
        self._record_inbound = redis.register_script(RECORD_INBOUND)
        self._release_inbound = redis.register_script(RELEASE_INBOUND)

    async def receive(
        self, sid: str, sender: str, to: str, body: str, *, redelivered: bool
    ) -> bool:
        """Store, apply STOP/START or hand over; False if ``sid`` was seen before.

        One message has one effect however many copies arrive at once, on however many app
        instances: storing it claims its handling in Redis (a lease of ``HANDLING_LEASE``), and a
        copy that finds it claimed or handled does nothing. ``redelivered``: the provider
        delivers a message again until it is acknowledged (Twilio retries webhooks), so one
        stored but not handled (a failed handover released its claim, or the claim's lease ran
        out) is claimed and handled again. Otherwise (ARI events, delivered once to every app
        instance) only the first to store it handles it. A failed handover raises, leaving the
        message stored but not handled.
        """
        key = sender_key(sender, self.hash_key)
        token = number_token(sender, self.hash_key)
        body = clip(body)
        stored = redact_numbers(body, self.region)
        now = self.clock()
        content = json.dumps({"sid": sid, "to": to, "body": stored, "at": now})
        seen = self.keys.sms_seen("inbound", sid)
        claim = secrets.token_hex(8)
        marker = await self._record_inbound(
            keys=[seen, self.keys.sms_conversation(key)],
            args=[content, self.ttl, now, HANDLING_LEASE, int(redelivered), claim],
        )
        if marker not in ("new", "claimed"):
            logger.info("sms inbound %s: duplicate (%s), ignored", sid, marker)
            return False
        try:
            await self._handle(InboundSms(sid, key, sender, to, body, now), token)
        except BaseException:
            await self._release_inbound(keys=[seen], args=[claim, "stored"])
            raise
        await self._release_inbound(keys=[seen], args=[claim, "handled"])
        return True

    async def _handle(self, message: InboundSms, token: str) -> None:
        """Apply STOP/START, or hand the message over."""
        word = keyword(message.body)
        if word is Keyword.STOP:
            await self.redis.sadd(self.keys.sms_optout, message.sender_key)
            logger.info("sms inbound %s: %s opted out", message.sid, token)
        elif word is Keyword.START:
            await self.redis.srem(self.keys.sms_optout, message.sender_key)
            logger.info("sms inbound %s: %s opted back in", message.sid, token)
        else:
            await self.on_inbound(message)
            logger.info("sms inbound %s: from %s handed over", message.sid, token)
