"""The presence desk the console drives: a volunteer's ACD state and its changes.

The ACD serves it (wired in ``hotline``); refusals arrive as ``core.ports.Refused``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Presence:
    """A volunteer's state as the ACD holds it (``logged_out``, ``available``, ``paused``,
    ``offered``, ``on_call`` or ``wrap_up``), the pause's reason if paused, when the call
    on hand was answered (epoch seconds), when the wrap-up ends, and the queues the volunteer
    is paused in on their own with each pause's reason."""

    state: str
    pause_reason: str = ""
    call_since: float | None = None
    wrapup_until: float | None = None
    paused_in: Mapping[str, str] = field(default_factory=dict)


class PresenceDesk(Protocol):
    """Presence operations on one volunteer, by id."""

    async def presence(self, agent_id: str) -> Presence:
        """The volunteer's state."""

    async def call_on_hand(self, agent_id: str) -> str | None:
        """The call the volunteer is connected to, or wraps up while their wrap-up time lasts
        (None: none)."""

    async def go_available(self, agent_id: str) -> None:
        """Sign in to the volunteer's queues, or end their pause."""

    def queues(self, agent_id: str) -> tuple[str, ...]:
        """The queues the volunteer serves."""

    async def pause(self, agent_id: str, reason: str, queue: str | None = None) -> None:
        """Pause with ``reason``; with ``queue``, in that queue only."""

    async def resume_queue(self, agent_id: str, queue: str) -> None:
        """End the volunteer's pause in ``queue`` only."""

    async def sign_off(self, agent_id: str) -> None:
        """Sign out of every queue."""

    async def end_wrapup(self, agent_id: str) -> None:
        """End the wrap-up now: available again."""

    async def extend_wrapup(self, agent_id: str, seconds: float) -> None:
        """Make the wrap-up, not yet over, last ``seconds`` longer."""
