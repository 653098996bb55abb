"""Drills (演练) in the browser: a committee clerk ticks 演练 on the compose page (a phone and a desk), which sets and
holds 紧急, confirms a drill and sees it marked 演练 in the list; the kiosk's red emergency screen carries a large 演练
plate. Real server, Chromium; screenshots; no serious accessibility violation (axe) with the drill shown."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.web.test_accessibility import blocking_violations
from tests.web.test_console import VILLAGE, console_page
from tests.web.test_console_compose import LAPTOP, PHONE, posted, seed_village_devices, write
from tests.web.test_kiosk import kiosk_page


@pytest.mark.parametrize("size", [PHONE, LAPTOP], ids=lambda size: f"{size[0]}x{size[1]}")
async def test_the_committee_ticks_drill_and_posts_an_emergency_marked_as_one(village, browser, screenshot, size):
    await seed_village_devices(village)
    committee = await village.token("committee", VILLAGE)
    async with console_page(browser, village, committee, width=size[0], at="compose") as console:
        await console.page.set_viewport_size({"width": size[0], "height": size[1]})
        priority = console.by("compose-priority")
        await write(console, "山洪转移演练", "请沿村东路转移到学校操场。")
        await console.by("compose-drill").check()
        await expect(priority.locator("option:checked")).to_have_text("紧急")
        await expect(priority).to_be_disabled()
        await console.by("compose-drill").scroll_into_view_if_needed()
        await screenshot(console.page, f"console-compose-drill-{size[0]}x{size[1]}")
        assert await blocking_violations(console.page) == []

        await console.by("compose-submit").click()
        confirm = console.by("confirm-message")
        await expect(confirm).to_contain_text("开始演练“山洪转移演练”？2 块屏幕会像紧急公告一样全屏变红显示，并标明“演练”")
        await expect(confirm).to_contain_text("1 个喇叭会打断正在播放的内容，播报前后都说明这是演练")
        await console.by("confirm-yes").click()
        await expect(console.by("page-deliveries")).to_be_visible()  # a drill posted opens its 回传 page
        await console.open("compose")
        await expect(console.by("compose-drill")).not_to_be_checked()
        await expect(priority).to_be_enabled()
        await expect(priority.locator("option:checked")).to_have_text("普通")
        [drill] = await posted(village)
        assert (drill["title"], drill["priority"], drill["drill"]) == ("山洪转移演练", "emergency", True)

        await console.open("announcements")
        await expect(console.row(drill["id"]).get_by_test_id("ann-drill")).to_have_text("演练")
        console.assert_clean(committee)


async def test_the_kiosk_shows_a_drill_with_a_large_plate_on_its_emergency_screen(village, browser, screenshot):
    gate = await village.screen("gate", VILLAGE)
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        await kiosk.online()
        await village.post(title="山洪转移", body="请沿村东路转移到学校操场。", drill=True)
        plate = kiosk.by("kiosk-emergency-drill")
        await expect(plate).to_be_visible()
        await expect(plate).to_contain_text("演练")
        await expect(kiosk.page.locator(".emergency-title")).to_have_text("【演练】山洪转移")
        # readable at 2 m on a 720-line screen: the word is at least as tall as the emergency title's letters
        sizes = await kiosk.page.evaluate("""() => [document.querySelector('.emergency-drill strong'),
            document.querySelector('.emergency-title')].map((el) => parseFloat(getComputedStyle(el).fontSize))""")
        assert sizes[0] >= sizes[1] >= 60, sizes
        await screenshot(kiosk.page, "kiosk-drill-1280x720")
        assert await blocking_violations(kiosk.page) == []
        kiosk.assert_clean()
