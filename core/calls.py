"""Events of one call that do not come from ARI, and per-channel timers.

Timers are local to the app instance that owns the call's Stasis session (only it receives the
call's events); when one runs out, a ``TimerFired`` goes onto the channel's ordered queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from core.ari import (
    AriError,
    AriUnavailable,
    ChannelDestroyed,
    ChannelDtmfReceived,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimerFired:
    """A timer started for this channel has run out."""

    channel_id: str
    timer: str


@dataclass(frozen=True)
class ChannelGone:
    """The channel vanished while the event stream was down (found on resync)."""

    channel_id: str


CallEvent = (
    StasisStart
    | StasisEnd
    | ChannelDestroyed
    | ChannelDtmfReceived
    | PlaybackFinished
    | TimerFired
    | ChannelGone
)


def ends_call(event: CallEvent) -> bool:
    """True for the last event of a channel."""
    return isinstance(event, StasisEnd | ChannelGone | ChannelDestroyed)


class ChannelTimers:
    """Named timers per channel that feed ``TimerFired`` back into the channel's queue."""

    def __init__(self, submit: Callable[[str, CallEvent], None]) -> None:
        self._submit = submit
        self._handles: dict[str, dict[str, asyncio.TimerHandle]] = {}

    def start(self, channel_id: str, timer: str, seconds: float) -> None:
        """(Re)start ``timer`` on ``channel_id``."""
        self.cancel(channel_id, timer)
        handle = asyncio.get_running_loop().call_later(seconds, self._fire, channel_id, timer)
        self._handles.setdefault(channel_id, {})[timer] = handle

    def _fire(self, channel_id: str, timer: str) -> None:
        self._handles.get(channel_id, {}).pop(timer, None)
        self._submit(channel_id, TimerFired(channel_id, timer))

    def pending(self, channel_id: str, timer: str) -> bool:
        """Whether ``timer`` runs on ``channel_id`` in this process."""
        return timer in self._handles.get(channel_id, {})

    def cancel(self, channel_id: str, timer: str) -> None:
        """Stop ``timer`` if it runs."""
        handle = self._handles.get(channel_id, {}).pop(timer, None)
        if handle:
            handle.cancel()

    def clear(self, channel_id: str) -> None:
        """Stop every timer of a channel that is gone."""
        for handle in self._handles.pop(channel_id, {}).values():
            handle.cancel()


async def ari_request(channel_id: str, what: str, request: Callable[[], Awaitable[object]]) -> bool:
    """Run one ARI request for a call, retrying while Asterisk is unreachable.

    Returns False (after logging why, channel id first) if Asterisk refused it; a 404 usually
    means the channel hung up meanwhile, and its StasisEnd follows.
    """
    try:
        try:
            await request()
            return True
        except AriUnavailable:
            logger.warning("%s %s: ARI unreachable, retrying", channel_id, what)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(AriUnavailable),
            stop=stop_after_attempt(6),
            wait=wait_exponential(multiplier=0.1, max=2.0),
            reraise=True,
        ):
            with attempt:
                await request()
    except AriError as exc:
        level = logging.INFO if exc.status == 404 else logging.WARNING
        logger.log(level, "%s %s failed: %s", channel_id, what, exc)
        return False
    return True
