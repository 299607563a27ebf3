"""Volunteers' phones must authenticate: SIPp phones registering with and without the secret."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from core.config import Settings
from hotline.harness import PrivateAsterisk, _die_with_parent, free_port
from hotline.phones import read_secrets
from ivr.flow import Flow
from tests.conftest import (
    REMOTE_ADDRESS,
    REMOTE_PHONE,
    TESTS,
    agent_phone,
    banned_addresses,
    contacts,
    place_call,
    running_app,
    wait_until_idle,
)

pytestmark = pytest.mark.e2e

MONDAY_10AM_TORONTO = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
#: English, then "1" at the main menu: the "general" queue.
TO_GENERAL = ((2000, "1"), (900, "1"))
#: Where the impostor's attempts come from: neither the carrier's address nor the phone's.
IMPOSTOR_ADDRESS = "127.0.0.4"
#: A user name no device has.
UNKNOWN_USER = "mallory"


async def register(
    asterisk: PrivateAsterisk,
    tmp_path: Path,
    address: str,
    port: int,
    secret: str | None,
    user: str = REMOTE_PHONE,
    registrar: str = "",
) -> list[int]:
    """REGISTER as ``user`` from ``address``:``port`` (tests/sipp/register.xml) with
    ``asterisk`` (or the ``registrar`` at ``host:port``), without credentials when ``secret``
    is None; the status codes of the responses, in order."""
    log = tmp_path / f"register-{port}-{time.monotonic_ns()}.log"
    args = [
        "-sf", str(TESTS / "sipp" / "register.xml"), "-m", "1", "-s", user,
        "-set", "mode", "none" if secret is None else "secret",
        "-au", user, "-ap", secret or "-",
        "-i", address, "-p", str(port), "-trace_msg", "-message_file", str(log),
        "-nostdin", "-timeout", "10s", "-timeout_error", registrar or asterisk.sip_address,
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        "sipp",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    assert await asyncio.wait_for(proc.wait(), 20) == 0, log.read_text(errors="replace")
    return [int(code) for code in re.findall(r"^SIP/2\.0 (\d{3})", log.read_text(), re.M)]


async def auth_failures(settings: Settings) -> tuple[str, dict[str, float]]:
    """The app's /metrics text and its failed-authentication counts by reason."""
    url = f"http://127.0.0.1:{settings.http.port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    counts = re.findall(r'^hotline_sip_auth_failures_total\{reason="(\w+)"\} (\S+)$', text, re.M)
    return text, {reason: float(value) for reason, value in counts}


async def test_only_the_phone_with_the_secret_registers_and_gets_the_offered_call(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    tmp_path: Path,
    app_logs: pytest.LogCaptureFixture,
) -> None:
    secret = read_secrets(settings.phones.secrets_file)[REMOTE_PHONE]
    security_log = asterisk.dirs.log_dir / "security"
    logged_before = security_log.stat().st_size
    settings = dataclasses.replace(
        settings, phones=dataclasses.replace(settings.phones, security_log=str(security_log))
    )
    impostor, genuine = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        # Knowing the name is not enough: challenged, and refused with a wrong password; an
        # unknown user is refused alike.
        assert await register(asterisk, tmp_path, IMPOSTOR_ADDRESS, impostor, None) == [401]
        refused = await register(asterisk, tmp_path, IMPOSTOR_ADDRESS, impostor, secret[::-1])
        assert refused[0] == 401
        assert refused[1] in (401, 403)
        unknown = await register(
            asterisk, tmp_path, IMPOSTOR_ADDRESS, impostor, secret, user=UNKNOWN_USER
        )
        assert unknown[0] == 401
        assert unknown[1] in (401, 403)
        assert contacts(asterisk, REMOTE_PHONE) == []
        assert await register(asterisk, tmp_path, REMOTE_ADDRESS, genuine, secret) == [401, 200]
        assert contacts(asterisk, REMOTE_PHONE) == [
            f"sip:{REMOTE_PHONE}@{REMOTE_ADDRESS}:{genuine}"
        ]

        profile = app.acd.agents[REMOTE_PHONE]
        await app.acd.store.login(REMOTE_PHONE, ("general",), profile.devices[0], app.acd.clock())
        phone = asyncio.create_task(
            agent_phone(genuine, tmp_path, talk_ms=1000, address=REMOTE_ADDRESS)
        )
        result = await place_call(asterisk, keys=TO_GENERAL)
        answered = await phone
        assert result.ok, result.output
        assert answered.returncode == 0, answered.messages[-2000:]
        assert len(answered.invites) == 1
        await wait_until_idle(app, asterisk)

        # The failures are counted by reason only, and fail2ban would ban the impostor.
        expected = {"wrong_secret": 1.0, "unknown_user": 1.0}
        deadline = time.monotonic() + 10
        while True:
            metrics, failures = await auth_failures(settings)
            if {r: failures.get(r) for r in expected} == expected:
                break
            assert time.monotonic() < deadline, failures
            await asyncio.sleep(0.2)
    assert sum(failures.values()) == 2
    for private in (REMOTE_PHONE, UNKNOWN_USER, IMPOSTOR_ADDRESS, secret):
        assert private not in metrics
    with security_log.open() as log:
        log.seek(logged_before)
        new_lines = log.read()
    assert banned_addresses(new_lines, tmp_path) == [IMPOSTOR_ADDRESS, IMPOSTOR_ADDRESS]
    # No device's secret reaches the app's logs, Asterisk's logs or its configuration.
    logged = [r.getMessage() for r in app_logs.records] + [str(r.args) for r in app_logs.records]
    asterisk_files = [*asterisk.dirs.log_dir.iterdir(), *asterisk.dirs.etc_dir.iterdir()]
    asterisk_text = [path.read_text(errors="replace") for path in asterisk_files]
    for device_secret in read_secrets(settings.phones.secrets_file).values():
        assert not [line for line in logged if device_secret in line]
        assert not [text for text in asterisk_text if device_secret in text]
