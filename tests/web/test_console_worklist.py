"""The request log as the clerk's daily worklist (issue 11 §4), in Chromium at a laptop's and a phone's size:
the day's counts, urgent 求助 first, the deadline and time left with overdue and nearly due marked, a new request
that chimes and shows on the nav badge while the console is open, and resolving in one step with an internal note.
No sideways scrolling, every action button in view; screenshots in Chinese."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import expect

from announcements.timeutil import utcnow
from tests.web.pages import sign_in_with_password
from tests.web.test_console import VILLAGE, console_page, make_areas, reply
from tests.web.test_console_compose import LAPTOP, OUT_OF_VIEW, PHONE

# Counts the tones the page starts: a chime is observable without speakers (WebAudio's OscillatorNode.start).
COUNT_TONES = """
window.__tones = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) { window.__tones += 1; return start.apply(this, args); };
"""
POLL_S = 2  # the console asks this often here (the setting console_poll_s; 20 s by default)
CHIME_WITHIN_MS = 15_000  # several looks on a loaded 2-core machine, but less than the default's one (20 s)


class ServerClock:
    """The server's clock, which the test moves forward to make requests nearly due and overdue."""

    def __init__(self):
        self.shift = timedelta(0)

    def __call__(self):
        return utcnow() + self.shift


@pytest.fixture
def clock():
    return ServerClock()


async def seed_a_working_day(village, clock) -> dict:
    """A question now overdue, a call for help in its last half hour, a fresh suggestion."""
    await make_areas(village)
    gate = await village.screen("村口大屏", VILLAGE, tags=["gate"])
    question = await reply(village, gate["token"], "低保申请需要带哪些材料？", "question")
    clock.shift = timedelta(hours=22, minutes=30)
    help_ = await reply(village, gate["token"], "我家老人摔倒了，需要人帮忙送医院", "help", name="李大娘", phone="13900001111")
    clock.shift = timedelta(hours=24, minutes=5)
    suggestion = await reply(village, gate["token"], "建议在广场增加健身器材", "suggestion")
    return {"gate": gate, "question": question, "help": help_, "suggestion": suggestion}


