"""The supervisor screen in Chromium: the wallboard, agents table and queue log tail follow
the ACD live, a stuck agent is reset from the table, and a caller's number is unmasked with a
reason and audited."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import Page, expect

from acd.records import Caller, Records, put
from tests.consoles import console_running


async def test_the_board_follows_the_acd_live_and_resets_a_stuck_agent(
    redis_url: str, tmp_path: Path, page: Page, screenshots: Path
) -> None:
    async with console_running(redis_url, tmp_path) as console:
        await page.goto(console.url("/console/"))
        await page.get_by_label("Volunteer id").fill("bruno")
        await page.get_by_label("Password").fill("bruno-console")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(console.url("/console/supervisor"))
        general = page.locator('#wallboard tr[data-queue="general"]')
        alice = page.locator('#agents tr[data-agent="alice"]')
        await expect(general.locator('[data-field="on_call"]')).to_have_text("0")
        await expect(alice.locator('[data-field="state"]')).to_have_text("logged out")

        await console.offer_to("alice", "c1", "Green Fox", 5)  # no reload: by SSE
        await expect(general.locator('[data-field="on_call"]')).to_have_text("1")
        await expect(alice.locator('[data-field="state"]')).to_have_text("offered")
        await expect(alice.locator('[data-field="since"]')).to_contain_text("min")
        offered = page.locator("#queue-log tbody tr", has_text="OFFER")
        await expect(offered).to_contain_text("Green Fox")  # the tail, live too
        await console.log_in("chen", ("general",), time.time())
        await expect(general.locator('[data-field="available"]')).to_have_text("1")
        await page.screenshot(path=screenshots / "supervisor.png", full_page=True)

        await page.get_by_label("Reason to reset Alice").fill("stuck ringing")
        await page.get_by_role("button", name="Reset Alice").click()
        await expect(page).to_have_url(console.url("/console/supervisor"))
        await expect(alice.locator('[data-field="state"]')).to_have_text("available")
        await expect(general.locator('[data-field="available"]')).to_have_text("2")


async def test_a_supervisor_unmasks_the_caller_of_a_live_call_and_reads_the_audit(
    redis_url: str, tmp_path: Path, page: Page
) -> None:
    async with console_running(redis_url, tmp_path) as console:
        await page.goto(console.url("/console/"))
        await page.get_by_label("Volunteer id").fill("bruno")
        await page.get_by_label("Password").fill("bruno-console")
        await page.get_by_role("button", name="Sign in").click()
        unmask = page.get_by_role("button", name="Unmask Alice's caller")
        await expect(unmask).to_be_hidden()  # no call yet

        entry = await console.vault.store("+15145550123", "fr", now=datetime.now(UTC))
        caller = Caller("c1", "general", "fr", entry.pseudonym, time.time(), caller_ref=entry.ref)
        await Records(console.store.redis, console.keys).save(put(caller))
        offer = await console.offer_to("alice", "c1", entry.pseudonym, 5)
        await console.store.accept(offer, "alice", time.time())
        await expect(unmask).to_be_visible()  # by SSE, when Alice took the call

        await page.get_by_label("Emergency reason to unmask Alice's caller").fill("ambulance")
        await unmask.click()
        await expect(page.locator("#unmasked-number")).to_have_text("+15145550123")
        await page.get_by_role("link", name="Back to supervision").click()
        await page.get_by_role("link", name="Unmask audit").click()
        line = page.locator("#audit tbody tr").first
        await expect(line).to_contain_text("bruno")
        await expect(line).to_contain_text(entry.pseudonym)
        await expect(line).to_contain_text("ambulance")
