"""A supervisor listens to a live call, then barges into it, from the agents table in
Chromium: Asterisk, a SIPp caller, the volunteer's and the supervisor's SIPp phones; the
volunteer's screen says that a supervisor is on the call (the test queue tells)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from core.config import Settings
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from tests.browser.signin import sign_in
from tests.conftest import CALLER, agent_phone, place_call, running_app
from tests.e2e.test_acd_calls import MONDAY_10AM_TORONTO, TO_GENERAL
from tests.e2e.test_acd_monitor import connected_call, members, wait_for

pytestmark = pytest.mark.e2e


async def test_a_supervisor_listens_then_barges_from_the_agents_table(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
    page: Page,
    browser: Browser,
    screenshots: Path,
) -> None:
    bruno_context = await browser.new_context()
    try:
        async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
            base = f"http://{settings.http.bind}:{settings.http.port}/console"
            await sign_in(page, base, "alice")
            await page.get_by_role("button", name="Available").click()
            await expect(page.locator("#state")).to_have_attribute("data-state", "available")
            board = await bruno_context.new_page()
            await sign_in(board, base, "bruno")
            listen = board.get_by_role("button", name="Listen to Alice's call")
            await expect(listen).to_be_hidden()  # no call yet

            alice = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path))
            bruno = asyncio.create_task(agent_phone(phone_ports["bruno"], tmp_path, calls=2))
            caller = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
            call_id = await connected_call(app, "alice")
            await expect(listen).to_be_visible(timeout=10_000)  # by SSE
            await listen.click()
            status = board.locator('#agents tr[data-agent="alice"] [data-field="monitor-status"]')
            await expect(status).to_contain_text("Your phone is ringing")
            notice = page.locator("#monitored")
            await expect(notice).to_have_text("A supervisor is listening to this call.")
            await board.screenshot(path=screenshots / "supervisor-listening.png", full_page=True)

            async def listening() -> set[str]:
                bridges = await app.ari.bridged_channels()
                found = [b for b, chans in bridges.items() if b.startswith("monitor-") and chans]
                return {ch for b in found for ch in bridges[b]}

            async def paired() -> bool:
                return len(await listening()) == 2

            await wait_for("Bruno in a bridge with a snoop", paired)
            (leg,) = [ch for ch in await listening() if ch.startswith("monitor-")]
            await app.ari.hangup(leg)  # Bruno hangs up: the volunteer is told
            await expect(notice).to_be_hidden()

            await board.get_by_role("button", name="Barge into Alice's call").click()

            async def barged() -> bool:
                return len(await members(app, f"bridge-{call_id}")) == 3

            await wait_for("Bruno in the call's bridge", barged)
            await expect(notice).to_have_text("A supervisor has joined this call.")
            await app.ari.hangup(call_id)  # the caller hangs up: everyone's phone with it
            called, answered, monitored = await asyncio.gather(caller, alice, bruno)
            await expect(notice).to_be_hidden()
            html = await page.content() + await board.content()
    finally:
        await bruno_context.close()
    assert called.returncode == 0, called.output  # the service hung up the caller
    assert answered.returncode == 0, answered.messages[-2000:]
    assert monitored.returncode == 0, monitored.messages[-2000:]  # two calls, each ended
    first, second = monitored.invites
    assert "Listen " in first.split("From:", 1)[1].splitlines()[0]
    assert "Barge " in second.split("From:", 1)[1].splitlines()[0]
    digits = CALLER.lstrip("+")[-10:]
    assert digits not in html + first + second
