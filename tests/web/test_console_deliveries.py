"""The console's emergency pages in Chromium against a real server (issue 14 §3 and §1): a committee clerk posts an
emergency and lands on its 回传 page by itself, where two real screen clients' plays come in and the offline
loudspeaker stays red; after the deadline the front page lists it under 需要有人去现场; the spreadsheet downloads. An
emergency posted elsewhere opens the page too. An admin reads the CAP alerts taken in, the unmatched one first, and
gives a village its division codes, refused in Chinese beside the field when wrong. Desk and phone, axe-clean,
nothing wider than a 390 px phone; screenshots."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

import pytest
from playwright.async_api import expect

from broadcast_server.keys import RECORDER
from tests.cap.alerts import fixture as cap_fixture
from tests.cap.alerts import post_cap, retimed, story_now
from tests.e2e.screens import running
from tests.web.test_accessibility import blocking_violations
from tests.web.test_console import VILLAGE, console_page, make_areas

DESK, PHONE = 1280, 390
GRID = VILLAGE + "/grid-3"  # 第三网格
DEADLINE_S = 4
POLL_S = 2  # console_poll_s: how soon an open console notices a new emergency and re-reads the overdue devices
PLAYED_WITHIN_MS = 30_000  # speech made, sent, played by the null player, its receipt written and the page refreshed
FITS_PHONE = "document.scrollingElement.scrollWidth <= 390"


@pytest.fixture
def speech_enabled() -> bool:
    return True  # a device plays an announcement's audio: without speech nothing is ever played


def device_row(console, screen_id: str):
    return console.page.locator(f'[data-testid="delivery-row"][data-id="{screen_id}"]')


async def looks_right(console, screenshot, name: str, width: int) -> None:
    """Screenshot, no serious axe violation, and at a phone's width nothing that scrolls sideways."""
    await screenshot(console.page, name)
    assert await blocking_violations(console.page) == [], name
    if width == PHONE:
        assert await console.page.evaluate(FITS_PHONE), name


