"""The SMS side of one app instance, built once from the settings: outbox, templates, requests,
chat routing, conversations, and the HTTP routes (Twilio webhooks and the console API)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import redis
import redis.asyncio as aioredis
from aiohttp import web
from rq import Queue

from core.ari import AriClient
from core.config import Settings
from core.keys import Keys
from core.ports import ChatRouting, TexterCalls
from core.privacy import Vault
from sms.console import console_routes
from sms.conversations import Conversations
from sms.http import sms_routes
from sms.inbound import InboundDesk
from sms.outbox import Outbox
from sms.recipients import store_in
from sms.relay import RelayBook, load_relay
from sms.requests import RequestDesk
from sms.sip_devices import SipDevices
from sms.sip_provider import SipInbound
from sms.templates import load_templates


class SmsGateway:
    """Everything the app needs for SMS, on the app's clients: the asyncio Redis client and
    RQ's synchronous one (``core.redisconn``), and the number vault."""

    def __init__(
        self,
        settings: Settings,
        *,
        redis_client: aioredis.Redis,
        rq_client: redis.Redis,
        vault: Vault,
        agents: Collection[str],
        chats: ChatRouting,
        ari: AriClient | None = None,
        devices: Mapping[str, Collection[str]] | None = None,
        texter_calls: TexterCalls | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``devices``: each agent's SIP device names, which the relay file may name; ``ari``
        sends to them. ``texter_calls``: holds a volunteer who asks to call a texter."""
        keys = Keys(settings.redis.prefix)
        self.settings = settings
        self.redis = redis_client
        self.outbox = Outbox(
            Queue(settings.sms.rq_queue, connection=rq_client), keys, settings.sms, store_in(vault)
        )
        self.templates = load_templates(languages=settings.ivr.languages)
        self.requests = RequestDesk(redis_client, keys, self.outbox, self.templates, settings)
        relay = RelayBook()
        if settings.sms.relay_file:
            relay = load_relay(
                Path(settings.sms.relay_file),
                hash_key=settings.secrets.hash_key,
                region=settings.privacy.default_region,
                agents=agents,
                languages=settings.ivr.languages,
                devices=devices or {},
            )
        self.conversations = Conversations(
            redis=redis_client,
            settings=settings,
            vault=vault,
            outbox=self.outbox,
            router=chats,
            templates=self.templates,
            requests=self.requests,
            relay=relay,
            devices=None if ari is None else SipDevices(ari, settings.sms.from_number),
            texter_calls=texter_calls,
            clock=clock,
        )

    def routes(self) -> list[web.RouteDef]:
        """The Twilio webhooks (``/sms/``, signature-checked) and the console (``/chat/``)."""
        webhooks = sms_routes(
            redis=self.redis, settings=self.settings, on_inbound=self.conversations.on_inbound
        )
        return webhooks + console_routes(self.conversations)

    def sip_inbound(self, ari: AriClient) -> SipInbound | None:
        """The receiver of SMS over the SIP trunk when ``[sms] provider`` is "sip", else None."""
        if self.settings.sms.provider != "sip":
            return None
        desk = InboundDesk(self.redis, self.settings, self.conversations.on_inbound)
        return SipInbound(self.settings, ari, desk, self.conversations.on_device_text)
