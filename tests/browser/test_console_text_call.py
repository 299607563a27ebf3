"""Calling a texter back from the chat panel in Chromium: the volunteer's SIPp phone rings
through the private Asterisk and the screen pops the conversation, with no call controls of
a queue call and never a number."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from core.config import Settings
from hotline.harness import PrivateAsterisk
from ivr.flow import Flow
from tests.browser.signin import sign_in
from tests.conftest import agent_phone, running_app, wait_until_idle
from tests.e2e.test_acd_calls import log_in
from tests.e2e.test_console_text_calls import TEXTER, text

pytestmark = pytest.mark.e2e


async def test_calling_a_texter_back_pops_the_conversation_on_the_screen(
    settings: Settings,
    asterisk: PrivateAsterisk,
    test_flow: Flow,
    phone_ports: dict[str, int],
    tmp_path: Path,
    page: Page,
) -> None:
    async with running_app(settings, test_flow) as app:
        await log_in(app, "alice")
        await text(app, "Pouvez-vous m'appeler au 514 555 0127 ?")
        base = f"http://{settings.http.bind}:{settings.http.port}/console"
        await sign_in(page, base, "alice")
        chat = page.locator("#chat-list article")
        await expect(chat).to_have_count(1)
        texter_phone = asyncio.create_task(agent_phone(phone_ports["dana"], tmp_path, talk_ms=1500))
        alice_phone = asyncio.create_task(agent_phone(phone_ports["alice"], tmp_path))
        await chat.get_by_role("button", name="Call the texter back").click()
        pop = page.get_by_role("region", name="Calling a texter back")
        await expect(pop).to_be_visible(timeout=30_000)
        await expect(page.locator("#pop-context")).to_contain_text("from a text conversation")
        await expect(page.locator("#pop-queue")).to_have_text("general")
        await expect(page.locator("#pop-messages li").first).to_have_text(
            "Texter: Pouvez-vous m'appeler au [#] ?"
        )
        await expect(page.locator("#pop-earlier")).to_have_text("none")
        for hidden in ("#transfer", "#wrapup", "#hangup"):
            await expect(page.locator(hidden)).to_be_hidden()
        content = await page.content()
        alice, called = await asyncio.gather(alice_phone, texter_phone)
        assert alice.returncode == 0, alice.messages[-1500:]
        assert called.returncode == 0, called.messages[-1500:]
        await wait_until_idle(app, asterisk)
    assert TEXTER not in content
    assert TEXTER[2:] not in content
    assert "555 0127" not in content
