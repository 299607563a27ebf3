"""Retention of the records: contacts, wrap-ups (with their notes) and queue history older
than their table's retention (``[records] *_days``) are deleted in batches, so a purge of
years of rows never holds one long transaction. The audit table is append-only: kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from core.config import RecordsSettings
from records.models import Contact, QueueEvent, Wrapup

DAY_S = 86400
#: Rows one delete removes.
BATCH = 5000


@dataclass(frozen=True)
class PurgedRecords:
    """How many rows each table lost."""

    contacts: int
    wrapups: int
    queue_events: int


async def purge_records(
    engine: AsyncEngine,
    settings: RecordsSettings,
    now: float,
    batch: int = BATCH,
    on_batch: Callable[[int], object] = lambda rows: None,
) -> PurgedRecords:
    """Delete the rows past retention at ``now`` (epoch seconds); ``on_batch`` hears how many
    rows each batch deleted (a progress bar)."""
    return PurgedRecords(
        contacts=await _purge(
            engine,
            Contact.id,
            Contact.arrived_at,
            now - settings.contacts_days * DAY_S,
            batch,
            on_batch,
        ),
        wrapups=await _purge(
            engine,
            Wrapup.call_id,
            Wrapup.written_at,
            now - settings.wrapups_days * DAY_S,
            batch,
            on_batch,
        ),
        queue_events=await _purge(
            engine,
            QueueEvent.id,
            QueueEvent.at,
            now - settings.queue_history_days * DAY_S,
            batch,
            on_batch,
        ),
    )


async def _purge(
    engine: AsyncEngine,
    key: InstrumentedAttribute[str],
    when: InstrumentedAttribute[float] | InstrumentedAttribute[float | None],
    before: float,
    batch: int,
    on_batch: Callable[[int], object],
) -> int:
    """Delete rows whose ``when`` is before ``before``, up to ``batch`` keys a transaction."""
    total = 0
    while True:
        async with engine.begin() as conn:
            keys = select(key).where(when < before).limit(batch).scalar_subquery()
            result = await conn.execute(delete(key.class_).where(key.in_(keys), when < before))
        if not result.rowcount:
            return total
        total += result.rowcount
        on_batch(result.rowcount)
