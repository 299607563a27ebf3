"""What the ACD store takes and returns: calls, offers, results and errors (no caller numbers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from acd.config import Device, Overflow
from acd.routing import AgentState
from core.ports import Refused


class CallKind(Enum):
    """What is waiting."""

    VOICE = "voice"
    CALLBACK = "callback"  # the caller hung up and keeps their place for a call back
    CHAT = "chat"


class JoinRefusal(Enum):
    """Why a queue refused a call."""

    FULL = "full"  # max_len calls already wait
    EMPTY = "empty"  # join_empty is off and no agent is logged in and unpaused


class MissReason(Enum):
    """Why an offered agent did not take the call."""

    NO_ANSWER = "no-answer"
    DECLINED = "declined"
    BUSY = "busy"
    FAILED = "failed"
    #: Asterisk could not be asked to ring the device (unreachable, or failing): not the
    #: volunteer's miss, and not counted towards auto-pause.
    NOT_RUNG = "not-rung"


class Party(Enum):
    """Who ended a connected call."""

    CALLER = "caller"
    AGENT = "agent"


class ExitReason(Enum):
    """Why a waiting call left its queue without an agent."""

    TIMEOUT = "timeout"  # max_wait_s reached
    EMPTY = "empty"  # leave_when_empty and no agent left


@dataclass(frozen=True)
class WaitingCall:
    """A call, callback or chat in (or entering) a queue. ``skill`` overrides the queue's;
    ``priority`` None takes the queue's; ``enqueued_at`` is epoch seconds."""

    call_id: str
    queue: str
    owner_instance: str
    pseudonym: str
    language: str
    enqueued_at: float
    skill: str | None = None
    priority: int | None = None
    kind: CallKind = CallKind.VOICE
    #: The line dialled and the caller's menu choices, for the screen-pop ("" if unknown).
    line: str = ""
    ivr_path: str = ""


@dataclass(frozen=True)
class EnqueueResult:
    """The queue's answer: a position and estimated wait, or a refusal with the overflow."""

    accepted: bool
    position: int
    ewt_s: float
    reason: JoinRefusal | None = None
    overflow: Overflow | None = None
    #: Whether the store also claimed the queue in the same step (then ``offer`` is its
    #: answer: None if no waiting call had an eligible agent, and claiming again is useless).
    claimed: bool = False
    offer: Offer | None = None


@dataclass(frozen=True)
class OfferedAgent:
    """An agent a call is offered to, and the device to ring."""

    agent_id: str
    device: Device
    auto_answer: bool


@dataclass(frozen=True)
class Offer:
    """A call offered to one agent (all eligible agents for RING_ALL)."""

    offer_id: str
    call: WaitingCall
    agents: tuple[OfferedAgent, ...]
    offered_at: float
    #: Other calls still wait in the queue: another claim may offer one of them.
    more: bool = False

    @property
    def waited_s(self) -> float:
        """How long the call had waited when offered."""
        return self.offered_at - self.call.enqueued_at


@dataclass(frozen=True)
class AcceptResult:
    """``won``: this agent has the call; otherwise the offer was already taken or withdrawn."""

    won: bool
    call_id: str | None
    released: tuple[str, ...]  # other ring-all agents whose offer is cancelled


@dataclass(frozen=True)
class RejectResult:
    """``requeued``: the call waits again at its old place (``position``)."""

    requeued: bool
    position: int
    agent_paused: bool


@dataclass(frozen=True)
class AbandonResult:
    """Agents whose ringing must stop, and how long the caller waited."""

    released: tuple[str, ...]
    waited_s: float


@dataclass(frozen=True)
class Exit:
    """A call that left its queue; the owner sends it to ``overflow``."""

    call_id: str
    reason: ExitReason
    overflow: Overflow


@dataclass(frozen=True)
class Expiry:
    """What one expiry pass removed: calls that left their queue, and offers (with their
    calls) that no process settled in time."""

    exits: tuple[Exit, ...]
    offers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AgentView:
    """An agent's stored state; a WRAP_UP past ``wrapup_until`` ends at the next claim."""

    agent_id: str
    state: AgentState
    queues: tuple[str, ...]
    pause_reason: str
    #: Queues the agent is paused in on their own, with each pause's reason.
    paused_in: Mapping[str, str]
    misses: int
    offer_id: str
    call_id: str
    idle_since: float | None
    wrapup_until: float | None
    #: The call of the agent's last wrap-up (kept after it, read while WRAP_UP).
    wrapup_call: str


class AcdError(Refused):
    """A refused store operation; ``code`` is machine-readable (e.g. "unknown-agent")."""
