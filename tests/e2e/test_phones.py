"""Volunteers' phones must authenticate: SIPp phones registering with and without the secret."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

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


async def register(
    asterisk: PrivateAsterisk, tmp_path: Path, address: str, port: int, secret: str | None
) -> list[int]:
    """REGISTER as the remote volunteer from ``address``:``port`` (tests/sipp/register.xml),
    without credentials when ``secret`` is None; the status codes of the responses, in order."""
    log = tmp_path / f"register-{port}-{time.monotonic_ns()}.log"
    ast = asterisk.settings.asterisk
    args = [
        "-sf", str(TESTS / "sipp" / "register.xml"), "-m", "1", "-s", REMOTE_PHONE,
        "-set", "mode", "none" if secret is None else "secret",
        "-au", REMOTE_PHONE, "-ap", secret or "-",
        "-i", address, "-p", str(port), "-trace_msg", "-message_file", str(log),
        "-nostdin", "-timeout", "10s", "-timeout_error", f"{ast.sip_bind}:{ast.sip_port}",
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


async def test_only_the_phone_with_the_secret_registers_and_gets_the_offered_call(
    settings: Settings, asterisk: PrivateAsterisk, test_flow: Flow, tmp_path: Path
) -> None:
    secret = read_secrets(settings.phones.secrets_file)[REMOTE_PHONE]
    impostor, genuine = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    # Knowing the name is not enough: challenged, and refused with a wrong password.
    assert await register(asterisk, tmp_path, IMPOSTOR_ADDRESS, impostor, None) == [401]
    refused = await register(asterisk, tmp_path, IMPOSTOR_ADDRESS, impostor, secret[::-1])
    assert refused[0] == 401
    assert refused[1] in (401, 403)
    assert contacts(asterisk, REMOTE_PHONE) == []
    assert await register(asterisk, tmp_path, REMOTE_ADDRESS, genuine, secret) == [401, 200]
    assert contacts(asterisk, REMOTE_PHONE) == [f"sip:{REMOTE_PHONE}@{REMOTE_ADDRESS}:{genuine}"]

    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
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
