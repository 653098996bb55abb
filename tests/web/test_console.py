"""The committee console at / in a real Chromium against a real server: sign-in, compose, delivery
figures, screens, the request log, safety, CSV, and screenshots of every page in both languages."""

from __future__ import annotations

import json
import re
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from playwright.async_api import expect

from announcements.timeutil import utcnow
from tests.e2e.screens import running
from tests.web.pages import WatchedPage

VILLAGE = "/hongqi/liujingtun"
PAGES = ("home", "compose", "live", "announcements", "calendar", "screens", "requests", "figures", "people", "pronunciations")
MARKUP = "<img src=x onerror=alert(1)>"


class Console(WatchedPage):
    """One console page in its own browser context."""

    IGNORED_ERRORS = ("Failed to load resource",)

    def row(self, announcement_id: str):
        return self.page.locator(f'[data-testid="announcement-row"][data-id="{announcement_id}"]')

    def request_row(self, ticket: str):
        return self.page.locator(f'[data-testid="request-row"][data-ticket="{ticket}"]')

    async def open(self, name: str) -> None:
        await self.by(f"nav-{name}").click()
        await expect(self.by(f"nav-{name}")).to_have_attribute("aria-current", "page")

    def assert_clean(self, token: str | None = None) -> None:
        assert not self.problems, self.problems
        assert not self.dialogs, self.dialogs
        if token:
            assert not [u for u in self.urls if token in u], "a token was put in a URL"


@asynccontextmanager
async def console_page(
    browser, village, token: str | None = None, *, lang: str | None = None, timezone: str = "Asia/Shanghai", width: int = 1280,
    at: str | None = None,
):
    """The console, signed in by a `/#token=` link when `token` is given, on the page `at` (else the front page);
    `width` 390 is a phone's."""
    context = await browser.new_context(viewport={"width": width, "height": 860}, timezone_id=timezone, accept_downloads=True)
    if lang:
        await context.add_init_script(script=f"localStorage.setItem('vb.console.lang', {json.dumps(lang)});")
    page = await context.new_page()
    console = Console(context, page)
    await page.goto(village.url + "/" + (f"#token={token}" if token else ""))
    if token:
        await expect(console.by("nav-requests")).to_be_visible()
    if at:
        await console.open(at)
    try:
        yield console
    finally:
        await context.close()


async def loaded(image) -> None:
    """Wait until an <img> has decoded a real picture."""
    await image.page.wait_for_function("img => img.complete && img.naturalWidth > 50", arg=await image.element_handle())


async def make_areas(village) -> None:
    for path, name in (("/hongqi", "红旗街道"), (VILLAGE, "刘井屯村"), (VILLAGE + "/grid-3", "第三网格"), ("/dongfeng", "东风村")):
        await village.call("POST", "/areas", json={"path": path, "name": name}, expect=201)


async def reply(village, screen_token: str, text: str, category: str = "complaint", **contact) -> str:
    _, body = await village.call(
        "POST", "/replies", token=screen_token, expect=201,
        json={"client_msg_id": uuid4().hex, "category": category, "text": text, "contact": contact or None},
    )
    return body["ticket"]


