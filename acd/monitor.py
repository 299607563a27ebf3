"""A supervisor on a live call (pure; the adapter is ``acd.monitoring``): listen, whisper or
barge, on the supervisor's own phone.

The supervisor's phone is rung first (channel ``monitor-{session}``). Once they answer:

- listen: a snoop channel (``snoop-{session}``) on the caller's channel hears both
  directions and speaks into neither; it and the supervisor share a bridge of their own;
- whisper: the same on the volunteer's channel, speaking toward the volunteer only;
- barge: the supervisor joins the call's bridge and all three talk.

Whichever side goes first ends the session: the supervisor hanging up takes the snoop and
its bridge away; the call ending (the snoop hangs up with the snooped channel, or the ACD
reports the caller gone) hangs up the supervisor. Events of a session's channels are all
handled on one ordered queue, the supervisor leg's (``monitor_key``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

MONITOR_PREFIX = "monitor-"
SNOOP_PREFIX = "snoop-"
#: The timer that brings "the call is gone" onto the session's ordered queue.
CALL_GONE_TIMER = "monitor-call-gone"


class MonitorMode(StrEnum):
    """How a supervisor joins a call."""

    LISTEN = "listen"  # hears caller and volunteer; nobody hears them
    WHISPER = "whisper"  # hears both; only the volunteer hears them
    BARGE = "barge"  # joins the call: everyone hears everyone


class MonitorPhase(StrEnum):
    """Where a session is."""

    RINGING = "ringing"  # the supervisor's phone rings
    SNOOPING = "snooping"  # answered; the snoop channel is being set up
    CONNECTED = "connected"  # the supervisor hears the call
    ENDED = "ended"


@dataclass(frozen=True)
class Monitor:
    """One supervisor's session on one call."""

    session: str
    call_id: str
    queue: str
    supervisor: str
    volunteer: str
    #: The volunteer's channel (their leg, or their nailed-up connection).
    volunteer_channel: str
    #: The call's own bridge (barge joins it).
    call_bridge: str
    mode: MonitorMode
    #: Whether the queue tells its volunteers when a supervisor is on their call.
    tell: bool
    phase: MonitorPhase = MonitorPhase.RINGING

    @property
    def leg(self) -> str:
        """The channel ringing the supervisor's phone."""
        return f"{MONITOR_PREFIX}{self.session}"

    @property
    def snoop(self) -> str:
        """The snoop channel (listen and whisper)."""
        return f"{SNOOP_PREFIX}{self.session}"

    @property
    def bridge(self) -> str:
        """The bridge of the supervisor and the snoop channel (listen and whisper)."""
        return f"monitor-{self.session}"

    def to_json(self) -> str:
        """As kept in Redis."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Monitor:
        """Inverse of ``to_json``."""
        data = json.loads(text)
        data["mode"] = MonitorMode(data["mode"])
        data["phase"] = MonitorPhase(data["phase"])
        return cls(**data)


def session_of(channel_id: str) -> str | None:
    """The session a supervisor leg or snoop channel belongs to, or None."""
    for prefix in (MONITOR_PREFIX, SNOOP_PREFIX):
        if channel_id.startswith(prefix):
            return channel_id.removeprefix(prefix)
    return None


def monitor_key(channel_id: str) -> str:
    """The ordered queue a channel's events go to: a session's snoop channel shares its
    supervisor leg's; any other channel has its own."""
    if channel_id.startswith(SNOOP_PREFIX):
        return MONITOR_PREFIX + channel_id.removeprefix(SNOOP_PREFIX)
    return channel_id


# Events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupervisorAnswered:
    """The supervisor's leg entered Stasis: they answered."""


@dataclass(frozen=True)
class SnoopStarted:
    """The snoop channel entered Stasis."""


@dataclass(frozen=True)
class SupervisorGone:
    """The supervisor's leg ended (hung up, or never answered)."""


@dataclass(frozen=True)
class SnoopGone:
    """The snoop channel ended (with the channel it snooped on)."""


@dataclass(frozen=True)
class CallGone:
    """The call ended."""


@dataclass(frozen=True)
class Failed:
    """Asterisk refused a step (the call, or a channel, went meanwhile)."""


MonitorEvent = SupervisorAnswered | SnoopStarted | SupervisorGone | SnoopGone | CallGone | Failed


# Commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snoop:
    """Snoop on ``target`` with a channel named ``snoop_id``; answers ``Failed`` if refused."""

    target: str
    snoop_id: str
    spy: str
    whisper: str


@dataclass(frozen=True)
class BridgeTogether:
    """Create ``bridge`` and put ``channels`` in it; answers ``Failed`` if refused."""

    bridge: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class JoinCall:
    """Add ``channel`` to the call's bridge; answers ``Failed`` if refused."""

    bridge: str
    channel: str


@dataclass(frozen=True)
class HangUp:
    """Hang up a channel (it may be gone already)."""

    channel: str


@dataclass(frozen=True)
class DestroyBridge:
    """Destroy a bridge (it may be gone already)."""

    bridge: str


@dataclass(frozen=True)
class Tell:
    """Write the session's start (``on``) or end to the queue log, where the volunteer's
    console learns of it."""

    on: bool


MonitorCommand = Snoop | BridgeTogether | JoinCall | HangUp | DestroyBridge | Tell


def monitor_step(monitor: Monitor, event: MonitorEvent) -> tuple[Monitor, list[MonitorCommand]]:
    """The session after ``event``, and what to do. An ended session ignores every event."""
    phase = monitor.phase
    if phase is MonitorPhase.ENDED:
        return monitor, []
    match event:
        case SupervisorAnswered() if phase is MonitorPhase.RINGING:
            if monitor.mode is MonitorMode.BARGE:
                connected = replace(monitor, phase=MonitorPhase.CONNECTED)
                return connected, [JoinCall(monitor.call_bridge, monitor.leg), Tell(True)]
            listen = monitor.mode is MonitorMode.LISTEN
            target = monitor.call_id if listen else monitor.volunteer_channel
            snoop = Snoop(target, monitor.snoop, "both", "none" if listen else "out")
            return replace(monitor, phase=MonitorPhase.SNOOPING), [snoop]
        case SnoopStarted() if phase is MonitorPhase.SNOOPING:
            together = BridgeTogether(monitor.bridge, (monitor.leg, monitor.snoop))
            return replace(monitor, phase=MonitorPhase.CONNECTED), [together, Tell(True)]
        case SupervisorGone() | SnoopGone() | CallGone() | Failed():
            return replace(monitor, phase=MonitorPhase.ENDED), _ending(monitor, event)
    return monitor, []


def _ending(monitor: Monitor, event: MonitorEvent) -> list[MonitorCommand]:
    """Take down what the session set up, except the channel that went."""
    out: list[MonitorCommand] = []
    if not isinstance(event, SupervisorGone):
        out.append(HangUp(monitor.leg))
    snooped = monitor.mode is not MonitorMode.BARGE and monitor.phase is not MonitorPhase.RINGING
    if snooped:
        if not isinstance(event, SnoopGone):
            out.append(HangUp(monitor.snoop))
        out.append(DestroyBridge(monitor.bridge))
    if monitor.phase is MonitorPhase.CONNECTED:
        out.append(Tell(False))
    return out
