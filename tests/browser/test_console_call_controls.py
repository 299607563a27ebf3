"""During a real call (Asterisk, a SIPp caller, the volunteer's SIPp phone) in Chromium: the
call's timer runs, the volunteer hangs up from the screen (her phone receives the BYE), then
extends and ends her wrap-up."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from core.config import Settings
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from tests.conftest import TESTS, agent_phone, place_call, queue_log, running_app
from tests.e2e.test_acd_calls import MONDAY_10AM_TORONTO, TO_GENERAL

pytestmark = pytest.mark.e2e


def agents_with_long_wrapup(tmp_path: Path) -> Path:
    """The test agents, Alice with 5 minutes of wrap-up (the queues' 1 s is too short to
    click in)."""
    text = (TESTS / "acd" / "agents.toml").read_text(encoding="utf-8")
    alice = '[agents.alice]\nname = "Alice"\n'
    assert alice in text
    path = tmp_path / "agents.toml"
    path.write_text(text.replace(alice, alice + "wrapup_s = 300\n"), encoding="utf-8")
    return path


async def test_a_volunteer_hangs_up_from_the_screen_then_extends_and_ends_her_wrap_up(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
    page: Page,
) -> None:
    acd = dataclasses.replace(settings.acd, agents=agents_with_long_wrapup(tmp_path))
    settings = dataclasses.replace(settings, acd=acd)
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        base = f"http://{settings.http.bind}:{settings.http.port}/console"
        await page.goto(f"{base}/signin")
        await page.get_by_label("Volunteer id").fill("alice")
        await page.get_by_label("Password").fill("alice-console")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("button", name="Available").click()
        await expect(page.locator("#state")).to_have_attribute("data-state", "available")
        # Her phone answers and waits for a BYE; the caller waits for the service to hang up.
        phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, talk_ms=0))
        call = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
        await expect(page.locator("#state")).to_have_attribute(
            "data-state", "on_call", timeout=30_000
        )
        timer = page.locator("#call-timer")
        await expect(page.locator("#call-clock")).to_be_visible()
        await expect(timer).to_have_text(re.compile(r"^0 min [1-9]\d* s$"))  # it runs
        await page.get_by_role("button", name="Hang up").click()
        await expect(page.locator("#hangup-status")).to_have_text("Hung up.")
        rang, result = await phone, await call
        await expect(page.locator("#state")).to_have_attribute("data-state", "wrap_up")
        await expect(page.locator("#call-clock")).to_be_hidden()
        await expect(page.get_by_role("button", name="Hang up")).to_be_hidden()
        left = page.locator("#wrapup-left")
        await expect(left).to_have_text(re.compile(r"^[45] min \d+ s$"))
        await page.get_by_role("button", name="60 s more wrap-up").click()
        await expect(left).to_have_text(re.compile(r"^[56] min \d+ s$"))
        view = await app.acd.store.agent("alice")
        assert view is not None
        assert view.wrapup_until is not None
        assert view.wrapup_until - time.time() > 300  # extended in the store
        await page.get_by_role("button", name="End wrap-up").click()
        await expect(page.locator("#state")).to_have_attribute("data-state", "available")
        await expect(page.locator("#wrapup-time")).to_be_hidden()
    assert rang.returncode == 0, rang.messages[-2000:]  # the BYE reached her phone
    assert "BYE sip:" in rang.messages
    assert result.ok, result.output
    ends = [e for e in queue_log(settings) if e["event"].startswith("COMPLETE")]
    assert [(e["event"], e["agent"]) for e in ends] == [("COMPLETEAGENT", "alice")]
