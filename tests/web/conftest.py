"""A real browser for the web tests: Playwright driving Debian's Chromium, headless.

Where /usr/bin/chromium is missing the tests are skipped with the reason (`.ci/run` installs it;
VB_TEST_REQUIRE_BROWSER=1 makes its absence a failure). Screenshots go to test-artifacts/screenshots.

The server runs with the shipped settings (broadcast_server/settings.py), not the quicker ones the
other tests use: a page's promise ("shows it within a second") must hold for the server as shipped.
A test that is about a setting names it: `@pytest.mark.settings(event_poll_s=30)`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broadcast_server.settings import Settings, load_settings
from tests.e2e.conftest import ServerProcess

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


@pytest.fixture
async def browser():
    """One headless Chromium per test; each test opens its own contexts (console, kiosk)."""
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


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


def pytest_configure(config):
    config.addinivalue_line("markers", "settings(**values): the server settings a web test is about (the rest: shipped defaults)")


@pytest.fixture
def setting_overrides(request) -> dict:
    """What the test's `@pytest.mark.settings(...)` sets; every other setting keeps its shipped default."""
    marker = request.node.get_closest_marker("settings")
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
def settings(database_settings, speech_enabled, setting_overrides) -> Settings:
    """The shipped defaults, except: a fresh data directory, loopback, speech only where a test turns it on
    (its worker processes are slow to start), and what the test's `settings` marker names."""
    return load_settings(None, **database_settings, host="127.0.0.1", speech_enabled=speech_enabled, **setting_overrides)


@pytest.fixture
def server_process(settings, setting_overrides, tmp_path):
    """The server as a separate process (for tests that kill it), with the same settings as `settings`.

    tests/e2e sets quicker intervals in the process's environment; here they are put back to the settings'.
    """
    server = ServerProcess(settings, tmp_path / "server.log")
    for name in ("event_poll_s", "delivery_flush_s", *setting_overrides):
        server.env[f"VB_{name.upper()}"] = str(getattr(settings, name))
    yield server
    server.stop()
