"""The pledge form in Chromium: an operator answers a returning donor's campaign call, the
form opens prefilled, bad input is refused with clear errors at the field concerned, the
pledge is saved from the keyboard and mouse, the tote board on another screen moves within a
second, and the payment link is texted; neither page ever holds the caller's number."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.stripe_standin import StripeStandIn
from pledges.models import Pledge
from tests.conftest import CALLER
from tests.consoles import CAMPAIGN, console_running
from tests.integration.test_console_pledges import DONOR, returning_donor
from tests.integration.test_pledges_payments import stripe_standin  # noqa: F401  (fixture)


async def test_an_operator_saves_a_returning_donors_pledge_and_the_tote_board_moves(
    redis_url: str,
    tmp_path: Path,
    browser: Browser,
    page: Page,
    screenshots: Path,
    stripe_standin: StripeStandIn,  # noqa: F811
) -> None:
    running = console_running(redis_url, tmp_path, campaign=CAMPAIGN, stripe=stripe_standin)
    async with running as console:
        ref = await returning_donor(console)
        studio_context = await browser.new_context()
        try:
            studio = await studio_context.new_page()
            await studio.goto(console.url(f"/tote/{CAMPAIGN.name}"))
            await expect(studio.get_by_test_id("count")).to_have_text("1")  # the earlier one

            await page.goto(console.url("/console/"))
            await page.get_by_label("Volunteer id").fill("alice")
            await page.get_by_label("Password").fill("alice-console")
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(console.url("/console/volunteer"))
            form = page.locator("#pledge")
            await expect(form).to_be_hidden()

            await console.campaign_call("alice", "c1", ref)
            await expect(form).to_be_visible()
            await expect(page.locator("#pledge-campaign")).to_have_text(CAMPAIGN.title)
            await expect(page.locator("#pledge-pseudonym")).to_have_text("Calm Heron")
            await expect(page.locator("#pledge-language")).to_have_text("fr")
            await expect(page.locator("#pledge-earlier")).to_have_text("50.00 EUR, one-off, paid")
            await expect(page.get_by_label("Name", exact=True)).to_have_value(DONOR.name)
            await expect(page.get_by_label("Postal address")).to_have_value(DONOR.address)
            amount = page.locator("#pledge-amount")
            await expect(amount).to_be_focused()  # the operator types the amount at once

            # Below the minimum, sent with Enter: refused, said in words, the field marked.
            await page.keyboard.type("1")
            await page.keyboard.press("Enter")
            error = page.locator("#pledge-error")
            await expect(error).to_have_text(
                "The amount is outside this campaign's limits. (amount-out-of-range)"
            )
            await expect(amount).to_have_attribute("aria-invalid", "true")
            await expect(amount).to_be_focused()
            await expect(page.locator("#pledge-limits")).to_have_text(
                "from 5.00 EUR to 5000.00 EUR"
            )

            # A receipt without the postal address: refused, the address field focused.
            await page.get_by_role("button", name="100.00 EUR").click()
            await expect(amount).to_have_value("100.00")
            await page.get_by_label("Tax receipt wanted").check()
            await page.get_by_label("Postal address").fill("")
            await page.get_by_label("SMS to the donor").check()
            await page.get_by_role("button", name="Save pledge").click()
            await expect(error).to_contain_text("A tax receipt needs the donor's name and postal")
            await expect(page.get_by_label("Postal address")).to_be_focused()

            await page.get_by_label("Postal address").fill(DONOR.address)
            await page.get_by_role("button", name="Save pledge").click()
            await expect(page.locator("#pledge-status")).to_have_text("Pledge saved: 100.00 EUR")
            # Saved: the studio's screen shows it within a second, without a reload.
            await expect(studio.get_by_test_id("count")).to_have_text("2", timeout=1000)
            await expect(error).to_have_text("")
            await page.get_by_role("button", name="Send the payment link by SMS").click()
            await expect(page.locator("#pledge-link-status")).to_have_text(
                "Payment link sent by SMS."
            )
            assert len(stripe_standin.sessions) == 1
            await page.screenshot(path=screenshots / "pledge-form.png", full_page=True)

            for shown in (await page.content(), await studio.content()):
                for digits in (CALLER, CALLER.lstrip("+"), CALLER[2:], "555 0123", "5550123"):
                    assert digits not in shown
            assert console.pledges is not None
            async with AsyncSession(console.pledges.engine) as session:
                rows = await session.scalars(select(Pledge).where(Pledge.call_id == "c1"))
                (saved,) = rows.all()
            assert (saved.agent, saved.amount, saved.receipt, saved.consent_sms) == (
                "alice", 10_000, True, True,
            )  # fmt: skip
            assert console.pledges.seal.open(saved.donor_sealed) == DONOR
        finally:
            await studio_context.close()


async def test_a_reload_mid_call_reopens_the_form_and_the_next_save_corrects(
    redis_url: str,
    page: Page,
    tmp_path: Path,
    stripe_standin: StripeStandIn,  # noqa: F811
) -> None:
    running = console_running(redis_url, tmp_path, campaign=CAMPAIGN, stripe=stripe_standin)
    async with running as console:
        await page.goto(console.url("/console/"))
        await page.get_by_label("Volunteer id").fill("alice")
        await page.get_by_label("Password").fill("alice-console")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(console.url("/console/volunteer"))
        await console.campaign_call("alice", "c1", "0123456789ab")
        await expect(page.locator("#pledge")).to_be_visible()
        await page.locator("#pledge-amount").fill("75")
        await page.get_by_label("SMS to the donor").check()
        await page.get_by_role("button", name="Save pledge").click()
        status = page.locator("#pledge-status")
        await expect(status).to_have_text("Pledge saved: 75.00 EUR")

        await page.reload()
        await expect(page.locator("#pledge")).to_be_visible()
        await expect(page.locator("#pledge-amount")).to_have_value("75.00")
        await expect(page.get_by_label("SMS to the donor")).to_be_checked()
        await expect(status).to_have_text("Pledge saved: 75.00 EUR")
        await page.locator("#pledge-amount").fill("80")
        await page.get_by_role("button", name="Save pledge").click()
        await expect(status).to_have_text("Pledge corrected: 80.00 EUR")
        assert console.pledges is not None
        async with AsyncSession(console.pledges.engine) as session:
            rows = await session.scalars(select(Pledge).where(Pledge.call_id == "c1"))
            (saved,) = rows.all()
        assert (saved.amount, saved.consent_sms) == (8000, True)
