"""Queued calls from SIPp callers to SIPp volunteers' phones through the app's ACD."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from acd.routing import AgentState
from hotline.app import HotlineApp
from hotline.config import Settings
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from tests.conftest import (
    CALLER,
    agent_phone,
    place_call,
    queue_log,
    running_app,
    wait_until_idle,
)

pytestmark = pytest.mark.e2e

MONDAY_10AM_TORONTO = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
#: English, then "1" at the main menu: the "general" queue.
TO_GENERAL = ((2000, "1"), (900, "1"))


def events(settings: Settings) -> list[tuple[str, str]]:
    return [(e["event"], e["agent"]) for e in queue_log(settings)]


async def log_in(app: HotlineApp, agent: str, *queues: str) -> None:
    profile = app.acd.agents[agent]
    await app.acd.store.login(agent, queues or ("general",), profile.devices[0], app.acd.clock())


async def test_queued_call_reaches_a_volunteer_who_sees_only_a_pseudonym(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "alice")
        phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, talk_ms=1500))
        result = await place_call(asterisk, keys=TO_GENERAL)
        answered = await phone
        assert result.ok, result.output
        assert answered.returncode == 0, answered.messages[-2000:]
        await wait_until_idle(app, asterisk)
        alice = await app.acd.store.agent("alice")
    assert alice is not None
    assert alice.state in (AgentState.WRAP_UP, AgentState.AVAILABLE)
    (invite,) = answered.invites
    digits = CALLER.lstrip("+")[-10:]
    assert digits not in invite
    headers = {line.split(":", 1)[0]: line for line in invite.splitlines() if ":" in line}
    hotline = settings.asterisk.hotline_number
    for name in ("From", "P-Asserted-Identity"):
        assert hotline in headers[name]
        assert "(general)" in headers[name]  # "<pseudonym> (general)" as display name
    seen = [e for e, _ in events(settings) if e not in ("ADDMEMBER", "REMOVEMEMBER")]
    assert seen[:1] == ["ENTERQUEUE"]
    assert "CONNECT" in seen
    assert "COMPLETEAGENT" in seen
