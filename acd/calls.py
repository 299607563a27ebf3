"""The vocabulary of the ACD's call machine: channel ids, timers, events and commands.

The machine itself is pure and lives beside this module: ``acd.legs`` (agent legs, callbacks,
hand-overs), ``acd.callers`` (queued callers, announcements, overflow, transfers),
``acd.nails`` (nailed-up agents), ``acd.offers`` (ringing agents) and ``acd.endings`` (how a
connected call ends). Each step takes a record (``acd.records``), one event and the
``Setup`` it may consult, and returns the new record with the commands that carry it out.
Nothing there does I/O: the adapter (``acd.stasis``) turns ARI events into these events,
carries out the commands, and feeds the answers of those that ask something (a store's
verdict, a failed bridge) back in as events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from acd.config import QueueConfig
from acd.model import MissReason, Offer, OfferedAgent, Party
from acd.monitor import MONITOR_PREFIX, SNOOP_PREFIX
from acd.records import Caller, Leg, Nail, Write
from acd.transfers import Transfer
from core.commands import ChannelCommand, Digit, PlaybackDone
from core.config import AcdSettings

LEG_PREFIX = "agent-"
CALLEE_PREFIX = "callee-"
NAIL_PREFIX = "nail-"


class Timer(StrEnum):
    """Timers of queued callers and agent legs."""

    RONA = "rona"  # ring no answer
    CONFIRM = "confirm"  # an external agent has not pressed 1
    ANNOUNCE = "announce"  # next position announcement
    EXPIRED = "expired"  # the caller left the queue (max wait, or no agent left)
    TRANSFER = "transfer"  # a transfer was requested (``Caller.transfer_to``)


def leg_id(offer_id: str, agent_id: str) -> str:
    """The channel id of the leg ringing ``agent_id`` for ``offer_id``."""
    return f"{LEG_PREFIX}{offer_id}-{agent_id}"


def callee_id(call_id: str) -> str:
    """The channel id of the leg dialling a caller back."""
    return f"{CALLEE_PREFIX}{call_id}"


def nail_id(agent_id: str) -> str:
    """The channel id of a nailed-up agent's standing connection."""
    return f"{NAIL_PREFIX}{agent_id}"


def bridge_id(call_id: str) -> str:
    """The bridge of a call and its agent."""
    return f"bridge-{call_id}"


def is_leg(channel_id: str) -> bool:
    """Whether a channel is a leg the ACD originated (to an agent, a call back, or a
    supervisor's leg or snoop on a call)."""
    return channel_id.startswith(
        (LEG_PREFIX, CALLEE_PREFIX, NAIL_PREFIX, MONITOR_PREFIX, SNOOP_PREFIX)
    )


def sounds(names: Sequence[str]) -> tuple[str, ...]:
    """ARI media for prompts by name."""
    return tuple(f"sound:{name}" for name in names)


@dataclass(frozen=True)
class Setup:
    """What the machine consults: the ACD settings, the queues, the hotline's number (the
    only one a volunteer or a called-back caller ever sees) and the nailed-up agents."""

    acd: AcdSettings
    queues: Mapping[str, QueueConfig]
    hotline_number: str
    nailed: frozenset[str] = frozenset()


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    """The channel entered Stasis: a leg's far end answered."""


@dataclass(frozen=True)
class TimedOut:
    """A timer of the channel ran out."""

    timer: Timer


@dataclass(frozen=True)
class HungUp:
    """The channel is gone (``cause``: the ISDN cause if Asterisk gave one)."""

    cause: int | None = None


@dataclass(frozen=True)
class RingFailed:
    """Asterisk refused to ring the leg's device: there is no channel. ``pbx_down``: Asterisk
    itself was unreachable or failing, so the volunteer missed nothing."""

    pbx_down: bool = False


@dataclass(frozen=True)
class Accepted:
    """The store's answer to ``Accept``: ``won`` the call, and the ring-all legs released."""

    won: bool
    released: tuple[str, ...] = ()


@dataclass(frozen=True)
class TookOver:
    """The store's answer to ``AcceptHandover``: the agent the call was taken from, or ""
    if the call ended meanwhile."""

    first: str


@dataclass(frozen=True)
class JoinFailed:
    """``Connect`` or ``Join`` could not put a channel in the bridge: it is gone."""


@dataclass(frozen=True)
class CalleeUnreachable:
    """``DialCaller`` failed: the caller is no longer in the vault, or Asterisk refused."""


@dataclass(frozen=True)
class Position:
    """The store's answer to ``AskPosition``: the caller's place (None: no longer waiting)."""

    position: int | None
    ewt_s: float | None = None


