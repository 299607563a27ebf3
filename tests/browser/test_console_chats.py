"""A text conversation arrives live on the volunteer's screen in Chromium, by pseudonym; the
volunteer answers with a ready-made reply."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from playwright.async_api import Page, expect

from sms.inbound import InboundSms
from sms.recipients import sender_key
from tests.conftest import CALLER
from tests.consoles import HASH_KEY, console_running


async def test_a_conversation_arrives_live_and_gets_a_ready_made_reply(
    redis_url: str, tmp_path: Path, page: Page
) -> None:
    async with console_running(redis_url, tmp_path) as console:
        await page.goto(console.url("/console/"))
        await page.get_by_label("Volunteer id").fill("alice")
        await page.get_by_label("Password").fill("alice-console")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("button", name="Available").click()
        await expect(page.locator("#state")).to_have_text("available")
        await expect(page.locator("#chats-none")).to_be_visible()

        # The texter called before in French: the vault keeps their language.
        await console.vault.store(CALLER, "fr", now=datetime.now(UTC))
        key = sender_key(CALLER, HASH_KEY)
        sms = InboundSms("SM1", key, CALLER, "+18005550100", "Bonjour ?", time.time())
        await console.sms.conversations.on_inbound(sms)  # no reload: by SSE
        chat = page.locator("#chat-list article")
        await expect(chat.locator(".chat-body")).to_have_text(["Bonjour ?"])
        await expect(page.locator("#chats-none")).to_be_hidden()
        [conversation] = await console.sms.conversations.of_agent("alice")
        await expect(chat.locator(".chat-pseudonym")).to_have_text(conversation.pseudonym)

        ready = console.store.queues["general"].canned["fr"][1]  # the conversation's language
        await chat.get_by_label("Ready-made reply").select_option(ready)
        await expect(chat.get_by_label("Reply", exact=True)).to_have_value(ready)
        await chat.get_by_role("button", name="Send").click()
        await expect(chat.get_by_role("status").first).to_have_text("Sent.")
        await expect(chat.locator(".chat-body")).to_have_text(["Bonjour ?", ready])
        content = await page.content()
        assert CALLER not in content
        assert CALLER[2:] not in content
