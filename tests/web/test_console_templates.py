"""Templates (模板) and 复制 on the console in a real Chromium against a real server, at a desk and on a phone: a
village clerk keeps a notice as a template, starts a fresh notice from it and posts it; a county's template is
offered as 上级 and cannot be deleted here; the clerk's own is deleted after confirming; an old notice is copied
from the announcements page, changed and posted as a new one. Screenshots in Chinese (and English) at both sizes."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.web.test_console import VILLAGE, console_page
from tests.web.test_console_compose import LAPTOP, OUT_OF_VIEW, PHONE, area_box, posted, seed_village_devices, write
from tests.web.test_pictures import photo, picked

SIZES = pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=lambda size: f"{size[0]}x{size[1]}")
COUNTY = "/hongqi"
MEDICAL_BODY = "2027年度城乡居民医保缴费已经开始，请于12月31日前到村委会或用手机缴清。"


def tag_box(console, tag: str):
    return console.page.locator(f'[data-testid="target-tag"][data-tag="{tag}"]')


async def stored_templates(village, token: str) -> list[dict]:
    _, answer = await village.call("GET", "/templates", token=token, expect=200)
    return answer


async def fits(console) -> None:
    assert await console.page.evaluate(OUT_OF_VIEW) == []
    await console.page.evaluate("scrollTo(0, 0)")


@SIZES
async def test_keep_a_notice_as_a_template_start_from_it_and_post(village, browser, screenshot, size):
    await seed_village_devices(village)
    county = await village.token("committee", COUNTY)
    clerk = await village.token("committee", VILLAGE)
    fire = {"name": "防火防汛", "title": "防火防汛提醒", "body": "请注意用火安全，汛期远离河道。", "priority": "high"}
    await village.call("POST", "/templates", token=county, json=fire, expect=201)
    async with console_page(browser, village, clerk, width=size[0], at="compose") as console:
        await console.page.set_viewport_size({"width": size[0], "height": size[1]})
        page, pick = console.page, console.by("template-select")
        await expect(pick.locator("option")).to_have_text(["— 选择一个模板 —", "防火防汛（上级）"])

        # write a notice and keep it as a template
        await write(console, "城乡居民医保开始缴费", MEDICAL_BODY)
        await console.by("compose-priority").select_option("high")
        await console.by("compose-category").select_option("health")
        await console.by("compose-repeat").fill("2")
        await area_box(console, VILLAGE).check()
        await tag_box(console, "gate").check()
        await console.by("compose-images-input").set_input_files([picked("缴费码.jpg", photo((40, 110, 60)))])
        await expect(console.by("compose-image")).to_have_count(1)
        await console.by("template-save").click()
        await expect(console.by("template-name")).to_have_value("城乡居民医保开始缴费")
        await console.by("template-name").fill("医保缴费提醒")
        await fits(console)
        await screenshot(page, f"console-template-save-zh-{size[0]}x{size[1]}")
        await console.by("template-saver-save").click()
        await expect(console.by("notice")).to_have_text("已存为模板“医保缴费提醒”")
        await expect(pick.locator("option:checked")).to_have_text("医保缴费提醒")
        await expect(console.by("template-saver")).to_be_hidden()
        kept = {t["name"]: t for t in await stored_templates(village, clerk)}["医保缴费提醒"]
        assert (kept["title"], kept["priority"], kept["category"], kept["repeat"], kept["area"]) == (
            "城乡居民医保开始缴费", "high", "health", 2, VILLAGE)
        assert kept["target"] == {"areas": [VILLAGE], "tags": ["gate"], "screens": []} and len(kept["images"]) == 1

        # a fresh form, then start from the template: every field filled
        await page.reload()
        await expect(console.by("compose-title")).to_have_value("")
        await expect(pick.locator("option")).to_have_text(["— 选择一个模板 —", "医保缴费提醒", "防火防汛（上级）"])
        await pick.select_option(label="医保缴费提醒")
        await expect(console.by("compose-title")).to_have_value("城乡居民医保开始缴费")
        await expect(console.by("compose-body")).to_have_value(MEDICAL_BODY)
        await expect(console.by("compose-priority").locator("option:checked")).to_have_text("重要")
        await expect(console.by("compose-category")).to_have_value("health")
        await expect(console.by("compose-repeat")).to_have_value("2")
        await expect(console.by("compose-speak")).to_be_checked()
        await expect(area_box(console, VILLAGE)).to_be_checked()
        await expect(tag_box(console, "gate")).to_be_checked()
        await expect(console.by("compose-image")).to_have_attribute("data-url", kept["images"][0]["url"])
        await expect(console.by("compose-reach")).to_have_text("将送达 1 块屏幕、0 个喇叭")
        await expect(console.by("template-delete")).to_be_visible()
        await fits(console)
        await screenshot(page, f"console-template-filled-zh-{size[0]}x{size[1]}")

        await console.by("compose-submit").click()
        await expect(console.by("compose-done-text")).to_have_text("已发布“城乡居民医保开始缴费”，正在送达 1 块屏幕、0 个喇叭。")
        await expect(console.by("compose-priority").locator("option:checked")).to_have_text("普通")  # the form's own default again
        await expect(pick).to_have_value("")
        [sent] = await posted(village)
        assert (sent["title"], sent["body"], sent["priority"], sent["category"], sent["repeat"]) == (
            "城乡居民医保开始缴费", MEDICAL_BODY, "high", "health", 2)
        assert sent["target"] == kept["target"] and sent["images"] == kept["images"]

        # the county's template: used here, not deleted here
        await pick.select_option(label="防火防汛（上级）")
        await expect(console.by("compose-title")).to_have_value("防火防汛提醒")
        await expect(console.by("template-delete")).to_be_hidden()

        # the clerk's own: deleted after confirming
        await pick.select_option(label="医保缴费提醒")
        await console.by("template-delete").click()
        await expect(console.by("confirm-message")).to_have_text("删除模板“医保缴费提醒”？已经发出的公告不受影响。")
        await console.by("confirm-no").click()
        assert len(await stored_templates(village, clerk)) == 2
        await console.by("template-delete").click()
        await console.by("confirm-yes").click()
        await expect(pick.locator("option")).to_have_text(["— 选择一个模板 —", "防火防汛（上级）"])
        assert [t["name"] for t in await stored_templates(village, clerk)] == ["防火防汛"]

        # in English too
        await console.by("lang-select").select_option("en")
        await expect(console.by("template-bar")).to_contain_text("Start from a template")
        await console.by("template-select").select_option(label="防火防汛 (from above)")
        await expect(console.by("compose-reach")).to_have_attribute("data-screens", "2")  # no target: the clerk's own area
        await console.by("template-save").click()
        await fits(console)
        await page.evaluate("document.querySelector('[data-testid=notice]').hidden = true")  # the Chinese toast of the delete
        await screenshot(page, f"console-template-en-{size[0]}x{size[1]}")
        await console.by("template-name").fill(" ")
        await console.by("template-saver-save").click()
        await expect(console.by("template-error")).to_have_text("A template name is 1 to 40 characters.")
        console.assert_clean(clerk)


@SIZES
async def test_copy_an_old_notice_change_its_title_and_post_it_as_a_new_one(village, browser, screenshot, size):
    await seed_village_devices(village)
    old = await village.post(title="明天停水", body="明天上午八点到十二点停水，请提前储水。", priority="high", category="notice",
                             repeat=3, speak=False, target={"areas": [VILLAGE], "tags": ["market"]})
    async with console_page(browser, village, village.admin, width=size[0], at="announcements") as console:
        await console.page.set_viewport_size({"width": size[0], "height": size[1]})
        page = console.page
        await expect(console.row(old["id"]).get_by_test_id("fig-targeted")).to_be_visible()
        await fits(console)
        await screenshot(page, f"console-announcements-copy-zh-{size[0]}x{size[1]}")
        await console.row(old["id"]).get_by_test_id("ann-copy").click()

        await expect(console.by("nav-compose")).to_have_attribute("aria-current", "page")
        await expect(console.by("compose-copied")).to_have_text("已复制“明天停水”：改好后点“发布公告”，作为一条新公告发出。")
        assert page.url.endswith("#/compose")  # a reload starts a fresh notice, not another copy
        await expect(console.by("compose-title")).to_have_value("明天停水")
        await expect(console.by("compose-body")).to_have_value(old["body"])
        await expect(console.by("compose-priority")).to_have_value("high")
        await expect(console.by("compose-category")).to_have_value("notice")
        await expect(console.by("compose-repeat")).to_have_value("3")
        await expect(console.by("compose-speak")).not_to_be_checked()
        await expect(area_box(console, VILLAGE)).to_be_checked()
        await expect(tag_box(console, "market")).to_be_checked()
        await expect(console.by("compose-publish-at")).to_have_value("")
        await expect(console.by("compose-reach")).to_have_text("将送达 1 块屏幕、0 个喇叭")
        await console.by("compose-title").fill("后天停水")
        await fits(console)
        await screenshot(page, f"console-compose-copy-zh-{size[0]}x{size[1]}")
        await console.by("compose-submit").click()
        await expect(console.by("compose-done-text")).to_contain_text("已发布“后天停水”")

        new, first = await posted(village)
        assert (first["id"], new["title"]) == (old["id"], "后天停水") and new["id"] != old["id"]
        for name in ("body", "priority", "category", "language", "speak", "repeat", "target", "images"):
            assert new[name] == old[name], name
        console.assert_clean(village.admin)
