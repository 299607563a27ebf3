"""A real telethon call in Chromium: a SIPp caller who pledged before dials the campaign's
line on the private Asterisk, the app's ACD joins them to the nailed-up operator's standing
connection (her SIPp phone, answered once), her console opens the pledge form prefilled, and
the pledge saved moves the tote board (the app's own page) within a second, the payment link
she sends reaches the caller's phone through a real worker and the Twilio stand-in, and the
payment provider's signed webhook marks the pledge paid on the board; no page holds the
caller's number."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from bench.stripe_standin import StripeStandIn
from bench.twilio_standin import StandIn
from core.config import Settings
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from pledges.campaigns import DEMO_CAMPAIGNS, load_campaigns
from tests.conftest import CALLER, agent_phone, place_call, running_app, worker_process
from tests.e2e.test_acd_calls import MONDAY_10AM_TORONTO, TO_GENERAL
from tests.integration.test_console_pledges import DONOR, earlier_pledge
from tests.integration.test_pledges_payments import stripe_standin  # noqa: F401  (fixture)
from tests.integration.test_sms_pipeline import standin  # noqa: F401  (fixture)

#: The link's SMS in the language the caller chose in the IVR (English).
CAMPAIGN_SMS = load_campaigns(DEMO_CAMPAIGNS)["demo-telethon"].sms_templates["en"]

pytestmark = pytest.mark.e2e


def telethon(settings: Settings, folder: Path, stripe: StripeStandIn, twilio: StandIn) -> Settings:
    """``settings`` with the demo campaign on the test line, its operators in ``general``,
    Stripe's and Twilio's stand-ins."""
    line = settings.asterisk.dids[0]
    text = DEMO_CAMPAIGNS.read_text(encoding="utf-8")
    text = text.replace('dids = ["+18005550177"]', f'dids = ["{line}"]')
    campaigns = folder / "campaigns.toml"
    campaigns.write_text(text.replace('queue = "telethon"', 'queue = "general"'), "utf-8")
    pledges = dataclasses.replace(
        settings.pledges, campaigns=str(campaigns), stripe_url=stripe.base_url
    )
    secrets = dataclasses.replace(
        settings.secrets,
        stripe_api_key=stripe.api_key,
        stripe_webhook_secret=stripe.webhook_secret,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
    )
    sms = dataclasses.replace(
        settings.sms,
        twilio_base_url=twilio.base_url,
        retry_base_seconds=0,
        provider_timeout=1,
    )
    return dataclasses.replace(settings, pledges=pledges, secrets=secrets, sms=sms)


async def test_a_returning_donors_call_opens_the_form_and_the_pledge_moves_the_board(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
    browser: Browser,
    page: Page,
    stripe_standin: StripeStandIn,  # noqa: F811
    standin: StandIn,  # noqa: F811
) -> None:
    settings = telethon(settings, tmp_path, stripe_standin, standin)
    async with (
        running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app,
        worker_process(settings, tmp_path / "worker.log"),
    ):
        assert app.telethon.pledges is not None
        async with asyncio.timeout(20):
            await app.records.ready.wait()  # migrated at start, in the background
        entry = await app.vault.store(CALLER, "en", now=datetime.now(UTC))
        await earlier_pledge(app.telethon.pledges, entry.ref[:12])
        base = f"http://{settings.http.bind}:{settings.http.port}"
        studio_context = await browser.new_context()
        try:
            studio = await studio_context.new_page()
            await studio.goto(f"{base}/tote/demo-telethon")
            await expect(studio.get_by_test_id("count")).to_have_text("1")

            await page.goto(f"{base}/console/signin")
            await page.get_by_label("Volunteer id").fill("erin")
            await page.get_by_label("Password").fill("erin-console")
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_role("button", name="Available").click()
            await expect(page.locator("#state")).to_have_attribute("data-state", "available")
            # Erin's phone (at Alice's port) answers once: the standing connection.
            phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path, max_seconds=60))
            # The caller stays on until the app hangs up: the link goes to a caller still held.
            call = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))

            await expect(page.locator("#pledge")).to_be_visible(timeout=30_000)
            await expect(page.locator("#pledge-earlier")).to_have_text("50.00 EUR, one-off, paid")
            await expect(page.get_by_label("Name", exact=True)).to_have_value(DONOR.name)
            await page.keyboard.type("20")
            await page.get_by_label("SMS to the donor").check()
            await page.get_by_role("button", name="Save pledge").click()
            await expect(page.locator("#pledge-status")).to_have_text("Pledge saved: 20.00 EUR")
            # Saved: the studio's screen shows it within a second, without a reload.
            await expect(studio.get_by_test_id("count")).to_have_text("2", timeout=1000)
            await page.get_by_role("button", name="Send the payment link by SMS").click()
            await expect(page.locator("#pledge-link-status")).to_have_text(
                "Payment link sent by SMS."
            )
            await app.ari.hangup(await page.locator("#pledge-call").input_value())
            [sent] = await asyncio.to_thread(standin.wait_for_messages, 1, 20)
            [session] = stripe_standin.sessions
            assert sent["to"] == CALLER
            assert sent["body"] == CAMPAIGN_SMS.format(link=session["url"])
            paid = stripe_standin.event(
                session["id"], "checkout.session.completed", payment_status="paid"
            )
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{base}/pledges/webhooks/stripe",
                    data=paid[0],
                    headers={"Stripe-Signature": paid[1], "Content-Type": "application/json"},
                ) as answer,
            ):
                assert (answer.status, (await answer.json())["status"]) == (200, "paid")
            await expect(studio.get_by_test_id("paid")).to_contain_text("70", timeout=1000)
            shown = [await page.content(), await studio.content()]
            result = await call
            await app.acd.store.logout("erin", app.acd.clock())
            await app.ari.hangup("nail-erin")
            operator = await phone
        finally:
            await studio_context.close()
    assert result.ok, result.output
    assert operator.returncode == 0, operator.messages[-2000:]
    assert len(operator.invites) == 1  # nailed up: one INVITE for the session
    for html in shown:
        assert CALLER.lstrip("+")[-10:] not in html
