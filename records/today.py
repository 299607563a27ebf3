"""Calls each volunteer took since a moment (the start of the day, for the supervisor's
agents table): the queue history in SQL up to the drain's cursor, and after it the queue log
still in Redis, so that the count is whole whether or not a worker has drained the newest
entries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final, cast
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.keys import Keys
from records.models import QueueEvent, StreamCursor

#: The drain's cursor of the ACD's queue log (``records.drain.Drain.streams``).
QUEUE_LOG_CURSOR: Final = "queue_log"
#: Queue log entries read from Redis at a time.
BATCH: Final = 1000


def day_start(now: float, zone: ZoneInfo) -> float:
    """Epoch seconds of the midnight that began ``now``'s day in ``zone``."""
    moment = datetime.fromtimestamp(now, zone)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def connects(entries: Iterable[tuple[str, Mapping[str, str]]], since: float) -> dict[str, str]:
    """The agent of each call taken (CONNECT, a hand-over's too) among queue log ``entries``
    at or after ``since``, by entry id."""
    return {
        entry_id: fields["agent"]
        for entry_id, fields in entries
        if fields.get("event") == "CONNECT" and float(fields.get("time", 0)) >= since
    }


async def calls_since(
    engine: AsyncEngine, redis: aioredis.Redis, keys: Keys, since: float
) -> dict[str, int]:
    """Calls each agent took since ``since``: the rows drained to SQL, then the entries after
    the drain's cursor in Redis (an entry found in both, drained meanwhile, counts once).
    Raises SQLAlchemyError or OSError while the database is away."""
    async with AsyncSession(engine) as session:
        cursor = await session.get(StreamCursor, QUEUE_LOG_CURSOR)
        rows = await session.execute(
            select(QueueEvent.id, QueueEvent.agent).where(
                QueueEvent.event == "CONNECT", QueueEvent.at >= since
            )
        )
        taken = {str(entry_id): str(agent) for entry_id, agent in rows.all()}
    after = f"({cursor.last_id}" if cursor else "-"
    while entries := cast(
        list[tuple[str, dict[str, str]]],
        await redis.xrange(keys.acd_queue_log, min=after, count=BATCH),
    ):
        taken.update(connects(entries, since))
        after = f"({entries[-1][0]}"
    return dict(Counter(taken.values()))
