"""The telethon's wiring: its campaign file, loaded and checked against the ACD's queues at
start (a campaign whose operators' queue does not exist stops the start, like a bad queue)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from acd.config import QueueConfig
from core.config import PledgesSettings
from core.frozen import FrozenMap
from pledges.campaigns import Campaign, CampaignError, load_campaigns


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