async def test_sign_in_typed_then_post_once_with_the_browsers_offset(village, browser):
    """A typed token signs in; a double-clicked post makes one announcement, with times in the browser's offset."""
    await make_areas(village)
    await village.screen("集市", VILLAGE, tags=["market"])
    await village.screen("校门口", VILLAGE, tags=["school-gate"])
    async with console_page(browser, village) as console:
        await console.by("signin-token").fill("vb_not_a_token")
        await console.by("signin-submit").click()
        await expect(console.by("signin-error")).to_contain_text("令牌无效")
        await console.by("signin-token").fill(village.admin)
        await console.by("signin-submit").click()
        await expect(console.by("nav-home")).to_have_attribute("aria-current", "page")
        assert village.admin not in console.page.url

        await console.open("compose")
        await console.by("compose-title").fill("村民大会通知")
        await console.by("compose-body").fill("明天上午九点开会")
        await expect(console.by("compose-body-count")).to_contain_text("8 / 5000")
        await console.by("compose-priority").select_option("high")
        await console.by("compose-category").select_option("meeting")
        await console.page.locator(f'[data-testid="target-area"][data-path="{VILLAGE}"]').check()
        await expect(console.page.locator(f'[data-testid="target-area"][data-path="{VILLAGE}/grid-3"]')).to_be_disabled()
        for tag in ("market", "school-gate"):
            await console.page.locator(f'[data-testid="target-tag"][data-tag="{tag}"]').check()
        await console.by("compose-expires-at").fill("2030-01-02T09:30")
        await console.by("compose-repeat").fill("2")
        await console.by("compose-submit").dblclick()
        await expect(console.by("compose-done")).to_be_visible()

        _, page = await village.call("GET", "/announcements")
        assert len(page["items"]) == 1, page
        posted = page["items"][0]
        assert (posted["title"], posted["priority"], posted["category"], posted["repeat"]) == ("村民大会通知", "high", "meeting", 2)
        assert posted["target"] == {"areas": [VILLAGE], "tags": ["market", "school-gate"], "screens": []}
        assert posted["expires_at"].startswith("2030-01-02T01:30:00")  # 09:30 in Asia/Shanghai
        await expect(console.by("compose-title")).to_have_value("")
        console.assert_clean(village.admin)


async def test_sign_in_by_link_leaves_the_address_bar_and_signs_out(village, browser):
    """A /#token= link signs in and vanishes from the address bar; a reload keeps the session; sign out ends it;
    a worker sees only its pages."""
    async with console_page(browser, village, village.admin) as console:
        assert "token" not in console.page.url and village.admin not in console.page.url
        assert console.page.url.endswith("#/home")
        await console.page.reload()
        await expect(console.by("nav-home")).to_have_attribute("aria-current", "page")
        await console.by("sign-out").click()
        await expect(console.by("signin-token")).to_be_visible()
        assert await console.page.evaluate("sessionStorage.length") == 0
        await console.page.goto(village.url + "/#token=vb_revoked_or_unknown")
        await expect(console.by("signin-error")).to_be_visible()
        assert "vb_revoked_or_unknown" not in console.page.url

        worker = await village.token("worker", "/")
        await console.page.goto(village.url + f"/#token={worker}")
        await expect(console.by("nav-home")).to_have_attribute("aria-current", "page")
        await expect(console.by("nav-compose")).to_have_count(0)
        await expect(console.by("who")).to_contain_text("网格员")
        console.assert_clean(village.admin)
        console.assert_clean(worker)


async def test_sign_in_asks_the_server_who_the_token_is(village, browser):
    """Sign-in learns the role and area from GET /me (no probing of admin-only lists): a committee member sees its
    pages and its area; a screen's token is refused with a plain reason."""
    await make_areas(village)
    committee = await village.token("committee", VILLAGE)
    screen = await village.screen("村口大屏", VILLAGE)
    async with console_page(browser, village) as console:
        await console.by("signin-token").fill(screen["token"])
        await console.by("signin-submit").click()
        await expect(console.by("signin-error")).to_contain_text("不能用于控制台")
        await expect(console.by("nav-compose")).to_have_count(0)
        assert await console.page.evaluate("sessionStorage.length") == 0

        await console.by("signin-token").fill(committee)
        await console.by("signin-submit").click()
        await expect(console.by("nav-home")).to_have_attribute("aria-current", "page")
        await expect(console.by("who")).to_have_text("村委会 · 刘井屯村")  # the area's name, not its path
        await expect(console.page.locator("nav a")).to_have_count(len(PAGES))  # and areas, for its screens' dwell; not 读音, an admin's
        api_calls = [u.split("/api/v1", 1)[1] for u in console.urls if "/api/v1/" in u]
        assert api_calls[:2] == ["/me", "/me"], api_calls  # the screen's, then the committee's
        assert not [u for u in api_calls if u.startswith("/tokens")], api_calls  # an admin-only list is never probed
        console.assert_clean(committee)


