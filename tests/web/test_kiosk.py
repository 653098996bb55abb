"""The kiosk page at /screen in a real Chromium against a real server: display, protocol, replies, safety."""

from __future__ import annotations

import asyncio
import json
import re
import time
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from playwright.async_api import expect

from announcements.models import Role
from screen_client.client import Timing
from tests.conftest import make_token
from tests.web.pages import ONLINE_WITHIN_MS, POLL_S, PUSHED_WITHIN_S, WatchedPage, visible_within

VILLAGE = "/hongqi/liujingtun"
FAST = {"backoffInitial": 200, "backoffMax": 1000, "cycleMs": 60000}


class Kiosk(WatchedPage):
    """One kiosk page in its own browser context."""

    IGNORED_ERRORS = ("WebSocket connection", "ERR_CONNECTION_REFUSED")

    def card(self, announcement_id: str):
        return self.page.locator(f'[data-testid="kiosk-announcement"][data-id="{announcement_id}"]')

    async def online(self) -> None:
        await expect(self.by("kiosk")).to_have_attribute("data-status", "online", timeout=ONLINE_WITHIN_MS)

    async def stored(self) -> dict:
        """What the kiosk keeps in localStorage (last_seq, announcements, outbox, ...)."""
        return await self.page.evaluate("JSON.parse(localStorage.getItem('vb.kiosk.state'))")

    def assert_clean(self) -> None:
        assert not self.problems, self.problems
        assert not self.dialogs, self.dialogs


@asynccontextmanager
async def kiosk_page(
    browser, base_url: str, token: str | None, *, timing: dict | None = None, lang: str | None = None, init_script: str = "",
    viewport: dict | None = None,
):
    context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 720})
    setup = f"localStorage.setItem('vb.kiosk.timing', {json.dumps(json.dumps(timing or FAST))});"
    if lang:
        setup += f"if (!localStorage.getItem('vb.kiosk.lang')) localStorage.setItem('vb.kiosk.lang', '{lang}');"
    await context.add_init_script(script=setup + init_script)
    page = await context.new_page()
    kiosk = Kiosk(context, page)
    await page.goto(base_url + "/screen" + (f"#token={token}" if token else ""))
    try:
        yield kiosk
    finally:
        await context.close()


@pytest.mark.settings(event_poll_s=POLL_S)
async def test_shows_a_posted_announcement_at_once_in_priority_order(village, browser):
    """A posted announcement is pushed to the kiosk and shown at once, not at the hub's next poll; the list is
    emergency-free priority order, newest first."""
    gate = await village.screen("gate", VILLAGE)
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        await kiosk.online()
        started = time.monotonic()
        low = await village.post(title="低 low", priority="low")
        await visible_within(kiosk.card(low["id"]), started, PUSHED_WITHIN_S)
        await expect(kiosk.by("kiosk-current")).to_have_attribute("data-id", low["id"])
        normal1 = await village.post(title="普通一", priority="normal")
        high = await village.post(title="重要 high", priority="high")
        normal2 = await village.post(title="普通二", priority="normal")
        cards = kiosk.by("kiosk-announcement")
        await expect(cards).to_have_count(4)
        order = [await c.get_attribute("data-id") for c in await cards.all()]
        assert order == [high["id"], normal2["id"], normal1["id"], low["id"]]
        assert [await c.get_attribute("data-priority") for c in await cards.all()] == ["high", "normal", "normal", "low"]
        await expect(kiosk.by("kiosk-offline")).to_be_hidden()
        await expect(kiosk.by("kiosk-emergency")).to_be_hidden()
        kiosk.assert_clean()


async def test_an_unknown_priority_sorts_with_normal(village, browser):
    """A priority from a newer server is listed with the normal ones, newest first, as the screen client and the SQL do (§7.1)."""
    held = [("old-normal", "normal", 10), ("low", "low", 0), ("siren", "siren", 5), ("high", "high", 0), ("new-normal", "normal", 1)]
    async with kiosk_page(browser, village.url, None) as kiosk:
        order = await kiosk.page.evaluate("""async (held) => {
            const { Store } = await import("/static/kiosk/store.js");
            const store = new Store();
            held.forEach(([id, priority, minutesAgo], i) => {
                const published_at = new Date(Date.now() - minutesAgo * 60000).toISOString();
                store.applyAnnouncement(i + 1, { id, revision: 1, priority, published_at });
            });
            return store.announcements().map((ann) => ann.id);
        }""", held)
        assert order == ["high", "new-normal", "siren", "old-normal", "low"]
        kiosk.assert_clean()


