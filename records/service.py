"""The records side of one app instance: the engine, the schema brought up to date, and the
drain, all off the call path (calls go on while the database is away)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

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

    async def run(self) -> None:
        """Migrate, then drain; never raises for a database that is down."""
        failing = False
        while True:
            try:
                await upgrade(self.engine)
                break
            except (SQLAlchemyError, OSError) as exc:
                if not failing:
                    logger.warning("records: database unreachable (%s); retrying", exc)
                failing = True
                await asyncio.sleep(self.every_s)
        self.ready.set()
        await self.drain.run(self.every_s)

    def routes(self) -> list[web.RouteDef]:
        """The records endpoints (wrap-ups, history, reports)."""
        return records_routes(self.wrapups, self.engine, self.wrapups.queues)

    async def close(self) -> None:
        """Close the database connections."""
        await self.engine.dispose()
