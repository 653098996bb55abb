"""The console's front page in Chromium: what waits for the clerk (unassigned, overdue, due soon) and the screens
offline for too long, at a desk and on a phone; a worker's front page counts what is assigned to them."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import expect

from tests.web.test_console import VILLAGE, console_page, make_areas, reply

PHONE = 390


async def test_the_front_page_shows_what_waits_and_the_screens_offline_too_long(village, browser, clock, screenshot):
    """Two requests nobody took, one of them past its deadline an hour later; a screen never connected for an hour
    (over the shipped 30 minutes) is named with how long; the same at 390 px with nothing wider than the phone."""
    await make_areas(village)
    gate = await village.screen("村口大屏", VILLAGE)
    await village.screen("集市喇叭", VILLAGE, kind="speaker")
    await reply(village, gate["token"], "村东头的路灯坏了三天了", "help")  # help: answer within 2 hours
    await reply(village, gate["token"], "建议在广场增加健身器材", "suggestion")
    await village.post(title="村民大会通知")
    clock.shift = timedelta(hours=3)
    for width in (1280, PHONE):
        async with console_page(browser, village, village.admin, width=width) as console:
            await expect(console.by("nav-home")).to_have_attribute("aria-current", "page")
            await expect(console.by("home-waiting")).to_have_attribute("data-count", "2")
            await expect(console.by("home-overdue")).to_have_attribute("data-count", "1")
            offline = console.by("home-offline-screen")
            await expect(offline).to_have_count(2)
            await expect(offline.first).to_contain_text("刘井屯村")
            await expect(offline.first).to_contain_text("离线 3.0 小时")
            await expect(console.by("home-on-air")).to_contain_text("正在播出的公告：1 条")
            assert await console.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            await screenshot(console.page, f"console-home-zh-{width}")
            await console.by("home-waiting").click()
            await expect(console.by("nav-requests")).to_have_attribute("aria-current", "page")
            console.assert_clean(village.admin)


async def test_a_workers_front_page_counts_what_is_assigned_to_them(village, browser):
    await make_areas(village)
    gate = await village.screen("村口大屏", VILLAGE)
    ticket = await reply(village, gate["token"], "邻居家的狗半夜一直叫", "dispute")
    await village.call("POST", "/users", expect=201, json={
        "name": "wang", "display_name": "王师傅", "role": "worker", "area": VILLAGE, "password": "王师傅的密码-2026"})
    await village.call("PATCH", f"/requests/{ticket}", json={"status": "assigned", "assignee": "wang"}, expect=200)
    worker = await village.token("worker", VILLAGE)
    async with console_page(browser, village, worker) as console:
        await expect(console.by("home-mine")).to_be_visible()
        await expect(console.by("home-offline")).to_have_count(0)  # devices are not a worker's business
        console.assert_clean(worker)
