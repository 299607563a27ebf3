"""Parsing of ARI event JSON into typed events."""

from typing import Any

import pytest

from core.ari import (
    ApplicationReplaced,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelVarset,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
    StreamConnected,
    TextMessageReceived,
    UnknownEvent,
    parse_event,
)

CALLER = "+447700900123"


def channel_json(channel_id: str = "1700000000.1") -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": "PJSIP/trunk-00000001",
        "state": "Ring",
        "caller": {"name": "Jane Doe", "number": CALLER},
        "connected": {"name": "", "number": ""},
        "dialplan": {"context": "from-trunk", "exten": "116123", "priority": 1},
        "language": "en",
    }


def _ch() -> dict[str, Any]:
    return {"channel": channel_json()}


def test_channel_from_json_hides_caller_in_repr() -> None:
    channel = Channel.from_json(channel_json())
    assert channel.caller_number == CALLER
    assert channel.caller_name == "Jane Doe"
    assert channel.exten == "116123"
    assert channel.language == "en"
    assert CALLER not in repr(channel)
    assert "Jane" not in repr(channel)
    assert CALLER not in repr(StasisStart(channel, ()))


def test_channel_without_dialplan_or_caller() -> None:
    channel = Channel.from_json({"id": "c1", "name": "Local/x", "state": "Down"})
    assert (channel.exten, channel.caller_number, channel.language) == ("", "", "")


def test_stasis_start_and_end() -> None:
    start = parse_event({"type": "StasisStart", "args": ["ivr", "en"], "channel": channel_json()})
    assert isinstance(start, StasisStart)
    assert start.args == ("ivr", "en")
    assert start.channel_id == "1700000000.1"
    end = parse_event({"type": "StasisEnd", "channel": channel_json("c9")})
    assert isinstance(end, StasisEnd)
    assert end.channel_id == "c9"


def test_dtmf_hangup_destroyed() -> None:
    dtmf = parse_event(
        {"type": "ChannelDtmfReceived", "digit": "5", "duration_ms": 120, "channel": channel_json()}
    )
    assert dtmf == ChannelDtmfReceived(Channel.from_json(channel_json()), "5", 120)
    hangup = parse_event({"type": "ChannelHangupRequest", "soft": True, "channel": channel_json()})
    assert isinstance(hangup, ChannelHangupRequest)
    assert hangup.cause == 0
    destroyed = parse_event(
        {"type": "ChannelDestroyed", "cause": 16, "cause_txt": "Normal Clearing", **_ch()}
    )
    assert isinstance(destroyed, ChannelDestroyed)
    assert (destroyed.cause, destroyed.cause_txt) == (16, "Normal Clearing")


def test_varset_global_and_channel() -> None:
    glob = parse_event({"type": "ChannelVarset", "variable": "X", "value": "1"})
    assert isinstance(glob, ChannelVarset)
    assert glob.channel_id is None
    onchan = parse_event({"type": "ChannelVarset", "variable": "X", "value": "2", **_ch()})
    assert onchan.channel_id == "1700000000.1"


@pytest.mark.parametrize(
    ("target", "expected"),
    [("channel:abc.1", "abc.1"), ("bridge:b1", None), ("channel:", None), ("garbage", None)],
)
def test_playback_target_to_channel_id(target: str, expected: str | None) -> None:
    playback = {"id": "pb1", "media_uri": "sound:hello", "target_uri": target, "state": "done"}
    started = parse_event({"type": "PlaybackStarted", "playback": playback})
    finished = parse_event({"type": "PlaybackFinished", "playback": playback})
    assert isinstance(started, PlaybackStarted)
    assert isinstance(finished, PlaybackFinished)
    assert finished.state == "done"
    assert started.channel_id == finished.channel_id == expected


def test_application_replaced_and_stream_connected_have_no_channel() -> None:
    replaced = parse_event({"type": "ApplicationReplaced", "application": "hotline"})
    assert replaced == ApplicationReplaced("hotline")
    assert replaced.channel_id is None
    assert StreamConnected(reconnect=True).channel_id is None


def text_message_json() -> dict[str, Any]:
    """A TextMessageReceived as Asterisk 16 sends it for a SIP MESSAGE from the trunk."""
    return {
        "type": "TextMessageReceived",
        "timestamp": "2026-12-01T00:01:42.885+0000",
        "endpoint": {"technology": "PJSIP", "resource": "carrier", "state": "online"},
        "message": {
            "from": f"<sip:{CALLER}@192.0.2.1>",
            "to": "pjsip:18005550100@192.0.2.2",
            "body": "Bonjour, ça va ?",
            "variables": {
                "From": f"<sip:{CALLER}@192.0.2.1>;tag=1",
                "To": "<sip:18005550100@192.0.2.2>",
                "Call-ID": "1-24302@192.0.2.1",
            },
        },
        "application": "hotline",
    }


def test_text_message_received_hides_numbers_in_repr() -> None:
    event = parse_event(text_message_json())
    assert isinstance(event, TextMessageReceived)
    assert event.endpoint == "PJSIP/carrier"
    assert event.from_ == f"<sip:{CALLER}@192.0.2.1>"
    assert event.to == "pjsip:18005550100@192.0.2.2"
    assert event.body == "Bonjour, ça va ?"
    assert event.variables["Call-ID"] == "1-24302@192.0.2.1"
    assert event.timestamp == "2026-12-01T00:01:42.885+0000"
    assert event.channel_id is None
    for hidden in (CALLER, "18005550100", "ça va"):
        assert hidden not in repr(event)


def test_text_message_without_variables_or_endpoint() -> None:
    data = text_message_json()
    del data["message"]["variables"], data["endpoint"]
    event = parse_event(data)
    assert isinstance(event, TextMessageReceived)
    assert event.variables == {}
    assert event.endpoint == ""


def test_unknown_event_keeps_raw_out_of_repr() -> None:
    event = parse_event({"type": "ChannelEnteredBridge", "bridge": {"id": "b"}, **_ch()})
    assert isinstance(event, UnknownEvent)
    assert event.type == "ChannelEnteredBridge"
    assert event.channel_id == "1700000000.1"
    assert CALLER not in repr(event)


@pytest.mark.parametrize(
    "data",
    [
        {"type": "StasisStart", "args": [], "caller": CALLER},
        {"type": "ChannelDtmfReceived", "digit": "1", "channel": channel_json()},
        {"type": "ChannelDtmfReceived", "digit": "1", "duration_ms": "x", "channel": {}},
        {"type": "PlaybackFinished", "playback": {"id": "p"}},
        {"type": "StasisEnd", "channel": {"id": "c", "caller": {"number": CALLER}}},
        {"type": "TextMessageReceived", "message": {"from": CALLER, "body": "hi"}},
    ],
)
def test_malformed_event_names_type_not_payload(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=str(data["type"])) as info:
        parse_event(data)
    assert CALLER not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_event_without_type() -> None:
    with pytest.raises(ValueError, match="without a type"):
        parse_event({"channel": channel_json()})
