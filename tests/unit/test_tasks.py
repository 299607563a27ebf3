"""Background loops stop when cancelled, even if a step swallows the cancellation."""

from __future__ import annotations

import asyncio

import pytest

from core.tasks import repeat


async def test_a_loop_stops_even_when_a_step_turns_the_cancellation_into_an_error() -> None:
    started = asyncio.Event()

    async def swallowing() -> None:  # like a client library that wraps CancelledError
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RuntimeError("connection closed") from None

    loop = asyncio.create_task(repeat(swallowing, 0, "test loop"))
    await started.wait()
    loop.cancel()
    async with asyncio.timeout(2):
        with pytest.raises(asyncio.CancelledError):
            await loop


async def test_a_loop_stops_even_when_a_step_ignores_the_cancellation() -> None:
    started = asyncio.Event()

    async def ignoring() -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return

    loop = asyncio.create_task(repeat(ignoring, 0, "test loop"))
    await started.wait()
    loop.cancel()
    async with asyncio.timeout(2):
        with pytest.raises(asyncio.CancelledError):
            await loop


async def test_a_failing_step_is_tried_again() -> None:
    calls = 0
    done = asyncio.Event()

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RuntimeError("not yet")
        done.set()

    loop = asyncio.create_task(repeat(flaky, 0, "test loop"))
    async with asyncio.timeout(2):
        await done.wait()
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert calls >= 3
