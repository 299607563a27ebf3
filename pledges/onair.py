"""The on-air read queue: pledges whose donor agreed to be thanked on air, by their alias
only, oldest first, for the presenter, who marks each one read."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.api import ApiError
from pledges.models import Pledge
from pledges.rules import Status

#: Statuses whose pledges are not read on air.
_GONE = (Status.CANCELLED.value, Status.EXPIRED.value)


@dataclass(frozen=True)
class OnAir:
    """A pledge to read: the alias, the gift, nothing else about the donor."""

    pledge: str
    alias: str
    amount: int
    currency: str
    frequency: str
    created_at: float

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dict."""
        return asdict(self)


async def read_queue(engine: AsyncEngine, campaign: str, count: int) -> list[OnAir]:
    """The next ``count`` pledges of ``campaign`` to read on air, oldest first."""
    query = (
        select(Pledge)
        .where(
            Pledge.campaign == campaign,
            Pledge.on_air,
            Pledge.read_at.is_(None),
            Pledge.status.not_in(_GONE),
        )
        .order_by(Pledge.created_at, Pledge.id)
        .limit(count)
    )
    async with AsyncSession(engine) as session:
        rows = (await session.scalars(query)).all()
    return [
        OnAir(row.id, row.alias, row.amount, row.currency, row.frequency, row.created_at)
        for row in rows
    ]


async def mark_read(engine: AsyncEngine, campaign: str, pledge_id: str, now: float) -> bool:
    """Mark a pledge read on air: True the first time, False again; 404 no-such-pledge for a
    pledge of another campaign or not to be read."""
    async with AsyncSession(engine) as session, session.begin():
        row = await session.get(Pledge, pledge_id)
        if row is None or row.campaign != campaign or not row.on_air:
            raise ApiError(404, "no-such-pledge", pledge_id)
        result = await session.execute(
            update(Pledge)
            .where(Pledge.id == pledge_id, Pledge.read_at.is_(None))
            .values(read_at=now)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]
