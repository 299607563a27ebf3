"""A supervisor listens to, whispers into and barges into a live call, on their SIPp phone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import cast

import pytest
import redis

from acd.monitor import MonitorMode
from acd.monitoring import request_monitor
from acd.routing import AgentState
from acd.transfers import Transfer, TransferKind, parties, request_transfer
from core.config import Settings
from core.keys import Keys
from hotline.app import HotlineApp
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from tests.conftest import CALLER, agent_phone, place_call, queue_log, running_app, wait_until_idle

pytestmark = pytest.mark.e2e

MONDAY_10AM_TORONTO = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
#: English, then "1" at the main menu: the "general" queue.
TO_GENERAL = ((2000, "1"), (900, "1"))


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], within: float = 20) -> None:
    """Wait until ``check`` holds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.1)


async def connected_call(app: HotlineApp, agent: str) -> str:
    """The call ``agent`` is on, once they are on it (bridged with the caller)."""
    found: list[str] = []

    async def on_call() -> bool:
        view = await app.acd.store.agent(agent)
        if view is None or view.state is not AgentState.ON_CALL or not view.call_id:
            return False
        if (await parties(app.acd.store, view.call_id)).state != "connected":
            return False
        # The store says connected before the app has bridged the two.
        if len(await members(app, f"bridge-{view.call_id}")) < 2:
            return False
        found.append(view.call_id)
        return True

    await wait_for(f"{agent} on a call", on_call)
    return found[-1]


async def members(app: HotlineApp, bridge: str) -> frozenset[str]:
    """The channels in ``bridge`` now (none if it does not exist)."""
    return (await app.ari.bridged_channels()).get(bridge, frozenset())


def staff_audit(settings: Settings) -> list[dict[str, str]]:
    client = redis.Redis.from_url(settings.redis.url, decode_responses=True)
    try:
        entries = cast(
            list[tuple[str, dict[str, str]]],
            client.xrange(Keys(settings.redis.prefix).staff_audit),
        )
    finally:
        client.close()
    return [fields for _, fields in entries]


class Ending(StrEnum):
    """Who leaves first."""

    SUPERVISOR = "supervisor-leaves"  # he hangs up; the call goes on
    VOLUNTEER = "volunteer-leaves"  # the call is transferred to a queue; the caller waits
    CALL = "call-ends"  # the caller hangs up


@pytest.mark.parametrize(
    ("mode", "ending"),
    [
        (MonitorMode.LISTEN, Ending.SUPERVISOR),
        (MonitorMode.WHISPER, Ending.CALL),
        (MonitorMode.BARGE, Ending.CALL),
        (MonitorMode.BARGE, Ending.VOLUNTEER),
    ],
    ids=lambda value: str(value),
)
async def test_a_supervisor_is_rung_and_hears_the_call_until_one_side_leaves(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
    mode: MonitorMode,
    ending: Ending,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        profile = app.acd.agents["alice"]
        await app.acd.store.login("alice", ("general",), profile.devices[0], app.acd.clock())
        alice = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path))
        bruno = asyncio.create_task(agent_phone(phone_ports["bruno"], tmp_path))
        caller = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
        call_id = await connected_call(app, "alice")
        session = await request_monitor(
            app.acd.store, app.acd.agents, call_id, "bruno", "supervisor", mode, time.time()
        )
        leg, snoop, own_bridge = f"monitor-{session}", f"snoop-{session}", f"monitor-{session}"

        async def bruno_hears() -> bool:
            if mode is MonitorMode.BARGE:
                return leg in await members(app, f"bridge-{call_id}")
            return await members(app, own_bridge) == {leg, snoop}

        async def bruno_gone() -> bool:
            channels = {c.id for c in await app.ari.list_channels()}
            bridges = await app.ari.bridged_channels()
            return not {leg, snoop} & channels and own_bridge not in bridges

        await wait_for("Bruno hears the call", bruno_hears)
        if mode is MonitorMode.BARGE:
            assert len(await members(app, f"bridge-{call_id}")) == 3
        if ending is Ending.SUPERVISOR:  # as his phone's BYE would
            await app.ari.hangup(leg)
            await wait_for("Bruno's leg and snoop gone", bruno_gone)
            assert (await parties(app.acd.store, call_id)).state == "connected"
        if ending is Ending.VOLUNTEER:
            await request_transfer(app.acd.store, call_id, Transfer(TransferKind.QUEUE, "ringall"))
            await wait_for("Bruno's leg gone with Alice's", bruno_gone)
            assert (await parties(app.acd.store, call_id)).state == "waiting"
        await app.ari.hangup(call_id)  # as the caller's BYE would: the call ends
        called, answered, monitored = await asyncio.gather(caller, alice, bruno)
        assert called.ok, called.output
        assert answered.returncode == 0, answered.messages[-2000:]
        assert monitored.returncode == 0, monitored.messages[-2000:]  # his phone got a BYE
        await wait_until_idle(app, asterisk)
    (invite,) = monitored.invites
    assert CALLER.lstrip("+")[-10:] not in invite
    assert f"{mode.value.capitalize()} " in invite.split("From:", 1)[1].splitlines()[0]
    assert [(a["actor"], a["action"], a["target"]) for a in staff_audit(settings)] == [
        ("bruno", mode.value, call_id)
    ]
    told = [(e["on"], e["by"], e["agent"]) for e in queue_log(settings) if e["event"] == "MONITOR"]
    assert told == [("1", "bruno", "alice"), ("0", "bruno", "alice")]
