"""During a real call (Asterisk, a SIPp caller, the volunteer's SIPp phone) in Chromium: the
call's timer runs, the volunteer hangs up from the screen (her phone receives the BYE), then
extends her wrap-up (the page stays, the countdown moves, the form is saved within it) and
ends it."""

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
from tests.browser.signin import sign_in
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
    # No grace after the wrap-up: the form is taken until the wrap-up's end, no later.
    records = dataclasses.replace(settings.records, wrapup_grace_s=0)
    settings = dataclasses.replace(settings, acd=acd, records=records)
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        base = f"http://{settings.http.bind}:{settings.http.port}/console"
        await sign_in(page, base, "alice")
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
        await page.get_by_label("Notes").fill("Calmer at the end.")
        await page.get_by_role("button", name="60 s more wrap-up").click()
        # Over 5 minutes left (her own 5 minutes counted down from the hang-up, plus 60 s).
        await expect(left).to_have_text(re.compile(r"^(5 min ([1-9]|[1-5]\d) s|6 min 0 s)$"))
        view = await app.acd.store.agent("alice")
        assert view is not None
        assert view.wrapup_until is not None
        assert view.wrapup_until - time.time() > 300  # extended in the store
        # The page stayed: the notes being written are there, and the form is saved within
        # her wrap-up (her own 5 minutes and the extension), once the queue's own 1 s of
        # wrap-up is over (at least 3 s counted down since the hang-up).
        await expect(page.get_by_label("Notes")).to_have_value("Calmer at the end.")
        await expect(left).to_have_text(re.compile(r"^5 min ([1-9]|[1-4]\d|5[0-7]) s$"))
        await page.get_by_label("Disposition").select_option("crisis")
        await page.get_by_role("button", name="Save wrap-up").click()
        await expect(page.locator("#wrapup-status")).to_have_text("Wrap-up saved.")
        await page.get_by_role("button", name="End wrap-up").click()
        await expect(page.locator("#state")).to_have_attribute("data-state", "available")
        await expect(page.locator("#wrapup-time")).to_be_hidden()
    assert rang.returncode == 0, rang.messages[-2000:]  # the BYE reached her phone
    assert "BYE sip:" in rang.messages
    assert result.ok, result.output
    ends = [e for e in queue_log(settings) if e["event"].startswith("COMPLETE")]
    assert [(e["event"], e["agent"]) for e in ends] == [("COMPLETEAGENT", "alice")]
    [extended] = [e for e in queue_log(settings) if e["event"] == "WRAPUPEXTEND"]
    assert extended["call"] == ends[0]["call"]
    assert float(extended["until"]) == pytest.approx(float(ends[0]["until"]) + 60, abs=0.01)
