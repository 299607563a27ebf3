"""What the supervisor screen shows and does: a tile per queue, a row per agent, the actions
on a stuck agent, listening to, whispering into or barging into a live call, and unmasking a
caller in an emergency with its audit trail. The ACD and the vault serve it (wired in
``hotline``); refusals arrive as ``core.ports.Refused``."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Final, Protocol

#: How a supervisor joins a live call: hear it, speak to the volunteer only, or join it.
MONITOR_MODES: Final = ("listen", "whisper", "barge")


@dataclass(frozen=True)
class QueueTile:
    """One queue now: calls waiting, the longest wait, agents by state, callbacks waiting to
    be made, and today's counts (since midnight in the line's time zone): answered, abandoned
    (abandons within the queue's short-abandon time apart), the service level, ASA and AHT
    (None before any call is counted today)."""

    queue: str
    waiting: int
    longest_wait_s: float
    agents: Mapping[str, int]
    service_level_pct: float | None
    answered: int
    abandoned: int
    short_abandoned: int
    asa_s: float | None
    aht_s: float | None
    callbacks_pending: int


@dataclass(frozen=True)
class AgentRow:
    """One agent now: state, when it began (epoch seconds, None if unknown), the pause's
    reason, the queues the agent is paused in on their own with each pause's reason, the
    call it has rung or taken ("" if none), that call's queue and when it was answered (None
    while it rings), and the calls it took today (None while the records cannot tell)."""

    id: str
    name: str
    state: str
    since: float | None
    pause_reason: str
    paused_in: Mapping[str, str]
    call_id: str
    call_queue: str
    call_since: float | None
    #: The queues the agent's profile serves.
    queues: tuple[str, ...]
    calls_today: int | None


@dataclass(frozen=True)
class Board:
    """The wallboard and the agents table."""

    tiles: tuple[QueueTile, ...]
    agents: tuple[AgentRow, ...]

    def to_json(self) -> str:
        """The board as the supervisor's event stream sends it."""
        return json.dumps(asdict(self))

    def limited_to(self, supervises: Collection[str]) -> Board:
        """What someone overseeing ``supervises`` sees: those queues' tiles and the agents
        serving any of them (everything if ``supervises`` is empty)."""
        if not supervises:
            return self
        tiles = tuple(t for t in self.tiles if t.queue in supervises)
        agents = tuple(a for a in self.agents if oversees(supervises, a.queues))
        return Board(tiles, agents)


def oversees(supervises: Collection[str], queues: Iterable[str]) -> bool:
    """Whether someone overseeing ``supervises`` (empty: every queue) oversees any of
    ``queues``."""
    return not supervises or any(queue in supervises for queue in queues)


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

    def agent_queues(self, agent_id: str) -> tuple[str, ...]:
        """The queues the agent's profile serves (none for an unknown agent)."""

    async def call_queue(self, call_id: str) -> str:
        """The queue of a call the ACD holds ("" if it is gone or unknown)."""

    async def pseudonyms(self, call_ids: Collection[str]) -> Mapping[str, str]:
        """The pseudonym of each call's caller (none for a call the ACD no longer knows)."""

    async def reset(self, agent_id: str, by: str, reason: str) -> None:
        """Return a stuck agent to a clean state (audited in the queue log with ``by``)."""

    async def force_logout(self, agent_id: str, by: str, role: str) -> None:
        """Sign the agent out of every queue (audited as a forced logout by ``by``)."""

    async def force_pause(self, agent_id: str, by: str, role: str, reason: str) -> None:
        """Pause the agent in every queue with ``reason`` (audited as a forced pause by
        ``by``)."""

    async def monitor(self, call_id: str, by: str, role: str, mode: str) -> str:
        """Ring ``by``'s own phone to join the call in ``mode`` (one of ``MONITOR_MODES``;
        audited first); the session's id."""

    async def unmask(self, call_id: str, by: str, role: str, reason: str) -> Unmasked:
        """The number of the call's caller, written to the audit trail first."""

    async def audit(self, count: int) -> list[AuditLine]:
        """The newest ``count`` unmasks, newest first."""
