"""The wrap-up desk the console writes to: a call's disposition and notes, in the records store.

The records side serves it (wired in ``hotline``); refusals arrive as ``core.api.ApiError``
with their ids (invalid-disposition, notes-too-long, not-your-call, wrapup-closed, ...).
"""

from __future__ import annotations

from typing import Protocol


class WrapupDesk(Protocol):
    """Wrap-ups of calls, by the volunteer who took them."""

    def dispositions(self, queue: str) -> tuple[str, ...]:
        """The call types a volunteer picks from in ``queue`` (none for an unknown queue)."""

    async def write(self, call_id: str, agent_id: str, disposition: str, notes: str) -> None:
        """Store the volunteer's wrap-up of the call (a second one replaces the first)."""