async def test_bad_post_shows_errors_beside_the_fields(village, browser, screenshot):
    """The server's 422 field errors are shown beside the fields they name and nothing is posted; a failed preview says why."""
    async with console_page(browser, village, village.admin, at="compose") as console:
        await console.by("compose-body").fill("没有标题的公告")
        await console.by("compose-repeat").fill("9")
        await console.by("compose-submit").click()
        await expect(console.by("error-title")).to_be_visible()
        await expect(console.by("error-repeat")).to_be_visible()
        await expect(console.by("compose-error")).to_be_visible()
        await expect(console.by("compose-title")).to_have_attribute("aria-invalid", "true")
        _, page = await village.call("GET", "/announcements")
        assert page["items"] == []
        await console.by("compose-title").fill("标题")
        await console.by("compose-body").fill("明天9:30开会，电话13800001234。")
        await console.by("compose-listen").click()  # speech is off on this test server: a 503, said plainly
        await expect(console.by("compose-error")).to_contain_text("本服务器不提供此功能")
        # what the loudspeaker will say needs no synthesis: it shows all the same, numbers read out
        await expect(console.by("compose-spoken")).to_have_text("喇叭会这样读：标题。\n明天九点三十分开会，电话幺三八零零零零幺二三四。")
        await console.page.set_viewport_size({"width": 390, "height": 844})
        await console.by("compose-spoken").scroll_into_view_if_needed()
        await screenshot(console.page, "console-compose-spoken-zh-390")
        console.assert_clean()


async def test_delivery_figures_follow_the_screens_and_cancel_asks_first(village, browser, tmp_path):
    """Received figures rise as real screen clients connect; a correction makes revision 2; cancel asks in a page dialog first."""
    await make_areas(village)
    gate = await village.screen("村口", VILLAGE)
    market = await village.screen("集市", VILLAGE)
    posted = await village.post(title="停水通知 " + MARKUP, target={"areas": [VILLAGE]})
    async with console_page(browser, village, village.admin) as console:
        await console.open("announcements")
        row = console.row(posted["id"])
        await expect(row.get_by_test_id("ann-title")).to_have_text("停水通知 " + MARKUP)
        await expect(row.get_by_test_id("fig-targeted")).to_have_text("2")
        await expect(row.get_by_test_id("fig-received")).to_have_text("0")
        async with running(village.url, gate["token"], tmp_path / "gate"):
            await expect(row.get_by_test_id("fig-received")).to_have_text("1", timeout=8000)
            async with running(village.url, market["token"], tmp_path / "market"):
                await expect(row.get_by_test_id("fig-received")).to_have_text("2", timeout=8000)
                await expect(row.get_by_test_id("fig-displayed")).to_have_text("2", timeout=8000)

        await row.get_by_test_id("ann-edit").click()
        await console.by("edit-title").fill("停水通知（更正）")
        await console.by("edit-save").click()
        await expect(row.get_by_test_id("ann-title")).to_contain_text("停水通知（更正）")
        await expect(row.get_by_test_id("ann-corrected")).to_have_text("已更正")
        _, detail = await village.call("GET", f"/announcements/{posted['id']}")
        assert (detail["title"], detail["revision"]) == ("停水通知（更正）", 2)

        await row.get_by_test_id("ann-cancel").click()
        await expect(console.by("confirm-dialog")).to_be_visible()
        await console.by("confirm-no").click()
        await expect(row.get_by_test_id("ann-status")).to_have_attribute("class", "badge st-live")
        await row.get_by_test_id("ann-cancel").click()
        await console.by("confirm-yes").click()
        await expect(row).to_have_attribute("data-status", "cancelled")
        await expect(row.get_by_test_id("ann-cancel")).to_have_count(0)
        _, detail = await village.call("GET", f"/announcements/{posted['id']}")
        assert detail["status"] == "cancelled"
        assert await console.page.locator("img[src=x]").count() == 0
        console.assert_clean()


