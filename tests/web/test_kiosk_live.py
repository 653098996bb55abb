"""A live call (实时喊话) on the kiosk at the village gate, in a real Chromium against a real server.

The caller's console is played by a WebSocket sending a tone as MediaRecorder would (tests/e2e/live_audio.py);
the kiosk is told `started`, shows who is speaking, plays its area's stream, says it played, and stops at `ended`.
How the kiosk's player orders a call among clips is checked on the page's own Player with clips made in the page.
"""

from __future__ import annotations

import time

import pytest
from playwright.async_api import expect

from tests.e2e.test_live import talking
from tests.e2e.test_stream import LIUJINGTUN
from tests.web.pages import PUSHED_WITHIN_S, visible_within
from tests.web.test_accessibility import blocking_violations
from tests.web.test_kiosk import WATCH_AUDIO, audio_calls, deliveries, eventually, kiosk_page, plays

# The element playing `src` has moved on by a second from `start`: the stream really flows.
ADVANCED = """([src, start]) => window.__audio.elements.some(
  a => a.getAttribute("src") === src && !a.paused && a.currentTime > start + 1)"""
POSITION = """src => window.__audio.elements.find(a => a.getAttribute("src") === src).currentTime"""
# The room main.js keeps at the top of the page is the banner's height as it is now.
ROOM_KEPT = """() => getComputedStyle(document.documentElement).getPropertyValue("--live-room").trim()
  === `${document.querySelector('[data-testid="kiosk-live"]').offsetHeight}px`"""
# No element holds the stream any more (main.js lets go of it: paused, and its download ended).
LET_GO = """src => !window.__audio.elements.some(a => a.getAttribute("src") === src)"""


@pytest.fixture
async def village(village):
    await village.call("POST", "/areas", json={"path": LIUJINGTUN, "name": "柳井屯"}, expect=201)
    return village


async def played_by(village, call_id: str, screens: int):
    figures = await deliveries(village, call_id)
    return figures if figures["played"] >= screens else None


def call_receipts(kiosk, call_id: str) -> list[dict]:
    return [f for s in kiosk.frames.sockets for f in s.sent if f.get("type") == "receipt" and f.get("call_id") == call_id]


async def test_a_call_shows_who_is_speaking_plays_the_stream_and_ends_with_it(village, browser, screenshot):
    """张书记 calls 柳井屯: the gate kiosk shows "村委会正在喊话" with his name above the notice (covering
    none of it), plays the area's stream with its token, and its played receipt is counted once; a kiosk
    switched on during the call gets it in its replay and plays it too; when he stops, both banners go and
    both streams stop."""
    gate = await village.screen("gate", LIUJINGTUN)
    school = await village.screen("school", LIUJINGTUN)
    _, caller = await village.call("POST", "/tokens", json={"role": "committee", "area": "/hongqi", "name": "张书记"}, expect=201)
    notice = await village.post(title="停水通知", body="明天上午八点到十二点停水，请提前储水。", speak=False)
    async with kiosk_page(browser, village.url, gate["token"], init_script=WATCH_AUDIO) as kiosk:
        await kiosk.online()
        await expect(kiosk.card(notice["id"])).to_be_visible()
        started_at = time.monotonic()
        call = await talking(village, caller["token"], [LIUJINGTUN])  # a tone, until he stops
        call_id = call.id
        try:
            banner = kiosk.by("kiosk-live")
            await visible_within(banner, started_at, PUSHED_WITHIN_S)
            await expect(banner.locator(".live-title")).to_have_text("村委会正在喊话")
            await expect(banner.locator(".live-caller")).to_contain_text("张书记")
            stream = f"/stream{LIUJINGTUN}.mp3?token={gate['token']}"
            await plays(kiosk, stream, 15, "the call's stream")
            start = await kiosk.page.evaluate(POSITION, stream)
            await kiosk.page.wait_for_function(ADVANCED, arg=[stream, start], timeout=10_000)
            figures = await eventually(lambda: played_by(village, call_id, 1), timeout=10)
            assert figures["received"] == 1 and figures["played"] == 1, figures
            await readable(kiosk, screenshot, "kiosk-live-call-zh")

            # A kiosk switched on during the call: the `started` comes in its replay, and it plays the call too.
            async with kiosk_page(browser, village.url, school["token"], init_script=WATCH_AUDIO) as late:
                await late.online()
                await late.frames.wait_for(lambda: late.frames.sockets and late.frames.sockets[0].synced(), what="synced")
                [replayed] = [f for f in late.frames.sockets[0].replay() if f.get("type") == "live"]
                assert (replayed["call_id"], replayed["state"], replayed["caller_name"]) == (call_id, "started", "张书记")
                await expect(late.by("kiosk-live")).to_contain_text("张书记")
                await plays(late, f"/stream{LIUJINGTUN}.mp3?token={school['token']}", 15, "the call, on the kiosk switched on during it")
                assert (await eventually(lambda: played_by(village, call_id, 2), timeout=10))["played"] == 2
                late.assert_clean()

            await kiosk.page.set_viewport_size({"width": 390, "height": 844})
            await readable(kiosk, screenshot, "kiosk-live-call-390")
        finally:
            stopped = await call.end()  # he stops
        assert stopped["reason"] is None

        await expect(banner).to_be_hidden(timeout=PUSHED_WITHIN_S * 1000)
        await kiosk.page.wait_for_function(LET_GO, arg=stream, timeout=5_000)
        assert any(c["what"] == "pause" and c["src"] == stream for c in await audio_calls(kiosk))
        await expect(kiosk.card(notice["id"])).to_be_visible()
        assert [r["state"] for r in call_receipts(kiosk, call_id)] == ["played"]  # once, though the stream played on
        kiosk.assert_clean()


