"""The tote board in Chromium: the studio screen shows the totals and moves within a second of
an operator saving a pledge, without a reload; no sign-in, no personal data."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from pledges.http import tote_routes
from pledges.tote import ToteFeed
from tests.integration.test_acd_http import T0, api_app
from tests.integration.test_pledges_http import (
    CAMPAIGN,
    Api,
    api,  # noqa: F401  (the fixture)
)


async def test_the_studio_screen_moves_within_a_second_of_a_pledge(
    api: Api,  # noqa: F811
    page: Page,
    screenshots: Path,
) -> None:
    feed = ToteFeed(api.engine, {CAMPAIGN.name: CAMPAIGN}, clock=time.time)
    poller = asyncio.create_task(feed.run())
    call = await api.telethon_call("c1", "0123456789ab", T0, talk_s=None)
    api.clock.now = T0 + 30
    server = TestServer(api_app(tote_routes(feed)))
    await server.start_server()
    try:
        await page.goto(str(server.make_url("/tote/demo-telethon")))
        await expect(page.get_by_test_id("count")).to_have_text("0")
        await expect(page.locator("#title")).to_have_text(CAMPAIGN.title)
        assert (await api.pledge(call, "form-0001", amount=250_000))[0] == 201
        # Saved: the screen shows it within a second, without a reload.
        await expect(page.get_by_test_id("count")).to_have_text("1", timeout=1000)
        await expect(page.get_by_test_id("pledged")).to_contain_text("2,500")
        await page.screenshot(path=screenshots / "tote-board.png")
    finally:
        await page.close()  # the screen stops following: its event stream ends
        await server.close()
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
