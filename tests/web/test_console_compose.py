"""The console's compose page as a village clerk uses it (issue 11): whom a post reaches before it is posted,
tags picked from the ones in use, a priority that stays 普通, an emergency that asks first, a scheduled post
confirmed with its time; and every console page fitting a laptop (1366x768) and a phone (390x844) with every
action button in view. Real server, real screen client, Chromium; screenshots at both sizes."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from tests.e2e.screens import ids, running
from tests.web.test_console import VILLAGE, console_page, make_areas, seed_for_screenshots, shoot_every_page

LAPTOP = (1366, 768)
PHONE = (390, 844)


async def seed_village_devices(village) -> dict:
    """刘井屯村: two screens (one at the market) and a loudspeaker; 东风村 has no device at all."""
    await make_areas(village)
    return {
        "gate": await village.screen("村口大屏", VILLAGE, tags=["gate"]),
        "market": await village.screen("集市屏", VILLAGE + "/grid-3", tags=["market"]),
        "horn": await village.screen("村委会喇叭", VILLAGE, kind="speaker"),
    }


async def write(console, title: str, body: str = "请各户派代表参加。") -> None:
    await console.by("compose-title").fill(title)
    await console.by("compose-body").fill(body)


def area_box(console, path: str):
    return console.page.locator(f'[data-testid="target-area"][data-path="{path}"]')


async def posted(village) -> list[dict]:
    _, page = await village.call("GET", "/announcements")
    return page["items"]


async def test_post_to_the_whole_village_then_again_and_the_priority_is_still_normal(village, browser):
    """The reach is shown before posting; after a post the form is fresh and 优先级 is 普通 again, not 一般."""
    await seed_village_devices(village)
    async with console_page(browser, village, village.admin, width=LAPTOP[0], at="compose") as console:
        priority = console.by("compose-priority")
        await expect(priority.locator("option:checked")).to_have_text("普通")
        await area_box(console, VILLAGE).check()
        await expect(console.by("compose-reach")).to_have_text("将送达 2 块屏幕、1 个喇叭")
        await write(console, "村民大会通知")
        await console.by("compose-submit").click()
        await expect(console.by("compose-done-text")).to_have_text("已发布“村民大会通知”，正在送达 2 块屏幕、1 个喇叭。")
        await expect(priority.locator("option:checked")).to_have_text("普通")
        await expect(area_box(console, VILLAGE)).not_to_be_checked()

        await write(console, "第二条通知")
        await console.by("compose-submit").click()
        await expect(console.by("compose-done-text")).to_contain_text("第二条通知")
        await expect(priority.locator("option:checked")).to_have_text("普通")
        assert [(a["title"], a["priority"]) for a in await posted(village)] == [("第二条通知", "normal"), ("村民大会通知", "normal")]
        console.assert_clean(village.admin)


async def test_posting_just_after_ticking_an_area_on_a_slow_network_waits_for_the_reach(village, browser):
    """The reach is asked a moment after a box is ticked; a post sent before that moment, its own question slow to
    be answered, posts once the answer comes (it once said the reach was unknown: two questions were out and the
    older one's answer was dropped)."""
    await seed_village_devices(village)
    async with console_page(browser, village, village.admin, width=LAPTOP[0], at="compose") as console:
        await expect(console.by("compose-reach")).to_have_text("将送达 2 块屏幕、1 个喇叭")  # the whole scope, asked at once

        async def slowly(route):
            await asyncio.sleep(1.0)  # longer than the console's wait before it asks on its own
            await route.continue_()

        await console.page.route("**/api/v1/announcements/reach", slowly)
        await write(console, "慢网络上的通知")
        await area_box(console, VILLAGE).check()
        await console.by("compose-submit").click()
        await expect(console.by("compose-done-text")).to_have_text("已发布“慢网络上的通知”，正在送达 2 块屏幕、1 个喇叭。")
        assert [a["title"] for a in await posted(village)] == ["慢网络上的通知"]
        console.assert_clean(village.admin)


async def test_emergency_asks_first_naming_what_will_happen(village, browser):
    """紧急 opens a confirmation that says the screens turn red and the loudspeakers interrupt; 'no' posts nothing."""
    await seed_village_devices(village)
    async with console_page(browser, village, village.admin, width=LAPTOP[0], at="compose") as console:
        await write(console, "暴雨橙色预警", "今夜有暴雨，请注意防范。")
        await console.by("compose-priority").select_option("emergency")
        await console.by("compose-submit").click()
        message = console.by("confirm-message")
        await expect(message).to_contain_text("2 块屏幕会立即全屏变红")
        await expect(message).to_contain_text("1 个喇叭会打断正在播放的内容")
        await console.by("confirm-no").click()
        await expect(console.by("confirm-dialog")).to_be_hidden()
        assert await posted(village) == []

        await console.by("compose-submit").click()
        await console.by("confirm-yes").click()
        await expect(console.by("page-deliveries")).to_be_visible()  # an emergency posted opens its 回传 page
        assert [(a["title"], a["priority"]) for a in await posted(village)] == [("暴雨橙色预警", "emergency")]
        console.assert_clean(village.admin)


async def test_a_tag_from_the_list_reaches_its_screens_and_a_target_without_devices_is_refused(village, browser, tmp_path):
    """Tags are offered from the devices; the market tag reaches the market screen (a real client gets it);
    an area with no device shows so before posting and is refused, with nothing posted."""
    devices = await seed_village_devices(village)
    async with running(village.url, devices["market"]["token"], tmp_path / "market") as market:
        await market.wait_for(lambda: market.synced)
        async with console_page(browser, village, village.admin, width=LAPTOP[0], at="compose") as console:
            await expect(console.page.locator('[data-testid="target-tags"] label')).to_have_text(["gate", "market"])
            await area_box(console, VILLAGE).check()
            await console.page.locator('[data-testid="target-tag"][data-tag="market"]').check()
            await expect(console.by("compose-reach")).to_have_text("将送达 1 块屏幕、0 个喇叭")
            await write(console, "集市改期", "本周集市改到周日。")
            await console.by("compose-submit").click()
            await expect(console.by("compose-done")).to_be_visible()
            [sent] = await posted(village)
            assert sent["target"] == {"areas": [VILLAGE], "tags": ["market"], "screens": []}
            await market.wait_for(lambda: sent["id"] in ids(market))

            await area_box(console, "/dongfeng").check()
            await expect(console.by("compose-reach")).to_contain_text("没有任何屏幕或喇叭")
            await write(console, "发错地方的通知")
            await console.by("compose-submit").click()
            await expect(console.by("compose-error")).to_have_text("没有发布：发送范围内没有任何设备。")
            await expect(console.by("error-target")).to_be_visible()
            assert [a["title"] for a in await posted(village)] == ["集市改期"]
            console.assert_clean(village.admin)


async def test_a_scheduled_post_is_confirmed_as_scheduled_with_its_time(village, browser):
    """A post with a publish time says it is scheduled for that time, not that it was published."""
    await seed_village_devices(village)
    async with console_page(browser, village, village.admin, width=LAPTOP[0], at="compose") as console:
        await write(console, "秋季征兵", "适龄青年请到村委会登记。")
        await console.by("compose-publish-at").fill("2030-03-01T08:30")
        await console.by("compose-submit").click()
        await expect(console.by("compose-done-text")).to_have_text("已安排“秋季征兵”在 2030/03/01 08:30 发布，到时自动播出。")
        assert [a["status"] for a in await posted(village)] == ["scheduled"]
        console.assert_clean(village.admin)


OUT_OF_VIEW = """() => {
  const page = document.scrollingElement;
  const problems = page.scrollWidth > innerWidth ? [`the page scrolls sideways: ${page.scrollWidth} > ${innerWidth}`] : [];
  for (const button of document.querySelectorAll('main button')) {
    if (!button.offsetParent) continue;
    button.scrollIntoView({ block: 'center', inline: 'center' });
    const box = button.getBoundingClientRect();
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    if (box.left < 0 || box.right > innerWidth || !button.contains(hit)) {
      problems.push(`${button.dataset.testid || button.textContent.trim()} at ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=lambda size: f"{size[0]}x{size[1]}")
async def test_every_console_page_fits_with_every_action_in_view(village, browser, screenshot, tmp_path, size):
    """No console page scrolls sideways, and every button (更正, 撤回, 注销...) can be seen and pressed."""
    gate = await seed_for_screenshots(village)
    async with running(village.url, gate["token"], tmp_path / "gate"):
        async with console_page(browser, village, village.admin, width=size[0]) as console:
            await console.page.set_viewport_size({"width": size[0], "height": size[1]})

            async def fits(name: str) -> None:
                assert await console.page.evaluate(OUT_OF_VIEW) == [], name
                await console.page.evaluate("scrollTo(0, 0)")

            await shoot_every_page(console, screenshot, suffix=f"zh-{size[0]}x{size[1]}", check=fits)
            console.assert_clean(village.admin)
