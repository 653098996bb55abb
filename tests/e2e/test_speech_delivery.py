"""Speech end to end: real synthesis in worker processes, audio on the screen, media served, failures visible."""

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import soundfile as sf

from broadcast_server.keys import RECORDER
from screen_client.player import NullPlayer
from tests.clock import SettableClock
from tests.e2e.screens import eventually, running


@pytest.fixture
def speech_enabled() -> bool:
    return True


async def fetch(village, url, headers=None):
    async with village.http.get(village.url + url, headers=headers) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


async def audio_of(village, announcement_id):
    _, detail = await village.call("GET", f"/announcements/{announcement_id}", expect=200)
    return detail["audio"]


async def speech_failed(village, announcement_id):
    _, detail = await village.call("GET", f"/announcements/{announcement_id}", expect=200)
    return detail if detail["speech_status"] == "failed" else None


async def test_text_goes_out_at_once_then_audio_as_next_revision(village, tmp_path):
    """An emergency's text reaches the screen first; its audio follows as revision 2 and can be played."""
    gate = await village.screen("gate", "/hongqi/liujingtun")
    async with running(village.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: client.synced)
        posted = await village.post(title="紧急通知", body="山洪预警，请立即转移到高处。", priority="emergency", repeat=2)
        await client.wait_for(lambda: any(a.id == posted["id"] for a in client.announcements()))
        first = client.announcements()[0]
        assert first.revision == 1 and first.audio is None
        await client.wait_for(lambda: client.announcements()[0].audio is not None, timeout=60)
        spoken = client.announcements()[0]
        assert spoken.revision == 2 and spoken.audio.format == "mp3" and spoken.audio.repeat == 2
        assert spoken.audio.alternatives[0].format == "ogg"

    status, headers, body = await fetch(village, spoken.audio.url)
    assert status == 200 and headers["Content-Type"] == "audio/mpeg"
    assert "immutable" in headers["Cache-Control"] and headers["ETag"]
    samples, rate = sf.read(io.BytesIO(body))
    assert abs(len(samples) / rate - spoken.audio.duration_s) < 0.5
    assert float(np.sqrt(np.mean(samples**2))) > 0.01  # not silent

    status, _, _ = await fetch(village, spoken.audio.url, {"If-None-Match": headers["ETag"]})
    assert status == 304
    status, ranged, part = await fetch(village, spoken.audio.url, {"Range": "bytes=0-99"})
    assert status == 206 and len(part) == 100 and ranged["Content-Range"].startswith("bytes 0-99/")


async def test_speaker_plays_and_reports_played(village, tmp_path):
    """A loudspeaker box plays the clip and its played receipt shows in the delivery figures."""
    horn = await village.screen("horn", "/hongqi/liujingtun", kind="speaker")
    player = NullPlayer()
    async with running(village.url, horn["token"], tmp_path / "horn", display=None, player=player) as client:
        await client.wait_for(lambda: client.synced)
        posted = await village.post(title="打疫苗", body="明天上午在卫生室打疫苗。")
        await eventually(lambda: any(r.announcement_id == posted["id"] and r.ended_at for r in player.records), 60)

        async def played() -> dict | None:
            """The receipt goes out after the clip ends: the box stays online until the server has it."""
            await village.app[RECORDER].flush()
            _, detail = await village.call("GET", f"/announcements/{posted['id']}", expect=200)
            return detail if detail["deliveries"]["played"] == 1 else None

        detail = await eventually(played)
    assert detail["speech_status"] == "ready"


async def test_same_text_gives_the_same_media(village):
    """Posting the same text twice reuses the clip: the same media URL."""
    first = await village.post(title="通知", body="今天下午三点开会。")
    second = await village.post(title="通知", body="今天下午三点开会。")
    urls = [(await eventually(lambda p=posted: audio_of(village, p["id"]), 60))["url"] for posted in (first, second)]
    assert urls[0] == urls[1]


async def test_failed_synthesis_leaves_the_text_delivered_and_says_why(village, tmp_path):
    """Text that cannot be spoken still reaches the screen; the API shows speech failed with the reason."""
    gate = await village.screen("gate", "/hongqi/liujingtun")
    async with running(village.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: client.synced)
        posted = await village.post(title="！！！", body="……")
        await client.wait_for(lambda: any(a.id == posted["id"] for a in client.announcements()))
    detail = await eventually(lambda: speech_failed(village, posted["id"]))
    assert detail["speech_status"] == "failed" and "nothing to speak" in detail["speech_error"]
    assert detail["audio"] is None


async def test_preview_returns_playable_mp3(village):
    """The committee hears a text before posting it."""
    async with village.http.post(
        village.url + "/api/v1/speech/preview", json={"text": "Village meeting tomorrow at nine.", "language": "en"}, headers=village.auth()
    ) as resp:
        assert resp.status == 200 and resp.content_type == "audio/mpeg"
        samples, rate = sf.read(io.BytesIO(await resp.read()))
    assert len(samples) / rate > 1.0


@pytest.mark.parametrize("name", ["../village.db", "nothex.mp3", "0123456789abcdef0123456789abcdef.exe"])
async def test_media_names_are_checked(village, name):
    """Only content-hash media names are served; anything else is a 404."""
    status, headers, _ = await fetch(village, "/media/" + name)
    assert status == 404


@pytest.mark.settings(quiet_hours={"/hongqi/liujingtun": "22:00-06:30"})  # this test's alone: the others play at any hour
async def test_speaker_holds_normal_in_quiet_hours_and_lets_emergency_through(village, tmp_path):
    """At 23:00 on the device's clock a normal announcement waits and an emergency plays; at 06:30 the normal one plays."""
    night = SettableClock(datetime(2026, 11, 25, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    horn = await village.screen("horn", "/hongqi/liujingtun", kind="speaker")
    player = NullPlayer(clock=night)
    async with running(village.url, horn["token"], tmp_path / "horn", display=None, player=player) as client:
        await client.wait_for(lambda: client.synced)
        normal = await village.post(title="通知", body="明天上午开会。")
        await eventually(lambda: audio_of(village, normal["id"]), 60)
        emergency = await village.post(title="紧急", body="山洪预警，请立即转移。", priority="emergency")
        await eventually(lambda: any(r.announcement_id == emergency["id"] and r.ended_at for r in player.records), 60)
        await client.wait_for(lambda: all(a.audio for a in client.announcements()))
        assert [r.announcement_id for r in player.records] == [emergency["id"]]
        night.at = datetime(2026, 11, 26, 6, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
        await eventually(lambda: any(r.announcement_id == normal["id"] for r in player.records), 10)

