"""Background loops stop when cancelled, even if a step swallows the cancellation."""

from __future__ import annotations

import asyncio

import pytest

from core.tasks import repeat, stop_if_cancelled


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


async def test_a_loop_that_checks_stops_though_wait_for_swallowed_its_cancel() -> None:
    """On Python 3.11 ``asyncio.wait_for`` (inside every redis-py send) returns its result
    instead of raising a cancel that arrives as what it awaits completes; without the check,
    most of these single cancels are lost and the loop runs on."""

    async def sending() -> None:
        while True:
            stop_if_cancelled()
            await asyncio.wait_for(asyncio.sleep(0), 5)

    for turn in range(50):
        task = asyncio.create_task(sending())
        for _ in range(turn % 7 + 1):  # cancel at every point of the loop's turn
            await asyncio.sleep(0)
        task.cancel()
        async with asyncio.timeout(2):
            with pytest.raises(asyncio.CancelledError):
                await task
