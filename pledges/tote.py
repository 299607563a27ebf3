"""The tote board: a campaign's live totals for the studio screen and the public, with no
personal data at all (sums and counts only).

``board`` is pure: from the sums per status and the amount pledged over the last
``PACE_WINDOW_S``, it gives the totals, the goal and the milestones reached. ``read_board``
asks the database for those sums. ``ToteFeed`` polls the database every ``every_s`` seconds
while someone follows a board (every app instance sees every pledge, whichever instance
saved it) and wakes the followers when a board changes.

Pledged totals count every pledge but cancelled and expired ones (a failed payment may still
be paid); paid totals count pledges the provider said were paid. Each pledge counts its amount
once (a monthly gift: the first instalment, taken on the night). Money received stays
received: a paid monthly gift cancelled afterwards (its later instalments stopped) still
counts in the paid and pledged totals, the number of pledges and the pace, so a studio's
totals never drop on air for a gift that was paid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pledges.campaigns import Campaign
from pledges.models import Pledge
from pledges.rules import Status

logger = logging.getLogger(__name__)
#: Seconds over which the pace is counted.
PACE_WINDOW_S = 15 * 60
#: Statuses whose pledges no longer count.
_GONE = (Status.CANCELLED.value, Status.EXPIRED.value)


@dataclass(frozen=True)
class ToteBoard:
    """A campaign's totals; amounts in minor units of ``currency``."""

    campaign: str
    title: str
    currency: str
    goal: int
    pledged: int
    paid: int
    count: int
    #: Amount and number of pledges over the last 15 minutes.
    pace_amount: int
    pace_count: int
    milestones: tuple[int, ...]
    reached: tuple[int, ...]
    #: The share of the goal pledged, in percent (0 without a goal).
    progress: float = field(default=0.0)

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dict."""
        return {
            **asdict(self),
            "milestones": list(self.milestones),
            "reached": list(self.reached),
        }


@dataclass(frozen=True)
class Sums:
    """What the database adds up for a board."""

    pledged: int = 0
    paid: int = 0
    count: int = 0
    pace_amount: int = 0
    pace_count: int = 0


def board(campaign: Campaign, sums: Sums) -> ToteBoard:
    """The board of ``campaign`` with these sums."""
    progress = round(100 * sums.pledged / campaign.goal, 1) if campaign.goal else 0.0
    return ToteBoard(
        campaign=campaign.name,
        title=campaign.title,
        currency=campaign.currency,
        goal=campaign.goal,
        pledged=sums.pledged,
        paid=sums.paid,
        count=sums.count,
        pace_amount=sums.pace_amount,
        pace_count=sums.pace_count,
        milestones=campaign.milestones,
        reached=tuple(m for m in campaign.milestones if sums.pledged >= m),
        progress=progress,
    )


async def read_sums(engine: AsyncEngine, campaign: str, now: float) -> Sums:
    """The sums of ``campaign``'s pledges at ``now``, in one query."""
    paid = Pledge.paid_at.is_not(None)
    live = Pledge.status.not_in(_GONE) | paid
    recent = live & (Pledge.created_at > now - PACE_WINDOW_S)
    query = select(
        func.coalesce(func.sum(case((live, Pledge.amount), else_=0)), 0),
        func.coalesce(func.sum(case((paid, Pledge.amount))), 0),
        func.count().filter(live),
        func.coalesce(func.sum(case((recent, Pledge.amount), else_=0)), 0),
        func.count().filter(recent),
    ).where(Pledge.campaign == campaign)
    async with AsyncSession(engine) as session:
        row = (await session.execute(query)).one()
    return Sums(*(int(value) for value in row))


class ToteFeed:
    """The boards of every campaign, kept fresh while followed."""

    def __init__(
        self,
        engine: AsyncEngine,
        campaigns: Mapping[str, Campaign],
        *,
        clock: Callable[[], float],
        every_s: float = 0.25,
    ) -> None:
        self.engine, self.campaigns, self.clock, self.every_s = engine, campaigns, clock, every_s
        self._boards: dict[str, ToteBoard] = {}
        self._changed = asyncio.Condition()
        self._followers = 0
        self._followed = asyncio.Event()

    async def board(self, campaign: str) -> ToteBoard:
        """The campaign's board now, read from the database (KeyError: no such campaign)."""
        config = self.campaigns[campaign]
        return board(config, await read_sums(self.engine, campaign, self.clock()))

    def latest(self, campaign: str) -> ToteBoard | None:
        """The campaign's board as last polled (None before the first poll)."""
        return self._boards.get(campaign)

    @contextlib.contextmanager
    def follow(self) -> Iterator[None]:
        """While inside, the feed polls the database."""
        self._followers += 1
        self._followed.set()
        try:
            yield
        finally:
            self._followers -= 1
            if not self._followers:
                self._followed.clear()

    async def changed(self, within_s: float) -> bool:
        """Wait for the next change of any board: True, or False after ``within_s``."""
        async with self._changed:
            try:
                async with asyncio.timeout(within_s):
                    await self._changed.wait()
            except TimeoutError:
                return False
        return True

    async def run(self) -> None:
        """Poll every followed campaign's board, waking followers on a change; until
        cancelled (the app's lifecycle owns it)."""
        while True:
            await self._followed.wait()
            try:
                fresh = {name: await self.board(name) for name in self.campaigns}
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("tote board: database unreachable (%s)", exc)
                fresh = self._boards
            if fresh != self._boards:
                self._boards = fresh
                async with self._changed:
                    self._changed.notify_all()
            await asyncio.sleep(self.every_s)
