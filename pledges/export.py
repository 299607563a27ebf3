"""Exports of a campaign's pledges, one row a pledge, oldest first.

The accounting export holds amounts, statuses, when each was paid and the payment provider's
references, and no donor details. The tax-receipt batch holds, for each pledge whose donor
asked for a receipt and that was paid (a paid monthly gift cancelled later too: its first
instalment was received), the donor's name and postal address, decrypted: it is written
only to a new file that only its owner may read (mode 0600), and its caller audits it first
(``hotline export receipts``). Comments are in neither.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pledges.donors import DonorSeal
from pledges.models import Pledge

COLUMNS = (
    "pledge", "campaign", "created_at", "updated_at", "amount", "currency", "frequency",
    "day_of_month", "instalments", "method", "status", "receipt", "provider_ref", "paid_at",
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
        _iso(row.paid_at) if row.paid_at is not None else "",
    )  # fmt: skip


def as_csv(rows: Sequence[tuple[str | int | None, ...]]) -> str:
    """The accounting rows as CSV with a header line; amounts in minor units."""
    return as_csv_of(COLUMNS, rows)


RECEIPT_COLUMNS = ("pledge", "campaign", "paid_at", "amount", "currency", "name", "address")


async def receipt_rows(
    engine: AsyncEngine, seal: DonorSeal, campaign: str, since: float | None = None
) -> list[tuple[str | int | None, ...]]:
    """The tax-receipt batch (in ``RECEIPT_COLUMNS`` order): paid pledges whose donor asked
    for a receipt, made at ``since`` or later, with their details decrypted."""
    query = select(Pledge).where(
        Pledge.campaign == campaign, Pledge.receipt, Pledge.paid_at.is_not(None)
    )
    if since is not None:
        query = query.where(Pledge.created_at >= since)
    async with AsyncSession(engine) as session:
        found = (await session.scalars(query.order_by(Pledge.created_at, Pledge.id))).all()
    rows: list[tuple[str | int | None, ...]] = []
    for row in found:
        donor, paid_at = seal.open(row.donor_sealed), cast(float, row.paid_at)  # as queried
        rows.append(
            (row.id, row.campaign, _iso(paid_at), row.amount, row.currency,
             donor.name, donor.address)
        )  # fmt: skip
    return rows


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only its owner may read or write (FileExistsError if
    ``path`` exists: a batch never overwrites another)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write(text)


def as_csv_of(columns: Sequence[str], rows: Sequence[tuple[str | int | None, ...]]) -> str:
    """``rows`` as CSV under a header of ``columns``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return out.getvalue()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
