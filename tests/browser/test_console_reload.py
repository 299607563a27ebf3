"""A volunteer's page reloaded during a real call (Asterisk, a SIPp caller, her SIPp phone)
and again in its wrap-up, in Chromium: the call's pop comes back each time, with the call's
controls on the call and the wrap-up form, saved after the reload, in the wrap-up."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from core.config import Settings
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from tests.browser.signin import sign_in
from tests.browser.test_console_call_controls import agents_with_long_wrapup
from tests.conftest import agent_phone, place_call, running_app
from tests.e2e.test_acd_calls import MONDAY_10AM_TORONTO, TO_GENERAL

pytestmark = pytest.mark.e2e


async def test_a_page_reloaded_mid_call_and_in_the_wrap_up_gets_the_pop_back(
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
        await sign_in(page, base, "alice")
        await page.get_by_role("button", name="Available").click()
        await expect(page.locator("#state")).to_have_attribute("data-state", "available")
        # Her phone answers and waits for a BYE; the caller waits for the service to hang up.
        phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, talk_ms=0))
        call = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
        state, pop = page.locator("#state"), page.get_by_role("region", name="Incoming call")
        await expect(state).to_have_attribute("data-state", "on_call", timeout=30_000)
        await expect(pop).to_be_visible()
        pseudonym = await page.locator("#pop-pseudonym").text_content()
        assert pseudonym

        async def pop_back() -> None:
            """The page reloaded: the same call's pop, its earlier contacts after it."""
            await page.reload()
            await expect(pop).to_be_visible()
            await expect(page.locator("#pop-pseudonym")).to_have_text(pseudonym)
            await expect(page.locator("#pop-queue")).to_have_text("general")
            await expect(page.locator("#pop-ivr-path")).to_have_text(
                "language: en > main_menu: 1 (to_queue)"
            )
            await expect(page.locator("#pop-flags")).not_to_have_text("…")

        await pop_back()
        await expect(state).to_have_attribute("data-state", "on_call")
        await page.get_by_role("button", name="Hang up").click()  # the call's controls
        await expect(page.locator("#hangup-status")).to_have_text("Hung up.")
        rang, result = await phone, await call
        await expect(state).to_have_attribute("data-state", "wrap_up")
        await pop_back()
        await expect(state).to_have_attribute("data-state", "wrap_up")
        await expect(page.get_by_role("button", name="Hang up")).to_be_hidden()
        await expect(page.locator("#wrapup-left")).to_have_text(re.compile(r"^[45] min \d+ s$"))
        await page.get_by_label("Disposition").select_option("crisis")
        await page.get_by_label("Notes").fill("Saved after a reload.")
        await page.get_by_role("button", name="Save wrap-up").click()
        await expect(page.locator("#wrapup-status")).to_have_text("Wrap-up saved.")
        call_id = await page.locator("#pop").get_attribute("data-call")
        assert call_id
        (wrapup,) = await app.records.wrapups.read(call_id)
    assert rang.returncode == 0, rang.messages[-2000:]
    assert result.ok, result.output
    assert (wrapup.agent, wrapup.disposition, wrapup.notes) == (
        "alice",
        "crisis",
        "Saved after a reload.",
    )
