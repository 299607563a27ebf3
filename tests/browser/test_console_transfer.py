"""A volunteer transfers the call they are on from the pop in Chromium, the page staying put."""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

from playwright.async_api import Page, expect

from tests.consoles import console_running


async def test_a_volunteer_transfers_their_call_to_another_queue_from_the_pop(
    redis_url: str, tmp_path: Path, page: Page
) -> None:
    async with console_running(redis_url, tmp_path) as console:
        await page.goto(console.url("/console/"))
        await page.get_by_label("Volunteer id").fill("alice")
        await page.get_by_label("Password").fill("alice-console")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(console.url("/console/volunteer"))
        await expect(page.locator("#pop")).to_be_hidden()
        offer = await console.offer_to("alice", "c1", "Green Fox", 5)
        await expect(page.locator("#pop-pseudonym")).to_have_text("Green Fox")
        await console.store.accept(offer, "alice", time.time())
        await page.get_by_label("To queue").select_option("ringall")
        await page.get_by_role("button", name="Transfer to this queue").click()
        await expect(page.locator("#transfer-status")).to_have_text("Transferred to ringall")
        await expect(page.locator("#pop-pseudonym")).to_have_text("Green Fox")  # still there
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await console.store.redis.xrange(console.keys.acd_inbox("app-1")),
        )
        assert [fields for _, fields in entries] == [{"transfer": "c1", "to": "queue:ringall"}]
        await page.get_by_role("button", name="Transfer to a supervisor").click()
        await expect(page.locator("#transfer-status")).to_have_text(
            "Not transferred: no-supervisor-available"
        )
