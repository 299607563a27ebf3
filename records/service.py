"""The records side of a process: in the app, the engine, the schema brought up to date and
the HTTP API (a request catches the drain up when it needs the newest rows); in a worker, the
drain of the Redis streams into SQL every ``drain_every_s``. Neither is on the call path:
calls go on while the database is away, and the app only writes to the streams."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.config import RecordsSettings, Settings
from core.keys import Keys
from core.tasks import stop_if_cancelled
from records.database import connect, upgrade
from records.drain import LOCK_S, Drain
from records.http import records_routes
from records.wrapups import QueueRules, Wrapups

logger = logging.getLogger(__name__)

#: Seconds a request catching the drain up waits for the drain lock (a worker's step is over
#: in well under a second; one killed mid-step leaves the lock for ``LOCK_S``): then it goes
#: on with what SQL holds.
REQUEST_LOCK_WAIT_S = 5.0


class DatabaseWork:
    """Runs units of database work to their end even if the task awaiting them is cancelled
    (``settle`` waits for the one under way): a transaction cut off half-way keeps its
    connection checked out, and SQLite's driver thread for it, not a daemon, would keep the
    process from exiting."""

    def __init__(self, engine: AsyncEngine, every_s: float) -> None:
        self.engine, self.every_s = engine, every_s
        #: Set once the schema is up to date.
        self.ready = asyncio.Event()
        self._work: asyncio.Future[None] | None = None

    async def migrate(self) -> None:
        """Bring the schema up to date, retrying every ``every_s`` until the database
        answers; never raises for a database that is down."""
        failing = False
        while True:
            try:
                await self.to_the_end(upgrade(self.engine))
                break
            except (SQLAlchemyError, OSError) as exc:
                if not failing:
                    logger.warning("records: database unreachable (%s); retrying", exc)
                failing = True
                await asyncio.sleep(self.every_s)
        self.ready.set()

    async def to_the_end(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work``, shielded from the caller's cancellation."""
        self._work = asyncio.ensure_future(work)
        await asyncio.shield(self._work)

    async def settle(self) -> None:
        """Wait for the work under way (the caller bounds the wait)."""
        if self._work is not None:
            await asyncio.wait({self._work})
            if not self._work.cancelled():
                self._work.exception()  # retrieved: its runner has logged or will retry it


def drain_of(
    settings: Settings, redis: aioredis.Redis, engine: AsyncEngine, lock_wait_s: float = LOCK_S
) -> Drain:
    """The drain of the configured streams into ``engine``."""
    records = settings.records
    return Drain(
        redis,
        Keys(settings.redis.prefix),
        engine,
        batch=records.drain_batch,
        keep_s=records.stream_keep_s,
        clock=time.time,
        lock_wait_s=lock_wait_s,
    )


class RecordsService:
    """The app's records: ``run`` migrates (retrying every ``drain_every_s`` until the
    database answers); the API writes wrap-ups and reads history and reports."""

    def __init__(
        self, settings: Settings, redis: aioredis.Redis, queues: Mapping[str, QueueRules]
    ) -> None:
        records = settings.records
        self.engine = connect(records, settings.secrets.records_password)
        self.work = DatabaseWork(self.engine, records.drain_every_s)
        self.wrapups = Wrapups(
            self.engine,
            drain_of(settings, redis, self.engine, REQUEST_LOCK_WAIT_S),
            queues,
            grace_s=records.wrapup_grace_s,
            notes_max=records.notes_max,
            region=settings.privacy.default_region,
            clock=time.time,
        )

    @property
    def ready(self) -> asyncio.Event:
        """Set once the schema is up to date."""
        return self.work.ready

    async def run(self) -> None:
        """Migrate; never raises for a database that is down."""
        await self.work.migrate()

    def routes(self) -> list[web.RouteDef]:
        """The records endpoints (wrap-ups, history, reports)."""
        return records_routes(self.wrapups, self.engine, self.wrapups.queues)

    async def close(self) -> None:
        """Let the database work under way end (the app's close bounds the wait), then close
        the database connections."""
        await self.work.settle()
        await self.engine.dispose()


class DrainService:
    """A worker's drain: migrate, then drain the streams every ``drain_every_s`` until
    cancelled; a failure (the database away) waits for the next turn, the entries in Redis."""

    def __init__(self, drain: Drain, records: RecordsSettings) -> None:
        self.drain = drain
        self.work = DatabaseWork(drain.engine, records.drain_every_s)

    async def run(self) -> None:
        """Migrate, then drain until cancelled."""
        await self.work.migrate()
        while True:
            stop_if_cancelled()
            await self.work.to_the_end(self.drain.turn())
            await asyncio.sleep(self.work.every_s)