@pytest.mark.settings(emergency_play_deadline_s=DEADLINE_S, console_poll_s=POLL_S)
async def test_an_emergency_opens_its_delivery_page_and_the_unplayed_device_goes_on_the_front_page(village, browser, screenshot, tmp_path):
    """Two devices run (a screen and a loudspeaker, real screen clients), a third loudspeaker was seen once and is off:
    the post lands on the 回传 page, the two turn played, the third stays red; past the deadline the front page sends
    someone there, and its 回传 link leads back."""
    await make_areas(village)
    committee = await village.token("committee", VILLAGE)
    gate = await village.screen("村口大屏", VILLAGE)
    horn = await village.screen("村委会喇叭", VILLAGE, kind="speaker")
    far = await village.screen("河边喇叭", GRID, kind="speaker")
    async with running(village.url, far["token"], tmp_path / "far", display=None) as client:
        await client.wait_for(lambda: client.synced)  # seen once; offline from here on
    await village.app[RECORDER].flush()

    async with (
        running(village.url, gate["token"], tmp_path / "gate") as c_gate,
        running(village.url, horn["token"], tmp_path / "horn", display=None) as c_horn,
        console_page(browser, village, committee, width=DESK, at="compose") as console,
    ):
        for c in (c_gate, c_horn):
            await c.wait_for(lambda c=c: c.synced)
        await console.by("compose-title").fill("山洪预警")
        await console.by("compose-body").fill("河水上涨，请沿河住户立即转移到高处。")
        await console.by("compose-priority").select_option("emergency")
        await console.page.locator(f'[data-testid="target-area"][data-path="{VILLAGE}"]').check()
        await console.by("compose-submit").click()
        await console.by("confirm-yes").click()

        # the 回传 page opens by itself, the offline loudspeaker first and red, the two that play turning
        await expect(console.by("page-deliveries")).to_be_visible()
        [posted] = (await village.call("GET", "/announcements", token=committee, expect=200))[1]["items"]
        assert console.page.url.endswith(f"#/deliveries/{posted['id']}")
        await expect(console.by("deliveries-title")).to_have_text("回传：山洪预警")
        for device in (gate, horn):
            await expect(device_row(console, device["id"])).to_have_attribute("data-done", "true", timeout=PLAYED_WITHIN_MS)
        await expect(console.by("deliveries-done")).to_have_text("已播放 2/3 台")
        await expect(console.by("deliveries-missing")).to_have_text("未播放 1 台")
        await expect(console.by("deliveries-offline")).to_have_text("离线 1 台")
        await expect(console.by("deliveries-times")).to_contain_text("，全部 —")
        unplayed = device_row(console, far["id"])
        await expect(console.by("delivery-row").first).to_have_attribute("data-id", far["id"])
        await expect(unplayed).to_have_attribute("data-done", "false")
        await expect(unplayed.get_by_test_id("delivery-missing")).to_have_text("未播放")
        await expect(unplayed.get_by_test_id("delivery-kind")).to_have_text("喇叭")
        await expect(unplayed.get_by_test_id("delivery-area")).to_have_text("第三网格")
        await expect(unplayed.get_by_test_id("delivery-state")).to_contain_text("离线")
        await expect(unplayed.get_by_test_id("delivery-last-seen")).to_contain_text("最后在线：")
        await expect(device_row(console, gate["id"]).get_by_test_id("delivery-played")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
        await looks_right(console, screenshot, "console-deliveries-zh-desk", DESK)

        # the spreadsheet for the report upward: every device, the unplayed one first
        async with console.page.expect_download() as downloading:
            await console.by("deliveries-csv").click()
        download = await downloading.value
        assert download.suggested_filename == "回传-山洪预警.csv"
        raw = (await download.path()).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        assert [r["设备名称"] for r in rows][0] == "河边喇叭" and len(rows) == 3
        assert {r["设备名称"]: r["播放时间"] != "" for r in rows} == {"河边喇叭": False, "村口大屏": True, "村委会喇叭": True}

        async with console_page(browser, village, committee, width=PHONE) as phone:
            await phone.page.evaluate(f"location.hash = '#/deliveries/{posted['id']}'")
            await expect(device_row(phone, gate["id"])).to_have_attribute("data-done", "true")
            await expect(device_row(phone, far["id"]).get_by_test_id("delivery-missing")).to_be_visible()
            await looks_right(phone, screenshot, "console-deliveries-zh-390", PHONE)

            # past the deadline the front page sends someone to the loudspeaker that has not played it
            for page, width in ((console, DESK), (phone, PHONE)):
                await page.open("home")
                go = page.by("home-go-device")
                await expect(go).to_have_count(1, timeout=(DEADLINE_S + 3 * POLL_S) * 1000)
                await expect(go).to_have_attribute("data-id", far["id"])
                await expect(go).to_contain_text("河边喇叭")
                await expect(go).to_contain_text("第三网格")
                await expect(go).to_contain_text("离线，最后在线：")
                await expect(page.by("home-go-emergency")).to_contain_text("“山洪预警”")
                await expect(page.by("home-go")).to_contain_text("需要有人去现场")
                await looks_right(page, screenshot, f"console-home-overdue-zh-{'desk' if width == DESK else width}", width)
            await phone.by("home-go-deliveries").click()
            await expect(phone.by("deliveries-title")).to_have_text("回传：山洪预警")
            phone.assert_clean(committee)
        console.assert_clean(committee)


@pytest.mark.settings(console_poll_s=POLL_S)
async def test_an_emergency_posted_elsewhere_opens_its_delivery_page_but_not_over_a_draft(village, browser):
    """The village's console open on the front page jumps to the 回传 page of the county's new warning to the village,
    showing the village's own device; on the compose page it only says so."""
    await make_areas(village)
    committee = await village.token("committee", VILLAGE)
    gate = await village.screen("村口大屏", VILLAGE)
    async with console_page(browser, village, committee) as console:
        await console.page.wait_for_timeout(POLL_S * 1000)  # the console's first look: what is live already is not new
        first = await village.post(  # by the county's admin: above the committee's scope
            title="山洪预警", body="请沿河住户立即转移。", priority="emergency", target={"areas": [VILLAGE]}
        )
        await expect(console.by("page-deliveries")).to_be_visible(timeout=3 * POLL_S * 1000)
        assert console.page.url.endswith(f"#/deliveries/{first['id']}")
        await expect(device_row(console, gate["id"])).to_contain_text("村口大屏")
        await expect(console.by("nav-announcements")).to_have_attribute("aria-current", "page")

        await console.open("compose")
        await console.by("compose-title").fill("写了一半的通知")
        await village.post(committee, title="大风预警", body="请加固棚架。", priority="emergency")
        await expect(console.by("notice")).to_contain_text("紧急公告“大风预警”刚刚发布", timeout=3 * POLL_S * 1000)
        await expect(console.by("compose-title")).to_have_value("写了一半的通知")
        console.assert_clean(committee)


async def give_codes(village, path: str, *codes: str) -> None:
    await village.call("PATCH", "/areas/" + quote(path, safe=""), json={"geocodes": list(codes)}, expect=200)


async def test_an_admin_sees_the_unmatched_cap_alert_first_in_chinese(village, browser, screenshot):
    """A red rainstorm warning for two villages goes out; a thunderstorm warning for a township no area has the code of
    is kept, listed first and marked, with what it named and the way to the areas page."""
    for path, name in (("/hongqi", "红旗镇"), (VILLAGE, "刘井屯村"), ("/hongqi/xincun", "新村")):
        await village.call("POST", "/areas", json={"path": path, "name": name}, expect=201)
    await give_codes(village, VILLAGE, "330108001001")
    await give_codes(village, "/hongqi/xincun", "330108001002")
    start = story_now()
    status, _ = await post_cap(village, retimed(cap_fixture("rainstorm-red.xml"), start))
    assert status == 201
    status, _ = await post_cap(village, retimed(cap_fixture("thunderstorm-elsewhere.xml"), start))
    assert status == 422
    async with console_page(browser, village, village.admin, width=DESK, at="announcements") as console:
        link = console.by("ann-cap-alerts")
        await expect(link).to_have_text("收到的预警（1 条没有匹配到区域）")
        await link.click()
        alerts = console.by("cap-alert")
        await expect(alerts).to_have_count(2)
        unmatched, created = alerts.nth(0), alerts.nth(1)
        await expect(unmatched).to_have_attribute("data-outcome", "unmatched")
        await expect(unmatched.get_by_test_id("cap-outcome")).to_have_text("未匹配到区域")
        await expect(unmatched.get_by_test_id("cap-headline")).to_have_text("余杭区气象台发布雷电黄色预警信号")
        await expect(unmatched.get_by_test_id("cap-sender")).to_have_text("发送方：330110000000@12379.cn")
        await expect(unmatched.get_by_test_id("cap-reason")).to_contain_text("未匹配到区域：请在“区域”页为村庄填写行政区划代码")
        await expect(unmatched.get_by_test_id("cap-named")).to_have_text("预警里写的区域：良渚街道、330110005000。")
        await expect(created.get_by_test_id("cap-outcome")).to_have_text("已播出")
        await expect(created.get_by_test_id("cap-headline")).to_have_text("滨江县气象台发布暴雨红色预警信号")
        await expect(created).to_contain_text("播出区域：刘井屯村、新村")
        await expect(console.by("cap-unmatched")).to_have_text("有 1 条预警没有匹配到区域，没有播出。")
        await looks_right(console, screenshot, "console-cap-alerts-zh-desk", DESK)
        await created.get_by_test_id("cap-deliveries").click()
        await expect(console.by("deliveries-title")).to_have_text("回传：滨江县气象台发布暴雨红色预警信号")
        console.assert_clean(village.admin)


async def test_an_admin_gives_a_village_its_division_codes_on_a_phone(village, browser, screenshot):
    """A code that is not one, and one another village has, are refused beside the field naming the code (and that
    village), changing nothing; two codes typed with a full-width comma are saved."""
    await make_areas(village)
    await give_codes(village, VILLAGE, "330108001001")
    async with console_page(browser, village, village.admin, width=PHONE, at="areas") as console:
        row = console.page.locator('[data-testid="area-row"][data-path="/dongfeng"]')
        liujingtun = console.page.locator(f'[data-testid="area-row"][data-path="{VILLAGE}"]')
        await expect(liujingtun.get_by_test_id("area-geocodes").first).to_have_text("行政区划代码：330108001001")
        await row.get_by_test_id("area-geocodes-edit").click()
        field, save, error = console.by("area-geocodes-input"), console.by("area-geocodes-save"), console.by("area-geocodes-error")

        await field.fill("3301 330108001003")
        await save.click()
        await expect(error).to_have_text(
            "“3301”不是行政区划代码。行政区划代码要填 6 到 12 位数字，如 330108 或 330108001001。什么都没有改动。"
        )
        await field.fill("330108001001")
        await save.click()
        await expect(error).to_have_text("“330108001001”已经是“刘井屯村”的代码了，一个代码只能对应一个区域。什么都没有改动。")
        await looks_right(console, screenshot, "console-areas-geocodes-zh-390", PHONE)
        _, areas = await village.call("GET", "/areas", expect=200)
        assert {a["path"]: a["geocodes"] for a in areas}["/dongfeng"] == []  # nothing changed

        await field.fill("330108001003，330108001004")
        await save.click()
        await expect(row.get_by_test_id("area-geocodes")).to_have_text("行政区划代码：330108001003、330108001004")
        _, areas = await village.call("GET", "/areas", expect=200)
        assert {a["path"]: a["geocodes"] for a in areas}["/dongfeng"] == ["330108001003", "330108001004"]
        console.assert_clean(village.admin)
