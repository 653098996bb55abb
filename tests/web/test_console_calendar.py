"""The timed-broadcast page (定时广播) in a real Chromium against a real server, at a desk and on a phone: a clerk
makes a daily broadcast, sees it in the coming 14 days, pauses and resumes it, stops it after confirming; a rule
that never fires is refused in Chinese and nothing is stored; a committee member's broadcast plays a recording, which
an edit shows and removes."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from tests.announcements.test_recording import tone, wav
from tests.web.test_console import VILLAGE, console_page, make_areas
from tests.web.test_console_compose import LAPTOP, OUT_OF_VIEW, PHONE
from tests.web.test_console_recording import picked

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEVER_FIRES = "按这个设置永远不会播出（时间都已过去或日期不存在），请改一下。"


def daily_occurrences_in_14_days(at: time) -> int:
    """Today's counts only while its time is still ahead."""
    return 14 if datetime.now(SHANGHAI).time() < at else 13


async def stored(village) -> list[dict]:
    _, schedules = await village.call("GET", "/schedules", expect=200)
    return schedules


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=lambda size: f"{size[0]}x{size[1]}")
async def test_a_daily_broadcast_is_made_seen_paused_resumed_and_stopped(village, browser, screenshot, size):
    async with console_page(browser, village, village.admin, width=size[0], at="calendar") as console:
        await console.page.set_viewport_size({"width": size[0], "height": size[1]})
        page = console.page

        # a rule that never fires: a date long past
        await console.by("schedule-title").fill("打疫苗")
        await console.by("schedule-body").fill("请带好孩子的接种本。")
        await console.by("schedule-repeat").select_option("dates")
        await console.by("schedule-dates").fill("2020-01-01")
        await console.by("schedule-save").click()
        await expect(console.by("schedule-error")).to_have_text(NEVER_FIRES)
        assert await stored(village) == []

        # every day at 06:30
        await console.by("schedule-title").fill("早间广播")
        await console.by("schedule-body").fill("今天天气晴，注意防晒。")
        await console.by("schedule-repeat").select_option("daily")
        await console.by("schedule-time").fill("06:30")
        await console.by("schedule-save").click()
        row = console.by("schedule-row")
        await expect(row).to_have_attribute("data-status", "active")
        await expect(console.by("schedule-error")).to_be_hidden()
        (schedule,) = await stored(village)
        assert (schedule["title"], schedule["rrule"]) == ("早间广播", "FREQ=DAILY;BYHOUR=6;BYMINUTE=30")
        await expect(row.get_by_test_id("schedule-row-when")).to_contain_text("每天 06:30 · 进行中 · 下次")
        occurrences = page.locator(f'[data-testid="calendar-occurrence"][data-schedule="{schedule["id"]}"]')
        await expect(occurrences).to_have_count(daily_occurrences_in_14_days(time(6, 30)))
        await expect(occurrences.first).to_have_text("06:30 早间广播")
        await expect(console.by("calendar-day")).to_have_count(14)

        assert await page.evaluate(OUT_OF_VIEW) == []
        await page.evaluate("scrollTo(0, 0)")
        await screenshot(page, f"console-calendar-zh-{size[0]}x{size[1]}")

        await row.get_by_test_id("schedule-pause").click()
        await expect(row).to_have_attribute("data-status", "paused")
        await expect(occurrences.first).to_have_text("06:30 早间广播 (已暂停)")
        assert [s["paused"] for s in await stored(village)] == [True]
        await row.get_by_test_id("schedule-resume").click()
        await expect(row).to_have_attribute("data-status", "active")
        assert [s["paused"] for s in await stored(village)] == [False]

        await row.get_by_test_id("schedule-stop").click()
        await expect(console.by("confirm-message")).to_have_text("确定永久停止“早间广播”吗？已经播出的不受影响。")
        await console.by("confirm-no").click()
        await expect(row).to_have_attribute("data-status", "active")
        await row.get_by_test_id("schedule-stop").click()
        await console.by("confirm-yes").click()
        await expect(row).to_have_attribute("data-status", "stopped")
        await expect(row.get_by_test_id("schedule-stop")).to_have_count(0)
        await expect(occurrences).to_have_count(0)
        assert [s["status"] for s in await stored(village)] == ["stopped"]
        console.assert_clean(village.admin)


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=lambda size: f"{size[0]}x{size[1]}")
async def test_a_timed_broadcast_has_its_priority_speech_and_target(village, browser, screenshot, size):
    """The village's morning call, 重要 and silent on the screens, to 刘井屯村 only: the form shows whom it reaches,
    the schedule keeps what was chosen, an edit moves it to the grid; 紧急 asks first and, refused, saves nothing."""
    await make_areas(village)
    await village.screen("村口大屏", VILLAGE)
    await village.screen("东风村大屏", "/dongfeng")
    async with console_page(browser, village, village.admin, width=size[0], at="calendar") as console:
        page = console.page
        await page.set_viewport_size({"width": size[0], "height": size[1]})
        await console.by("schedule-title").fill("早间广播")
        await console.by("schedule-body").fill("今天天气晴，注意防晒。")
        await expect(console.by("schedule-priority")).to_have_value("normal")
        await console.by("schedule-priority").select_option("high")
        await console.by("schedule-speak").uncheck()
        await page.locator(f'[data-testid="target-area"][data-path="{VILLAGE}"]').check()
        await expect(console.by("compose-reach")).to_have_text("将送达 1 块屏幕、0 个喇叭")
        assert await page.evaluate(OUT_OF_VIEW) == []
        await page.evaluate("scrollTo(0, 0)")
        await screenshot(page, f"console-calendar-target-zh-{size[0]}x{size[1]}")
        await console.by("schedule-save").click()
        row = console.by("schedule-row")
        await expect(row).to_have_attribute("data-status", "active")
        (schedule,) = await stored(village)
        assert (schedule["priority"], schedule["speak"], schedule["target"]["areas"]) == ("high", False, [VILLAGE])
        await expect(console.by("schedule-priority")).to_have_value("normal")  # a new form: back to 普通

        await row.get_by_test_id("schedule-edit").click()
        await expect(console.by("schedule-priority")).to_have_value("high")
        await expect(page.locator(f'[data-testid="target-area"][data-path="{VILLAGE}"]')).to_be_checked()
        await page.locator(f'[data-testid="target-area"][data-path="{VILLAGE}"]').uncheck()
        await page.locator(f'[data-testid="target-area"][data-path="{VILLAGE}/grid-3"]').check()
        await console.by("schedule-priority").select_option("emergency")
        await console.by("schedule-save").click()
        await expect(console.by("confirm-message")).to_contain_text("以“紧急”定时播出“早间广播”？每次到点时")
        await console.by("confirm-no").click()
        assert [(s["priority"], s["target"]["areas"]) for s in await stored(village)] == [("high", [VILLAGE])]
        await console.by("schedule-priority").select_option("high")
        await console.by("schedule-save").click()
        await expect(console.by("schedule-form-heading")).to_have_text("新建定时广播")
        assert [(s["priority"], s["target"]["areas"]) for s in await stored(village)] == [("high", [VILLAGE + "/grid-3"])]
        console.assert_clean(village.admin)


