"""Areas by name and screens an admin can manage, in Chromium against a real server and screen client: the area
tree shows names (never paths), a rename shows everywhere, a 500-character name is refused in Chinese and changes
nothing; a screen is renamed, moved and re-tagged, says what it shows, and one offline too long is flagged."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.async_api import expect

from tests.e2e.screens import running
from tests.web.test_console import VILLAGE, console_page, make_areas, reply
from tests.web.test_console_compose import LAPTOP, OUT_OF_VIEW, PHONE

PATH_TEXT = "/hongqi"  # any area path showing in a page is a leak: people read names


async def seed(village) -> dict:
    """The areas of tests/web/test_console.py, a gate screen that will run, a market screen that never came online."""
    await make_areas(village)
    devices = {
        "gate": await village.screen("村口大屏", VILLAGE, tags=["gate"]),
        "market": await village.screen("集市屏", VILLAGE + "/grid-3", tags=["market"]),
    }
    await village.post(title="防汛紧急通知", body="请低洼处村民转移。", priority="emergency", target={"areas": [VILLAGE]})
    return devices


def area_row(console, path: str):
    return console.page.locator(f'[data-testid="area-row"][data-path="{path}"]').first


def screen_row(console, screen_id: str):
    return console.page.locator(f'[data-testid="screen-row"][data-id="{screen_id}"]')


async def areas_by_path(village) -> dict[str, str]:
    _, areas = await village.call("GET", "/areas", expect=200)
    return {a["path"]: a["name"] for a in areas}


@pytest.mark.settings(screen_offline_alert_minutes=0.01)
async def test_an_admin_renames_and_adds_areas_and_moves_a_screen_by_name(village, browser, tmp_path):
    devices = await seed(village)
    async with running(village.url, devices["gate"]["token"], tmp_path / "gate"):
        async with console_page(browser, village, village.admin, width=LAPTOP[0]) as console:
            await console.open("areas")
            village_row = area_row(console, VILLAGE)
            await expect(village_row.get_by_test_id("area-name").first).to_have_text("刘井屯村")
            assert PATH_TEXT not in await console.by("area-tree").inner_text()

            # a 500-character name: a clear message in Chinese, and nothing changed
            await village_row.get_by_test_id("area-rename").first.click()
            await console.by("area-rename-name").fill("长" * 500)
            await console.by("area-rename-save").click()
            await expect(console.by("area-rename-error")).to_have_text("名称太长：最多 100 个字。什么都没有改动。")
            assert (await areas_by_path(village))[VILLAGE] == "刘井屯村"

            await console.by("area-rename-name").fill("刘井屯新村")
            await console.by("area-rename-save").click()
            await expect(village_row.get_by_test_id("area-name").first).to_have_text("刘井屯新村")
            assert (await areas_by_path(village))[VILLAGE] == "刘井屯新村"

            # a new area below the village, named; its id is made up
            await village_row.get_by_test_id("area-add-child").first.click()
            await console.by("area-add-name").fill("第四网格")
            await console.by("area-add-submit").click()
            await expect(console.page.get_by_test_id("area-name").filter(has_text="第四网格")).to_be_visible()
            [added] = [p for p, n in (await areas_by_path(village)).items() if n == "第四网格"]
            assert added.startswith(VILLAGE + "/")

            # screens: names, what each shows, the one never seen flagged
            await console.open("screens")
            gate = screen_row(console, devices["gate"]["id"])
            await expect(gate).to_have_attribute("data-online", "true", timeout=20_000)
            await expect(gate.get_by_test_id("screen-area")).to_have_text("刘井屯新村")
            await expect(gate.get_by_test_id("screen-showing")).to_contain_text("防汛紧急通知")
            market = screen_row(console, devices["market"]["id"])
            await expect(market.get_by_test_id("screen-online")).to_contain_text("离线")
            await expect(console.by("screens-offline-alert")).to_contain_text("集市屏")
            assert PATH_TEXT not in await console.by("page-screens").inner_text()

            # move the market screen to 东风村, rename it and give it the gate tag (chosen from those in use)
            await market.get_by_test_id("screen-edit").click()
            await console.by("screen-edit-name").fill("东风村集市屏")
            await console.by("screen-edit-area").select_option("/dongfeng")
            await console.page.locator('[data-testid="screen-edit-tag"][data-tag="gate"]').check()
            await console.by("screen-edit-save").click()
            await expect(market.get_by_test_id("screen-area")).to_have_text("东风村")
            await expect(market.get_by_test_id("screen-name")).to_contain_text("东风村集市屏")
            _, screens = await village.call("GET", "/screens", expect=200)
            moved = next(s for s in screens if s["id"] == devices["market"]["id"])
            assert (moved["area"], moved["tags"]) == ("/dongfeng", ["gate", "market"])
            console.assert_clean(village.admin)


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=lambda size: f"{size[0]}x{size[1]}")
async def test_areas_screens_and_figures_show_names_and_fit(village, browser, screenshot, tmp_path, size):
    """At a laptop's and a phone's size: no sideways scroll, every button in view, names and never paths."""
    devices = await seed(village)
    await reply(village, devices["gate"]["token"], "村口路灯坏了")
    await reply(village, devices["market"]["token"], "集市垃圾没人清")
    async with running(village.url, devices["gate"]["token"], tmp_path / "gate"):
        async with console_page(browser, village, village.admin, width=size[0]) as console:
            await console.page.set_viewport_size({"width": size[0], "height": size[1]})
            ready = {
                "areas": console.by("area-name").first,
                "screens": console.page.locator('[data-testid="screen-row"][data-online="true"]'),
                "figures": console.by("chart-area"),
            }
            for name, shown in ready.items():
                await console.open(name)
                await expect(shown).to_be_visible(timeout=20_000)
                assert PATH_TEXT not in await console.by("view").inner_text(), name
                assert await console.page.evaluate(OUT_OF_VIEW) == [], name
                await console.page.evaluate("scrollTo(0, 0)")
                await screenshot(console.page, f"console-{name}-names-zh-{size[0]}x{size[1]}")
            assert {"刘井屯村", "第三网格"} <= set(await console.by("chart-area").locator("text.axis").all_text_contents())
            await console.open("screens")
            await screen_row(console, devices["gate"]["id"]).get_by_test_id("screen-edit").click()
            await expect(console.by("screen-edit-save")).to_be_in_viewport()
            await screenshot(console.page, f"console-screen-edit-zh-{size[0]}x{size[1]}")
            console.assert_clean(village.admin)


async def test_a_committee_member_sees_no_areas_page_and_no_edit_buttons(village, browser):
    devices = await seed(village)
    committee = await village.token("committee", VILLAGE)
    async with console_page(browser, village, committee) as console:
        await expect(console.by("nav-areas")).to_have_count(0)
        await console.open("screens")
        await expect(screen_row(console, devices["gate"]["id"])).to_be_visible()
        await expect(console.by("screen-edit")).to_have_count(0)
        status, _ = await village.call("PATCH", "/areas/" + quote(VILLAGE, safe=""), token=committee, json={"name": "改"})
        assert status == 403
