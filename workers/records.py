"""The records drain in a worker process: the Redis streams the app writes (queue log, IVR
journal, conversation log, audits, wrap-ups kept while the database was away) into SQL, every
``[records] drain_every_s``, on the worker's event loop beside the SMS jobs. Several workers
take turns (the drain's Redis lock); the app itself drains nothing on its own."""

from __future__ import annotations

import asyncio
import contextlib

from records.service import DrainService
from workers.sms import WorkerLoop


class WorkerDrain:
    """A :class:`DrainService` running on a worker's loop from ``start`` to ``stop``."""

    def __init__(self, service: DrainService, loop: WorkerLoop) -> None:
        self.service, self.loop = service, loop
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start draining (in the background: this returns at once)."""
        self.loop.run(self._start())

    def stop(self) -> None:
        """Stop draining, once the database work under way has ended."""
        self.loop.run(self._stop())

    async def _start(self) -> None:
        self._task = asyncio.create_task(self.service.run(), name="records-drain")

    async def _stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.service.work.settle()
