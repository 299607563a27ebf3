"""Asterisk REST Interface client: REST calls, typed events, websocket with reconnect."""

from .client import AriClient
from .dispatch import ChannelDispatcher
from .errors import AriAppReplaced, AriError, AriRefused, AriUnavailable
from .events import (
    ApplicationReplaced,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelStateChange,
    ChannelVarset,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
    StreamConnected,
    TextMessageReceived,
    UnknownEvent,
    parse_event,
)
from .stream import AriEventStream

__all__ = [
    "ApplicationReplaced",
    "AriAppReplaced",
    "AriClient",
    "AriError",
    "AriEventStream",
    "AriRefused",
    "AriUnavailable",
    "Channel",
    "ChannelDestroyed",
    "ChannelDispatcher",
    "ChannelDtmfReceived",
    "ChannelHangupRequest",
    "ChannelStateChange",
    "ChannelVarset",
    "Event",
    "PlaybackFinished",
    "PlaybackStarted",
    "StasisEnd",
    "StasisStart",
    "StreamConnected",
    "TextMessageReceived",
    "UnknownEvent",
    "parse_event",
]
