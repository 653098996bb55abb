"""axe-core (from npm, see package.json) run inside every console page and every kiosk view, in Chinese, at a desk
and on a phone: no violation a screen reader or a low-vision villager would be stopped by ("critical" or
"serious") may be present. The pages' own CSP stays on; axe is evaluated by the test driver, not loaded by them."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.screens import running
from tests.web.test_console import PAGES as CONSOLE_PAGES
from tests.web.test_console import console_page, seed_for_screenshots
from tests.web.test_kiosk import kiosk_page

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious")
SIZES = pytest.mark.parametrize("width", [1366, 390], ids=["desk", "phone"])


async def blocking_violations(page) -> list[str]:
    """What axe finds that is critical or serious, one line a rule: its id, impact, and the first elements."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs it (npm ci)")
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


@SIZES
async def test_every_console_page_has_no_serious_accessibility_violation(village, browser, tmp_path, width):
    gate = await seed_for_screenshots(village)
    found: dict[str, list[str]] = {}
    async with running(village.url, gate["token"], tmp_path / "gate"):
        async with console_page(browser, village, village.admin, width=width) as console:
            for name in (*CONSOLE_PAGES, "areas"):
                await console.open(name)
                await expect(console.by(f"page-{name}").or_(console.by("view")).first).to_be_visible()
                await console.page.wait_for_load_state("networkidle")
                found[name] = await blocking_violations(console.page)
    assert not {name: v for name, v in found.items() if v}, found


async def test_the_sign_in_page_has_no_serious_accessibility_violation(village, browser):
    async with console_page(browser, village) as console:
        await expect(console.by("signin-name")).to_be_visible()
        assert await blocking_violations(console.page) == []


@SIZES
async def test_every_kiosk_view_has_no_serious_accessibility_violation(village, browser, width):
    gate = await village.screen("gate", "/hongqi/liujingtun")
    await village.post(title="村民大会通知", body="明天上午九点在村委会召开村民大会，请各户派代表参加。")
    found: dict[str, list[str]] = {}
    viewport = {"width": width, "height": 844 if width == 390 else 768}
    async with kiosk_page(browser, village.url, gate["token"], lang="zh", viewport=viewport) as kiosk:
        await kiosk.online()
        await expect(kiosk.by("kiosk-current")).to_be_visible()
        found["notices"] = await blocking_violations(kiosk.page)
        await kiosk.by("kiosk-reply-open").click()
        found["reply"] = await blocking_violations(kiosk.page)
        await kiosk.by("kiosk-reply-cancel").click()
        await kiosk.by("kiosk-matters-open").click()
        found["matters"] = await blocking_violations(kiosk.page)
    await village.post(title="暴雨橙色预警", body="今夜有暴雨，请注意防范。", priority="emergency")
    async with kiosk_page(browser, village.url, gate["token"], lang="zh", viewport=viewport) as kiosk:
        await expect(kiosk.by("kiosk-emergency")).to_be_visible()
        found["emergency"] = await blocking_violations(kiosk.page)
    assert not {name: v for name, v in found.items() if v}, found