def test_reconnects_on_the_python_clients_schedule():
    """The kiosk's back-off and 4409 wait are screen_client's Timing defaults (seconds there, milliseconds here)."""
    source = (Path(__file__).resolve().parents[2] / "broadcast_server/static/kiosk/client.js").read_text()
    block = re.search(r"export const RECONNECT = Object\.freeze\(\{(.*?)\}\);", source, re.DOTALL).group(1)
    kiosk = {name: float(value) for name, value in re.findall(r"^\s*(\w+): ([\d.]+),", block, re.MULTILINE)}
    python = Timing()
    assert kiosk == {
        "backoffInitial": python.backoff_initial * 1000,
        "backoffFactor": python.backoff_factor,
        "backoffMax": python.backoff_max * 1000,
        "replacedDelay": python.replaced_delay * 1000,
    }


def with_speech(test):
    """Run this test with the server's speech worker on (the others run without it, faster)."""
    test.speech = True
    return test


@pytest.fixture
def speech_enabled(request) -> bool:
    return getattr(request.function, "speech", False)


async def eventually(check, timeout: float = 10.0, interval: float = 0.05):
    """Poll the API until `check()` is truthy (the browser side waits with Playwright's expect)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(interval)


async def deliveries(village, announcement_id: str) -> dict:
    _, detail = await village.call("GET", f"/announcements/{announcement_id}", expect=200)
    return detail["deliveries"]


# The kiosk's audio element is made in a module (new Audio()) and never put in the document: this records,
# for every media element, each play() and pause() and each change of src (with where the element was in
# the clip it leaves, and whether that clip had ended), and the "playing" events, in order.
WATCH_AUDIO = """
window.__audio = { elements: [], calls: [] };
(() => {
  const proto = HTMLMediaElement.prototype;
  const note = (el, what, extra = {}) => window.__audio.calls.push({
    what, src: el.getAttribute("src") || "", time: el.currentTime, duration: el.duration, ended: el.ended, ...extra });
  const watch = (el) => {
    if (window.__audio.elements.includes(el)) return;
    window.__audio.elements.push(el);
    el.addEventListener("playing", () => note(el, "playing"));
  };
  const src = Object.getOwnPropertyDescriptor(proto, "src");
  Object.defineProperty(proto, "src", {
    configurable: true, enumerable: src.enumerable, get: src.get,
    set(value) { watch(this); note(this, "src", { to: value }); src.set.call(this, value); },
  });
  const play = proto.play;
  proto.play = function () { watch(this); note(this, "play"); return play.call(this); };
  const pause = proto.pause;
  proto.pause = function () { note(this, "pause"); return pause.call(this); };
})();
"""

# An element plays this clip now: set to it, not paused, and its position moving past the start.
PLAYING = """src => window.__audio.elements.some(
  a => a.getAttribute("src") === src && !a.paused && !a.ended && a.currentTime > 0.2)"""

# Said twice (repeat=2), about a minute: still playing when the emergency's clip has been made.
LONG_NOTICE = (
    "村委会提醒各位村民：本周六上午八点到十二点，村东头到村小学的道路进行硬化施工，期间禁止车辆通行，"
    "请大家绕行村西路。施工期间请照看好家里的老人和孩子，不要靠近施工现场。给大家带来的不便，敬请谅解。"
)


async def audio_of(village, announcement_id: str) -> str | None:
    _, detail = await village.call("GET", f"/announcements/{announcement_id}", expect=200)
    assert detail["speech_status"] != "failed", detail["speech_error"]
    return detail["audio"]["url"] if detail.get("audio") else None


async def audio_calls(kiosk) -> list[dict]:
    return await kiosk.page.evaluate("window.__audio.calls")


async def plays(kiosk, clip: str, within_s: float, what: str) -> None:
    """Wait until the kiosk plays `clip`; fail naming `what` (with the audio calls seen) after `within_s`."""
    try:
        await kiosk.page.wait_for_function(PLAYING, arg=clip, timeout=within_s * 1000)
    except PlaywrightTimeoutError:
        raise AssertionError(f"{what}: not playing within {within_s} s; audio calls: {await audio_calls(kiosk)}") from None


@with_speech
@pytest.mark.settings(event_poll_s=POLL_S)
async def test_emergency_takes_over_in_red_interrupts_the_notice_playing_and_a_retraction_ends_it(village, browser):
    """An emergency covers the kiosk in red at once; the notice whose audio is playing stops, the emergency's
    clip plays (played receipt), then the interrupted notice plays again from the start; cancelling the
    emergency ends the takeover."""
    gate = await village.screen("gate", VILLAGE)
    async with kiosk_page(browser, village.url, gate["token"], init_script=WATCH_AUDIO) as kiosk:
        await kiosk.online()
        normal = await village.post(title="修路通知", body=LONG_NOTICE, repeat=2)
        await expect(kiosk.card(normal["id"])).to_be_visible()
        normal_clip = await eventually(lambda: audio_of(village, normal["id"]), timeout=60)
        await plays(kiosk, normal_clip, 30, "the notice")

        started = time.monotonic()
        emergency = await village.post(title="山洪预警", body="请立即转移。", priority="emergency")
        overlay = kiosk.by("kiosk-emergency")
        await visible_within(overlay, started, PUSHED_WITHIN_S)
        await expect(overlay).to_have_attribute("data-id", emergency["id"])
        await expect(overlay).to_contain_text("山洪预警")
        box = await overlay.bounding_box()
        assert box is not None and box["width"] >= 1280 and box["height"] >= 720
        colour = await overlay.evaluate("el => getComputedStyle(el).backgroundColor")
        red, green, blue = (int(v) for v in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3])
        assert red > 150 and green < 60 and blue < 60, colour

        # The emergency's clip, once made, cuts the notice off mid-clip and plays at once, not after the notice.
        emergency_clip = await eventually(lambda: audio_of(village, emergency["id"]), timeout=60)
        await plays(kiosk, emergency_clip, 10, "the emergency, with the notice playing")
        calls = await audio_calls(kiosk)
        [cut] = [c for c in calls if c["what"] == "pause" and c["src"] == normal_clip]
        assert 0 < cut["time"] < cut["duration"], cut  # stopped while it was playing, not at its end
        assert (await deliveries(village, normal["id"]))["played"] == 0
        played = await eventually(lambda: _played(village, emergency["id"]), timeout=30)
        assert played["displayed"] == 1 and played["received"] == 1

        # Then, once the emergency's clip has ended, the interrupted notice plays again from the start.
        await plays(kiosk, normal_clip, 30, "the interrupted notice, after the emergency")
        calls = await audio_calls(kiosk)
        assert [c["src"] for c in calls if c["what"] == "play"][:3] == [normal_clip, emergency_clip, normal_clip], calls
        back = next(i for i, c in enumerate(calls) if c["what"] == "src" and (c["src"], c["to"]) == (emergency_clip, normal_clip))
        assert calls[back]["ended"], calls[back]  # not before the emergency's clip was over
        resumed = next(c for c in calls[back:] if c["what"] == "playing")
        assert resumed["src"] == normal_clip and resumed["time"] < 1.0, resumed
        await expect(kiosk.by("kiosk-tap-to-enable")).to_be_hidden()  # autoplay allowed, as on a kiosk browser

        await village.call("POST", f"/announcements/{emergency['id']}/cancel", expect=200)
        await expect(overlay).to_be_hidden(timeout=PUSHED_WITHIN_S * 1000)
        await expect(kiosk.card(emergency["id"])).to_have_count(0)
        await expect(kiosk.card(normal["id"])).to_be_visible()
        kiosk.assert_clean()


async def _played(village, announcement_id):
    figures = await deliveries(village, announcement_id)
    return figures if figures["played"] >= 1 else None


async def test_a_reply_typed_at_the_kiosk_gets_a_ticket_and_lands_in_the_request_log(village, browser):
    """A villager picks a category, types, adds a name and phone, submits: a ticket is shown and the request is in the log."""
    gate = await village.screen("gate", VILLAGE)
    about = await village.post(title="修路通知")
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        await kiosk.online()
        await expect(kiosk.card(about["id"])).to_be_visible()
        await kiosk.by("kiosk-reply-open").click()
        await kiosk.by("kiosk-reply-submit").click()
        await expect(kiosk.by("kiosk-reply-message")).not_to_be_empty()  # no category chosen yet
        await kiosk.page.locator('[data-testid="kiosk-reply-category"][data-category="suggestion"]').click()
        text = "村口路灯坏了三盏，晚上看不清路，请尽快修理。"
        await kiosk.by("kiosk-reply-text").fill(text)
        await expect(kiosk.by("kiosk-reply-counter")).to_contain_text(f"{len(text)} / 1000")
        assert await kiosk.by("kiosk-reply-text").get_attribute("maxlength") == "1000"
        await kiosk.by("kiosk-reply-name").fill("王大爷")
        await kiosk.by("kiosk-reply-phone").fill("13800138000")
        await kiosk.page.locator(f'[data-testid="kiosk-reply-about"][data-id="{about["id"]}"]').click()  # it is about the notice
        await kiosk.by("kiosk-reply-submit").click()
        ticket = kiosk.by("kiosk-ticket")
        await expect(ticket).to_be_visible()
        await expect(ticket).not_to_be_empty()
        number = (await ticket.text_content()).strip()
        size = float((await ticket.evaluate("el => getComputedStyle(el).fontSize")).removesuffix("px"))
        assert size >= 60, size  # can be written down from a step away
        outbox = await kiosk.page.evaluate("JSON.parse(localStorage.getItem('vb.kiosk.state')).outbox")
        assert [e["ticket"] for e in outbox] == [number] and "text" not in outbox[0]["reply"]  # the villager's words left storage

        _, log = await village.call("GET", "/requests", expect=200)
        [request] = [r for r in log["items"] if r["ticket"] == number]
        assert request["text"] == text and request["category"] == "suggestion" and request["screen_id"] == gate["id"]
        assert request["announcement_id"] == about["id"]
        assert request["contact"]["name"] == "王大爷"
        await kiosk.by("kiosk-reply-done").click()
        await expect(kiosk.by("kiosk-reply")).to_be_hidden()
        await look_up(kiosk, number.lower().replace("-", " "))  # typed as a villager might
        await expect(kiosk.by("kiosk-answer-status")).to_have_text("已受理")
        kiosk.assert_clean()


async def reply_at(kiosk, category: str, text: str) -> str:
    await kiosk.by("kiosk-reply-open").click()
    await kiosk.page.locator(f'[data-testid="kiosk-reply-category"][data-category="{category}"]').click()
    await kiosk.by("kiosk-reply-text").fill(text)
    await kiosk.by("kiosk-reply-submit").click()
    await expect(kiosk.by("kiosk-ticket")).not_to_be_empty()
    number = (await kiosk.by("kiosk-ticket").text_content()).strip()
    await kiosk.by("kiosk-reply-done").click()
    return number


async def look_up(kiosk, typed: str):
    """In "我的事项" (opened if it is not), type a ticket and look it up; answers where its answer shows."""
    if not await kiosk.by("kiosk-matters").is_visible():
        await kiosk.by("kiosk-matters-open").click()
    await kiosk.by("kiosk-matters-ticket").fill(typed)
    await kiosk.by("kiosk-matters-submit").click()
    return kiosk.by("kiosk-answer")


async def test_the_kiosk_shows_the_answer_and_one_touch_feedback_reaches_the_api(village, browser, screenshot):
    """The committee's response appears under the ticket; 'satisfied' on the resolved request closes it in the API."""
    gate = await village.screen("gate", VILLAGE)
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        await kiosk.online()
        number = await reply_at(kiosk, "help", "家里老人需要帮忙买药。")
        answer = await look_up(kiosk, number)
        await expect(answer).to_have_attribute("data-ticket", number)
        for status in ("assigned", "in_progress"):
            await village.call("PATCH", f"/requests/{number}", json={"status": status}, expect=200)
        await expect(answer).to_have_attribute("data-status", "in_progress")
        await expect(answer.get_by_test_id("kiosk-feedback-satisfied")).to_have_count(0)
        response = "网格员小李明天上午送药上门。"
        await village.call("PATCH", f"/requests/{number}", json={"status": "resolved", "response": response}, expect=200)
        await expect(answer).to_have_attribute("data-status", "resolved")
        await expect(answer.get_by_test_id("kiosk-answer-response")).to_have_text(response)
        for testid in ("kiosk-feedback-satisfied", "kiosk-feedback-basically", "kiosk-feedback-dissatisfied"):
            await expect(answer.get_by_test_id(testid)).to_be_visible()
        await screenshot(kiosk.page, "kiosk-answer-zh")
        await answer.get_by_test_id("kiosk-feedback-satisfied").click()
        await expect(answer).to_have_attribute("data-status", "closed")
        await expect(answer.get_by_test_id("kiosk-feedback-satisfied")).to_have_count(0)
        _, detail = await village.call("GET", f"/requests/{number}", expect=200)
        assert detail["status"] == "closed" and detail["follow_up"] == "satisfied"
        assert any(h.get("rating") == "satisfied" for h in detail["history"])
        kiosk.assert_clean()


