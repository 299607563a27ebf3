"""End-to-end fixtures: a watchdog that names the await a hung test is stuck on."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

logger = logging.getLogger(__name__)

#: Seconds before pytest-timeout fires at which the watchdog dumps every task's stack.
MARGIN = 15


def dump_tasks() -> str:
    """Where every asyncio task of the running loop waits: its chain of awaits, outermost
    first (``Task.print_stack`` shows only the outermost coroutine)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        out.write(f"--- {task.get_name()}\n")
        awaited: Any = task.get_coro()
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
            if frame is not None:
                out.write(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}\n")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    return out.getvalue()


@pytest.fixture(autouse=True)
async def hang_watchdog(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Shortly before the test's timeout, log where every asyncio task waits: pytest-timeout
    only shows the event loop's select(), which says nothing about what is stuck."""
    timeout = float(request.config.getini("timeout") or 0)
    if timeout <= MARGIN:
        yield
        return
    loop = asyncio.get_running_loop()

    def fire() -> None:
        logger.error("still running after %.0f s; tasks:\n%s", timeout - MARGIN, dump_tasks())

    handle = loop.call_later(timeout - MARGIN, fire)
    try:
        yield
    finally:
        handle.cancel()
