"""Typed ARI events, parsed once from Asterisk's JSON.

Caller numbers and names are kept out of ``repr`` and nothing here puts a raw
payload into an exception message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias


@dataclass(frozen=True, slots=True)
class Channel:
    """Snapshot of an ARI channel object."""

    id: str
    name: str
    state: str
    caller_number: str = field(repr=False)
    caller_name: str = field(repr=False)
    exten: str
    language: str
    #: The dialplan context the channel is in (where Stasis() was called).
    context: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Channel:
        """Build from an ARI channel dict; raises ValueError if a required key is missing."""
        try:
            caller = data.get("caller") or {}
            dialplan = data.get("dialplan") or {}
            return cls(
                id=str(data["id"]),
                name=str(data["name"]),
                state=str(data["state"]),
                caller_number=str(caller.get("number", "")),
                caller_name=str(caller.get("name", "")),
                exten=str(dialplan.get("exten", "")),
                language=str(data.get("language", "")),
                context=str(dialplan.get("context", "")),
            )
        except (KeyError, TypeError, AttributeError):
            raise ValueError("malformed ARI channel") from None


@dataclass(frozen=True, slots=True)
class _ChannelEvent:
    channel: Channel

    @property
    def channel_id(self) -> str:
        """Id of the channel the event is about."""
        return self.channel.id


@dataclass(frozen=True, slots=True)
class StasisStart(_ChannelEvent):
    """A channel entered the Stasis application."""

    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StasisEnd(_ChannelEvent):
    """A channel left the Stasis application."""


@dataclass(frozen=True, slots=True)
class ChannelDtmfReceived(_ChannelEvent):
    """A DTMF digit was received on a channel."""

    digit: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class ChannelHangupRequest(_ChannelEvent):
    """Hangup was requested on a channel."""

    cause: int


@dataclass(frozen=True, slots=True)
class ChannelDestroyed(_ChannelEvent):
    """A channel was destroyed."""

    cause: int
    cause_txt: str


@dataclass(frozen=True, slots=True)
class ChannelStateChange(_ChannelEvent):
    """A channel's state changed (e.g. Ring -> Up)."""


@dataclass(frozen=True, slots=True)
class ChannelVarset:
    """A channel (or, with ``channel`` None, a global) variable was set."""

    channel: Channel | None
    variable: str
    value: str

    @property
    def channel_id(self) -> str | None:
        """Id of the channel, None for global variables."""
        return None if self.channel is None else self.channel.id


def _target_channel(target_uri: str) -> str | None:
    kind, sep, target = target_uri.partition(":")
    return target if sep and kind == "channel" and target else None


@dataclass(frozen=True, slots=True)
class PlaybackStarted:
    """A playback started."""

    playback_id: str
    media_uri: str
    target_uri: str

    @property
    def channel_id(self) -> str | None:
        """Channel id from a ``channel:<id>`` target, else None."""
        return _target_channel(self.target_uri)


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """A playback finished (``state`` is "done" or "failed")."""

    playback_id: str
    media_uri: str
    target_uri: str
    state: str

    @property
    def channel_id(self) -> str | None:
        """Channel id from a ``channel:<id>`` target, else None."""
        return _target_channel(self.target_uri)


@dataclass(frozen=True, slots=True)
class TextMessageReceived:
    """An out-of-call text message (e.g. a SIP MESSAGE) from an endpoint the app subscribed to.

    ``from_`` and ``to`` are technology URIs holding phone numbers and ``variables`` holds the
    SIP headers (From and To among them): all three, and the body, stay out of ``repr``.
    """

    endpoint: str
    from_: str = field(repr=False)
    to: str = field(repr=False)
    body: str = field(repr=False)
    variables: Mapping[str, str] = field(repr=False, compare=False)
    timestamp: str = ""

    @property
    def channel_id(self) -> None:
        """Not about a channel."""
        return None