XSS = "<img src=x onerror=alert(1)>"


async def test_markup_from_the_server_shows_literally_and_runs_nothing(village, browser):
    """An announcement and a response containing an <img onerror> tag show as text; no element is made, no dialog opens."""
    gate = await village.screen("gate", VILLAGE)
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        await kiosk.online()
        posted = await village.post(title=XSS, body=f"正文 {XSS}")
        await expect(kiosk.by("kiosk-current")).to_have_attribute("data-id", posted["id"])
        await expect(kiosk.by("kiosk-current").locator(".stage-title")).to_have_text(XSS)
        await expect(kiosk.card(posted["id"])).to_contain_text(XSS)
        number = await reply_at(kiosk, "other", XSS)
        await village.call("PATCH", f"/requests/{number}", json={"status": "rejected", "response": XSS}, expect=200)
        answer = await look_up(kiosk, number)
        await expect(answer.get_by_test_id("kiosk-answer-response")).to_have_text(XSS)
        emergency = await village.post(title=XSS, body=XSS, priority="emergency")
        await expect(kiosk.by("kiosk-emergency")).to_have_attribute("data-id", emergency["id"])
        await expect(kiosk.by("kiosk-emergency").locator(".emergency-title")).to_have_text(XSS)
        assert await kiosk.page.locator("img").count() == 0
        assert await kiosk.page.evaluate("document.body.innerHTML.includes('<img')") is False
        kiosk.assert_clean()  # also: no dialog was opened


