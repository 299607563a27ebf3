"""The telethon's wiring: its campaign file, loaded and checked against the ACD's queues at
start (a campaign whose operators' queue does not exist stops the start, like a bad queue),
and the pledges API on the records database, which tells which call an operator took."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from acd.config import QueueConfig
from core.config import PledgesSettings, Settings
from core.frozen import FrozenMap
from pledges.campaigns import Campaign, CampaignError, load_campaigns
from pledges.donors import DonorSeal
from pledges.http import pledges_routes
from pledges.service import Pledges
from records.service import RecordsService


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


def telethon_routes(
    settings: Settings, campaigns: Mapping[str, Campaign], records: RecordsService
) -> list[web.RouteDef]:
    """The pledges API over the records database, when there are campaigns."""
    if not campaigns:
        return []
    pledges = Pledges(
        records.engine,
        campaigns,
        records.wrapups,
        DonorSeal(settings.secrets.vault_keys),
        region=settings.privacy.default_region,
        clock=time.time,
    )
    return pledges_routes(pledges)
