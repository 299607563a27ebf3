"""SMS over the carrier's SIP trunk: SIP MESSAGE through Asterisk, no cloud provider.

Outbound, :class:`SipProvider` is what the RQ worker calls instead of ``TwilioProvider``: one
ARI ``sendMessage`` per message on an ARI client the worker keeps for its lifetime. What Asterisk 16
can tell, measured on 16.28: ``sendMessage`` answers 202 once the MESSAGE is handed to PJSIP,
before any response from the carrier, and 404 if the endpoint or technology does not exist; the
MESSAGE's own outcome (the carrier's 202, a 4xx/5xx, a timeout) raises no ARI or AMI event and
no log line at notice level or above. So a send is recorded ``sent`` meaning "accepted by the
PBX", never delivered, and there is nothing to look up afterwards. The one earlier signal is the
trunk's endpoint state: with ``carrier_qualify_seconds`` set, unanswered OPTIONS pings turn it
"offline", and a send then fails as retryable ("carrier-offline") instead of being handed to a
dead trunk.

Inbound, :class:`SipInbound` runs a second ARI application, ``{ari.app}-sms``, subscribed to
``endpoint:PJSIP/carrier`` and filtered to ``TextMessageReceived``. It is a separate app because
an endpoint subscription also forwards every event of every call on that endpoint: on the app
that runs the calls, each DTMF digit of a call in Stasis would arrive twice. Each message goes to
:class:`sms.inbound.InboundDesk` like a Twilio webhook's, keyed by its SIP Call-ID.

Behind Kamailio (``[asterisk] sip_proxy`` set), a volunteer's phone texts the hotline through
the proxy, which authenticates it and names its device in ``X-Hotline-Device`` (a header it
removes from every other request); Asterisk 16 passes SIP headers on as the message's variables,
and such a message goes to ``on_device`` instead of the desk. Without a proxy the header is not
trusted: the carrier reaches Asterisk directly and could set it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import unquote

from core.ari import (
    AriClient,
    AriError,
    AriEventStream,
    AriUnavailable,
    Event,
    StreamConnected,
    TextMessageReceived,
)
from core.config import Settings
from core.privacy import InvalidNumber, normalize
from sms.inbound import InboundDesk
from sms.provider import ProviderError, ProviderResult
from sms.segments import segment_count

logger = logging.getLogger(__name__)

#: The trunk's PJSIP endpoint in ``dialplans/pjsip.conf``.
CARRIER_ENDPOINT = "carrier"

#: The header by which the SIP proxy names the authenticated device that sent a MESSAGE.
DEVICE_HEADER = "X-Hotline-Device"
#: (message id, device name, body) of a text from a volunteer's device.
DeviceTextHandler = Callable[[str, str, str], Awaitable[None]]

_NUMBER = re.compile(r"\+?[0-9]{3,20}")
#: ARI's answers to ``sendMessage`` that say why it refused (both permanent).
ARI_REASONS = {404: "no-endpoint", 400: "bad-request"}


class SipProvider:
    """Sends SMS as SIP MESSAGEs to the carrier through ARI, on one ARI client (one pooled
    connection) built once per worker."""

    def __init__(
        self, ari: AriClient, carrier_host: str, *, endpoint: str = CARRIER_ENDPOINT
    ) -> None:
        self._ari = ari
        self._carrier_host = carrier_host
        self._endpoint = endpoint

    def __repr__(self) -> str:
        return f"SipProvider(endpoint={self._endpoint!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> SipProvider:
        """The provider for the configured ARI and carrier trunk."""
        ari = settings.ari
        client = AriClient(
            ari.url,
            ari.username,
            settings.secrets.ari_password,
            pool_size=1,
            timeout=settings.sms.provider_timeout,
        )
        return cls(client, settings.asterisk.carrier_host)

    async def send(self, to: str, from_: str, body: str, status_callback: str) -> ProviderResult:
        """Hand the MESSAGE to Asterisk; raise ProviderError if it did not take it.

        ``status_callback`` is ignored: SIP MESSAGE has no delivery report.
        """
        if not _NUMBER.fullmatch(to):
            raise ProviderError(None, None, False, "invalid-number")
        uri = f"pjsip:{self._endpoint}/sip:{to}@{self._carrier_host}"
        try:
            if await self._ari.endpoint_state("PJSIP", self._endpoint) == "offline":
                raise ProviderError(None, None, True, "carrier-offline")
            await self._ari.send_message(uri, from_, body)
        except AriUnavailable:
            raise ProviderError(None, None, True, "connection") from None
        except AriError as exc:
            retryable = exc.status >= 500
            reason = ARI_REASONS.get(exc.status, "")
            raise ProviderError(None, exc.status, retryable, reason) from None
        return ProviderResult(f"SIP{uuid.uuid4().hex}", "accepted", segment_count(body))

    async def find_sent(self, to: str, from_: str, since: datetime, body: str) -> list[str]:
        """None ever: Asterisk keeps no record of sent MESSAGEs, so a send whose outcome was
        lost is sent again (at least once)."""
        return []

    async def close(self) -> None:
        """Close the ARI client."""
        await self._ari.close()


class SipInbound:
    """SIP MESSAGEs from the carrier, received by a dedicated ARI app and handed to ``desk``."""

    def __init__(
        self, settings: Settings, ari: AriClient, desk: InboundDesk, on_device: DeviceTextHandler
    ) -> None:
        config = settings.ari
        self.app = f"{config.app}-sms"
        self.stream = AriEventStream(
            config.url, config.username, settings.secrets.ari_password, self.app
        )
        self.region = settings.privacy.default_region
        self.ari = ari
        self.desk = desk
        self.on_device = on_device
        self.behind_proxy = bool(settings.asterisk.sip_proxy)
        #: Set while the app is subscribed to the carrier endpoint.
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        """Receive messages until :meth:`close` (reconnecting and resubscribing as needed)."""
        await self.stream.run(self.on_event)

    async def close(self) -> None:
        """Stop receiving."""
        await self.stream.close()

    async def on_event(self, event: Event) -> None:
        """Subscribe on every (re)connection; receive each TextMessageReceived."""
        if isinstance(event, StreamConnected):
            await self._subscribe()
        elif isinstance(event, TextMessageReceived):
            await self.receive(event)

    async def _subscribe(self) -> None:
        self.subscribed.clear()
        try:
            await self.ari.set_event_filter(self.app, ["TextMessageReceived"])
            await self.ari.subscribe(self.app, f"endpoint:PJSIP/{CARRIER_ENDPOINT}")
        except (AriError, AriUnavailable) as exc:
            logger.error("sms sip: cannot subscribe to the carrier (%s); reconnecting", exc)
            await self.stream.drop()
            return
        self.subscribed.set()
        logger.info("sms sip: app %s receives the carrier's messages", self.app)

    async def receive(self, event: TextMessageReceived) -> None:
        """Hand one message over; a failure is logged (Asterisk already accepted it)."""
        sid = message_id(event)
        device = event.variables.get(DEVICE_HEADER, "") if self.behind_proxy else ""
        if device:
            try:
                await self.on_device(sid, device, event.body)
            except Exception:
                logger.exception("sms inbound %s: from device %s not handled", sid, device)
            return
        sender, to = uri_number(event.from_, self.region), uri_number(event.to, self.region)
        if not sender:
            logger.warning("sms inbound %s: no sender number in the MESSAGE; ignored", sid)
            return
        try:
            await self.desk.receive(sid, sender, to, event.body, redelivered=False)
        except Exception:
            logger.exception("sms inbound %s: not handled", sid)


def message_id(event: TextMessageReceived) -> str:
    """A stable id: the SIP Call-ID and CSeq (a carrier's resend repeats them), hashed, or
    failing those the sender, body and arrival time."""
    call_id = event.variables.get("Call-ID", "")
    key = (
        f"{call_id}\n{event.variables.get('CSeq', '')}"
        if call_id
        else f"{event.from_}\n{event.body}\n{event.timestamp}"
    )
    return "SIP" + hashlib.sha256(key.encode()).hexdigest()[:32]


def uri_number(uri: str, region: str) -> str:
    """The phone number in a SIP URI's user part (``"Name" <sip:+1514...@host>``), in E.164 if
    it reads as one, else the user part itself ("" if there is none)."""
    inner = uri.partition("<")[2].partition(">")[0] if "<" in uri else uri
    address = inner
    while re.match(r"[a-z]+:", address):
        address = address.partition(":")[2]
    user = unquote(address.partition("@")[0].partition(";")[0]) if "@" in address else ""
    try:
        return normalize(user, region)
    except InvalidNumber:
        return user
