"""A supervisor follows their queues' text conversations in Chromium: a new conversation joins
the list live, and reading one shows its messages as they come, never a number."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.async_api import Page, expect

from tests.conftest import CALLER
from tests.consoles import console_running
from tests.integration.test_console_chats import text


async def test_a_supervisor_follows_a_conversation_live_from_the_list(
    redis_url: str, tmp_path: Path, page: Page
) -> None:
    async with console_running(redis_url, tmp_path) as console:
        await console.log_in("alice", ("general",), time.time())
        await page.goto(console.url("/console/"))
        await page.get_by_label("Volunteer id").fill("bruno")
        await page.get_by_label("Password").fill("bruno-console")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("link", name="Text conversations").click()
        await expect(page.locator("#overseen-none")).to_be_visible()

        await text(console, "Bonjour, mon numéro est le 514 555 0123")  # no reload: by SSE
        [conversation] = await console.sms.conversations.of_agent("alice")
        row = page.locator("#overseen-table tbody tr")
        await expect(row.locator('[data-field="pseudonym"]')).to_have_text(conversation.pseudonym)
        await expect(row.locator('[data-field="agent"]')).to_have_text("alice")
        await expect(page.locator("#overseen-none")).to_be_hidden()

        await row.get_by_role("link", name="Read").click()
        lines = page.locator("#overseen-lines li")
        await expect(lines).to_have_count(1)
        await text(console, "Vous êtes là ?")
        await expect(lines).to_have_count(2)
        await expect(lines.nth(1)).to_have_text("Texter: Vous êtes là ?")
        await expect(page.locator("#overseen-agent")).to_have_text("alice")
        content = await page.content()
        assert CALLER not in content
        assert CALLER[2:] not in content
        assert "555 0123" not in content