@dataclass(frozen=True)
class Abandoned:
    """The store's answer to ``Abandon``: the call left its queue; stop these agents' legs."""

    released: tuple[str, ...]


@dataclass(frozen=True)
class ConnectedMeanwhile:
    """The store's answer to ``Abandon``: ``agent_id`` accepted just as the caller left."""

    agent_id: str


@dataclass(frozen=True)
class Refused:
    """The store refused what the caller asked (an agent is taking the call, say): the call
    goes on as it was."""

    code: str


@dataclass(frozen=True)
class CallbackKept:
    """The store's answer to ``ToCallback``: the caller's place is kept as a callback."""


@dataclass(frozen=True)
class CallbackRefused:
    """The store's answer to ``EnqueueCallback``: the callback could not be stored, so the
    caller must not be promised one."""

    code: str


@dataclass(frozen=True)
class LeftForText:
    """The store's answer to ``LeaveForText``: the call left its queue; stop these legs."""

    released: tuple[str, ...]


@dataclass(frozen=True)
class Moved:
    """The store's answer to ``MoveToQueue``: the call waits in ``queue`` at ``position``."""

    queue: str
    position: int


@dataclass(frozen=True)
class HandoverOffered:
    """The store's answer to ``OfferHandover``: ring this offer's agent to take over."""

    offer: Offer


#: What a channel's own events become (``acd.stasis`` parses ARI and timer events into these).
ChannelEvent = Answered | PlaybackDone | Digit | TimedOut | HungUp
LegEvent = ChannelEvent | RingFailed | Accepted | TookOver | JoinFailed | CalleeUnreachable
NailEvent = Answered | TimedOut | HungUp | RingFailed
CallerEvent = (
    PlaybackDone
    | Digit
    | TimedOut
    | HungUp
    | Position
    | Abandoned
    | ConnectedMeanwhile
    | Refused
    | CallbackKept
    | CallbackRefused
    | LeftForText
    | Moved
    | HandoverOffered
)
Event = LegEvent | CallerEvent


# --- commands: channels and bridges ------------------------------------------------------


@dataclass(frozen=True)
class On:
    """A prompt, music, timer or hang-up command (``core.commands``) on one of the call's
    channels, carried out by the executor the IVR shares."""

    channel: str
    command: ChannelCommand


@dataclass(frozen=True)
class Originate:
    """Ring ``endpoint`` as channel ``channel`` into the app with ``app_args``; if Asterisk
    refuses, the channel's machine gets ``RingFailed``."""

    channel: str
    endpoint: str
    caller_id: str
    app_args: str
    timeout_s: int
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DialCaller:
    """Dial the caller of a callback (``callee``) from the hotline number; the number comes
    from the vault by ``caller_ref`` (answer: ``CalleeUnreachable`` on failure)."""

    callee: Leg
    caller_ref: str


@dataclass(frozen=True)
class CreateBridge:
    """Create a mixing bridge."""

    channel: str
    bridge: str


@dataclass(frozen=True)
class Connect:
    """Create the call's bridge and put both channels in it at once (answer: ``JoinFailed``
    if either is gone)."""

    bridge: str
    call_id: str
    leg_id: str


@dataclass(frozen=True)
class Join:
    """Put one channel into an existing bridge (answer: ``JoinFailed`` if it is gone)."""

    bridge: str
    channel: str


@dataclass(frozen=True)
class DestroyBridge:
    """Tear a bridge down (it may be gone already)."""

    channel: str
    bridge: str


@dataclass(frozen=True)
class Save:
    """Write records (one round trip)."""

    writes: tuple[Write, ...]


@dataclass(frozen=True)
class Log:
    """A line for the log (the call or channel id comes first); never a number."""

    channel: str
    message: str


@dataclass(frozen=True)
class PopTextCall:
    """Tell the consoles that leg ``channel`` rings ``agent_id`` for a call to the texter of
    ``conversation_id`` (the screen-pop of that conversation), unless the ring failed."""

    channel: str
    call_id: str
    agent_id: str
    conversation_id: str
    language: str
    asked_at: float


# --- commands: the store -----------------------------------------------------------------


@dataclass(frozen=True)
class Accept:
    """Ask the store whether this leg's agent takes the call; ``writes`` are made only if it
    does, in the same round trip (answer: ``Accepted``)."""

    offer_id: str
    agent_id: str
    writes: tuple[Write, ...] = ()


@dataclass(frozen=True)
class AcceptHandover:
    """Ask the store to move the connected call to this leg's agent (answer: ``TookOver``)."""

    offer_id: str
    agent_id: str


@dataclass(frozen=True)
class Reject:
    """The agent did not take the offer: the store counts the miss and requeues the call;
    then the queue is routed again."""

    offer_id: str
    agent_id: str
    queue: str
    reason: MissReason


