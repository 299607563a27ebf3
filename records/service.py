"""The records side of one app instance: the engine, the schema brought up to date, and the
drain, all off the call path (calls go on while the database is away)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings
from core.keys import Keys
from records.database import connect, upgrade
from records.drain import Drain
from records.http import records_routes
from records.wrapups import QueueRules, Wrapups

logger = logging.getLogger(__name__)


class RecordsService:
    """Owns the records engine; ``run`` migrates (retrying every ``drain_every_s`` until the
    database answers) and then drains the Redis streams until cancelled."""

    def __init__(
        self, settings: Settings, redis: aioredis.Redis, queues: Mapping[str, QueueRules]
    ) -> None:
        records = settings.records
        self.engine = connect(records, settings.secrets.records_password)
        self.drain = Drain(
            redis,
            Keys(settings.redis.prefix),
            self.engine,
            batch=records.drain_batch,
            keep_s=records.stream_keep_s,
            clock=time.time,
        )
        self.wrapups = Wrapups(
            self.engine,
            self.drain,
            queues,
            grace_s=records.wrapup_grace_s,
            notes_max=records.notes_max,
            region=settings.privacy.default_region,
            clock=time.time,
        )
        self.every_s = records.drain_every_s
        self.ready = asyncio.Event()
        self._work: asyncio.Future[None] | None = None

    async def run(self) -> None:
        """Migrate, then drain; never raises for a database that is down."""
        failing = False
        while True:
            try:
                await self._to_the_end(upgrade(self.engine))
                break
            except (SQLAlchemyError, OSError) as exc:
                if not failing:
                    logger.warning("records: database unreachable (%s); retrying", exc)
                failing = True
                await asyncio.sleep(self.every_s)
        self.ready.set()
        while True:
            await self._to_the_end(self.drain.turn())
            await asyncio.sleep(self.every_s)

    async def _to_the_end(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one unit of database work to its end even if ``run`` is cancelled meanwhile
        (``close`` waits for it): a transaction cut off half-way keeps its connection checked
        out, and SQLite's driver thread for it, not a daemon, would keep the process from
        exiting."""
        self._work = asyncio.ensure_future(work)
        await asyncio.shield(self._work)

    def routes(self) -> list[web.RouteDef]:
        """The records endpoints (wrap-ups, history, reports)."""
        return records_routes(self.wrapups, self.engine, self.wrapups.queues)

    async def close(self) -> None:
        """Let the database work under way end (the app's close bounds the wait), then close
        the database connections."""
        if self._work is not None:
            await asyncio.wait({self._work})
            if not self._work.cancelled():
                self._work.exception()  # retrieved: run has logged or will retry it
        await self.engine.dispose()
