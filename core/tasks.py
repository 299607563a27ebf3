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
        if cancel_requested():
            raise asyncio.CancelledError
