"""A real call pops on the volunteer's screen in Chromium: Asterisk, a SIPp caller and the
volunteer's SIPp phone, the app serving the console."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from core.config import Settings
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from tests.browser.signin import sign_in
from tests.conftest import CALLER, PhoneResult, agent_phone, place_call, running_app
from tests.e2e.test_acd_calls import MONDAY_10AM_TORONTO, TO_GENERAL

pytestmark = pytest.mark.e2e

#: Notes (in the page, by the test) the wall-clock time at which the pop became visible.
WATCH_POP = """() => {
  const pop = document.getElementById("pop");
  new MutationObserver(() => {
    if (!pop.hidden && !window.poppedAt) window.poppedAt = Date.now();
  }).observe(pop, {attributes: true});
}"""
#: The payloads of the volunteer's event stream replayed from its start (the call is over by
#: then, so no pop: its presence changes), for 1.5 s after the first.
REPLAY_EVENTS = """() => new Promise((resolve) => {
  const seen = [];
  const source = new EventSource("/console/events?after=0-0");
  source.addEventListener("presence", (event) => {
    if (seen.length === 0) setTimeout(() => { source.close(); resolve(seen); }, 1500);
    seen.push(event.data);
  });
})"""
#: SIPp's message trace heads each message with a line of dashes and the local time.
INVITE_HEAD = re.compile(
    r"-{10,} (\d{4}-\d\d-\d\d)\s+([\d:.]+)\s*\n[^\n]*received[^\n]*\n\s*INVITE "
)


def invite_received_at(phone: PhoneResult) -> float:
    """Epoch seconds at which the phone received its (first) INVITE."""
    found = INVITE_HEAD.search(phone.messages)
    if found:
        return datetime.fromisoformat(f"{found[1]} {found[2]}").timestamp()
    raise AssertionError(f"no INVITE in the phone's trace:\n{phone.messages[:1500]}")


async def test_an_offer_pops_as_the_phone_rings_the_screen_follows_the_call_and_wraps_it_up(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
    page: Page,
    screenshots: Path,
) -> None:
    async with running_app(settings, test_flow, clock=lambda: MONDAY_10AM_TORONTO) as app:
        base = f"http://{settings.http.bind}:{settings.http.port}/console"
        await sign_in(page, base, "alice")
        await page.get_by_role("button", name="Available").click()
        await expect(page.locator("#state")).to_have_attribute("data-state", "available")
        await page.evaluate(WATCH_POP)
        phone = asyncio.create_task(
            agent_phone(phone_ports["alice"], tmp_path, ring_ms=1000, talk_ms=2500)
        )
        call = asyncio.create_task(place_call(asterisk, keys=TO_GENERAL))
        pop = page.get_by_role("region", name="Incoming call")
        await expect(pop).to_be_visible(timeout=30_000)
        await expect(page.locator("#pop-queue")).to_have_text("general")
        await expect(page.locator("#pop-language")).to_have_text("en")
        # The line dialled and the caller's way through the test flow's menus.
        await expect(page.locator("#pop-line")).to_have_text(settings.asterisk.dids[0])
        await expect(page.get_by_text("language: en > main_menu: 1 (to_queue)")).to_be_visible()
        await expect(page.locator("#pop-context")).to_have_text("straight from the line")
        # The records store's history follows (this caller's earlier contacts in the session).
        await expect(page.locator("#pop-earlier")).to_have_text(re.compile(r"^(none|\d+.*)$"))
        await expect(page.locator("#pop-flags")).not_to_have_text("…")
        pseudonym = await page.locator("#pop-pseudonym").text_content()
        await page.screenshot(path=screenshots / "volunteer-pop.png", full_page=True)
        popped_at = await page.evaluate("window.poppedAt") / 1000
        # The screen follows the volunteer live: on the call once the phone answers.
        await expect(page.locator("#state")).to_have_attribute("data-state", "on_call")
        await expect(page.locator("#state")).to_have_text("on call")
        html = await page.content()
        rang, result = await phone, await call
        # Then the wrap-up, from the pop, into the records store.
        await page.get_by_label("Disposition").select_option("crisis")
        await page.get_by_label("Notes").fill("Talked it through; calling back tomorrow.")
        await page.get_by_label("risk").check()  # the queue's flags, as labelled checkboxes
        await page.get_by_role("button", name="Save wrap-up").click()
        await expect(page.locator("#wrapup-status")).to_have_text("Wrap-up saved.")
        call_id = await page.locator("#pop").get_attribute("data-call")
        assert call_id
        (wrapup,) = await app.records.wrapups.read(call_id)
        payloads = await page.evaluate(REPLAY_EVENTS)
    assert result.ok, result.output
    assert rang.returncode == 0, rang.messages[-2000:]
    (invite,) = rang.invites
    assert f'"{pseudonym} (general)"' in invite  # the phone shows the same pseudonym
    assert popped_at - invite_received_at(rang) <= 1.0
    digits = CALLER.lstrip("+")[-10:]
    assert digits not in html
    assert len(payloads) >= 3  # offered, on call, wrap-up at least
    assert not [p for p in payloads if digits in p]
    assert (wrapup.agent, wrapup.queue, wrapup.disposition) == ("alice", "general", "crisis")
    assert wrapup.flags == ("risk",)
