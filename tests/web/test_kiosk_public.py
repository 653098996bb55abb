"""The kiosk as a public screen (issue 11 §5), in Chromium at landscape and portrait sizes: long notices are
paged, nothing covers a control (the sound prompt least of all), a reply is about no notice unless chosen,
"我的事项" shows an answer only to whoever types its ticket, and an untouched kiosk goes back to Chinese."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.web.pages import covered_controls
from tests.web.test_kiosk import (
    FAST,
    REFUSE_AUTOPLAY,
    VILLAGE,
    kiosk_page,
    look_up,
    reply_at,
    speech_enabled,  # noqa: F401  (the fixture that honours @with_speech)
    with_speech,
)

LANDSCAPE = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
PORTRAIT_SCREEN = {"width": 1080, "height": 1920}
SIZES = pytest.mark.parametrize("viewport", [LANDSCAPE, PHONE, PORTRAIT_SCREEN], ids=["1366x768", "390x844", "1080x1920"])

# About three screens of text at any of the sizes: a notice that must be paged.
LONG_BODY = "\n".join(
    f"{n}. 村委会提醒各位村民：本周六上午八点到十二点，村东头到村小学的道路进行硬化施工，期间禁止车辆通行，请大家绕行村西路。"
    for n in range(1, 9)
)
LAST_WORDS = "8. 村委会提醒"

# The text frame and where the text sits in it, measured together with the page mark so they belong to one page.
GEOMETRY = """() => {
  const frame = document.querySelector(".stage-page").getBoundingClientRect();
  const body = document.querySelector(".stage-body");
  const text = body.getBoundingClientRect();
  return { mark: document.querySelector('[data-testid="kiosk-page"]').textContent,
           frameTop: frame.top, frameBottom: frame.bottom, frameHeight: frame.height,
           textTop: text.top, textBottom: text.bottom, lineHeight: parseFloat(getComputedStyle(body).lineHeight) };
}"""


async def resolve(village, ticket: str, response: str) -> None:
    """The committee takes the request through to resolved, with its answer (a villager may then rate it)."""
    for status in ("assigned", "in_progress"):
        await village.call("PATCH", f"/requests/{ticket}", json={"status": status}, expect=200)
    await village.call("PATCH", f"/requests/{ticket}", json={"status": "resolved", "response": response}, expect=200)


async def answered_request(village, kiosk, screen: dict, response: str) -> str:
    """A request filed from `screen` (over HTTP: no tap on the kiosk) and resolved; its ticket, once the kiosk has the answer."""
    _, filed = await village.call(
        "POST", "/replies", json={"client_msg_id": "lamp", "category": "help", "text": "村口路灯坏了。"}, token=screen["token"], expect=201
    )
    await resolve(village, filed["ticket"], response)
    await kiosk.frames.wait_for(
        lambda: any(f.get("status") == "resolved" for s in kiosk.frames.sockets for f in s.received_of("request_update")),
        what="the resolved request_update",
    )
    return filed["ticket"]


@SIZES
async def test_a_long_notice_is_paged_with_a_page_mark_and_nothing_is_cut_off(village, browser, viewport):
    """A notice longer than the screen shows page by page ("第 1 / N 页"), each page whole lines and the next
    page starting where the last one ended, the last page showing its end; then the next notice comes."""
    gate = await village.screen("gate", VILLAGE)
    long = await village.post(title="道路施工通知", body=LONG_BODY, priority="high", speak=False)
    short = await village.post(title="停水通知", body="周三上午停水。", speak=False)
    async with kiosk_page(browser, village.url, gate["token"], timing={**FAST, "cycleMs": 2500}, lang="zh", viewport=viewport) as kiosk:
        await kiosk.page.emulate_media(reduced_motion="reduce")  # pages turn at once: no half-moved text to measure
        await kiosk.online()
        await expect(kiosk.by("kiosk-current")).to_have_attribute("data-id", long["id"])
        mark = kiosk.by("kiosk-page")
        await expect(mark).to_contain_text("第 1 / ")
        pages = int((await mark.text_content()).split("/")[1].split()[0])
        assert pages >= 2, await mark.text_content()
        for page in range(1, pages + 1):
            await expect(mark).to_have_text(f"第 {page} / {pages} 页")
            g = await kiosk.page.evaluate(GEOMETRY)
            assert g["mark"] == f"第 {page} / {pages} 页"  # still the same page
            lines = g["frameHeight"] / g["lineHeight"]
            assert abs(lines - round(lines)) < 0.05 and round(lines) >= 1, g  # whole lines: none cut through
            assert abs(g["textTop"] - (g["frameTop"] - (page - 1) * g["frameHeight"])) < 1.5, g  # follows on from the last page
        assert g["textBottom"] <= g["frameBottom"] + 1, g  # the end of the notice is on the last page
        assert LAST_WORDS in await kiosk.by("kiosk-current").text_content()
        await expect(kiosk.by("kiosk-current")).to_have_attribute("data-id", short["id"])  # after the last page, the next notice
        await expect(mark).to_be_hidden()  # a short notice has one page and no mark
        kiosk.assert_clean()


@with_speech
@SIZES
async def test_with_the_sound_prompt_showing_no_control_is_covered_and_the_rating_buttons_are_reachable(village, browser, viewport):
    """In a browser that refuses autoplay the sound prompt shows; the notice view's buttons and, in "我的事项",
    the rating buttons of a resolved request are not under it nor under each other."""
    gate = await village.screen("gate", VILLAGE)
    async with kiosk_page(browser, village.url, gate["token"], lang="zh", viewport=viewport, init_script=REFUSE_AUTOPLAY) as kiosk:
        await kiosk.online()
        ticket = await answered_request(village, kiosk, gate, "路灯已修好。")
        await village.post(title="道路施工通知", body=LONG_BODY, speak=False)
        await village.post(title="停水通知", body="周三上午停水。")  # its clip is refused: the prompt
        prompt = kiosk.by("kiosk-tap-to-enable")
        await expect(prompt).to_be_visible(timeout=30000)
        assert await covered_controls(kiosk.page, '[data-testid="kiosk"]') == []

        # Keys, not taps: any touch turns the sound on and the prompt goes (a scanner types the ticket, too).
        # 我要反映: no field of the form, down to the phone and 提交, is under the prompt
        await kiosk.by("kiosk-reply-open").press("Enter")
        await expect(kiosk.by("kiosk-reply")).to_be_visible()
        await kiosk.by("kiosk-reply-phone").focus()
        assert await covered_controls(kiosk.page, '[data-testid="kiosk-reply"]') == []
        await kiosk.by("kiosk-reply-cancel").press("Enter")
        await kiosk.by("kiosk-matters-open").press("Enter")
        await kiosk.by("kiosk-matters-ticket").fill(ticket)
        await kiosk.by("kiosk-matters-ticket").press("Enter")
        answer = kiosk.by("kiosk-answer")
        await expect(answer).to_have_attribute("data-ticket", ticket)
        await expect(answer.get_by_role("button")).to_have_count(3)
        await expect(prompt).to_be_visible()
        assert await covered_controls(kiosk.page, '[data-testid="kiosk-matters"]') == []
        await answer.get_by_test_id("kiosk-feedback-basically").click()  # a real tap reaches the button
        await expect(answer).to_have_attribute("data-status", "closed")
        kiosk.assert_clean()


async def test_my_matters_shows_an_answer_only_to_whoever_types_its_ticket(village, browser):
    """Two villagers' answered requests: the public screen lists neither; each ticket typed shows that request
    only, with rating buttons for it alone; a ticket of another screen or a wrong one is "not found"; closing
    forgets the ticket."""
    gate = await village.screen("gate", VILLAGE)
    office = await village.screen("office", VILLAGE)
    _, elsewhere = await village.call(
        "POST", "/replies", json={"client_msg_id": "x", "category": "other", "text": "别处的事"}, token=office["token"], expect=201
    )
    async with kiosk_page(browser, village.url, gate["token"], lang="zh") as kiosk:
        await kiosk.online()
        mine = await reply_at(kiosk, "help", "家里老人需要帮忙买药。")
        theirs = await reply_at(kiosk, "complaint", "邻居家的狗晚上一直叫。")
        await resolve(village, mine, "明天送药上门。")
        await village.call("PATCH", f"/requests/{theirs}", json={"status": "rejected", "response": "请找邻居协商。"}, expect=200)
        await kiosk.frames.wait_for(
            lambda: len([f for s in kiosk.frames.sockets for f in s.received_of("request_update")]) >= 2, what="both request_updates"
        )

        screen_text = await kiosk.page.locator("body").inner_text()
        for private in (mine, theirs, "明天送药上门", "请找邻居协商"):
            assert private not in screen_text  # nothing of anyone's matter on the public screen
        await kiosk.by("kiosk-matters-open").click()
        await expect(kiosk.by("kiosk-answer")).to_be_hidden()  # no list: a box for a ticket

        answer = await look_up(kiosk, mine)
        await expect(answer).to_have_attribute("data-ticket", mine)
        await expect(answer.get_by_test_id("kiosk-answer-response")).to_have_text("明天送药上门。")
        await expect(answer.get_by_test_id("kiosk-answer-status")).to_have_text("已办结")
        await expect(answer.get_by_role("button")).to_have_count(3)
        assert theirs not in await kiosk.by("kiosk-matters").inner_text()

        answer = await look_up(kiosk, theirs)
        await expect(answer).to_have_attribute("data-ticket", theirs)
        await expect(answer.get_by_test_id("kiosk-answer-response")).to_have_text("请找邻居协商。")
        await expect(answer.get_by_role("button")).to_have_count(0)  # only a resolved request is rated
        assert "明天送药上门" not in await kiosk.by("kiosk-matters").inner_text()

        for wrong in (elsewhere["ticket"], "ZZZ-ZZZ"):
            await look_up(kiosk, wrong)
            await expect(kiosk.by("kiosk-matters-message")).to_contain_text("没有找到编号")
            await expect(kiosk.by("kiosk-answer")).to_be_hidden()

        await look_up(kiosk, mine)
        await kiosk.by("kiosk-matters-close").click()
        await kiosk.by("kiosk-matters-open").click()
        await expect(kiosk.by("kiosk-matters-ticket")).to_have_value("")  # the next villager sees nothing of the last
        await expect(kiosk.by("kiosk-answer")).to_be_hidden()
        kiosk.assert_clean()


async def test_a_reply_is_about_no_notice_unless_the_villager_picks_one(village, browser):
    """With a notice on screen, the reply form offers it first but has "不关于公告" chosen; sent as it is,
    the request names no notice."""
    gate = await village.screen("gate", VILLAGE)
    notice = await village.post(title="修路通知", speak=False)
    async with kiosk_page(browser, village.url, gate["token"], lang="zh") as kiosk:
        await kiosk.online()
        await expect(kiosk.by("kiosk-current")).to_have_attribute("data-id", notice["id"])
        await kiosk.by("kiosk-reply-open").click()
        choices = kiosk.by("kiosk-reply-about")
        await expect(choices).to_have_count(2)
        await expect(choices.nth(0)).to_have_text("不关于公告")
        await expect(choices.nth(0)).to_have_attribute("aria-pressed", "true")
        await expect(choices.nth(1)).to_have_text("修路通知")
        await expect(choices.nth(1)).to_have_attribute("aria-pressed", "false")
        await kiosk.by("kiosk-reply-cancel").click()
        number = await reply_at(kiosk, "question", "周末能走吗？")
        _, request = await village.call("GET", f"/requests/{number}", expect=200)
        assert request["announcement_id"] is None
        kiosk.assert_clean()


async def test_an_untouched_kiosk_returns_to_chinese_and_the_notices(village, browser):
    """Someone switches to English and leaves the reply form open; after the idle time (60 s as shipped, 3 s
    here) the kiosk is in Chinese, showing the notices, and stays Chinese after a reload."""
    gate = await village.screen("gate", VILLAGE)
    await village.post(title="停水通知", speak=False)
    async with kiosk_page(browser, village.url, gate["token"], timing={**FAST, "idleMs": 3000}, lang="zh") as kiosk:
        await kiosk.online()
        assert await kiosk.page.evaluate("import('/static/kiosk/idle.js').then((m) => m.DEFAULT_IDLE_MS)") == 60000
        await kiosk.by("kiosk-lang").click()
        await expect(kiosk.by("kiosk-reply-open")).to_have_text("Send a message")
        await kiosk.by("kiosk-reply-open").click()
        await kiosk.by("kiosk-reply-text").fill("Hello")
        await expect(kiosk.by("kiosk-reply")).to_be_hidden(timeout=10000)
        await expect(kiosk.by("kiosk-reply-open")).to_have_text("我要反映")
        await expect(kiosk.by("kiosk-current")).to_contain_text("停水通知")
        assert await kiosk.page.evaluate("document.documentElement.lang") == "zh-CN"
        await kiosk.by("kiosk-matters-open").click()  # "我的事项" left open closes too
        await kiosk.by("kiosk-matters-ticket").fill("A7K")
        await expect(kiosk.by("kiosk-matters")).to_be_hidden(timeout=10000)
        await kiosk.page.reload()
        await expect(kiosk.by("kiosk-reply-open")).to_have_text("我要反映")
        kiosk.assert_clean()


@with_speech
@SIZES
async def test_screenshots_of_every_view_in_both_languages(village, browser, screenshot, viewport):
    """The notice view (a long notice on its first page, the sound prompt showing), the reply form, "我的事项"
    with a resolved answer, and an emergency, in Chinese and English: test-artifacts/screenshots/kiosk-<view>-<lang>-<size>.png."""
    size = f"{viewport['width']}x{viewport['height']}"
    gate = await village.screen("刘井屯村委会门口", VILLAGE)
    await village.post(title="村民大会通知", body="明天上午九点在村委会召开村民大会，请各户派代表参加。")
    async with kiosk_page(browser, village.url, gate["token"], lang="zh", viewport=viewport, init_script=REFUSE_AUTOPLAY) as kiosk:
        await kiosk.online()
        ticket = await answered_request(village, kiosk, gate, "路灯已修好，谢谢您的反映。")
        await expect(kiosk.by("kiosk-tap-to-enable")).to_be_visible(timeout=30000)
        road = await village.post(title="道路施工通知", body=LONG_BODY, priority="high", speak=False)
        await expect(kiosk.by("kiosk-current")).to_have_attribute("data-id", road["id"])  # a new notice shows at once
        for lang in ("zh", "en"):
            if lang == "en":
                await kiosk.by("kiosk-lang").press("Enter")  # a key: the sound prompt stays for the picture
            await expect(kiosk.by("kiosk-page")).to_be_visible()
            await screenshot(kiosk.page, f"kiosk-notices-{lang}-{size}")
            await kiosk.by("kiosk-reply-open").press("Enter")
            await kiosk.page.locator('[data-testid="kiosk-reply-category"][data-category="complaint"]').press("Enter")
            await kiosk.by("kiosk-reply-text").fill("村东头的垃圾桶好几天没人清理了，味道很大。")
            await screenshot(kiosk.page, f"kiosk-reply-{lang}-{size}")
            await kiosk.by("kiosk-reply-cancel").press("Enter")
            await kiosk.by("kiosk-matters-open").press("Enter")
            await kiosk.by("kiosk-matters-ticket").fill(ticket)
            await kiosk.by("kiosk-matters-ticket").press("Enter")
            await expect(kiosk.by("kiosk-answer")).to_be_visible()
            await screenshot(kiosk.page, f"kiosk-matters-{lang}-{size}")
            await kiosk.by("kiosk-matters-close").press("Enter")
        flood = LONG_BODY.replace("道路进行硬化施工", "可能发生山洪")
        emergency = await village.post(title="暴雨红色预警", body=flood, priority="emergency", speak=False)
        for lang in ("en", "zh"):
            if lang == "zh":
                await kiosk.page.evaluate("localStorage.setItem('vb.kiosk.lang', 'zh')")
                await kiosk.page.reload()
            await expect(kiosk.by("kiosk-emergency")).to_have_attribute("data-id", emergency["id"])
            await expect(kiosk.by("kiosk-emergency-page")).to_be_visible()
            await screenshot(kiosk.page, f"kiosk-emergency-{lang}-{size}")
        kiosk.assert_clean()
