"""Browser fixtures: Playwright driving Debian's Chromium (``/usr/bin/chromium``), headless.

Nothing is downloaded: ``playwright install`` is never run; the system browser is launched
through ``executable_path``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright

from tests.conftest import LiveServer

CHROMIUM = os.environ.get("PARTNERHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def context(browser: Browser, live_server: LiveServer) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(
        base_url=live_server.url,
        permissions=["clipboard-read", "clipboard-write"],
        locale="en-US",
        viewport={"width": 1280, "height": 900},
    )
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        await ctx.close()
