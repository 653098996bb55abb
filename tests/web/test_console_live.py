"""喊话 (live calls) on the console in Chromium, against a real server: a committee member signed in on a phone talks
through a fake microphone (a 1 kHz tone) and the village's loudspeaker stream plays it; a second caller in the way is
named; an admin stops a call from the list. Screenshots of the page idle and on air, at a desk and on a phone."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from playwright.async_api import expect

from tests.announcements.test_recording import tone, wav
from tests.e2e.live_audio import TONE_HZ, recorded_tone, speak, tone_seconds
from tests.e2e.screens import eventually
from tests.e2e.test_live import open_call
from tests.e2e.test_stream import LIUJINGTUN, XINCUN, decode, listen
from tests.web.conftest import chromium, fake_microphone
from tests.web.pages import sign_in_with_password
from tests.web.test_accessibility import blocking_violations
from tests.web.test_console import console_page
from tests.web.test_console_compose import LAPTOP, PHONE

PASSWORD = "村口大槐树-2026"
SIDEWAYS = "document.documentElement.scrollWidth"


@pytest.fixture
def speech_enabled() -> bool:
    return True  # the call's record is rendered like any recording (audio.source live)


@pytest.fixture
async def village(village):
    """红旗 with its villages 柳井屯 and 新村; 张书记, 柳井屯's committee member, signs in with a password."""
    for path, name in (("/hongqi", "红旗街道"), (LIUJINGTUN, "柳井屯"), (XINCUN, "新村")):
        await village.call("POST", "/areas", json={"path": path, "name": name}, expect=201)
    await village.call("POST", "/users", expect=201, json={
        "name": "zhang", "display_name": "张书记", "role": "committee", "area": LIUJINGTUN, "password": PASSWORD})
    return village


@pytest.fixture
async def microphone_browser(tmp_path):
    """Chromium whose fake microphone hears a 1 kHz tone (what tone_seconds finds), granted without asking."""
    heard = tmp_path / "microphone.wav"
    heard.write_bytes(wav(tone(seconds=5, level=0.3, rate=48_000, freq=TONE_HZ), 48_000))
    async with chromium(*fake_microphone(heard)) as browser:
        yield browser


async def clerk_on_live_page(console) -> None:
    """张书记 signs in (the session cookie carries the call's socket) and opens 喊话."""
    await sign_in_with_password(console, "zhang", PASSWORD)
    await expect(console.by("nav-home")).to_have_attribute("aria-current", "page")
    await console.open("live")


async def shoot(console, screenshot, name: str) -> None:
    """The page at a phone's width (nothing scrolls sideways) and at a desk's, then back to the phone."""
    for width, height in (PHONE, LAPTOP):
        await console.page.set_viewport_size({"width": width, "height": height})
        if width == PHONE[0]:
            assert await console.page.evaluate(SIDEWAYS) <= PHONE[0]
        await screenshot(console.page, f"console-live-{name}-zh-{width}")
    await console.page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})


async def call_over(ws) -> None:
    """Wait (10 s at most) until the server ends the call on this socket: an `ended` frame, or the socket closed."""
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return
        if msg.type == aiohttp.WSMsgType.TEXT and msg.json()["type"] == "ended":
            return


