"""The live MP3 stream for IP loudspeakers, read by FFmpeg's decoder as a real speaker would.

Also who may listen (the media setting, tokens in the header or the URL), that only real areas have
stations, and the listener caps.
"""

import asyncio
import io
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import av
import numpy as np
import pytest

from announcements.models import Event
from announcements.mp3frames import audio_frames
from announcements.protocol import AnnouncementPayload, Audio
from announcements.targeting import Target
from announcements.voicing import media_url
from broadcast_server.hub import StoredEvent
from broadcast_server.keys import SETTINGS, STATIONS
from tests.clock import SettableClock
from tests.e2e.screens import eventually

BEIJING = ZoneInfo("Asia/Shanghai")
LIUJINGTUN, XINCUN = "/hongqi/liujingtun", "/hongqi/xincun"


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


@pytest.fixture
async def village(village):
    """Two villages that exist (a stream is only for an area that does)."""
    for path in (LIUJINGTUN, XINCUN):
        await village.call("POST", "/areas", json={"path": path, "name": path.rsplit("/", 1)[1]}, expect=201)
    return village


def stream_request(http: aiohttp.ClientSession, base_url: str, area: str, *, token: str | None = None, url_token: str | None = None):
    """GET an area's stream, with a token in the header, in the URL (`?token=`), or none."""
    return http.get(
        f"{base_url}/stream{area}.mp3",
        headers={"Authorization": f"Bearer {token}"} if token else {},
        params={"token": url_token} if url_token else {},
    )


class Listener:
    """Reads an area's stream in the background, like an IP speaker left switched on."""

    def __init__(self, response: aiohttp.ClientResponse):
        assert response.status == 200 and response.content_type == "audio/mpeg", response.status
        self.data = bytearray()
        self.task = asyncio.create_task(self._read(response))

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, base_url: str, area: str, **auth) -> "Listener":
        return cls(await stream_request(http, base_url, area, **auth))

    async def _read(self, response):
        try:
            async for chunk in response.content.iter_any():
                self.data += chunk
        except aiohttp.ClientPayloadError:
            pass  # the server cut the endless response, as it does at shutdown
        finally:
            response.release()

    async def hears_more(self):
        """Wait until more audio arrives than has so far."""
        heard = len(self.data)
        await eventually(lambda: len(self.data) > heard)

    async def close(self):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def listen(village, area, **auth) -> Listener:
    return await Listener.open(village.http, village.url, area, **auth)


async def refusal(village, area, **auth) -> tuple[int, Mapping[str, str], dict]:
    """Status, headers and problem body of a stream request the server is expected to refuse."""
    async with stream_request(village.http, village.url, area, **auth) as resp:
        assert resp.content_type == "application/problem+json", (resp.status, resp.content_type)
        return resp.status, resp.headers, await resp.json(content_type=None)


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


class TestWhatPlays:
    """What a speaker hears: the clips of the area's announcements, when quiet hours allow."""

    @pytest.fixture
    def speech_enabled(self) -> bool:
        return True

    async def test_stream_carries_emergency_even_in_quiet_hours(self, village, clock):
        """At 23:00 an emergency plays on the village stream; a decoder hears speech, not only silence."""
        listener = await listen(village, LIUJINGTUN)
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


    async def test_quiet_hours_hold_normal_until_they_end(self, village, clock):
        """A normal announcement posted at 23:00 is not played until the clock passes 06:30."""
        listener = await listen(village, LIUJINGTUN)
        posted = await village.post(title="通知", body="明天上午开会。", target={"areas": [LIUJINGTUN]})
        audio, media = await clip_of(village, posted["id"])
        await asyncio.sleep(audio["duration_s"] + 1.5)
        assert not contains_clip(bytes(listener.data), media)
        clock.at = datetime(2026, 11, 26, 6, 31, tzinfo=BEIJING)
        await eventually(lambda: contains_clip(bytes(listener.data), media), audio["duration_s"] + 10)
        await listener.close()


    async def test_stream_of_unrelated_area_stays_silent(self, village, clock):
        """An announcement for one village does not play on another village's stream."""
        clock.at = datetime(2026, 11, 25, 12, 0, tzinfo=BEIJING)
        other = await listen(village, XINCUN)
        posted = await village.post(title="通知", body="柳井屯停水。", target={"areas": [LIUJINGTUN]})
        audio, media = await clip_of(village, posted["id"])
        await asyncio.sleep(audio["duration_s"] + 1.5)
        await other.close()
        assert not contains_clip(bytes(other.data), media) and len(other.data) > 0


def stored(seq: int, announcement_id: str, *, audio: Audio | None = None, retract: bool = False, **target) -> StoredEvent:
    """An event as the hub hands it to its listeners, for /hongqi unless `target` says otherwise."""
    if retract:
        kind, payload = "retract", {"announcement_id": announcement_id, "reason": "cancelled"}
    else:
        announcement = AnnouncementPayload(id=announcement_id, revision=1, title="通知", body="停水。", priority="normal", audio=audio)
        kind, payload = "announcement", {"announcement": announcement.model_dump(mode="json")}
    row = Event(seq=seq, type=kind, target=Target(**target or {"areas": ("/hongqi",)}).to_json(), payload=payload,
                announcement_id=announcement_id)
    return StoredEvent.from_row(row)