async def test_the_token_leaves_the_address_bar_and_survives_a_reload(village, browser):
    """The token is moved from the URL into storage, is sent only in hello, and a reload keeps the screen set up."""
    gate = await village.screen("gate", VILLAGE)
    posted = await village.post(title="停水通知")
    seen_urls: list[str] = []
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        kiosk.page.on("request", lambda request: seen_urls.append(request.url))
        kiosk.page.on("websocket", lambda ws: seen_urls.append(ws.url))
        await kiosk.online()
        await expect(kiosk.card(posted["id"])).to_be_visible()
        assert gate["token"] not in kiosk.page.url and "token" not in kiosk.page.url
        assert await kiosk.page.evaluate("localStorage.getItem('vb.kiosk.token')") == gate["token"]
        last_seq = await kiosk.by("kiosk").get_attribute("data-last-seq")
        assert last_seq
        await kiosk.page.reload()
        await expect(kiosk.card(posted["id"])).to_be_visible()  # from storage, before or after the connection
        await kiosk.online()
        assert kiosk.page.url.endswith("/screen")
        assert any(url.endswith("/ws") for url in seen_urls)
        assert not [url for url in seen_urls if gate["token"] in url]
        await eventually(lambda: acked_up_to(village, gate["id"], int(last_seq)))
        kiosk.assert_clean()


