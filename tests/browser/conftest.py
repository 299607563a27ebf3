"""Chromium for the console's browser tests: Debian's package driven by Playwright (a browser
download cannot work here). A missing chromium fails these tests; it never skips them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def chromium() -> Path:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/setup.sh"
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium))
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the tests write their screenshots: ``HOTLINE_SCREENSHOTS`` (the README's come
    from ``HOTLINE_SCREENSHOTS=docs/screenshots scripts/test.sh tests/browser``) or a
    temporary folder."""
    folder = Path(os.environ.get("HOTLINE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    try:
        yield await context.new_page()
    finally:
        await context.close()
