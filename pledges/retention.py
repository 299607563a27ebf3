"""Retention of pledges: past ``[records] pledge_details_days`` after a pledge's last change,
what tells who the donor was (their sealed name, address and e-mail, their keyed reference and
pseudonym, the on-air alias, the comment) is cleared, in batches; the amount, frequency,
method, status and provider reference stay for accounting, and the tote board's totals with
them. Run by the daily purge (``hotline worker``) and ``hotline purge``.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pledges.models import Pledge

#: Pledges one transaction clears.
BATCH: Final = 1000
#: What a pledge past retention holds instead of its donor.
FORGOTTEN: Final = {
    "donor_sealed": "",
    "keep_details": False,
    "donor_key": "",
    "pseudonym": "",
    "alias": "",
    "comment": "",
}
_HOLDS_DONOR = or_(*(getattr(Pledge, column) != value for column, value in FORGOTTEN.items()))


async def forget_donors(engine: AsyncEngine, before: float, batch: int = BATCH) -> int:
    """Clear the donor of every pledge last changed before ``before`` (epoch seconds); how
    many pledges were cleared. Their ``updated_at`` stays: forgetting is not a change."""
    total = 0
    while True:
        due = select(Pledge.id).where(Pledge.updated_at < before, _HOLDS_DONOR).limit(batch)
        async with engine.begin() as conn:
            result = await conn.execute(
                update(Pledge)
                .where(Pledge.id.in_(due.scalar_subquery()), Pledge.updated_at < before)
                .values(FORGOTTEN)
            )
        if not result.rowcount:
            return total
        total += result.rowcount
