"""Per-channel ordered event processing, so one slow call never blocks the reader."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from .events import ChannelDestroyed, StasisEnd

logger = logging.getLogger(__name__)

E = TypeVar("E")


def ends_channel(event: object) -> bool:
    """True for the events after which Asterisk sends nothing more about a channel."""
    return isinstance(event, StasisEnd | ChannelDestroyed)


class ChannelDispatcher(Generic[E]):
    """Runs ``handle(channel_id, event)`` in submission order per channel, channels in parallel.

    A channel's worker exits after ``idle_timeout`` seconds without events, or once
    its queue is empty after an event for which ``is_final`` is true (by default
    StasisEnd/ChannelDestroyed).
    """

    def __init__(
        self,
        handle: Callable[[str, E], Awaitable[None]],
        *,
        idle_timeout: float = 30.0,
        is_final: Callable[[E], bool] = ends_channel,
    ) -> None:
        self._handle = handle
        self._is_final = is_final
        self._idle_timeout = idle_timeout
        self._queues: dict[str, asyncio.Queue[E]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    @property
    def active_channels(self) -> set[str]:
        """Ids of channels with a live worker."""
        return set(self._workers)

    def submit(self, channel_id: str, event: E) -> None:
        """Queue ``event`` for ``channel_id`` without blocking."""
        if self._closed:
            raise RuntimeError("ChannelDispatcher is closed")
        queue = self._queues.get(channel_id)
        if queue is None:
            queue = self._queues[channel_id] = asyncio.Queue()
            self._workers[channel_id] = asyncio.create_task(
                self._work(channel_id, queue), name=f"ari-channel-{channel_id}"
            )
        queue.put_nowait(event)
        self._pending += 1
        self._idle.clear()

    async def _work(self, channel_id: str, queue: asyncio.Queue[E]) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(self._idle_timeout):
                        event = await queue.get()
                except TimeoutError:
                    if queue.empty():
                        return
                    continue
                try:
                    await self._handle(channel_id, event)
                except Exception:
                    logger.exception("%s handler failed for %s", channel_id, type(event).__name__)
                finally:
                    self._done(1)
                if self._is_final(event) and queue.empty():
                    return
        finally:
            self._done(queue.qsize())
            del self._queues[channel_id]
            del self._workers[channel_id]

    def _done(self, count: int) -> None:
        self._pending -= count
        if self._pending == 0:
            self._idle.set()

    async def drain(self) -> None:
        """Wait until every submitted event has been handled."""
        await self._idle.wait()

    async def close(self) -> None:
        """Cancel all workers (dropping queued events) and wait for them to finish."""
        self._closed = True
        workers = set(self._workers.values())
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.wait(workers)
