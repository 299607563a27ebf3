"""The records side of one app instance: the engine, the schema brought up to date, and the
drain, all off the call path (calls go on while the database is away)."""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings
from core.keys import Keys
from records.database import connect, upgrade
from records.drain import Drain

logger = logging.getLogger(__name__)

#: Seconds between two attempts to reach the database at start.
RETRY_S = 5.0


class RecordsService:
    """Owns the records engine; ``run`` migrates (retrying until the database answers) and
    then drains the Redis streams until cancelled."""

    def __init__(self, settings: Settings, redis: aioredis.Redis) -> None:
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
        self.every_s = records.drain_every_s
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Migrate, then drain; never raises for a database that is down."""
        while True:
            try:
                await upgrade(self.engine)
                break
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("records: database unreachable (%s); retrying", exc)
                await asyncio.sleep(RETRY_S)
        self.ready.set()
        await self.drain.run(self.every_s)

    async def close(self) -> None:
        """Close the database connections."""
        await self.engine.dispose()