async def test_a_station_queues_the_mp3_of_what_is_for_its_area_until_it_is_retracted(village):
    """From the hub's events a station queues an announcement's MP3 clip by its file name, not one without
    MP3 audio, for another area or for tagged screens; a retract takes it out again. (At 23:00 a normal
    announcement waits, so the queue holds still.)"""
    listener = await listen(village, LIUJINGTUN)
    media = village.app[SETTINGS].media_dir
    media.mkdir(parents=True, exist_ok=True)
    (media / "ab12.mp3").write_bytes(b"on this replica's disk")  # a clip not on the disk is first copied from the store
    stations = village.app[STATIONS]
    station = stations._stations[LIUJINGTUN]
    mp3 = Audio(url=media_url("ab12.mp3"), format="mp3", duration_s=3.5, repeat=1)
    for event in (
        stored(1, "spoken", audio=mp3),
        stored(2, "silent"),
        stored(3, "ogg-only", audio=Audio(url=media_url("ab12.ogg"), format="ogg", duration_s=3.5, repeat=1)),
        stored(4, "next-door", audio=mp3, areas=(XINCUN,)),
        stored(5, "tagged", audio=mp3, areas=("/hongqi",), tags=("market",)),
    ):
        stations.on_event(event)
    assert [(item.announcement_id, item.seq, item.media) for item in station._waiting] == [("spoken", 1, "ab12.mp3")]
    stations.on_event(stored(6, "spoken", retract=True))
    assert station._waiting == []
    await listener.close()


@pytest.mark.parametrize("area", ["/a b", "/hongqi/a.b", "/hongqi/nowhere", "/elsewhere"])
async def test_stream_of_no_area_is_404_and_makes_no_station(village, area):
    """A path that is not an area, or an area that does not exist, is a 404 problem and starts nothing."""
    status, _, problem = await refusal(village, area)
    assert status == 404 and problem["status"] == 404
    assert not village.app[STATIONS]._stations


class TestWhoMayListen:
    """With `media_public` off, a stream needs a token whose area covers the stream's."""

    @pytest.fixture
    def settings(self, settings):
        return settings.model_copy(update={"media_public": False})

    async def test_no_token_is_401(self, village):
        """Without a valid token (in the header or the URL) the answer is 401, before anything else."""
        status, headers, _ = await refusal(village, LIUJINGTUN)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        status, _, _ = await refusal(village, LIUJINGTUN, url_token="vb_not-a-token")
        assert status == 401
        assert not village.app[STATIONS]._stations

    async def test_token_of_another_area_is_403_whether_or_not_the_area_exists(self, village):
        """403, checked before existence: a neighbour's speaker learns nothing about which areas exist."""
        neighbour = (await village.screen("xincun gate", XINCUN, kind="speaker"))["token"]
        for area in (LIUJINGTUN, "/hongqi/nowhere", "/elsewhere"):
            status, _, problem = await refusal(village, area, token=neighbour)
            assert status == 403, (area, problem)
        status, _, _ = await refusal(village, LIUJINGTUN, url_token=neighbour)
        assert status == 403
        assert not village.app[STATIONS]._stations

    async def test_speaker_of_the_area_and_staff_above_it_hear_audio(self, village):
        """The area's own speaker (header or `?token=`) and an admin of a parent area get the stream; the speaker
        also gets the township's stream, which plays only what is meant for every village of it (a live call to
        the township is told to the village's devices with the township's stream)."""
        speaker = (await village.screen("liujingtun gate", LIUJINGTUN, kind="speaker"))["token"]
        county_admin = await village.token("admin", "/hongqi")
        for area, auth in ((LIUJINGTUN, {"token": speaker}), (LIUJINGTUN, {"url_token": speaker}),
                           (LIUJINGTUN, {"token": county_admin}), ("/hongqi", {"url_token": speaker})):
            listener = await listen(village, area, **auth)
            await eventually(lambda listener=listener: list(audio_frames(bytes(listener.data))))
            await listener.close()


class TestListenerCaps:
    """Past either cap a listener is refused with a 503 naming it; those already in keep listening."""

    @pytest.fixture
    def settings(self, settings):
        return settings.model_copy(update={"stream_max_listeners_per_area": 2, "stream_max_listeners": 3})

    async def test_caps_per_area_and_in_all(self, village):
        """Cap per area 2, in all 3: the 3rd of an area and the 4th in all are refused, and admitted once one leaves."""
        first, second = await listen(village, LIUJINGTUN), await listen(village, LIUJINGTUN)
        status, headers, problem = await refusal(village, LIUJINGTUN)
        assert status == 503 and int(headers["Retry-After"]) > 0
        assert "maximum of 2 listeners (stream_max_listeners_per_area)" in problem["detail"]
        await first.hears_more()

        other = await listen(village, XINCUN)
        status, headers, problem = await refusal(village, XINCUN)
        assert status == 503 and int(headers["Retry-After"]) > 0
        assert "maximum of 3 stream listeners (stream_max_listeners)" in problem["detail"]
        await other.hears_more()

        await second.close()
        newcomer = await eventually(lambda: try_listen(village, LIUJINGTUN))
        await newcomer.hears_more()
        for listener in (first, other, newcomer):
            await listener.close()


async def try_listen(village, area) -> Listener | None:
    """A listener, or None while the server still counts one that has just left."""
    response = await stream_request(village.http, village.url, area)
    if response.status == 503:
        response.release()
        return None
    return Listener(response)