async def test_add_a_screen_shows_its_token_and_qr_once_then_revoke(village, browser):
    """Adding a screen shows its token and a QR code of the set-up link once; revoking asks first and removes it."""
    await make_areas(village)
    async with console_page(browser, village, village.admin) as console:
        await console.open("screens")
        await console.by("screen-add-name").fill("村委会门口")
        await console.by("screen-add-area").select_option(VILLAGE)
        await console.by("screen-add-tags").fill("gate")
        await console.by("screen-add-submit").click()
        token = (await console.by("new-screen-token").text_content()).strip()
        assert token
        await expect(console.by("new-screen-link")).to_have_text(f"{village.url}/screen#token={token}")
        qr = console.by("new-screen-qr")
        await expect(qr).to_have_attribute("src", re.compile(r"^blob:"))
        await loaded(qr)
        _, screens = await village.call("GET", "/screens")
        assert [(s["name"], s["area"], s["tags"]) for s in screens] == [("村委会门口", VILLAGE, ["gate"])]
        status, _ = await village.call("GET", "/requests", token=token)
        assert status == 403  # a real screen token: known, but not staff

        row = console.page.locator(f'[data-testid="screen-row"][data-id="{screens[0]["id"]}"]')
        await expect(row.get_by_test_id("screen-online")).to_have_text("离线")
        await console.by("new-screen-done").click()
        assert token not in await console.page.content()
        await console.open("compose")
        await console.open("screens")
        await expect(row).to_be_visible()
        assert token not in await console.page.content()

        await row.get_by_test_id("screen-revoke").click()
        await console.by("confirm-yes").click()
        await expect(row).to_have_count(0)
        status, _ = await village.call("GET", "/requests", token=token)
        assert status == 401
        console.assert_clean(village.admin)


async def test_request_log_filters_detail_and_the_committees_actions(village, browser, clock):
    """Filter by category, status and overdue, search, open a request, assign, respond, resolve; reject needs a reason."""
    await make_areas(village)
    gate = await village.screen("村口", VILLAGE)
    road = await reply(village, gate["token"], "村东头的路灯坏了三天了", "complaint", name="张三", phone="13800138000")
    idea = await reply(village, gate["token"], "建议在广场增加健身器材", "suggestion")
    ask = await reply(village, gate["token"], "医保什么时候交", "question")
    async with console_page(browser, village, village.admin) as console:
        await console.open("requests")
        rows = console.by("request-row")
        await expect(rows).to_have_count(3)
        await console.by("filter-category").select_option("complaint")
        await expect(rows).to_have_count(1)
        await expect(console.request_row(road)).to_be_visible()
        await console.by("filter-category").select_option("")
        await console.by("filter-q").fill("健身")
        await console.by("filter-apply").click()
        await expect(rows).to_have_count(1)
        await expect(console.request_row(idea)).to_be_visible()
        await console.by("filter-q").fill("")
        await console.by("filter-apply").click()
        await expect(rows).to_have_count(3)
        await expect(console.by("request-overdue")).to_have_count(0)

        await console.request_row(road).click()
        await expect(console.by("request-detail-text")).to_have_text("村东头的路灯坏了三天了")
        await expect(console.by("request-contact")).to_contain_text("张三")
        await console.by("req-assignee").fill("王五")
        await console.by("req-assign").click()
        await expect(console.by("request-status")).to_have_text("已分派")
        await expect(console.by("history-item")).to_have_count(2)
        await console.by("req-response").fill("已联系电工，明天修好。")
        await console.by("req-respond").click()
        await expect(console.by("request-detail-response")).to_have_text("已联系电工，明天修好。")
        await console.by("req-start").click()
        await expect(console.by("request-status")).to_have_text("办理中")
        await console.by("req-resolve").click()
        await expect(console.by("request-status")).to_have_text("已办结")
        await expect(console.by("history-item")).to_have_count(5)
        _, detail = await village.call("GET", f"/requests/{road}")
        assert (detail["status"], detail["assignee"], detail["response"]) == ("resolved", "王五", "已联系电工，明天修好。")

        await console.by("request-back").click()
        await console.request_row(ask).click()
        await console.by("req-reject").click()
        await expect(console.by("request-error")).to_be_visible()
        await console.by("req-response").fill("请到镇医保站咨询。")
        await console.by("req-reject").click()
        await console.by("confirm-yes").click()
        await expect(console.by("request-status")).to_have_text("不予受理")

        clock.shift = timedelta(days=40)  # the open one is now past its deadlines
        await console.by("request-back").click()
        await console.by("filter-status").select_option("received")
        await expect(rows).to_have_count(1)
        await console.by("filter-status").select_option("")
        await console.by("filter-overdue").check()
        await expect(rows).to_have_count(1)
        await expect(console.request_row(idea)).to_have_attribute("data-overdue", "true")
        await expect(console.request_row(idea).get_by_test_id("request-overdue")).to_be_visible()
        console.assert_clean()


