"""What the supervisor screen shows and does: a tile per queue, a row per agent, the actions
on a stuck agent, listening to, whispering into or barging into a live call, and unmasking a
caller in an emergency with its audit trail. The ACD and the vault serve it (wired in
``hotline``); refusals arrive as ``core.ports.Refused``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Final, Protocol

#: How a supervisor joins a live call: hear it, speak to the volunteer only, or join it.
MONITOR_MODES: Final = ("listen", "whisper", "barge")


@dataclass(frozen=True)
class QueueTile:
    """One queue now: calls waiting, the longest wait, agents by state and the service level
    (None before any call is counted)."""

    queue: str
    waiting: int
    longest_wait_s: float
    agents: Mapping[str, int]
    service_level_pct: float | None


@dataclass(frozen=True)
class AgentRow:
    """One agent now: state, when it began (epoch seconds, None if unknown), the pause's
    reason, the queues the agent is paused in on their own with each pause's reason, and the
    call it has rung or taken ("" if none)."""

    id: str
    name: str
    state: str
    since: float | None
    pause_reason: str
    paused_in: Mapping[str, str]
    call_id: str


@dataclass(frozen=True)
class Board:
    """The wallboard and the agents table."""

    tiles: tuple[QueueTile, ...]
    agents: tuple[AgentRow, ...]

    def to_json(self) -> str:
        """The board as the supervisor's event stream sends it."""
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class Unmasked:
    """A caller's number, shown once to the supervisor who gave a reason, and its pseudonym."""

    number: str = field(repr=False)
    pseudonym: str


@dataclass(frozen=True)
class AuditLine:
    """One caller's number shown to someone: when (ISO 8601), who, why, whose pseudonym."""

    at: str
    actor: str
    role: str
    reason: str
    pseudonym: str


class SupervisorDesk(Protocol):
    """The supervisor's view of the ACD and actions on its agents."""

    async def board(self) -> Board:
        """Every queue and every agent the ACD knows, now."""

    async def reset(self, agent_id: str, by: str, reason: str) -> None:
        """Return a stuck agent to a clean state (audited in the queue log with ``by``)."""

    async def force_logout(self, agent_id: str, by: str, role: str) -> None:
        """Sign the agent out of every queue (audited as a forced logout by ``by``)."""

    async def monitor(self, call_id: str, by: str, role: str, mode: str) -> str:
        """Ring ``by``'s own phone to join the call in ``mode`` (one of ``MONITOR_MODES``;
        audited first); the session's id."""

    async def unmask(self, call_id: str, by: str, role: str, reason: str) -> Unmasked:
        """The number of the call's caller, written to the audit trail first."""

    async def audit(self, count: int) -> list[AuditLine]:
        """The newest ``count`` unmasks, newest first."""