async def test_switched_off_and_on_it_resumes_from_its_last_seq_and_is_sent_only_what_it_missed(village, browser):
    """The kiosk keeps last_seq; when its page is opened again its hello carries it, the server answers synced
    with reset false and replays only the announcement posted while it was away; the others stay shown from storage."""
    gate = await village.screen("gate", VILLAGE)
    water = await village.post(title="停水通知", speak=False)  # no speech: one event per announcement
    road = await village.post(title="修路通知", speak=False)
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        await kiosk.online()
        await expect(kiosk.card(water["id"])).to_be_visible()
        await expect(kiosk.card(road["id"])).to_be_visible()
        [first] = kiosk.frames.sockets
        await kiosk.frames.wait_for(lambda: first.synced(), what="synced on the first connection")
        assert first.sent[0]["type"] == "hello" and first.sent[0]["last_seq"] is None  # a new screen: everything
        assert first.synced()["reset"] is True
        seen = {f["announcement"]["id"]: f["seq"] for f in first.received_of("announcement")}
        assert set(seen) == {water["id"], road["id"]}
        stored_seq = (await kiosk.stored())["lastSeq"]
        assert stored_seq == max(seen.values())

        await kiosk.close_page()  # the kiosk is switched off; the browser keeps its storage
        await eventually(lambda: screen_online(village, gate["id"], False))  # the server saw it go
        power = await village.post(title="停电通知", speak=False)
        await kiosk.open_page(village.url + "/screen")  # and on again
        await expect(kiosk.card(water["id"])).to_be_visible()  # from storage, before or after the connection
        await kiosk.online()
        await expect(kiosk.card(power["id"])).to_be_visible()
        await expect(kiosk.card(road["id"])).to_be_visible()

        sockets = kiosk.frames.sockets
        back = await kiosk.frames.wait_for(lambda: sockets[-1] if sockets[-1].sent else None, what="the hello")
        assert back is not first
        hello = back.sent[0]
        assert hello["type"] == "hello" and hello["last_seq"] == stored_seq, without_token(hello)
        synced = await kiosk.frames.wait_for(back.synced, what="synced after it was switched on again")
        assert synced["reset"] is False, synced
        assert [f["announcement"]["id"] for f in back.replay() if f["type"] == "announcement"] == [power["id"]]
        assert back.announcement_ids() == [power["id"]]  # nothing it held was sent again
        assert (await kiosk.stored())["lastSeq"] > stored_seq
        kiosk.assert_clean()