async def test_villagers_markup_shows_as_text_and_csv_downloads(village, browser, tmp_path):
    """A reply carrying <img onerror> shows literally in the log and detail and runs nothing; the CSV export downloads it."""
    await make_areas(village)
    gate = await village.screen("村口", VILLAGE)
    ticket = await reply(village, gate["token"], f"路灯坏了 {MARKUP}", "complaint", name=MARKUP)
    other = await reply(village, gate["token"], "=1+1 公式不应执行", "other")
    async with console_page(browser, village, village.admin) as console:
        await console.open("requests")
        row = console.request_row(ticket)
        await expect(row.get_by_test_id("request-text")).to_have_text(f"路灯坏了 {MARKUP}")
        await row.get_by_test_id("request-link").click()
        await expect(console.by("request-detail-text")).to_have_text(f"路灯坏了 {MARKUP}")
        await expect(console.by("request-contact")).to_contain_text(MARKUP)
        assert await console.page.locator("img[src=x]").count() == 0
        assert await console.page.evaluate("typeof window.__pwned") == "undefined"

        await console.by("request-back").click()
        await expect(console.request_row(other)).to_be_visible()
        async with console.page.expect_download() as info:
            await console.by("requests-export").click()
        download = await info.value
        assert download.suggested_filename.endswith(".csv")
        path = tmp_path / "export.csv"
        await download.save_as(path)
        data = Path(path).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")
        text = data.decode("utf-8-sig")
        lines = text.splitlines()
        assert lines[0].startswith("编号,受理时间,状态,类别")  # the console asks for its own language
        assert ticket in text and MARKUP in text
        assert "'=1+1 公式不应执行" in text
        assert len(lines) == 3
        console.assert_clean(village.admin)


async def shoot_every_page(console, screenshot, *, suffix: str, check=None) -> None:
    """Open each page, wait until what the seeded village shows on it is there, `check(name)` it if given,
    and take its screenshot."""
    for name in PAGES:
        await console.open(name)
        ready = {
            "home": console.by("home-compose"),
            "compose": console.by("target-screen").first,
            "live": console.by("live-calls-empty"),
            "calendar": console.by("schedule-save"),
            "announcements": console.page.locator('[data-testid="announcement-row"] [data-testid="fig-targeted"]').first,
            "screens": console.page.locator('[data-testid="screen-row"][data-online="true"]'),
            "requests": console.by("request-row").first,
            "figures": console.by("chart-category"),
            "people": console.by("token-row").first,
            "pronunciations": console.by("pron-add-submit"),
        }[name]
        await expect(ready).to_be_visible()
        if check:
            await check(name)
        await screenshot(console.page, f"console-{name}-{suffix}")


