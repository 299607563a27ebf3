"""A queued caller's position and wait are said in full by Asterisk, in French and English:
positions (and minutes) that Asterisk has no single sound file for play without a failure."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from acd.model import WaitingCall
from core.ari import PlaybackFinished
from core.config import Settings
from hotline.app import HotlineApp
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from tests.conftest import CallResult, place_call, queue_log, running_app

pytestmark = pytest.mark.e2e

MONDAY_10AM_TORONTO = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
POSITIONS = (21, 45, 99, 150)
#: A sound no language has.
MISSING = "digits/no-such-number"
#: The language menu's key for each language, then "1": the "general" queue.
TO_GENERAL_IN = {"en": ((1200, "1"), (700, "1")), "fr": ((1200, "2"), (700, "1"))}


def finished_playbacks(app: HotlineApp) -> list[PlaybackFinished]:
    """Every PlaybackFinished the app receives from now on (observed on its way in)."""
    seen: list[PlaybackFinished] = []
    submit = app.dispatcher.submit

    def observe(channel_id: str, event: object) -> None:
        if isinstance(event, PlaybackFinished):
            seen.append(event)
        submit(channel_id, event)  # type: ignore[arg-type]

    app.dispatcher.submit = observe  # type: ignore[method-assign]
    return seen


async def playback_of(seen: list[PlaybackFinished], part: str, within: float = 30) -> None:
    """Wait until a playback whose id holds ``part`` has finished."""
    deadline = time.monotonic() + within
    while not any(part in p.playback_id for p in seen):
        assert time.monotonic() < deadline, f"no playback {part!r} finished"
        await asyncio.sleep(0.05)


async def joined(settings: Settings, known: set[str], within: float = 15) -> tuple[str, str]:
    """The call id and position of the next caller to enter a queue (not in ``known``)."""
    deadline = time.monotonic() + within
    while True:
        for entry in await asyncio.to_thread(queue_log, settings):
            if entry["event"] == "ENTERQUEUE" and entry["call"] not in known:
                return entry["call"], entry["position"]
        assert time.monotonic() < deadline, "no caller entered the queue"
        await asyncio.sleep(0.1)


async def logged(asterisk: PrivateAsterisk, start: int, text: str, within: float = 5) -> str:
    """Asterisk's messages log after byte ``start``, once it holds ``text``."""
    deadline = time.monotonic() + within
    while True:
        with asterisk.messages.open("rb") as log:
            log.seek(start)
            written = log.read().decode(errors="replace")
        if text in written or time.monotonic() > deadline:
            return written
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("language", ["fr", "en"])
async def test_positions_and_waits_are_said_without_a_failed_playback(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow, language: str
) -> None:
    """Callers join at positions 21, 45, 99 and 150 (calls of another instance wait ahead
    of them) and hear their position and wait (3 minutes a call ahead) to the end."""
    start = asterisk.messages.stat().st_size
    callers: list[asyncio.Task[CallResult]] = []
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        seen = finished_playbacks(app)
        now = app.acd.clock()
        known: set[str] = set()
        channels: dict[str, str] = {}
        try:
            for position in POSITIONS:
                while len(known) < position - 1:  # calls ahead, in line before the callers
                    n = len(known)
                    ahead = WaitingCall(
                        f"ahead-{n}", "general", "elsewhere", "P", "en", now - 900 + n
                    )
                    await app.acd.store.enqueue(ahead, now)
                    known.add(ahead.call_id)
                callers.append(
                    asyncio.create_task(
                        place_call(asterisk, keys=TO_GENERAL_IN[language], hangup_ms=35000)
                    )
                )
                channel, at = await joined(settings, known)
                known.add(channel)
                channels[channel] = at
            for channel in channels:
                await playback_of(seen, f"{channel}:announce-")
            # Control: a sound Asterisk lacks is logged as failed, where the test looks.
            control = next(iter(channels))
            await app.ari.play(control, [f"sound:{MISSING}"], playback_id="control", lang="fr")
            await playback_of(seen, "control")
        finally:
            await asyncio.to_thread(asterisk.rx, "channel request hangup all")
            await asyncio.gather(*callers)
    assert sorted(int(at) for at in channels.values()) == list(POSITIONS)
    written = await logged(asterisk, start, f"Playback failed for sound:{MISSING}")
    lines = written.splitlines()
    assert any(f"Playback failed for sound:{MISSING}" in line for line in lines), written
    problems = [
        line
        for line in lines
        if ("Playback failed" in line or "does not exist" in line) and MISSING not in line
    ]
    assert problems == []
