"""Until a queue has volunteers behind it: a hold message, hold music, then a hang-up."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from hotline.ari import AriClient, PlaybackFinished
from hotline.calls import CallEvent, ChannelTimers, TimerFired, ari_request
from hotline.config import IvrSettings

logger = logging.getLogger(__name__)

HOLD_PLAYBACK = ":hold"
HOLD_TIMER = "queue-hold"


@dataclass
class HoldThenHangUp:
    """A ``QueueHandoff`` for a deployment without an ACD."""

    settings: IvrSettings
    ari: AriClient
    timers: ChannelTimers

    async def enter(
        self, channel_id: str, queue: str, language: str, variables: Mapping[str, str]
    ) -> None:
        """Play the hold message (then music, then hang up)."""
        logger.info("%s sent to queue %s (no ACD: hold, then hang up)", channel_id, queue)
        media = [f"sound:{name}" for name in self.settings.queue_hold_prompt]
        if not media:
            await self._hold(channel_id)
            return
        pid = f"{channel_id}{HOLD_PLAYBACK}"
        await ari_request(
            channel_id,
            "hold prompt",
            lambda: self.ari.play(channel_id, media, playback_id=pid, lang=language),
        )

    async def handle(self, channel_id: str, event: CallEvent) -> None:
        """Music after the message; hang up when the hold time is over."""
        if isinstance(event, PlaybackFinished) and event.playback_id.endswith(HOLD_PLAYBACK):
            await self._hold(channel_id)
        elif isinstance(event, TimerFired) and event.timer == HOLD_TIMER:
            await ari_request(channel_id, "hangup", lambda: self.ari.hangup(channel_id))

    async def _hold(self, channel_id: str) -> None:
        moh = self.settings.moh_class
        await ari_request(channel_id, "hold music", lambda: self.ari.start_moh(channel_id, moh))
        self.timers.start(channel_id, HOLD_TIMER, self.settings.queue_hold_seconds)
