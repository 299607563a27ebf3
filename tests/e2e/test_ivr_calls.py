"""Real calls from SIPp through a private Asterisk into the app's IVR."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from core.config import Settings
from core.keys import Keys
from core.privacy import number_token
from hotline.app import HotlineApp
from hotline.harness import PrivateAsterisk, RedisServer, free_port
from ivr.flow import Flow
from tests.conftest import CALLER, journal, place_call, running_app, wait_until_idle
from tests.e2e.proxy import TcpProxy

pytestmark = pytest.mark.e2e

MONDAY_10AM_TORONTO = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
SUNDAY_10AM_TORONTO = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
CHRISTMAS_10AM_TORONTO = datetime(2026, 12, 25, 15, 0, tzinfo=UTC)

Entries = list[tuple[str, dict[str, str]]]


def only_call(settings: Settings) -> Entries:
    calls = journal(settings)
    assert len(calls) == 1, f"expected one call, journal has {len(calls)}"
    return next(iter(calls.values()))


def plays(entries: Entries) -> list[tuple[str, str]]:
    """(media, language) of every prompt the app asked Asterisk to play, in order."""
    return [(d["media"], d["language"]) for kind, d in entries if kind == "play"]


def finished(entries: Entries) -> set[str]:
    """Playback ids Asterisk reported as finished."""
    return {d["playback"] for kind, d in entries if kind == "played"}


def kinds(entries: Entries) -> list[str]:
    return [kind for kind, _ in entries]


def connected(app: HotlineApp) -> bool:
    return app.stream.is_connected


async def test_call_is_answered_and_hears_greeting(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        result = await place_call(asterisk)
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
    entries = only_call(settings)
    first_play = next(d for kind, d in entries if kind == "play")
    assert (first_play["media"], first_play["language"]) == ("sound:hello-world", "en")
    assert first_play["playback"] in finished(entries), "Asterisk never finished the greeting"
    assert ("hours", {"node": "hours", "status": "open"}) in entries
    # No key pressed: the language menu times out to the main menu, which re-prompts once
    # (retries = 1) and then gives up to goodbye, which the service hangs up after.
    timeouts = [d["node"] for kind, d in entries if kind == "timeout"]
    assert timeouts == ["language", "main_menu", "main_menu"]
    assert plays(entries)[-1] == ("sound:vm-goodbye", "en")
    assert entries[-1] == ("hangup", {"node": "goodbye", "by": "flow"})


async def test_dtmf_choice_takes_the_right_branch(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        result = await place_call(asterisk, keys=((2000, "2"), (1000, "2")))
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
    entries = only_call(settings)
    assert ("language", {"node": "language", "language": "fr"}) in entries
    digits = [(d["node"], d["digit"], d["target"]) for kind, d in entries if kind == "digit"]
    assert digits == [("language", "2", "main_menu"), ("main_menu", "2", "info")]
    # Every prompt after the choice is in French, and the info branch was taken.
    assert plays(entries)[1:] == [
        ("sound:beep", "fr"),
        ("sound:auth-thankyou", "fr"),
        ("sound:vm-goodbye", "fr"),
    ]
    assert entries[-1] == ("hangup", {"node": "goodbye", "by": "flow"})


async def test_invalid_key_is_explained_then_a_valid_key_works(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        result = await place_call(asterisk, keys=((2000, "1"), (1000, "#"), (2500, "0")))
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
    entries = only_call(settings)
    assert ("digit_invalid", {"node": "main_menu", "attempt": "1"}) in entries
    media = [m for m, _ in plays(entries)]
    assert media == [
        "sound:hello-world",
        "sound:beep",
        "sound:please-try-again,sound:beep",
        "sound:vm-goodbye",
    ]
    assert ("digit", {"node": "main_menu", "digit": "0", "target": "goodbye"}) in entries


@pytest.mark.parametrize("now", [SUNDAY_10AM_TORONTO, CHRISTMAS_10AM_TORONTO])
async def test_closed_hours_message_plays_outside_hours(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow, now: datetime
) -> None:
    async with running_app(settings, test_flow, clock=lambda: now) as app:
        result = await place_call(asterisk)
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
    entries = only_call(settings)
    assert ("hours", {"node": "hours", "status": "closed"}) in entries
    assert [m for m, _ in plays(entries)] == ["sound:please-try-call-later", "sound:vm-goodbye"]
    assert finished(entries) == {d["playback"] for kind, d in entries if kind == "play"}


async def test_caller_hanging_up_mid_menu_leaves_nothing_behind(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        result = await place_call(asterisk, keys=((2000, "1"),), hangup_ms=700)
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
        assert await app.redis.keys(f"{settings.redis.prefix}:call:*") == []
        # The main menu's timer (1.5 s) must not fire into a finished call.
        await asyncio.sleep(2)
        entries = only_call(settings)
    assert entries[-1] == ("hangup", {"node": "main_menu", "by": "caller"})
    assert "timeout" not in kinds(entries)


async def test_call_completes_when_the_event_websocket_drops_mid_call(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        call = asyncio.create_task(place_call(asterisk, keys=((2500, "1"), (800, "0"))))
        await asyncio.sleep(0.8)  # the greeting is playing
        await app.stream.drop()
        result = await call
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
    assert any("reconnected" in r.getMessage() for r in app_logs.records)
    entries = only_call(settings)
    assert entries[-1] == ("hangup", {"node": "goodbye", "by": "flow"})


async def test_caller_number_never_reaches_logs_or_redis(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    number = "+15145550177"
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        result = await place_call(asterisk, keys=((2000, "1"), (900, "2")), caller=number)
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
        dump = [
            str(await app.redis.xrange(f"{settings.redis.prefix}:journal")),
            *[str(await app.redis.dump(k)) for k in await app.redis.keys("*")],
        ]
    lines = [r.getMessage() for r in app_logs.records] + [str(r.args) for r in app_logs.records]
    digits = number.lstrip("+")[-10:]
    assert not [line for line in lines if digits in line]
    assert not [item for item in dump if digits in item]
    token = number_token(number, settings.secrets.hash_key)
    assert any(token in line for line in lines), "the call was logged by its keyed hash"
    assert number != CALLER


async def test_unreachable_ari_at_start_is_reported_and_retried(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    ari = dataclasses.replace(settings.ari, url=f"http://127.0.0.1:{port}")
    unreachable = dataclasses.replace(settings, ari=ari)
    async with HotlineApp(unreachable, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await asyncio.sleep(1.5)
        assert not connected(app)
        errors = [r.getMessage() for r in app_logs.records if r.levelno >= logging.WARNING]
        assert any(f"127.0.0.1:{port}" in e and "unreachable" in e for e in errors), errors
        assert not any(settings.secrets.ari_password in e for e in errors)
        upstream = asterisk.settings.asterisk
        async with TcpProxy(port, upstream.http_bind, upstream.http_port):
            for _ in range(150):
                if connected(app):
                    break
                await asyncio.sleep(0.1)
            assert connected(app)
            result = await place_call(asterisk, keys=((2000, "1"), (900, "0")))
            assert result.ok, result.output
            await wait_until_idle(app, asterisk)
    assert only_call(settings)[-1] == ("hangup", {"node": "goodbye", "by": "flow"})


async def test_redis_gone_mid_call_hands_the_caller_to_the_fallback(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    tmp_path: Path,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    own_redis = RedisServer(tmp_path / "redis").start()
    try:
        alone = dataclasses.replace(
            settings, redis=dataclasses.replace(settings.redis, url=own_redis.url)
        )
        async with running_app(alone, test_flow, clock=lambda: MONDAY_10AM_TORONTO):
            call = asyncio.create_task(place_call(asterisk))
            await asyncio.sleep(0.7)  # answered, greeting playing
            own_redis.stop()
            result = await call
            # The caller heard the fallback message and was hung up on, not left in silence.
            assert result.ok, result.output
            assert result.seconds < 20
            for _ in range(50):
                if await asyncio.to_thread(asterisk.channel_count) == 0:
                    break
                await asyncio.sleep(0.1)
            assert await asyncio.to_thread(asterisk.channel_count) == 0
    finally:
        own_redis.stop()
    messages = [r.getMessage() for r in app_logs.records]
    assert any("sending the call to the fallback" in m for m in messages), messages[-5:]


async def test_a_call_while_the_app_is_not_connected_hears_the_fallback(
    settings: Settings, asterisk: PrivateAsterisk
) -> None:
    """Stasis() fails with no app to take the call: the dialplan plays the fallback message
    (2.2 s) and hangs up, instead of refusing the call."""
    for _ in range(50):
        if settings.ari.app not in await asyncio.to_thread(asterisk.rx, "ari show apps"):
            break
        await asyncio.sleep(0.1)
    call = asyncio.create_task(place_call(asterisk))
    seen = ""
    while not call.done() and "hotline-fallback!s!" not in seen:
        await asyncio.sleep(0.1)
        seen = await asyncio.to_thread(asterisk.rx, "core show channels concise")
    result = await call
    assert result.ok, result.output  # answered (200 OK), then the service's BYE
    assert "!Playback!please-try-call-later" in seen, seen
    assert result.seconds > 2


async def test_health_endpoint_reports_dependencies_and_api_needs_a_token(
    settings: Settings, test_flow: Flow
) -> None:
    async with running_app(settings, test_flow), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{settings.http.port}"
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"ari": True, "redis": True}
        async with http.get(f"{base}/acd/queues") as response:
            assert response.status == 401


async def test_a_caller_can_go_on_by_text_from_the_menu_with_the_call_context(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow
) -> None:
    keys = Keys(settings.redis.prefix)
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        result = await place_call(asterisk, keys=((2000, "2"), (900, "9")))
        assert result.ok, result.output
        await wait_until_idle(app, asterisk)
        entry = await app.vault.find(CALLER)
        assert entry is not None
        conversation = str(await app.redis.get(keys.open_conversation(entry.ref)))
        messages = await app.redis.lrange(keys.conversation_messages(conversation), 0, -1)
    (system,) = [json.loads(m) for m in messages]
    assert "from=ivr" in system["body"]
    assert "menu=language=fr main_menu=9" in system["body"]
    assert "language=fr" in system["body"]
    assert ("text", {"node": "by_text"}) in only_call(settings)
