"""Log lines carry the channel id first."""

from __future__ import annotations

import json
import logging

from core.logs import ChannelFilter, JsonFormatter, TextFormatter, channel_var


def record(message: str) -> logging.LogRecord:
    rec = logging.LogRecord("ivr.stasis", logging.INFO, __file__, 1, message, (), None)
    ChannelFilter().filter(rec)
    return rec


def test_text_lines_start_with_the_channel_of_the_current_call() -> None:
    token = channel_var.set("1700000000.42")
    try:
        line = TextFormatter().format(record("answered"))
    finally:
        channel_var.reset(token)
    assert line.startswith("channel=1700000000.42 ")
    assert line.endswith("INFO ivr.stasis: answered")
    assert TextFormatter().format(record("idle")).startswith("channel=- ")


def test_json_lines_put_the_channel_first() -> None:
    token = channel_var.set("c1")
    try:
        doc = json.loads(JsonFormatter().format(record("hello")))
    finally:
        channel_var.reset(token)
    assert next(iter(doc)) == "channel"
    assert doc["channel"] == "c1"
    assert doc["msg"] == "hello"