@pytest.mark.settings(console_poll_s=POLL_S)
@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=lambda size: f"{size[0]}x{size[1]}")
async def test_the_worklist_shows_deadlines_and_a_new_request_chimes(village, browser, screenshot, clock, size):
    seeded = await seed_a_working_day(village, clock)
    async with console_page(browser, village, village.admin, width=size[0]) as console:
        page = console.page
        await page.set_viewport_size({"width": size[0], "height": size[1]})
        await console.context.add_init_script(script=COUNT_TONES)
        await page.reload()
        await console.open("requests")

        rows = console.by("request-row")
        await expect(rows).to_have_count(3)
        assert [await row.get_attribute("data-ticket") for row in await rows.all()] == [
            seeded["help"], seeded["suggestion"], seeded["question"]
        ], "urgent 求助 first, then newest first"
        help_row, question_row = console.request_row(seeded["help"]), console.request_row(seeded["question"])
        await expect(help_row).to_have_attribute("data-due-soon", "true")
        await expect(help_row.get_by_test_id("request-urgent")).to_have_text("紧急")
        await expect(help_row.get_by_test_id("request-left")).to_have_text(re.compile(r"^还剩 2[45] 分钟$"))
        await expect(question_row).to_have_attribute("data-overdue", "true")
        await expect(question_row.get_by_test_id("request-left")).to_have_text(re.compile(r"^已超期 [56] 分钟$"))
        await expect(console.by("summary-waiting")).to_have_text("待分派 3")
        await expect(console.by("summary-overdue")).to_have_text("超期 1")
        await expect(console.by("summary-due_soon")).to_have_text("即将到期 1")
        assert await page.evaluate(OUT_OF_VIEW) == []
        await page.evaluate("scrollTo(0, 0)")
        await screenshot(page, f"console-worklist-zh-{size[0]}x{size[1]}")

        assert await page.evaluate("window.__tones") == 0, "what was there at sign-in is not new"
        fresh = await reply(village, seeded["gate"]["token"], "水管冻裂了，全家没水用", "help")
        await page.wait_for_function("() => window.__tones > 0", timeout=CHIME_WITHIN_MS)
        await expect(console.by("nav-requests-badge")).to_have_text("1")
        await expect(rows.first).to_have_attribute("data-ticket", fresh)  # the newest call for help, on top
        await expect(console.by("notice")).to_have_text("有 1 件新诉求")
        await console.open("figures")
        await expect(console.by("nav-requests-badge")).to_have_text("1")
        await console.open("requests")
        await expect(console.by("nav-requests-badge")).to_be_hidden()

        # one request: an internal note, then resolved in one step from 已受理
        await console.request_row(seeded["help"]).get_by_test_id("request-link").click()
        await expect(console.by("req-resolve")).to_be_visible()
        await console.by("req-note").fill("已电话联系村医，十分钟内到。")
        await console.by("req-note-add").click()
        await expect(console.page.locator('[data-testid="history-item"][data-action="note"]')).to_contain_text("已电话联系村医")
        await console.by("req-response").fill("村医已送老人到镇卫生院。")
        await console.by("req-resolve").click()
        await expect(console.by("request-detail-body")).to_have_attribute("data-status", "resolved")
        history = console.page.locator('[data-testid="history-item"][data-action="update"]')
        await expect(history).to_have_count(3)
        await expect(history.last).to_contain_text("办理中 → 已办结")
        assert await page.evaluate(OUT_OF_VIEW) == []
        await page.evaluate("scrollTo(0, 0)")
        await screenshot(page, f"console-worklist-request-zh-{size[0]}x{size[1]}")
        console.assert_clean(village.admin)


async def test_the_clerk_assigns_to_a_worker_who_finds_it_under_my_items(village, browser, screenshot):
    """The clerk picks 王师傅 from the worker accounts; 王师傅 signs in on a phone, sees it counted on the front page,
    and finds 我的事项 holding just that one."""
    await make_areas(village)
    worker = {"name": "wang", "display_name": "王师傅", "role": "worker", "area": VILLAGE, "password": "村里的新密码一二三"}
    await village.call("POST", "/users", json=worker, expect=201)
    gate = await village.screen("村口大屏", VILLAGE)
    lamp = await reply(village, gate["token"], "村东头的路灯坏了三天了", "complaint")
    await reply(village, gate["token"], "建议在广场增加健身器材", "suggestion")
    async with console_page(browser, village, village.admin, width=LAPTOP[0]) as console:
        await console.open("requests")
        await console.request_row(lamp).get_by_test_id("request-link").click()
        await console.by("req-assignee").select_option(label="王师傅")
        await console.by("req-assign").click()
        await expect(console.by("request-detail-assignee")).to_have_text("王师傅")
        await expect(console.page.locator('[data-testid="history-item"]').last).to_contain_text("分派给 王师傅")
        console.assert_clean(village.admin)
    async with console_page(browser, village, width=PHONE[0]) as phone:
        await phone.page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
        await sign_in_with_password(phone, "wang", worker["password"])
        await expect(phone.by("home-mine")).to_have_attribute("data-count", "1")  # the front page counts it
        await phone.by("home-mine").click()
        await expect(phone.by("filter-mine")).to_be_checked()
        await expect(phone.by("request-row")).to_have_count(1)
        await expect(phone.request_row(lamp).get_by_test_id("request-assignee")).to_have_text("王师傅")
        await expect(phone.by("summary-mine")).to_have_text("我的事项 1")
        assert await phone.page.evaluate(OUT_OF_VIEW) == []
        await phone.page.evaluate("scrollTo(0, 0)")
        await screenshot(phone.page, "console-worklist-mine-zh-390x844")
        phone.assert_clean()
