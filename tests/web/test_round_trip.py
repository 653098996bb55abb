"""The whole loop in real browsers: the committee posts in the console, a kiosk shows it, a villager
replies at the kiosk, the committee answers in the console, and the kiosk shows the answer."""

from __future__ import annotations

import json
import time

import pytest
from playwright.async_api import expect

from tests.web.pages import ONLINE_WITHIN_MS, POLL_S, PUSHED_WITHIN_S, visible_within
from tests.web.test_console import VILLAGE, console_page, make_areas

KIOSK_TIMING = {"backoffInitial": 200, "backoffMax": 1000, "cycleMs": 60000}


async def open_kiosk(browser, base_url: str, token: str):
    """A kiosk page in its own browser context, set up with its `/screen#token=` link."""
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    await context.add_init_script(script=f"localStorage.setItem('vb.kiosk.timing', {json.dumps(json.dumps(KIOSK_TIMING))});")
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    await page.goto(f"{base_url}/screen#token={token}")
    await expect(page.get_by_test_id("kiosk")).to_have_attribute("data-status", "online", timeout=ONLINE_WITHIN_MS)
    return context, page, problems


@pytest.mark.settings(event_poll_s=POLL_S)
async def test_post_reply_answer_round_trip(village, browser):
    """Posted in the console, pushed to the kiosk and shown at once (not at the hub's next poll, set to half a
    minute here); the kiosk's reply is answered in the console and the answer shows on the kiosk."""
    await make_areas(village)
    gate = await village.screen("村口大屏", VILLAGE)
    kiosk_context, kiosk, kiosk_problems = await open_kiosk(browser, village.url, gate["token"])
    try:
        async with console_page(browser, village, village.admin, at="compose") as console:
            # the committee posts to the village
            await console.by("compose-title").fill("明天停水")
            await console.by("compose-body").fill("明天上午八点到十二点停水，请提前储水。")
            await console.page.locator(f'[data-testid="target-area"][data-path="{VILLAGE}"]').check()
            posted_at = time.monotonic()
            await console.by("compose-submit").click()
            await expect(console.by("compose-done")).to_be_visible()
            announcement_id = await console.by("compose-done").get_attribute("data-id")
            card = kiosk.locator(f'[data-testid="kiosk-announcement"][data-id="{announcement_id}"]')
            await visible_within(card, posted_at, PUSHED_WITHIN_S)
            await expect(card).to_contain_text("明天停水")

            # a villager replies at the kiosk
            await kiosk.get_by_test_id("kiosk-reply-open").click()
            await kiosk.locator('[data-testid="kiosk-reply-category"][data-category="question"]').click()
            await kiosk.get_by_test_id("kiosk-reply-text").fill("停水期间村西头有送水车吗？")
            await kiosk.get_by_test_id("kiosk-reply-name").fill("李四")
            await kiosk.get_by_test_id("kiosk-reply-phone").fill("13900139000")
            await kiosk.get_by_test_id("kiosk-reply-submit").click()
            ticket_box = kiosk.get_by_test_id("kiosk-ticket")
            await expect(ticket_box).not_to_be_empty()
            ticket = (await ticket_box.text_content()).strip()
            await kiosk.get_by_test_id("kiosk-reply-done").click()

            # it lands in the console's request log; the committee answers it
            await console.open("requests")
            row = console.request_row(ticket)
            await expect(row.get_by_test_id("request-text")).to_have_text("停水期间村西头有送水车吗？")
            await row.click()
            await expect(console.by("request-contact")).to_contain_text("李四")
            await console.by("req-assignee").fill("王五")
            await console.by("req-assign").click()
            await expect(console.by("request-status")).to_have_text("已分派")
            await console.by("req-start").click()
            await expect(console.by("request-status")).to_have_text("办理中")
            await console.by("req-response").fill("有，上午十点送水车到村西头。")
            await console.by("req-resolve").click()
            await expect(console.by("request-status")).to_have_text("已办结")

            # the villager types the ticket into 我的事项, and the kiosk shows its answer (to whoever has it)
            await kiosk.get_by_test_id("kiosk-matters-open").click()
            await kiosk.get_by_test_id("kiosk-matters-ticket").fill(ticket)
            await kiosk.get_by_test_id("kiosk-matters-submit").click()
            answer = kiosk.get_by_test_id("kiosk-answer")
            await expect(answer).to_have_attribute("data-status", "resolved")
            await expect(answer.get_by_test_id("kiosk-answer-response")).to_have_text("有，上午十点送水车到村西头。")
            console.assert_clean(village.admin)
        assert not kiosk_problems, kiosk_problems
    finally:
        await kiosk_context.close()