@dataclass(frozen=True, slots=True)
class ApplicationReplaced:
    """Another websocket took over the application (fatal for the stream)."""

    application: str

    @property
    def channel_id(self) -> None:
        """Not about a channel."""
        return None


@dataclass(frozen=True, slots=True)
class StreamConnected:
    """Synthetic: the event stream (re)connected; events in a gap are lost."""

    reconnect: bool

    @property
    def channel_id(self) -> None:
        """Not about a channel."""
        return None


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event type without a typed class; ``raw`` is kept out of repr and eq."""

    type: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def channel_id(self) -> str | None:
        """The ``channel.id`` of the raw event, if it has one."""
        channel = self.raw.get("channel")
        if isinstance(channel, Mapping) and isinstance(channel.get("id"), str):
            return str(channel["id"])
        return None


Event: TypeAlias = (
    StasisStart
    | StasisEnd
    | ChannelDtmfReceived
    | ChannelHangupRequest
    | ChannelDestroyed
    | ChannelStateChange
    | ChannelVarset
    | PlaybackStarted
    | PlaybackFinished
    | TextMessageReceived
    | ApplicationReplaced
    | StreamConnected
    | UnknownEvent
)


def _channel(data: Mapping[str, Any]) -> Channel:
    return Channel.from_json(data["channel"])


def _playback_started(data: Mapping[str, Any]) -> PlaybackStarted:
    pb = data["playback"]
    return PlaybackStarted(str(pb["id"]), str(pb["media_uri"]), str(pb["target_uri"]))


def _playback_finished(data: Mapping[str, Any]) -> PlaybackFinished:
    pb = data["playback"]
    return PlaybackFinished(
        str(pb["id"]), str(pb["media_uri"]), str(pb["target_uri"]), str(pb["state"])
    )


def _varset(data: Mapping[str, Any]) -> ChannelVarset:
    channel = Channel.from_json(data["channel"]) if data.get("channel") else None
    return ChannelVarset(channel, str(data["variable"]), str(data["value"]))


def _text_message(data: Mapping[str, Any]) -> TextMessageReceived:
    message, endpoint = data["message"], data.get("endpoint") or {}
    technology, resource = endpoint.get("technology", ""), endpoint.get("resource", "")
    variables = message.get("variables") or {}
    return TextMessageReceived(
        endpoint=f"{technology}/{resource}" if technology else "",
        from_=str(message["from"]),
        to=str(message["to"]),
        body=str(message.get("body", "")),
        variables={str(k): str(v) for k, v in variables.items()},
        timestamp=str(data.get("timestamp", "")),
    )


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Event]] = {
    "StasisStart": lambda d: StasisStart(_channel(d), tuple(str(a) for a in d.get("args", ()))),
    "StasisEnd": lambda d: StasisEnd(_channel(d)),
    "ChannelDtmfReceived": lambda d: ChannelDtmfReceived(
        _channel(d), str(d["digit"]), int(d["duration_ms"])
    ),
    "ChannelHangupRequest": lambda d: ChannelHangupRequest(_channel(d), int(d.get("cause", 0))),
    "ChannelDestroyed": lambda d: ChannelDestroyed(
        _channel(d), int(d["cause"]), str(d["cause_txt"])
    ),
    "ChannelStateChange": lambda d: ChannelStateChange(_channel(d)),
    "ChannelVarset": _varset,
    "PlaybackStarted": _playback_started,
    "PlaybackFinished": _playback_finished,
    "ApplicationReplaced": lambda d: ApplicationReplaced(str(d["application"])),
    "TextMessageReceived": _text_message,
}


def parse_event(data: Mapping[str, Any]) -> Event:
    """Parse one ARI event dict; unknown types become UnknownEvent.

    Raises ValueError naming only the event type when required keys are missing.
    """
    event_type = data.get("type")
    if not isinstance(event_type, str):
        raise ValueError("ARI event without a type")
    parser = _PARSERS.get(event_type)
    if parser is None:
        return UnknownEvent(event_type, data)
    try:
        return parser(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError(f"malformed ARI event {event_type}") from None