async def readable(kiosk, screenshot, name: str) -> None:
    """The banner across the whole width, in big type, leaving the page below it whole, nothing axe finds serious
    (its contrast among them); then a screenshot."""
    page = kiosk.page
    await page.wait_for_function(ROOM_KEPT)  # after a resize too, once main.js has measured the banner again
    banner = await kiosk.by("kiosk-live").bounding_box()
    width = page.viewport_size["width"]
    assert banner["x"] == 0 and banner["y"] == 0 and banner["width"] == width, banner
    header = await page.locator(".bar").bounding_box()
    assert header["y"] >= banner["height"], (header, banner)  # the title, clock and notices are below it, not under it
    title = float((await kiosk.by("kiosk-live").locator(".live-title").evaluate("el => getComputedStyle(el).fontSize")).removesuffix("px"))
    assert title >= min(48, width / 12), title
    assert not await blocking_violations(page)
    await screenshot(page, name)


# A WAV tone made in the page (media-src allows blob:), so a clip needs no speech worker.
PLAYER = """async () => {
  const { Player } = await import("/static/kiosk/audio.js");
  const tone = (seconds, hz) => {
    const rate = 8000, n = rate * seconds, data = new DataView(new ArrayBuffer(44 + 2 * n));
    const text = (at, s) => [...s].forEach((c, i) => data.setUint8(at + i, c.charCodeAt(0)));
    text(0, "RIFF"); data.setUint32(4, 36 + 2 * n, true); text(8, "WAVEfmt "); data.setUint32(16, 16, true);
    data.setUint16(20, 1, true); data.setUint16(22, 1, true); data.setUint32(24, rate, true); data.setUint32(28, 2 * rate, true);
    data.setUint16(32, 2, true); data.setUint16(34, 16, true); text(36, "data"); data.setUint32(40, 2 * n, true);
    for (let i = 0; i < n; i++) data.setInt16(44 + 2 * i, Math.round(8000 * Math.sin(2 * Math.PI * hz * i / rate)), true);
    return URL.createObjectURL(new Blob([data], { type: "audio/wav" }));
  };
  const clips = {
    notice: { id: "notice", priority: "normal", audio: { url: tone(20, 440) } },
    flood: { id: "flood", priority: "emergency", audio: { url: tone(2, 880) } },
  };
  const player = new Player({ lookup: (id) => clips[id] || null, getQuiet: () => null });
  const heard = [];
  player.addEventListener("live", (ev) => heard.push(ev.detail));
  window.__live = { player, clips, heard, call: tone(60, 1000) };
}"""
SOUNDING = """([src, past]) => {
  const a = __live.player.audio;
  return a.getAttribute("src") === src && !a.paused && a.currentTime > past;
}"""
NOW = "() => ({ src: __live.player.audio.getAttribute('src'), time: __live.player.audio.currentTime, paused: __live.player.audio.paused })"


async def test_a_call_cuts_off_a_clip_which_plays_again_after_it_but_not_an_emergency(village, browser):
    """On the kiosk's player: a call cuts off the notice playing (its stream plays, `live` said once it sounds),
    and the notice plays again from the start when the call ends; an emergency clip playing is not cut off by
    a call, which plays when the clip is over."""
    async with kiosk_page(browser, village.url, None) as kiosk:
        page = kiosk.page
        await page.evaluate(PLAYER)
        clip, emergency, call = await page.evaluate("[__live.clips.notice.audio.url, __live.clips.flood.audio.url, __live.call]")

        async def sounding(src: str, past: float = 0.3) -> None:
            await page.wait_for_function(SOUNDING, arg=[src, past], timeout=10_000)

        await page.evaluate("__live.player.enqueue(__live.clips.notice)")
        await sounding(clip, 1.0)
        await page.evaluate("(url) => __live.player.setLive({ id: 'call-1', url, priority: 'high' })", call)
        await sounding(call)
        assert await page.evaluate("[...new Set(__live.heard)]") == ["call-1"]
        await page.evaluate("__live.player.setLive(null)")
        again = await page.evaluate(NOW)  # setLive chooses at once what plays next
        assert again["src"] == clip and again["time"] < 1.0, again  # from its start, not where it was cut off
        await sounding(clip)

        await page.evaluate("__live.player.enqueue(__live.clips.flood)")  # an emergency cuts off the notice
        await sounding(emergency)
        await page.evaluate("(url) => __live.player.setLive({ id: 'call-2', url, priority: 'high' })", call)
        still = await page.evaluate(NOW)  # a call that went first would have taken the element at once
        assert still["src"] == emergency and not still["paused"] and still["time"] >= 0.3, still  # on, not again
        await sounding(call)  # once the emergency's two seconds are over
        assert await page.evaluate("[...new Set(__live.heard)]") == ["call-1", "call-2"]
        kiosk.assert_clean()