@dataclass(frozen=True)
class ReleaseHandover:
    """The agent rung to take a call over did not: they are free again, the call stays."""

    call_id: str
    offer_id: str
    agent_id: str
    queue: str
    leg_id: str


@dataclass(frozen=True)
class Complete:
    """A connected call ended: hang ``hang_up`` up and tear ``bridge`` down with ``writes``
    already visible to this instance, then record the end (the agent wraps up) with them."""

    call_id: str
    agent_id: str
    by: Party
    writes: tuple[Write, ...] = ()
    hang_up: tuple[str, ...] = ()
    bridge: str = ""


@dataclass(frozen=True)
class Dispatch:
    """Offer the queue's waiting calls to free agents (``joined``: a caller just written;
    ``claimed``: the store made the first claim with the caller's enqueue, and ``offer`` is
    its answer)."""

    queue: str
    joined: Caller | None = None
    claimed: bool = False
    offer: Offer | None = None


@dataclass(frozen=True)
class AskPosition:
    """Ask the store for the caller's place (answer: ``Position``)."""

    call_id: str


@dataclass(frozen=True)
class Abandon:
    """The caller left the queue without an agent (answer: ``Abandoned`` or
    ``ConnectedMeanwhile``, or none if the call was no longer queued)."""

    call_id: str


@dataclass(frozen=True)
class ToCallback:
    """Keep the caller's place as a callback entry (answer: ``CallbackKept`` or
    ``Refused``)."""

    call_id: str


@dataclass(frozen=True)
class LeaveForText:
    """Take the call out of its queue to go on by text (answer: ``LeftForText`` or
    ``Refused``)."""

    call_id: str


@dataclass(frozen=True)
class EnqueueCallback:
    """Queue a callback for a caller who overflowed (answer: ``CallbackKept`` once it is
    stored, or ``CallbackRefused``)."""

    caller: Caller


@dataclass(frozen=True)
class Enter:
    """The caller joins another queue (an overflow): announcements and offers start again."""

    caller: Caller
    queue: str


@dataclass(frozen=True)
class MoveToQueue:
    """Move a call to another queue keeping its priority and place by time (answer:
    ``Moved`` or ``Refused``)."""

    call_id: str
    queue: str


@dataclass(frozen=True)
class OfferHandover:
    """Offer a connected call to ``agent_id`` to take it over (answer: ``HandoverOffered`` or
    ``Refused``)."""

    call_id: str
    agent_id: str


@dataclass(frozen=True)
class RequestTransfer:
    """Note a transfer on the caller and carry it out on the caller's own queue of events."""

    call_id: str
    transfer: Transfer


# --- commands: what other records and the SMS side do ------------------------------------


@dataclass(frozen=True)
class EndCallback:
    """A callback (or a call asked for by a volunteer) ended on ``leg``'s side: both its
    legs are loaded and ended (``acd.endings.end_callback``)."""

    leg: Leg
    by: Party


@dataclass(frozen=True)
class EndTexterCall:
    """A call a volunteer asked for ended (or was never made): they are free for queue
    calls again."""

    call_id: str
    agent_id: str


@dataclass(frozen=True)
class OfferNailed:
    """Connect the offer over the agent's standing connection (``acd.nails``)."""

    offer: Offer
    agent: OfferedAgent


@dataclass(frozen=True)
class ConnectNailed:
    """Ask the store for the offer, then put the caller into the nailed-up agent's bridge."""

    offer: Offer
    nail: Nail


@dataclass(frozen=True)
class EndNailedCall:
    """A call over a nailed-up agent's standing connection ended; the connection stays."""

    caller: Caller
    agent_id: str
    by: Party


@dataclass(frozen=True)
class OpenConversation:
    """Open a text conversation with the call's context (the caller keeps their place)."""

    caller: Caller


@dataclass(frozen=True)
class ConfirmBySms:
    """Record the caller's request; its confirmation SMS carries a short reference."""

    caller: Caller
    kind: str


Command = (
    On
    | Originate
    | DialCaller
    | CreateBridge
    | Connect
    | Join
    | DestroyBridge
    | Save
    | Log
    | PopTextCall
    | Accept
    | AcceptHandover
    | Reject
    | ReleaseHandover
    | Complete
    | Dispatch
    | AskPosition
    | Abandon
    | ToCallback
    | LeaveForText
    | EnqueueCallback
    | Enter
    | MoveToQueue
    | OfferHandover
    | RequestTransfer
    | EndCallback
    | EndTexterCall
    | OfferNailed
    | ConnectNailed
    | EndNailedCall
    | OpenConversation
    | ConfirmBySms
)
