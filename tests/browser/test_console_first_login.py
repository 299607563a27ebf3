"""An admin issues a first-login token in Chromium, the volunteer sets their password with it,
signs in, and is refused the admin page."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from tests.consoles import console_running


async def sign_in(page: Page, account: str, password: str) -> None:
    await page.get_by_label("Volunteer id").fill(account)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_volunteer_sets_a_first_password_with_an_admins_token(
    redis_url: str, tmp_path: Path, page: Page, screenshots: Path
) -> None:
    async with console_running(redis_url, tmp_path) as console:
        await page.goto(console.url("/console/"))
        await sign_in(page, "fiona", "fiona-console")
        await expect(page).to_have_url(console.url("/console/admin"))
        chen = page.locator('tr[data-account="chen"]')
        await expect(chen.get_by_role("cell", name="none")).to_be_visible()
        await chen.get_by_role("button", name="Issue a first-login token for Chen").click()
        token = await page.locator("#issued-token").inner_text()
        await page.screenshot(path=screenshots / "admin.png")
        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(console.url("/console/signin"))

        await page.get_by_role("link", name="First sign-in with a token from an admin").click()
        await page.get_by_label("Volunteer id").fill("chen")
        await page.get_by_label("Token from your admin").fill(token)
        await page.get_by_label("New password (12 to 128 characters)").fill("chen-first-password")
        await page.get_by_label("New password again").fill("chen-first-password")
        await page.get_by_role("button", name="Set password").click()
        await expect(page.locator("#password-set")).to_be_visible()
        await sign_in(page, "chen", "chen-first-password")
        await expect(page).to_have_url(console.url("/console/volunteer"))
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Chen")

        response = await page.goto(console.url("/console/admin"))
        assert response is not None
        assert response.status == 403
        await expect(page.locator("#error-id")).to_have_text("wrong-role")