async def test_a_committee_members_daily_broadcast_plays_a_recording_until_an_edit_removes_it(village, browser, screenshot):
    """The clerk uploads a phone's recording to the morning broadcast: it is kept with the schedule (every occurrence
    plays it), an edit shows it with its length, and 移除录音 then 保存修改 makes the loudspeakers read the text again."""
    await make_areas(village)
    committee = await village.token("committee", VILLAGE)
    async with console_page(browser, village, committee, width=LAPTOP[0], at="calendar") as console:
        page = console.page
        await page.set_viewport_size({"width": LAPTOP[0], "height": LAPTOP[1]})
        await console.by("schedule-title").fill("早间广播")
        await console.by("schedule-body").fill("今天天气晴，注意防晒。")
        voice = wav(tone(seconds=2, level=0.2, rate=16_000), 16_000)
        await console.by("recording-input").set_input_files([picked("村主任.wav", voice, "audio/wav")])
        status = console.by("recording-status")
        await expect(status).to_have_text("已附上录音（0:02）：喇叭将播放这段录音，不再朗读文字；屏幕上仍显示文字。")
        await expect(console.by("schedule-speak")).to_be_checked()
        await expect(console.by("schedule-speak")).to_be_disabled()  # a recording is for the loudspeakers
        for width, height in (LAPTOP, PHONE):
            await page.set_viewport_size({"width": width, "height": height})
            assert await page.evaluate(OUT_OF_VIEW) == [], width
            await page.evaluate("scrollTo(0, 0)")
            await screenshot(page, f"console-calendar-recording-zh-{width}x{height}")

        await console.by("schedule-save").click()
        row = console.by("schedule-row")
        await expect(row.get_by_test_id("schedule-row-when")).to_contain_text("每天 06:30 · 进行中 · 下次")
        await expect(row.get_by_test_id("schedule-row-when")).to_contain_text("· 播放录音")
        await expect(status).to_be_hidden()  # a fresh form
        (schedule,) = await stored(village)
        assert schedule["recording"].startswith("/media/") and schedule["speak"] is True

        await row.get_by_test_id("schedule-edit").click()
        await expect(status).to_have_text("已附上录音（0:02）：喇叭将播放这段录音，不再朗读文字；屏幕上仍显示文字。")
        await expect(console.by("recording-player")).to_have_attribute("src", schedule["recording"])
        await console.by("recording-remove").click()
        await expect(status).to_be_hidden()
        await expect(console.by("schedule-speak")).to_be_enabled()
        await console.by("schedule-save").click()
        await expect(console.by("schedule-form-heading")).to_have_text("新建定时广播")
        await expect(row.get_by_test_id("schedule-row-when")).not_to_contain_text("播放录音")
        assert [(s["title"], s["recording"], s["speak"]) for s in await stored(village)] == [("早间广播", None, True)]
        console.assert_clean(committee)
