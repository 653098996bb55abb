"""The live MP3 stream for IP loudspeakers, read by FFmpeg's decoder as a real speaker would."""

import asyncio
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import av
import numpy as np
import pytest

from announcements.mp3frames import audio_frames
from tests.e2e.screens import SettableClock, eventually

BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def speech_enabled() -> bool:
    return True


@pytest.fixture
def database_settings(tmp_path) -> dict:
    """The stream is about audio, not storage: SQLite only (the speech delivery tests run on both)."""
    return {"data_dir": tmp_path}


@pytest.fixture
def clock():
    return SettableClock(datetime(2026, 11, 25, 23, 0, tzinfo=BEIJING))


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"quiet_hours": {"/hongqi": "22:00-06:30"}})


class Listener:
    """Reads an area's stream in the background, like an IP speaker left switched on."""

    def __init__(self, village, area):
        self.data = bytearray()
        self._task = asyncio.create_task(self._read(village, area))

    async def _read(self, village, area):
        async with village.http.get(f"{village.url}/stream{area}.mp3") as resp:
            assert resp.status == 200 and resp.content_type == "audio/mpeg"
            async for chunk in resp.content.iter_any():
                self.data += chunk

    async def close(self):
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def contains_clip(stream: bytes, media: bytes) -> bool:
    return b"".join(f.data for f in audio_frames(media)) in stream


def decode(stream: bytes) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(stream), format="mp3") as container:
        frames = [f for f in container.decode(audio=0)]
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]), frames[0].sample_rate


async def clip_of(village, announcement_id) -> tuple[dict, bytes]:
    async def ready():
        _, detail = await village.call("GET", f"/announcements/{announcement_id}", expect=200)
        return detail["audio"]

    audio = await eventually(ready, 60)
    async with village.http.get(village.url + audio["url"]) as resp:
        return audio, await resp.read()


async def test_stream_carries_emergency_even_in_quiet_hours(village, clock):
    """At 23:00 an emergency plays on the village stream; a decoder hears speech, not only silence."""
    listener = Listener(village, "/hongqi/liujingtun")
    await eventually(lambda: len(listener.data) > 0)
    posted = await village.post(title="紧急通知", body="河水上涨，请远离河边。", priority="emergency", target={"areas": ["/hongqi"]})
    audio, media = await clip_of(village, posted["id"])
    await eventually(lambda: contains_clip(bytes(listener.data), media), audio["duration_s"] + 10)
    await listener.close()
    samples, rate = decode(bytes(listener.data))
    windows = samples[: len(samples) // (rate // 10) * (rate // 10)].reshape(-1, rate // 10)
    loud = np.sqrt((windows.astype("float64") ** 2).mean(axis=1)) > 0.01
    assert loud.sum() / 10 > audio["duration_s"] * 0.4  # most of the clip is sound
    assert (~loud).sum() > 0  # and the stream had silence around it


async def test_quiet_hours_hold_normal_until_they_end(village, clock):
    """A normal announcement posted at 23:00 is not played until the clock passes 06:30."""
    listener = Listener(village, "/hongqi/liujingtun")
    posted = await village.post(title="通知", body="明天上午开会。", target={"areas": ["/hongqi/liujingtun"]})
    audio, media = await clip_of(village, posted["id"])
    await asyncio.sleep(audio["duration_s"] + 1.5)
    assert not contains_clip(bytes(listener.data), media)
    clock.at = datetime(2026, 11, 26, 6, 31, tzinfo=BEIJING)
    await eventually(lambda: contains_clip(bytes(listener.data), media), audio["duration_s"] + 10)
    await listener.close()


async def test_stream_of_unrelated_area_stays_silent(village, clock):
    """An announcement for one village does not play on another village's stream."""
    clock.at = datetime(2026, 11, 25, 12, 0, tzinfo=BEIJING)
    other = Listener(village, "/hongqi/xincun")
    posted = await village.post(title="通知", body="柳井屯停水。", target={"areas": ["/hongqi/liujingtun"]})
    audio, media = await clip_of(village, posted["id"])
    await asyncio.sleep(audio["duration_s"] + 1.5)
    await other.close()
    assert not contains_clip(bytes(other.data), media) and len(other.data) > 0


async def test_bad_stream_path_is_404(village):
    """A stream path that is not an area is a 404 problem."""
    async with village.http.get(village.url + "/stream/a b.mp3") as resp:
        assert resp.status == 404