async def seed_for_screenshots(village) -> dict:
    """Areas, screens (one online), announcements and requests in several states, for pictures that show something."""
    await make_areas(village)
    gate = await village.screen("村口大屏", VILLAGE, tags=["gate"])
    await village.screen("集市喇叭", VILLAGE, kind="speaker", tags=["market"])
    await village.screen("东风村委会", "/dongfeng")
    await village.post(title="村民大会通知", body="明天上午九点在村委会召开村民大会，请各户派代表参加。", category="meeting")
    await village.post(title="暴雨橙色预警", body="今夜有暴雨，请注意防范。", priority="emergency", category="weather")
    await village.post(title="秋季征兵", body="适龄青年请到村委会登记。", priority="low",
                       publish_at=(utcnow() + timedelta(days=2)).isoformat())
    tickets = [
        await reply(village, gate["token"], "村东头的路灯坏了三天了", "complaint", name="张三", phone="13800138000"),
        await reply(village, gate["token"], "建议在广场增加健身器材", "suggestion"),
        await reply(village, gate["token"], "医保什么时候交", "question"),
        await reply(village, gate["token"], "邻居占用公共通道", "dispute"),
    ]
    for change in ({"assignee": "王五"}, {"status": "in_progress"}, {"status": "resolved", "response": "已修好。"}):
        await village.call("PATCH", f"/requests/{tickets[0]}", json=change, expect=200)
    await village.call("POST", f"/requests/{tickets[0]}/feedback", token=gate["token"], json={"rating": "satisfied"}, expect=200)
    await village.call("PATCH", f"/requests/{tickets[2]}", json={"response": "每年九月至十二月。"}, expect=200)
    return gate


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_screenshots_of_every_page(village, browser, screenshot, tmp_path, lang):
    """Every page renders in Chinese and in English without CSP violations; screenshots are written as artifacts."""
    gate = await seed_for_screenshots(village)
    async with running(village.url, gate["token"], tmp_path / "gate"):
        async with console_page(browser, village, village.admin, lang=lang) as console:
            expected_nav = {"zh": "发布公告", "en": "Compose"}[lang]
            await expect(console.by("nav-compose")).to_have_text(expected_nav)
            await shoot_every_page(console, screenshot, suffix=lang)
            await console.open("requests")
            await console.by("request-row").last.click()
            await expect(console.by("history-item").first).to_be_visible()
            await screenshot(console.page, f"console-request-{lang}")
            await console.open("screens")
            await console.by("screen-add-name").fill("新屏幕")
            await console.by("screen-add-submit").click()
            await loaded(console.by("new-screen-qr"))
            await screenshot(console.page, f"console-screen-added-{lang}")
            await console.open("figures")
            await expect(console.by("chart-status")).to_be_visible()
            await console.page.emulate_media(media="print")
            await expect(console.by("nav-figures")).to_be_hidden()
            await screenshot(console.page, f"console-figures-print-{lang}")
            console.assert_clean(village.admin)


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_screenshots_at_a_phones_width(village, browser, screenshot, tmp_path, lang):
    """A clerk's phone (390 px): the sign-in and every page, in Chinese and in English, render without CSP
    violations or page errors."""
    gate = await seed_for_screenshots(village)
    async with running(village.url, gate["token"], tmp_path / "gate"):
        async with console_page(browser, village, width=390, lang=lang) as console:
            await expect(console.by("signin-token")).to_be_visible()
            await screenshot(console.page, f"console-signin-{lang}-390")
            await console.by("signin-token").fill(village.admin)
            await console.by("signin-submit").click()
            await expect(console.by("nav-home")).to_have_attribute("aria-current", "page")
            await shoot_every_page(console, screenshot, suffix=f"{lang}-390")
            console.assert_clean(village.admin)
