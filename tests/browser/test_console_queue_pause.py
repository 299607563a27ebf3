"""A volunteer pauses in one queue from the screen in Chromium, and sees its end live."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.async_api import Page, expect

from tests.consoles import console_running


async def test_a_volunteer_pauses_in_one_queue_and_sees_it_end_live(
    redis_url: str, tmp_path: Path, page: Page
) -> None:
    async with console_running(redis_url, tmp_path) as console:
        await page.goto(console.url("/console/"))
        await page.get_by_label("Volunteer id").fill("alice")
        await page.get_by_label("Password").fill("alice-console")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("button", name="Available").click()
        await expect(page.locator("#state")).to_have_text("available")
        await page.get_by_label("Queue to pause").select_option("ringall")
        await page.get_by_label("Reason for this queue").select_option("meal")
        await page.get_by_role("button", name="Pause in this queue").click()
        await expect(page.locator("#paused-in")).to_have_text("ringall: meal")
        await expect(page.locator("#state")).to_have_text("available")  # in her other queues
        view = await console.store.agent("alice")
        assert view is not None
        assert dict(view.paused_in) == {"ringall": "meal"}

        await console.store.resume("alice", time.time(), "ringall")  # no reload: by SSE
        await expect(page.locator("#paused-in")).to_have_text("")
