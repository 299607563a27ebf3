"""End-to-end fixtures: a watchdog that names the await a hung test is stuck on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from core.logs import task_awaits

logger = logging.getLogger(__name__)

#: Seconds before pytest-timeout fires at which the watchdog dumps every task's stack.
MARGIN = 15


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
        logger.error("still running after %.0f s; tasks:\n%s", timeout - MARGIN, task_awaits())

    handle = loop.call_later(timeout - MARGIN, fire)
    try:
        yield
    finally:
        handle.cancel()
