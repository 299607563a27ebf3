"""Hang-up requests (a volunteer's "Hang up" in the console) carried out by the call's owner
instance, on real calls through Asterisk with SIPp."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from acd.hangups import request_hangup
from acd.routing import AgentState
from core.config import Settings
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from tests.conftest import agent_phone, place_call, queue_log, running_app, wait_until_idle
from tests.e2e.test_acd_calls import MONDAY_10AM_TORONTO, TO_GENERAL, log_in

pytestmark = pytest.mark.e2e


async def test_a_nailed_up_operator_hanging_up_ends_the_caller_and_keeps_the_connection(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        await log_in(app, "erin")  # nailed_up = true, on the phone at Alice's port
        phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, max_seconds=60))
        # The caller waits for the service to hang up.
        call = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
        deadline = time.monotonic() + 30
        while not (erin := await app.acd.store.agent("erin")) or not erin.call_id:
            assert time.monotonic() < deadline, "the caller never reached Erin"
            await asyncio.sleep(0.1)
        assert erin.state is AgentState.ON_CALL
        await request_hangup(app.acd.store, erin.call_id, "erin")
        result = await call
        assert result.ok, result.output  # the caller received the BYE
        while (erin := await app.acd.store.agent("erin")) and erin.state is AgentState.ON_CALL:
            assert time.monotonic() < deadline, "Erin stayed on the call"
            await asyncio.sleep(0.1)
        assert await app.ari.get_channel("nail-erin") is not None  # her connection stays up
        await app.acd.store.logout("erin", app.acd.clock())
        await app.ari.hangup("nail-erin")
        operator = await phone
        assert operator.returncode == 0, operator.messages[-1500:]
        await wait_until_idle(app, asterisk)
    assert len(operator.invites) == 1
    ends = [e for e in queue_log(settings) if e["event"].startswith("COMPLETE")]
    assert [e["agent"] for e in ends] == ["erin"]  # the call ended once
