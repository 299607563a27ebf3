"""Background loops that stop when asked, whatever their steps do with the cancellation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


def cancel_requested() -> bool:
    """Whether the running task was asked to stop, even if a library it called turned the
    ``CancelledError`` into an error of its own (the request stays counted on the task)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if the running task was asked to stop; a loop calls it on each
    turn. On Python 3.11 ``asyncio.wait_for``, inside every redis-py send, returns its result
    instead of raising a cancel that arrives as what it awaits completes: the loop would
    never see that cancel, and whoever awaits the task would wait for ever."""
    if cancel_requested():
        raise asyncio.CancelledError


async def repeat(step: Callable[[], Awaitable[object]], every_s: float, what: str) -> None:
    """Run ``step`` every ``every_s`` seconds until cancelled; a failure is logged and the
    next turn tries again. A cancellation swallowed inside ``step`` still ends the loop."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await step()
        except Exception:
            if cancel_requested():
                raise asyncio.CancelledError from None
            logger.exception("%s failed; retrying", what)
        stop_if_cancelled()
