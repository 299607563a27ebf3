"""The wrap-up desk the console writes to (a call's disposition, notes and flags) and reads
the caller's earlier contacts from, in the records store.

The records side serves it (wired in ``hotline``); refusals arrive as ``core.api.ApiError``
with their ids (invalid-disposition, invalid-flag, notes-too-long, not-your-call,
wrapup-closed, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Earlier:
    """The caller's earlier contacts, their last dispositions and the distinct flags set on
    them, newest first."""

    contacts: int
    last_dispositions: Sequence[str]
    flags: Sequence[str]


class WrapupDesk(Protocol):
    """Wrap-ups of calls, by the volunteer who took them."""

    def dispositions(self, queue: str) -> tuple[str, ...]:
        """The call types a volunteer picks from in ``queue`` (none for an unknown queue)."""

    def flags(self, queue: str) -> tuple[str, ...]:
        """The flags a volunteer may set on a contact of ``queue``."""

    async def write(
        self, call_id: str, agent_id: str, disposition: str, notes: str, flags: Sequence[str]
    ) -> None:
        """Store the volunteer's wrap-up of the call (a second one replaces the first)."""

    async def earlier(self, call_id: str, agent_id: str) -> Earlier | None:
        """The earlier contacts of a call's caller, for a volunteer it was offered to; None
        when the records store cannot tell now (database away, call not yet recorded)."""

    async def texter_earlier(self, conversation_id: str) -> Earlier | None:
        """The earlier contacts of a text conversation's texter (the console checks that the
        volunteer holds it); None when the records store cannot tell now."""
