"""Signing in through the console's own form, as a person would."""

from __future__ import annotations

from playwright.async_api import Page


async def sign_in(page: Page, base: str, account: str) -> None:
    """Sign ``account`` in on ``base``'s sign-in page (the demo's password: ``{id}-console``)."""
    await page.goto(f"{base}/signin")
    await page.get_by_label("Volunteer id").fill(account)
    await page.get_by_label("Password").fill(f"{account}-console")
    await page.get_by_role("button", name="Sign in").click()
