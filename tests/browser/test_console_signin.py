"""Signing in to the console and out again in Chromium."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from tests.consoles import console_running


async def test_a_volunteer_signs_in_and_out_in_chromium(
    redis_url: str, tmp_path: Path, page: Page, screenshots: Path
) -> None:
    async with console_running(redis_url, tmp_path) as console:
        await page.goto(console.url("/console/"))
        await expect(page).to_have_url(console.url("/console/signin"))
        await page.get_by_label("Volunteer id").fill("alice")
        await page.get_by_label("Password").fill("wrong")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_have_text("Wrong id or password.")
        await page.screenshot(path=screenshots / "signin.png")
        await page.get_by_label("Volunteer id").fill("alice")
        await page.get_by_label("Password").fill("alice-console")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(console.url("/console/volunteer"))
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Alice")
        cookies = await page.context.cookies()
        (session,) = [c for c in cookies if c["name"] == console.keys.console_session]
        assert session["httpOnly"]
        assert session["sameSite"] == "Strict"
        assert await page.evaluate("document.cookie") == ""  # invisible to scripts
        await page.get_by_role("button", name="Sign out", exact=True).click()
        await expect(page).to_have_url(console.url("/console/signin"))
        await page.goto(console.url("/console/volunteer"))
        await expect(page).to_have_url(console.url("/console/signin"))
