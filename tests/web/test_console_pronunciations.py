"""读音 (Pronunciation) on the console in a real Chromium against a real server with real speech, at a desk and on a
phone: an admin adds a word, hears it (试听) as the loudspeaker now says it, edits it, is told in Chinese what is wrong
with a bad entry (nothing stored), and deletes a word after confirming. Screenshots in Chinese and English."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.web.test_console import console_page
from tests.web.test_console_compose import LAPTOP, OUT_OF_VIEW, PHONE

SIZES = pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=lambda size: f"{size[0]}x{size[1]}")


@pytest.fixture
def speech_enabled() -> bool:
    return True


async def stored(village) -> list[tuple[str, str]]:
    _, answer = await village.call("GET", "/pronunciations", expect=200)
    return [(p["word"], p["say"]) for p in answer]


def row(console, word: str):
    return console.page.locator(f'[data-testid="pron-row"][data-word="{word}"]')


async def fits(console) -> None:
    assert await console.page.evaluate(OUT_OF_VIEW) == []
    await console.page.evaluate("scrollTo(0, 0)")


async def add(console, word: str, say: str) -> None:
    await console.by("pron-add-word").fill(word)
    await console.by("pron-add-say").fill(say)
    await console.by("pron-add-submit").click()


@SIZES
async def test_add_listen_edit_refuse_and_delete(village, browser, screenshot, size):
    await village.call("PUT", "/pronunciations/%E8%9A%8C%E5%9F%A0", json={"say": "蹦埠"}, expect=200)  # 蚌埠
    async with console_page(browser, village, village.admin, width=size[0], at="pronunciations") as console:
        await console.page.set_viewport_size({"width": size[0], "height": size[1]})
        await expect(row(console, "蚌埠").get_by_test_id("pron-say")).to_have_text("蹦埠")

        await add(console, "乐亭", "涝亭")
        await expect(console.by("notice")).to_contain_text("“乐亭”以后念作“涝亭”")
        await expect(console.page.get_by_test_id("pron-row")).to_have_count(2)
        await expect(console.by("pron-add-word")).to_have_value("")

        await row(console, "乐亭").get_by_test_id("pron-listen").click()
        await expect(console.by("pron-spoken")).to_have_text("“乐亭”喇叭会念作：涝亭")
        await expect(console.by("pron-audio")).to_be_visible()
        assert (await console.by("pron-audio").get_attribute("src")).startswith("blob:")

        await add(console, "乐亭2", "涝亭")
        await expect(console.by("pron-add-error")).to_have_text("词语要填 1 到 20 个汉字，不能有数字、字母或空格。什么都没有改动。")
        await add(console, "六安", "lu an")
        await expect(console.by("pron-add-error")).to_contain_text("“念作”要填 1 到 40 个字")
        assert await stored(village) == [("乐亭", "涝亭"), ("蚌埠", "蹦埠")]

        await row(console, "乐亭").get_by_test_id("pron-edit").click()
        await console.by("pron-edit-say").fill("lao4 ting2")
        await fits(console)
        await screenshot(console.page, f"console-pronunciations-edit-zh-{size[0]}x{size[1]}")
        await console.by("pron-edit-save").click()
        await expect(row(console, "乐亭").get_by_test_id("pron-say")).to_have_text("lao4 ting2")
        await row(console, "乐亭").get_by_test_id("pron-listen").click()
        await expect(console.by("pron-spoken")).to_have_text("“乐亭”喇叭会念作：lao4 ting2")

        await row(console, "蚌埠").get_by_test_id("pron-edit").click()
        await console.by("pron-edit-say").fill("")
        await console.by("pron-edit-save").click()
        await expect(console.by("pron-edit-error")).to_contain_text("“念作”要填 1 到 40 个字")
        await console.by("pron-edit-cancel").click()

        await row(console, "蚌埠").get_by_test_id("pron-delete").click()
        await expect(console.by("confirm-message")).to_contain_text("删除“蚌埠”的读音？")
        await console.by("confirm-no").click()
        await expect(row(console, "蚌埠")).to_have_count(1)
        await row(console, "蚌埠").get_by_test_id("pron-delete").click()
        await console.by("confirm-yes").click()
        await expect(row(console, "蚌埠")).to_have_count(0)
        assert await stored(village) == [("乐亭", "lao4 ting2")]

        await add(console, "单县", "善县")
        await expect(row(console, "单县")).to_have_count(1)
        await fits(console)
        await screenshot(console.page, f"console-pronunciations-list-zh-{size[0]}x{size[1]}")

        await console.by("lang-select").select_option("en")
        await expect(console.by("nav-pronunciations")).to_have_text("Pronunciation")
        await add(console, "单县1", "善县")
        await expect(console.by("pron-add-error")).to_contain_text("A word is 1 to 20 Chinese characters")
        await fits(console)
        await screenshot(console.page, f"console-pronunciations-list-en-{size[0]}x{size[1]}")
        console.assert_clean(village.admin)


async def test_only_an_admin_has_the_page(village, browser):
    committee = await village.token("committee", "/")
    async with console_page(browser, village, committee) as console:
        await expect(console.by("nav-pronunciations")).to_have_count(0)
        await console.page.goto(village.url + "/#/pronunciations")
        await expect(console.by("page-pronunciations")).to_have_count(0)