async def test_a_rate_limited_reply_says_so_and_stays_in_the_outbox(village, settings, browser):
    """When the screen's reply quota is used up, the server's error (ref = client_msg_id) is shown and the reply waits to be resent."""
    gate = await village.screen("gate", VILLAGE)
    for i in range(settings.reply_rate_per_minute):
        body = {"client_msg_id": f"flood-{i}", "category": "other", "text": f"第{i}条"}
        await village.call("POST", "/replies", json=body, token=gate["token"], expect=201)
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        await kiosk.online()
        await kiosk.by("kiosk-reply-open").click()
        await kiosk.page.locator('[data-testid="kiosk-reply-category"][data-category="complaint"]').click()
        await kiosk.by("kiosk-reply-text").fill("再说一次。")
        await kiosk.by("kiosk-reply-submit").click()
        await expect(kiosk.by("kiosk-reply-status")).to_have_text("提交太频繁了，稍等一会儿会自动重新提交")
        await expect(kiosk.by("kiosk-ticket")).to_be_hidden()
        outbox = await kiosk.page.evaluate("JSON.parse(localStorage.getItem('vb.kiosk.state')).outbox")
        assert len(outbox) == 1 and outbox[0]["ticket"] is None and outbox[0]["notice"] == "rate_limited"
        kiosk.assert_clean()


def without_token(hello: dict) -> dict:
    return {key: value for key, value in hello.items() if key != "token"}


async def screen_online(village, screen_id: str, online: bool) -> bool:
    _, screens = await village.call("GET", "/screens", expect=200)
    return any(s["id"] == screen_id and s["online"] is online for s in screens)


async def acked_up_to(village, screen_id: str, seq: int) -> bool:
    _, screens = await village.call("GET", "/screens", expect=200)
    return any(s["id"] == screen_id and s["cursor"] == seq for s in screens)


async def test_without_a_token_the_kiosk_explains_how_to_set_it_up(village, browser):
    """Opened without a token, the kiosk shows a set-up message and connects to nothing."""
    async with kiosk_page(browser, village.url, None) as kiosk:
        await expect(kiosk.by("kiosk-setup")).to_be_visible()
        await expect(kiosk.by("kiosk")).to_be_hidden()
        kiosk.assert_clean()


async def test_a_revoked_screen_stops_and_says_so(village, browser):
    """Deleting the screen closes its connection with 4401; the kiosk stops and shows why."""
    gate = await village.screen("gate", VILLAGE)
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        await kiosk.online()
        await village.call("DELETE", f"/screens/{gate['id']}")
        await expect(kiosk.by("kiosk-unauthorized")).to_be_visible()
        await expect(kiosk.by("kiosk")).to_have_attribute("data-status", "unauthorized")
        kiosk.assert_clean()


