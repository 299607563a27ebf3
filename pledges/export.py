"""Accounting exports of a campaign's pledges: amounts, statuses and the payment provider's
references, one row a pledge, oldest first. No donor details: a pledge's name and address
(tax-receipt batches) are not part of this export.

A comment cannot inject a formula into a spreadsheet: comments are not exported at all, and
every text column here comes from the service itself (ids, enums, provider references).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pledges.models import Pledge

COLUMNS = (
    "pledge", "campaign", "created_at", "updated_at", "amount", "currency", "frequency",
    "day_of_month", "instalments", "method", "status", "receipt", "provider_ref",
)  # fmt: skip


async def accounting_rows(
    engine: AsyncEngine, campaign: str, since: float | None = None
) -> list[tuple[str | int | None, ...]]:
    """The export's rows (in ``COLUMNS`` order) of pledges made at ``since`` or later."""
    query = select(Pledge).where(Pledge.campaign == campaign)
    if since is not None:
        query = query.where(Pledge.created_at >= since)
    async with AsyncSession(engine) as session:
        found = (await session.scalars(query.order_by(Pledge.created_at, Pledge.id))).all()
    return [_row(pledge) for pledge in found]


def _row(row: Pledge) -> tuple[str | int | None, ...]:
    return (
        row.id, row.campaign, _iso(row.created_at), _iso(row.updated_at), row.amount,
        row.currency, row.frequency, row.day_of_month, row.instalments, row.method,
        row.status, "yes" if row.receipt else "no", row.provider_ref,
    )  # fmt: skip


def as_csv(rows: Sequence[tuple[str | int | None, ...]]) -> str:
    """The rows as CSV with a header line; amounts in minor units."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return out.getvalue()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
