"""What a volunteer does with the call they are on: transfer it to a queue or to a supervisor,
or hang up.
The ACD serves it (wired in ``hotline``); refusals arrive as ``core.ports.Refused``."""

from __future__ import annotations

from typing import Protocol


class CallDesk(Protocol):
    """Call controls for the volunteer connected to a call."""

    def queues(self) -> tuple[str, ...]:
        """The queues a call can be transferred to."""

    async def to_queue(self, agent_id: str, call_id: str, queue: str) -> None:
        """Send the agent's connected call to wait in ``queue``."""

    async def to_supervisor(self, agent_id: str, call_id: str) -> str:
        """Ring an available supervisor for the agent's connected call; the supervisor's id."""

    async def hang_up(self, agent_id: str, call_id: str) -> None:
        """End the agent's connected call (its side hung up, as if the phone were put down)."""
