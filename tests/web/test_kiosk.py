"""The kiosk page at /screen in a real Chromium against a real server: display, protocol, replies, safety."""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import expect

VILLAGE = "/hongqi/liujingtun"
FAST = {"backoffInitial": 200, "backoffMax": 1000, "cycleMs": 60000}


class Kiosk:
    """One kiosk page in its own browser context, collecting console errors and CSP violations."""

    def __init__(self, context, page):
        self.context = context
        self.page = page
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on("dialog", self._dialog)

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.problems.append(f"CSP: {text}")
        elif message.type == "error" and "WebSocket connection" not in text and "ERR_CONNECTION_REFUSED" not in text:
            self.problems.append(f"console error: {text}")

    async def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def by(self, testid: str):
        return self.page.get_by_test_id(testid)

    def card(self, announcement_id: str):
        return self.page.locator(f'[data-testid="kiosk-announcement"][data-id="{announcement_id}"]')

    async def online(self) -> None:
        await expect(self.by("kiosk")).to_have_attribute("data-status", "online")

    def assert_clean(self) -> None:
        assert not self.problems, self.problems
        assert not self.dialogs, self.dialogs


@asynccontextmanager
async def kiosk_page(browser, base_url: str, token: str | None, *, timing: dict | None = None, lang: str | None = None):
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    setup = f"localStorage.setItem('vb.kiosk.timing', {json.dumps(json.dumps(timing or FAST))});"
    if lang:
        setup += f"if (!localStorage.getItem('vb.kiosk.lang')) localStorage.setItem('vb.kiosk.lang', '{lang}');"
    await context.add_init_script(script=setup)
    page = await context.new_page()
    kiosk = Kiosk(context, page)
    await page.goto(base_url + "/screen" + (f"#token={token}" if token else ""))
    try:
        yield kiosk
    finally:
        await context.close()


async def test_shows_a_posted_announcement_within_a_second_in_priority_order(village, browser):
    """A posted announcement appears within a second; the list is emergency-free priority order, newest first."""
    gate = await village.screen("gate", VILLAGE)
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        await kiosk.online()
        low = await village.post(title="低 low", priority="low")
        started = time.monotonic()
        await expect(kiosk.card(low["id"])).to_be_visible(timeout=1000)
        assert time.monotonic() - started < 1.0
        await expect(kiosk.by("kiosk-current")).to_have_attribute("data-id", low["id"])
        normal1 = await village.post(title="普通一", priority="normal")
        high = await village.post(title="重要 high", priority="high")
        normal2 = await village.post(title="普通二", priority="normal")
        cards = kiosk.by("kiosk-announcement")
        await expect(cards).to_have_count(4)
        order = [await c.get_attribute("data-id") for c in await cards.all()]
        assert order == [high["id"], normal2["id"], normal1["id"], low["id"]]
        assert [await c.get_attribute("data-priority") for c in await cards.all()] == ["high", "normal", "normal", "low"]
        await expect(kiosk.by("kiosk-offline")).to_be_hidden()
        await expect(kiosk.by("kiosk-emergency")).to_be_hidden()
        kiosk.assert_clean()
