"""The console in French in Chromium: chosen before signing in, kept after it, in the pages
and in what the script writes from live events."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from tests.consoles import console_running


async def test_a_supervisor_picks_french_and_the_live_board_speaks_it(
    redis_url: str, tmp_path: Path, page: Page
) -> None:
    async with console_running(redis_url, tmp_path) as console:
        await page.goto(console.url("/console/signin"))
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        await page.get_by_label("Language").select_option("fr")
        await page.get_by_role("button", name="Change language").click()
        await expect(page.locator("html")).to_have_attribute("lang", "fr")
        await page.get_by_label("Identifiant de bénévole").fill("bruno")
        await page.get_by_label("Mot de passe").fill("bruno-console")
        await page.get_by_role("button", name="Se connecter").click()
        await expect(page).to_have_url(console.url("/console/supervisor"))
        await expect(page.get_by_role("heading", name="Files d\u2019attente")).to_be_visible()
        await expect(page.get_by_role("heading", level=1)).to_contain_text("(superviseur·e)")
        alice = page.locator('#agents tr[data-agent="alice"]')
        await expect(alice.locator('[data-field="state"]')).to_have_text("déconnecté·e")
        await console.offer_to("alice", "c1", "Green Fox", 5)  # written by the script
        await expect(alice.locator('[data-field="state"]')).to_have_text("sonne")
        await expect(alice.locator('[data-field="since"]')).to_contain_text("min")
        await page.get_by_role("link", name="Mes appels").click()
        await expect(page.get_by_role("heading", name="Présence")).to_be_visible()
        await page.get_by_label("Langue").select_option("en")
        await page.get_by_role("button", name="Changer de langue").click()
        await expect(page.get_by_role("heading", name="Queues")).to_be_visible()
