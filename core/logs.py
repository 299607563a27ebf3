"""Structured logging with the call's channel id first on every line.

The channel id lives in a context variable that the per-channel worker sets, so every log line
written while handling a call carries it without being passed around. Lines are either
``key=value`` text or JSON. Callers' numbers are never logged: code logs ``number_token()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
import time
from typing import Any, cast

channel_var: contextvars.ContextVar[str] = contextvars.ContextVar("channel", default="-")


class ChannelFilter(logging.Filter):
    """Copies the current channel id onto each record as ``record.channel``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "channel"):
            record.channel = channel_var.get()
        return True


class TextFormatter(logging.Formatter):
    """``channel=<id> 2026-11-30T23:00:00.123Z INFO logger: message``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = (
            f"channel={getattr(record, 'channel', '-')} {stamp}.{int(record.msecs):03d}Z "
            f"{record.levelname} {record.name}: {record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line, ``channel`` first."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "channel": getattr(record, "channel", "-"),
            "ts": record.created,
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send the root logger to stderr in the chosen format (``text`` or ``json``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ChannelFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Every call logs a few lines: skip what no formatter here shows (the logging HOWTO's
    # "Optimization": the caller's file and line found by walking the stack, thread and
    # process details).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def task_awaits() -> str:
    """Where every other asyncio task of the running loop waits: its chain of awaits,
    outermost first (``Task.print_stack`` shows only the outermost coroutine), one task a
    line; for a log line about something that hangs."""
    current, lines = asyncio.current_task(), []
    for task in asyncio.all_tasks():
        if task is current:
            continue
        frames, awaited = [], cast(Any, task.get_coro())
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
            if frame is not None:
                code = frame.f_code
                frames.append(f"{code.co_filename}:{frame.f_lineno} {code.co_name}")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
        lines.append(f"{task.get_name()}: {' -> '.join(frames) or 'not started'}")
    return "\n".join(lines) or "no other task"
