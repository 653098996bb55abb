"""A real browser for the web tests: Playwright driving Debian's Chromium, headless.

Where /usr/bin/chromium is missing the tests are skipped with the reason (`.ci/run` installs it;
VB_TEST_REQUIRE_BROWSER=1 makes its absence a failure). Screenshots go to test-artifacts/screenshots.

The server runs with the shipped settings (broadcast_server/settings.py), not the quicker ones the
other tests use: a page's promise ("shows it within a second") must hold for the server as shipped.
A test that is about a setting names it: `@pytest.mark.settings(event_poll_s=30)`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("VB_TEST_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("VB_TEST_REQUIRE_BROWSER") == "1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",  # as kiosk browsers are set up
]


@asynccontextmanager
async def chromium(*flags: str) -> AsyncIterator:
    """A headless Chromium with `flags` beside CHROMIUM_ARGS; a missing browser fails the test when
    VB_TEST_REQUIRE_BROWSER says it must be there, else skips it."""
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS + list(flags))
        try:
            yield browser
        finally:
            await browser.close()


def fake_microphone(heard: Path) -> tuple[str, ...]:
    """Chromium's flags for a microphone that hears the WAV file `heard`, granted without asking."""
    return ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", f"--use-file-for-fake-audio-capture={heard}")


@pytest.fixture
async def browser():
    """One headless Chromium per test; each test opens its own contexts (console, kiosk)."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
def screenshot():
    """Save a page's screenshot as a test artifact: `await screenshot(page, "console-compose-zh")`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def database_settings(tmp_path) -> dict:
    """The browser tests are about the pages: SQLite only (the API and hub tests cover PostgreSQL)."""
    return {"data_dir": tmp_path}
