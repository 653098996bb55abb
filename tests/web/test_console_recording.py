"""录音 on the compose page in Chromium (PROTOCOL.md 1.1 `recording`): the clerk records 2 s through a fake
microphone (a tone written here), listens back, posts, and the notice carries the recording; a file from a phone
is uploaded instead, and 试听 plays it; a file that is no recording is refused in Chinese. At a laptop's and a phone's
width."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from tests.announcements.test_recording import tone, wav
from tests.web.conftest import chromium, fake_microphone
from tests.web.test_console import VILLAGE, console_page
from tests.web.test_console_compose import LAPTOP, OUT_OF_VIEW, PHONE, area_box, seed_village_devices, write


@pytest.fixture
async def microphone_browser(tmp_path):
    """Chromium with a fake microphone that hears a 440 Hz tone, granted without asking: only this test's browser."""
    heard = tmp_path / "microphone.wav"
    heard.write_bytes(wav(tone(seconds=5, level=0.3, rate=48_000), 48_000))
    async with chromium(*fake_microphone(heard)) as browser:
        yield browser


def picked(name: str, data: bytes, mime: str) -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["laptop", "phone"])
async def test_the_clerk_records_listens_back_and_posts(village, microphone_browser, screenshot, size):
    await seed_village_devices(village)
    async with console_page(microphone_browser, village, village.admin, width=size[0], at="compose") as console:
        await console.page.set_viewport_size({"width": size[0], "height": size[1]})
        await write(console, "停水通知", "明天上午八点到十二点停水，请提前储水。")
        record = console.by("recording-record")
        await expect(record).to_have_text("● 录音")
        await record.click()
        await expect(record).to_have_text("■ 停止 0:01")  # the time runs while recording
        await asyncio.sleep(1.2)
        await record.click()
        status = console.by("recording-status")
        await expect(status).to_contain_text("喇叭将播放这段录音，不再朗读文字")
        await expect(status).to_contain_text("已附上录音（0:02）")
        await expect(record).to_have_text("● 重录")
        player = console.by("recording-player")
        await expect(player).to_be_visible()
        listened = await player.evaluate("a => a.play().then(() => new Promise(r => setTimeout(r, 300))).then(() => a.currentTime)")
        assert listened > 0  # the clerk hears it back
        await expect(console.by("compose-speak")).to_be_checked()
        await expect(console.by("compose-speak")).to_be_disabled()  # a recording is for the loudspeakers
        assert await console.page.evaluate(OUT_OF_VIEW) == []
        await console.by("recording-record").scroll_into_view_if_needed()
        await screenshot(console.page, f"compose-recording-zh-{size[0]}x{size[1]}")

        await area_box(console, VILLAGE).check()
        await console.by("compose-submit").click()
        await expect(console.by("compose-done")).to_be_visible()
        await expect(status).to_be_hidden()  # a fresh form
        _, page = await village.call("GET", "/announcements")
        [sent] = page["items"]
        assert sent["recording"].endswith(".flac") and sent["speak"] is True
        console.assert_clean(village.admin)


async def test_a_phone_recording_is_uploaded_and_a_non_recording_refused_in_chinese(village, microphone_browser, screenshot):
    async with console_page(microphone_browser, village, village.admin, width=PHONE[0], at="compose") as console:
        upload = console.by("recording-input")
        await upload.set_input_files([picked("说明.mp3", "这不是录音".encode() * 50, "audio/mpeg")])
        error = console.by("error-recording")
        await expect(error).to_contain_text("录音没有附上：这不是图片，也不是录音")
        await expect(console.by("recording-status")).to_be_hidden()

        voice = wav(tone(seconds=3, level=0.2, rate=16_000), 16_000)
        async with console.page.expect_response(lambda r: r.url.endswith("/api/v1/media") and r.ok) as answer:
            await upload.set_input_files([picked("村主任.wav", voice, "audio/wav")])
        stored = await (await answer.value).json()
        await expect(console.by("recording-status")).to_contain_text("已附上录音（0:03）")
        await expect(error).to_be_hidden()
        await console.by("recording-upload").scroll_into_view_if_needed()
        await screenshot(console.page, "compose-recording-uploaded-zh-390x844")

        # 试听 plays the recording the loudspeakers will play, not the text read out (none is written here)
        await console.by("compose-listen").click()
        await expect(console.by("compose-spoken")).to_have_text("喇叭会播放这段录音，不朗读文字。")
        preview = console.by("compose-audio")
        await expect(preview).to_have_attribute("src", stored["url"])
        await console.page.wait_for_function("a => a.currentTime > 0", arg=await preview.element_handle())
        assert not [u for u in console.urls if "/speech/preview" in u]
        await console.by("recording-remove").click()
        await expect(console.by("recording-status")).to_be_hidden()
        await expect(console.by("compose-spoken")).to_be_hidden()  # the loudspeakers will read the text again
        await expect(console.by("compose-speak")).to_be_enabled()
