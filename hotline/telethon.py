"""The telethon's wiring: its campaign file, loaded and checked against the ACD's queues at
start (a campaign whose operators' queue does not exist stops the start, like a bad queue),
and the pledges API on the records database (which tells which call an operator took), with
payment links texted through the SMS outbox to the caller the ACD still holds."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from acd.config import QueueConfig
from acd.records import Records
from core.config import PledgesSettings, Settings
from core.frozen import FrozenMap
from core.keys import Keys
from core.ports import CallerRefs, TextSender
from core.tasks import stop_if_cancelled
from ivr.flow import Flow
from pledges.campaigns import Campaign, CampaignError, load_campaigns
from pledges.donors import DonorSeal
from pledges.http import (
    export_routes,
    on_air_routes,
    payment_routes,
    pledges_routes,
    tote_routes,
)
from pledges.links import PaymentDesk
from pledges.payments import StripeCheckout
from pledges.service import Pledges
from pledges.tote import ToteFeed
from records.service import RecordsService
from sms.outbox import Outbox, load_message

logger = logging.getLogger(__name__)
#: Seconds between two rounds of payment reminders.
REMINDERS_EVERY_S = 60.0


def load_telethon(
    settings: PledgesSettings, queues: Mapping[str, QueueConfig]
) -> Mapping[str, Campaign]:
    """The configured campaigns (none when ``[pledges] campaigns`` is ""); CampaignError for
    an invalid file or a campaign whose queue is not an ACD queue."""
    if not settings.campaigns:
        return FrozenMap()
    campaigns = load_campaigns(Path(settings.campaigns))
    for campaign in campaigns.values():
        if campaign.queue not in queues:
            raise CampaignError(
                f"{settings.campaigns}: campaign '{campaign.name}': "
                f"queue '{campaign.queue}' is not an ACD queue"
            )
    return campaigns


def with_campaign_languages(flow: Flow, campaigns: Mapping[str, Campaign]) -> Flow:
    """``flow`` with each campaign's ``language`` as its lines' (the flow's default language
    for a campaign that sets none)."""
    languages = {did: c.language for c in campaigns.values() if c.language for did in c.dids}
    return dataclasses.replace(flow, line_languages=FrozenMap(languages))


class AcdCallerRefs:
    """The caller's vault ref from the ACD's records in Redis, while it holds the call."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys

    async def caller_ref(self, call_id: str) -> str | None:
        """The ref of ``call_id``'s caller, or None (withheld, or the call is gone)."""
        caller = await Records(self.redis, self.keys).caller(call_id)
        return caller.caller_ref if caller is not None and caller.caller_ref else None


class OutboxTexts:
    """Payment-link SMS through the outbound pipeline (RQ jobs, one per idempotency key)."""

    def __init__(self, outbox: Outbox, redis: aioredis.Redis, keys: Keys, from_number: str) -> None:
        self.outbox, self.redis, self.keys, self.from_number = outbox, redis, keys, from_number

    async def send_text(self, to_ref: str, body: str, *, language: str, key: str) -> str:
        """Queue the SMS under ``key``; the first message's id if the key was used."""
        return await self.outbox.enqueue_ref(
            to_ref,
            self.from_number,
            body,
            idempotency_key=key,
            kind="pledge-link",
            language=language,
            subject=key,
        )

    async def send_again(self, first_key: str, body: str, *, language: str, key: str) -> str | None:
        """Queue ``body`` under ``key`` for the recipient of the message queued under
        ``first_key``; None once the outbox no longer holds that message."""
        first = cast(str | None, await self.redis.get(self.keys.sms_idempotency(first_key)))
        record = await load_message(self.redis, self.keys, first) if first else None
        if record is None:
            return None
        return await self.outbox.enqueue_ref(
            record.to_ref,
            self.from_number,
            body,
            idempotency_key=key,
            kind="pledge-reminder",
            language=language,
            subject=key,
        )


class Telethon:
    """The pledges side of one app instance, on the records' database: its routes, the tote
    board's feed (``feed.run`` is the app's to start), and the payment provider's connections
    to close."""

    def __init__(
        self,
        settings: Settings,
        campaigns: Mapping[str, Campaign],
        records: RecordsService,
        callers: CallerRefs,
        texts: TextSender,
    ) -> None:
        self.provider: StripeCheckout | None = None
        self.feed: ToteFeed | None = None
        self.desk: PaymentDesk | None = None
        #: The pledges service (the console's pledge form uses it too).
        self.pledges: Pledges | None = None
        self._routes: list[web.RouteDef] = []
        if not campaigns:
            return
        pledges = self.pledges = Pledges(
            records.engine,
            campaigns,
            records.wrapups,
            DonorSeal(settings.secrets.vault_keys),
            region=settings.privacy.default_region,
            clock=time.time,
        )
        self.provider = StripeCheckout(
            settings.secrets.stripe_api_key,
            settings.secrets.stripe_webhook_secret,
            base_url=settings.pledges.stripe_url,
            success_url=settings.pledges.success_url,
            tolerance_s=settings.pledges.webhook_tolerance_s,
        )
        desk = self.desk = PaymentDesk(
            records.engine, campaigns, self.provider, callers, texts, clock=time.time
        )
        self.feed = ToteFeed(records.engine, campaigns, clock=time.time)
        drain = records.wrapups.drain
        self._routes = [
            *pledges_routes(pledges),
            *payment_routes(desk),
            *tote_routes(self.feed),
            *export_routes(records.engine, drain.redis, drain.keys, list(campaigns), time.time),
            *on_air_routes(records.engine, list(campaigns), time.time),
        ]

    def routes(self) -> list[web.RouteDef]:
        """The pledges API (none without campaigns)."""
        return self._routes

    async def run_reminders(self, desk: PaymentDesk) -> None:
        """Text the reminders that are due, every ``REMINDERS_EVERY_S``, until cancelled; a
        database or Redis that is away is tried again on the next round."""
        while True:
            stop_if_cancelled()
            try:
                await desk.remind()
            except (SQLAlchemyError, RedisError, OSError) as exc:
                logger.warning("pledges: reminders left to the next round: %s", exc)
            await asyncio.sleep(REMINDERS_EVERY_S)

    async def close(self) -> None:
        """Close the payment provider's connections."""
        if self.provider is not None:
            await self.provider.close()