async def test_keeps_showing_while_the_server_is_down_and_catches_up_after_restart(settings, server_process, browser):
    """With the server stopped the kiosk keeps its announcements and shows the offline mark; after a restart it
    reconnects by itself, resumes by seq (its hello carries the last_seq it stored, synced says no reset, and
    nothing it held is sent again) and shows what is posted then."""
    admin = await make_token(settings, Role.ADMIN, "/", "root")
    server_process.start()
    base = server_process.url
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as http:

        async def call(method, path, body=None):
            async with http.request(method, base + "/api/v1" + path, json=body) as resp:
                assert resp.status in (200, 201), (resp.status, await resp.text())
                return await resp.json()

        gate = await call("POST", "/screens", {"name": "gate", "area": VILLAGE})
        before = await call("POST", "/announcements", {"title": "停电通知", "body": "周六上午检修线路。"})
        async with kiosk_page(browser, base, gate["token"]) as kiosk:
            await kiosk.online()
            await expect(kiosk.card(before["id"])).to_be_visible()
            await expect(kiosk.by("kiosk-offline")).to_be_hidden()

            server_process.kill()  # SIGKILL: SIGTERM with a screen connected waits out aiohttp's shutdown timeout (see report)
            await expect(kiosk.by("kiosk-offline")).to_be_visible()
            stored_seq = (await kiosk.stored())["lastSeq"]
            assert isinstance(stored_seq, int), stored_seq
            sockets_before = len(kiosk.frames.sockets)
            await expect(kiosk.card(before["id"])).to_be_visible()
            await expect(kiosk.by("kiosk-current")).to_contain_text("停电通知")
            # A reply typed while offline waits in the outbox and goes out after the restart.
            await kiosk.by("kiosk-reply-open").click()
            await kiosk.page.locator('[data-testid="kiosk-reply-category"][data-category="question"]').click()
            await kiosk.by("kiosk-reply-text").fill("停电几点恢复？")
            await kiosk.by("kiosk-reply-submit").click()
            await expect(kiosk.by("kiosk-reply-status")).not_to_be_empty()

            server_process.start()
            after = await call("POST", "/announcements", {"title": "恢复供电", "body": "线路已修好。"})
            await expect(kiosk.card(after["id"])).to_be_visible(timeout=15000)
            await expect(kiosk.by("kiosk-offline")).to_be_hidden()
            await expect(kiosk.card(before["id"])).to_be_visible()
            await expect(kiosk.by("kiosk-ticket")).not_to_be_empty()  # the queued reply got its ticket
            ticket = (await kiosk.by("kiosk-ticket").text_content()).strip()
            log = await call("GET", "/requests")
            assert [r["text"] for r in log["items"] if r["ticket"] == ticket] == ["停电几点恢复？"]
            # The connection that got through after the restart (the refused attempts before it sent nothing).
            [resumed] = await kiosk.frames.wait_for(
                lambda: [sock for sock in kiosk.frames.sockets[sockets_before:] if sock.received_of("welcome")],
                what="a welcome after the restart",
            )
            hello = resumed.sent[0]
            assert hello["type"] == "hello" and hello["last_seq"] == stored_seq, without_token(hello)
            synced = await kiosk.frames.wait_for(resumed.synced, what="synced after the restart")
            assert synced["reset"] is False, synced
            await kiosk.frames.wait_for(lambda: after["id"] in resumed.announcement_ids(), what="the new announcement")
            assert resumed.announcement_ids() == [after["id"]]  # `before` was not sent again
            last_seq = int(await kiosk.by("kiosk").get_attribute("data-last-seq"))

            async def acked():
                screens = await call("GET", "/screens")
                return any(s["id"] == gate["id"] and s["cursor"] == last_seq for s in screens)

            await eventually(acked)
            kiosk.assert_clean()


