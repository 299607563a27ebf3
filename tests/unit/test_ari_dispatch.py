"""ChannelDispatcher: per-channel order, isolation between channels, worker lifetime."""

import asyncio
import logging

import pytest

from core.ari import (
    Channel,
    ChannelDestroyed,
    ChannelDispatcher,
    ChannelDtmfReceived,
    Event,
    StasisEnd,
    StasisStart,
)


def chan(channel_id: str) -> Channel:
    return Channel(channel_id, "PJSIP/t", "Up", "+447700900123", "", "116123", "en")


def dtmf(channel_id: str, digit: str) -> ChannelDtmfReceived:
    return ChannelDtmfReceived(chan(channel_id), digit, 100)


def digits(handled: list[tuple[str, Event]], channel_id: str) -> list[str]:
    return [e.digit for c, e in handled if c == channel_id and isinstance(e, ChannelDtmfReceived)]


async def test_order_per_channel_and_slow_channel_does_not_block_others() -> None:
    gate = asyncio.Event()
    handled: list[tuple[str, Event]] = []

    async def handle(channel_id: str, event: Event) -> None:
        if channel_id == "slow":
            await gate.wait()
        await asyncio.sleep(0)
        handled.append((channel_id, event))

    dispatcher = ChannelDispatcher(handle)
    for digit in "123":
        dispatcher.submit("slow", dtmf("slow", digit))
        dispatcher.submit("fast", dtmf("fast", digit))
    await asyncio.sleep(0.05)
    assert digits(handled, "fast") == ["1", "2", "3"]
    assert digits(handled, "slow") == []
    assert dispatcher.active_channels == {"slow", "fast"}
    gate.set()
    await asyncio.wait_for(dispatcher.drain(), 1.0)
    assert digits(handled, "slow") == ["1", "2", "3"]
    await dispatcher.close()


async def test_handler_exception_is_logged_and_worker_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled: list[str] = []

    async def handle(channel_id: str, event: Event) -> None:
        if isinstance(event, StasisStart):
            raise RuntimeError("boom")
        handled.append(channel_id)

    dispatcher = ChannelDispatcher(handle)
    dispatcher.submit("c1", StasisStart(chan("c1"), ()))
    dispatcher.submit("c1", dtmf("c1", "1"))
    await asyncio.wait_for(dispatcher.drain(), 1.0)
    assert handled == ["c1"]
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "c1 handler failed for StasisStart"
    assert record.exc_info is not None
    assert "+447700900123" not in caplog.text
    await dispatcher.close()


async def test_worker_exits_after_stasis_end_or_destroyed() -> None:
    handled: list[Event] = []

    async def handle(channel_id: str, event: Event) -> None:
        handled.append(event)

    dispatcher = ChannelDispatcher(handle)
    dispatcher.submit("a", StasisEnd(chan("a")))
    dispatcher.submit("a", dtmf("a", "9"))
    dispatcher.submit("b", ChannelDestroyed(chan("b"), 16, "Normal Clearing"))
    dispatcher.submit("c", dtmf("c", "1"))
    await asyncio.wait_for(dispatcher.drain(), 1.0)
    await asyncio.sleep(0.01)
    assert len(handled) == 4
    assert dispatcher.active_channels == {"a", "c"}
    dispatcher.submit("a", StasisEnd(chan("a")))
    await asyncio.wait_for(dispatcher.drain(), 1.0)
    await asyncio.sleep(0.01)
    assert dispatcher.active_channels == {"c"}
    await dispatcher.close()
    assert dispatcher.active_channels == set()


async def test_idle_worker_exits_and_restarts_on_new_event() -> None:
    handled: list[str] = []

    async def handle(channel_id: str, event: Event) -> None:
        handled.append(channel_id)

    dispatcher = ChannelDispatcher(handle, idle_timeout=0.05)
    dispatcher.submit("c1", dtmf("c1", "1"))
    await asyncio.wait_for(dispatcher.drain(), 1.0)
    assert dispatcher.active_channels == {"c1"}
    await asyncio.sleep(0.15)
    assert dispatcher.active_channels == set()
    dispatcher.submit("c1", dtmf("c1", "2"))
    await asyncio.wait_for(dispatcher.drain(), 1.0)
    assert handled == ["c1", "c1"]
    await dispatcher.close()


async def test_close_cancels_busy_workers() -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def handle(channel_id: str, event: Event) -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(channel_id)
            raise

    dispatcher = ChannelDispatcher(handle)
    dispatcher.submit("c1", dtmf("c1", "1"))
    dispatcher.submit("c1", dtmf("c1", "2"))
    await asyncio.wait_for(started.wait(), 1.0)
    await asyncio.wait_for(dispatcher.close(), 1.0)
    assert cancelled == ["c1"]
    assert dispatcher.active_channels == set()
    await asyncio.wait_for(dispatcher.drain(), 1.0)
    with pytest.raises(RuntimeError, match="closed"):
        dispatcher.submit("c1", dtmf("c1", "3"))
