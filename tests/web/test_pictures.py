"""Pictures on notices in Chromium (issue 11 §3): the clerk adds two pictures on the compose page, sees their
thumbnails, posts, and the kiosk shows them beside the text (under it in portrait), loaded; a file that is not
a picture is refused in Chinese. At a laptop's and a phone's width; screenshots of compose and the kiosk."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw
from playwright.async_api import expect

from tests.web.test_console import VILLAGE, console_page
from tests.web.test_console_compose import LAPTOP, OUT_OF_VIEW, PHONE, area_box, seed_village_devices, write
from tests.web.test_kiosk import kiosk_page

BODY = "村东头的水泥路从下周一开始修整，为期两周。施工期间请绕行村西的机耕路，车辆慢行，照看好老人和孩子。"


def photo(color: tuple, size=(1600, 1000)) -> bytes:
    """A picture with something to see in it: a coloured field and a white bar, as a JPEG."""
    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).rectangle((size[0] // 8, size[1] // 3, size[0] * 7 // 8, size[1] * 2 // 3), fill=(250, 250, 250))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def picked(name: str, data: bytes, mime: str = "image/jpeg") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["laptop", "phone"])
async def test_the_clerk_adds_two_pictures_and_the_kiosk_shows_them(village, browser, screenshot, size):
    devices = await seed_village_devices(village)
    tag = f"zh-{size[0]}x{size[1]}"
    async with console_page(browser, village, village.admin, width=size[0], at="compose") as console:
        await console.page.set_viewport_size({"width": size[0], "height": size[1]})
        await write(console, "修路通知", BODY)
        await console.by("compose-images-input").set_input_files(
            [picked("路口.jpg", photo((40, 110, 60))), picked("绕行路线.jpg", photo((30, 70, 150), (900, 1400)))]
        )
        thumbs = console.by("compose-image")
        await expect(thumbs).to_have_count(2)
        for img in await thumbs.locator("img").all():
            await img.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await img.element_handle())
        await expect(thumbs.locator("img").first).to_have_attribute("alt", "图片 1/2")
        await expect(console.by("compose-image-remove")).to_have_text(["移除", "移除"])
        assert await console.page.evaluate(OUT_OF_VIEW) == []
        await console.page.evaluate("scrollTo(0, 0)")
        await console.by("compose-images-add").scroll_into_view_if_needed()
        await screenshot(console.page, f"compose-pictures-{tag}")

        # the Chinese error for a file that is not a picture, and nothing added
        await console.by("compose-images-input").set_input_files([picked("说明.jpg", "这不是图片".encode() * 50)])
        await expect(console.by("error-images")).to_contain_text("“说明.jpg”没有添加：这不是图片")
        await expect(thumbs).to_have_count(2)

        await area_box(console, VILLAGE).check()
        await console.by("compose-submit").click()
        await expect(console.by("compose-done")).to_be_visible()
        await expect(thumbs).to_have_count(0)  # a fresh form
        _, page = await village.call("GET", "/announcements")
        [sent] = page["items"]
        assert [(i["width"], i["height"]) for i in sent["images"]] == [(1600, 1000), (900, 1400)]
        await console.by("compose-done-link").click()
        await expect(console.row(sent["id"]).get_by_test_id("ann-images")).to_have_text("图片 2 张")
        console.assert_clean(village.admin)

    landscape = size == LAPTOP
    viewport = {"width": 1280, "height": 720} if landscape else {"width": 720, "height": 1280}
    async with kiosk_page(browser, village.url, devices["gate"]["token"], viewport=viewport) as kiosk:
        await kiosk.online()
        await expect(kiosk.by("kiosk-current")).to_have_attribute("data-id", sent["id"])
        pictures = kiosk.by("kiosk-picture")
        await expect(pictures).to_have_count(2)
        await expect(pictures.first).to_have_attribute("alt", "公告图片 1/2")
        for img in await pictures.all():
            await img.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await img.element_handle())
        boxes = await kiosk.page.evaluate("""() => {
            const box = (el) => {
                const r = el.getBoundingClientRect();
                return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
            };
            return {text: box(document.querySelector('.stage-page')), pictures: box(document.querySelector('.stage-pictures')),
                    stage: box(document.querySelector('.stage')), buttons: [...document.querySelectorAll('.foot button')].map(box)};
        }""")
        text, pics = boxes["text"], boxes["pictures"]
        if landscape:
            assert pics["left"] >= text["right"], boxes  # beside the text
        else:
            assert pics["top"] >= text["bottom"], boxes  # under it
        assert pics["bottom"] <= boxes["stage"]["bottom"] and pics["right"] <= boxes["stage"]["right"], boxes
        for button in boxes["buttons"]:  # no control covered
            assert button["top"] >= boxes["stage"]["bottom"] or button["right"] <= pics["left"], boxes
        await screenshot(kiosk.page, f"kiosk-pictures-{tag}")
        kiosk.assert_clean()


async def test_a_fifth_picture_is_refused_before_uploading(village, browser):
    async with console_page(browser, village, village.admin, width=PHONE[0], at="compose") as console:
        files = [picked(f"{n}.jpg", photo((40 * n, 90, 90), (400, 300))) for n in range(5)]
        await console.by("compose-images-input").set_input_files(files)
        await expect(console.by("compose-image")).to_have_count(4)
        await expect(console.by("error-images")).to_have_text("一条公告最多只能带 4 张图片。")
        await expect(console.by("compose-images-input")).to_be_disabled()
        await console.by("compose-image-remove").first.click()
        await expect(console.by("compose-image")).to_have_count(3)
        await expect(console.by("compose-images-input")).to_be_enabled()
        console.assert_clean(village.admin)