async def test_screenshots_in_both_languages_and_the_choice_is_remembered(village, browser, screenshot):
    """Normal, reply form and emergency views, in Chinese and English; the language toggle survives a reload."""
    gate = await village.screen("刘井屯村委会门口", VILLAGE)
    await village.post(
        title="秋季征兵报名开始", body="年满18至22周岁的男青年，请于11月30日前到村委会报名，携带户口本和身份证。", priority="high"
    )
    await village.post(title="村民大会通知", body="明天上午九点在村委会召开村民大会，讨论村道硬化和路灯安装事宜，请各户派代表参加。")
    await village.post(title="医保缴费提醒", body="2027年度城乡居民医保缴费截至12月31日，可在村委会或手机上缴纳。", priority="low")
    async with kiosk_page(browser, village.url, gate["token"]) as kiosk:
        await kiosk.online()
        await expect(kiosk.by("kiosk-announcement")).to_have_count(3)
        for lang in ("zh", "en"):
            if lang == "en":
                await kiosk.by("kiosk-lang").click()
            await expect(kiosk.by("kiosk-reply-open")).to_have_text("我要反映" if lang == "zh" else "Send a message")
            await screenshot(kiosk.page, f"kiosk-normal-{lang}")
            await kiosk.by("kiosk-reply-open").click()
            await kiosk.page.locator('[data-testid="kiosk-reply-category"][data-category="complaint"]').click()
            await kiosk.by("kiosk-reply-text").fill("村东头的垃圾桶好几天没人清理了，味道很大。")
            await kiosk.by("kiosk-reply-name").fill("张")
            await screenshot(kiosk.page, f"kiosk-reply-{lang}")
            await kiosk.by("kiosk-reply-cancel").click()
            await expect(kiosk.by("kiosk-reply")).to_be_hidden()

        await kiosk.page.reload()
        await kiosk.online()
        await expect(kiosk.by("kiosk-reply-open")).to_have_text("Send a message")
        emergency = await village.post(
            title="暴雨红色预警",
            body="今夜有特大暴雨，请低洼地区村民立即转移到村小学避险，不要靠近河道。",
            priority="emergency",
            speak=False,
        )
        await expect(kiosk.by("kiosk-emergency")).to_have_attribute("data-id", emergency["id"])
        await screenshot(kiosk.page, "kiosk-emergency-en")
        await kiosk.page.evaluate("localStorage.setItem('vb.kiosk.lang', 'zh')")
        await kiosk.page.reload()
        await expect(kiosk.by("kiosk-emergency")).to_be_visible()
        await expect(kiosk.by("kiosk-emergency")).to_contain_text("紧急通知")
        await screenshot(kiosk.page, "kiosk-emergency-zh")
        kiosk.assert_clean()


# Chromium's autoplay policy, emulated in the page (under Playwright the page counts as user-activated and
# autoplay is allowed whatever the flags say): play() is refused with NotAllowedError until a real tap.
REFUSE_AUTOPLAY = """
let gesture = false;
addEventListener("pointerdown", () => { gesture = true; }, true);
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () {
  if (!gesture) {
    return Promise.reject(new DOMException("play() failed because the user didn't interact with the document first.", "NotAllowedError"));
  }
  return play.call(this);
};
"""


async def test_screenshots_at_a_phones_width(village, browser, screenshot):
    """The kiosk page opened on a phone (390 px), in Chinese: the list, the clock and the reply form fit."""
    gate = await village.screen("刘井屯村委会门口", VILLAGE)
    await village.post(
        title="秋季征兵报名开始", body="年满18至22周岁的男青年，请于11月30日前到村委会报名，携带户口本和身份证。", priority="high"
    )
    await village.post(title="村民大会通知", body="明天上午九点在村委会召开村民大会，讨论村道硬化和路灯安装事宜，请各户派代表参加。")
    async with kiosk_page(browser, village.url, gate["token"], lang="zh", viewport={"width": 390, "height": 844}) as kiosk:
        await kiosk.online()
        await expect(kiosk.by("kiosk-announcement")).to_have_count(2)
        await expect(kiosk.by("kiosk-clock")).not_to_be_empty()
        await screenshot(kiosk.page, "kiosk-normal-zh-390")
        await kiosk.by("kiosk-reply-open").click()
        await kiosk.page.locator('[data-testid="kiosk-reply-category"][data-category="help"]').click()
        await kiosk.by("kiosk-reply-text").fill("我家的自来水管冻裂了，请帮忙找人修一下。")
        await screenshot(kiosk.page, "kiosk-reply-zh-390")
        kiosk.assert_clean()


@with_speech
async def test_where_autoplay_is_refused_one_tap_enables_the_sound(village, browser):
    """In a browser that refuses autoplay the kiosk asks once for a tap; after the tap the clip plays to the end."""
    gate = await village.screen("gate", VILLAGE)
    async with kiosk_page(browser, village.url, gate["token"], init_script=REFUSE_AUTOPLAY) as kiosk:
        await kiosk.online()
        posted = await village.post(title="测试", body="测试。")
        prompt = kiosk.by("kiosk-tap-to-enable")
        await expect(prompt).to_be_visible(timeout=15000)  # once the clip is ready and play() is refused
        assert (await deliveries(village, posted["id"]))["played"] == 0
        await prompt.click()
        await expect(prompt).to_be_hidden()
        await eventually(lambda: _played(village, posted["id"]), timeout=30)
        kiosk.assert_clean()