async def test_the_clerk_calls_the_village_from_a_phone_and_it_plays_on_its_loudspeakers(village, microphone_browser, screenshot):
    """张书记 picks nothing (his village is ticked), presses 开始喊话, talks for 3 s and ends: the page says 正在喊话 with
    the time and the village by name while the village's stream plays the tone, then that the call ended; the call
    is kept as an announcement whose audio is the live recording."""
    listener = await listen(village, LIUJINGTUN)
    async with console_page(microphone_browser, village, width=PHONE[0]) as console:
        await clerk_on_live_page(console)
        areas = console.by("live-area")
        await expect(areas).to_have_count(1)  # his scope: not 新村, not 红旗
        await expect(areas).to_be_checked()
        await expect(console.page.locator("fieldset.live-areas")).to_contain_text("柳井屯")
        await expect(console.by("live-calls-empty")).to_have_text("现在没有人在喊话。")
        await shoot(console, screenshot, "idle")

        await console.by("live-start").click()
        await expect(console.by("live-state")).to_have_text("正在喊话")
        await expect(console.by("live-areas")).to_have_text("喇叭正在播出：柳井屯")
        await expect(console.by("live-start")).to_be_hidden()
        await console.page.wait_for_function("el => el.value > 0.2", arg=await console.by("live-level").element_handle())
        await expect(console.by("live-call-who")).to_have_text("张书记 → 柳井屯")  # the list of calls in progress
        [socket] = [s for s in console.frames.sockets if s.url.endswith("/api/v1/live")]
        assert socket.sent[0] == {"type": "start", "areas": [LIUJINGTUN], "priority": "high"}  # 紧急 left unticked
        talked = "el => el.textContent >= '0:03'"  # 3 s said (polled every frame: the clock shows 0:03 for one second)
        await console.page.wait_for_function(talked, arg=await console.by("live-clock").element_handle(), timeout=10_000)
        await shoot(console, screenshot, "on-air")
        assert await blocking_violations(console.page) == []  # the idle page is checked with every page's

        await console.by("live-end").click()
        await expect(console.by("live-result")).to_contain_text(re.compile(r"^喊话已结束，共 0:\d\d。"))
        await expect(console.by("live-on-air")).to_be_hidden()
        await expect(console.by("live-start")).to_be_enabled()
        await expect(console.by("live-calls-empty")).to_be_visible()
        console.assert_clean()
    await listener.close()
    samples, rate = decode(bytes(listener.data))
    assert tone_seconds(samples, rate) > 1.5  # of the 3 s said

    async def kept():
        _, page = await village.call("GET", "/announcements", expect=200)
        return [a for a in page["items"] if a["audio"] and a["audio"]["source"] == "live"]

    [call] = await eventually(kept, 60)
    assert call["title"] == "实时喊话（张书记）" and call["status"] == "expired"


async def test_a_second_caller_is_named_and_an_admin_stops_the_call_from_the_list(village, microphone_browser, screenshot):
    """李主任 (a committee token) is talking to 柳井屯: 张书记's page lists the call, and his 开始喊话 is told in Chinese who
    is talking where; he cannot stop it, an admin can, after confirming; the call ends for 李主任 and leaves both lists."""
    _, issued = await village.call("POST", "/tokens", expect=201, json={"role": "committee", "area": LIUJINGTUN, "name": "李主任"})
    voice = recorded_tone(60)  # encoded before the call: a call without sound for 5 s ends by itself
    ws, started = await open_call(village, issued["token"], [LIUJINGTUN])
    assert started["type"] == "started", started
    talking = asyncio.create_task(speak(ws, voice, 60))
    try:
        async with console_page(microphone_browser, village, width=PHONE[0]) as clerk:
            await clerk_on_live_page(clerk)
            await expect(clerk.by("live-call-who")).to_have_text("李主任 → 柳井屯")
            await expect(clerk.by("live-call-stop")).to_have_count(0)  # only an admin stops another's call
            await clerk.by("live-start").click()
            await expect(clerk.by("live-error")).to_have_text("李主任正在对柳井屯喊话，请稍后再试。")
            await expect(clerk.by("live-start")).to_have_text("开始喊话")
            await expect(clerk.by("live-on-air")).to_be_hidden()
            await screenshot(clerk.page, "console-live-busy-zh-390")

            async with console_page(microphone_browser, village, village.admin, width=LAPTOP[0], at="live") as admin:
                call = admin.page.locator(f'[data-testid="live-call"][data-id="{started["call_id"]}"]')
                await call.get_by_test_id("live-call-stop").click()
                await expect(admin.by("confirm-message")).to_contain_text("停止李主任对柳井屯的喊话")
                await admin.by("confirm-yes").click()
                await expect(admin.by("notice")).to_have_text("已停止李主任对柳井屯的喊话。")
                await expect(admin.by("live-calls-empty")).to_be_visible()
                admin.assert_clean(village.admin)
            await call_over(ws)
            await expect(clerk.by("live-calls-empty")).to_be_visible(timeout=10_000)  # the clerk's list follows at its next poll
            clerk.assert_clean()
    finally:
        talking.cancel()
        await asyncio.gather(talking, return_exceptions=True)
        await ws.close()
