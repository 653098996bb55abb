"""Recordings over the API (PROTOCOL.md 1.1): POST /media takes audio, a notice carries `recording`, and a real
loudspeaker client gets `audio` with `source: "recording"` that plays the recording. SQLite and PostgreSQL."""

from __future__ import annotations

import io

import aiohttp
import numpy as np
import pytest
import soundfile as sf

from broadcast_server.keys import SETTINGS
from screen_client.player import NullPlayer
from tests.announcements.test_recording import CHIME_S, encoded, wav
from tests.e2e.screens import eventually, running


@pytest.fixture
def speech_enabled() -> bool:
    return True


async def upload(village, data: bytes, *, token: str | None = None, filename: str = "voice.m4a"):
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return await village.call("POST", "/media", data=form, token=token)


def recordings(village) -> list[str]:
    return sorted(p.name for p in village.app[SETTINGS].media_dir.glob("*.flac"))


async def posted_nothing(village) -> bool:
    _, page = await village.call("GET", "/announcements", expect=200)
    return page["items"] == []


async def test_a_recorded_notice_reaches_a_loudspeaker_as_the_recording(village, tmp_path):
    status, stored = await upload(village, encoded("m4a", level=0.1))
    assert status == 201, stored
    assert stored["kind"] == "audio" and stored["duration_s"] == pytest.approx(3.0, abs=0.1)
    assert set(stored) == {"url", "kind", "duration_s"} and recordings(village) == [stored["url"].removeprefix("/media/")]
    async with village.http.get(village.url + stored["url"]) as resp:  # the console can listen to what was kept
        assert resp.status == 200 and resp.headers["Content-Type"] == "audio/flac"

    horn = await village.screen("horn", "/hongqi/liujingtun", kind="speaker")
    player = NullPlayer()
    async with running(village.url, horn["token"], tmp_path / "horn", display=None, player=player) as client:
        await client.wait_for(lambda: client.synced)
        posted = await village.post(title="停水通知", body="明天上午停水。", repeat=2, recording=stored["url"])
        assert posted["recording"] == stored["url"] and posted["speech_status"] == "pending"
        await eventually(lambda: any(r.announcement_id == posted["id"] for r in player.records), 30)
        [heard] = [a for a in client.announcements() if a.id == posted["id"]]
    assert heard.audio.source == "recording" and heard.audio.repeat == 2 and heard.body == "明天上午停水。"
    expected = CHIME_S + 2 * (1.0 + stored["duration_s"])
    assert heard.audio.duration_s == pytest.approx(expected, abs=0.05)
    async with village.http.get(village.url + heard.audio.url) as resp:
        samples, rate = sf.read(io.BytesIO(await resp.read()))
    assert len(samples) / rate == pytest.approx(expected, rel=0.05)
    _, detail = await village.call("GET", f"/announcements/{posted['id']}", expect=200)
    assert detail["audio"]["source"] == "recording" and detail["speech_status"] == "ready"


async def test_a_spoken_notice_says_its_source_is_speech(village):
    posted = await village.post(title="通知", body="今天开会。")

    async def voiced():
        _, detail = await village.call("GET", f"/announcements/{posted['id']}", expect=200)
        return detail["audio"]

    assert (await eventually(voiced, 30))["source"] == "speech"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (lambda: wav(np.zeros(3 * 8000, np.float32), 8000), 422, "recording_silent"),
        (lambda: b"ID3" + bytes(4000), 422, "recording_not_audio"),
        (lambda: b"", 422, "recording_not_audio"),
        (lambda: "明天开会\n".encode() * 100, 422, "image_not_picture"),  # neither: the answer names both
    ],
    ids=["silent", "damaged-mp3", "empty", "text"],
)
async def test_bad_audio_is_refused_and_nothing_is_kept(village, data, status, code):
    answer_status, problem = await upload(village, data())
    assert answer_status == status, problem
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["file"], code)]
    if code == "image_not_picture":
        assert "picture" in problem["detail"] and "recording" in problem["detail"] and "AMR" in problem["detail"]
    assert recordings(village) == []


async def test_fifty_megabytes_of_audio_are_refused_by_content_length(village):
    status, problem = await upload(village, b"RIFF" + bytes(51 * 1024 * 1024))
    assert status == 413 and problem["errors"][0]["type"] == "recording_too_large" and "50 MB" in problem["detail"]


@pytest.mark.parametrize(
    ("recording", "speak", "code"),
    [(f"/media/{'0' * 64}.flac", True, "recording_unknown"), ("https://example.org/a.mp3", True, "recording_unknown"),
     (None, False, "recording_not_spoken")],
    ids=["unknown", "elsewhere", "speak-false"],
)
async def test_a_notice_with_a_recording_it_cannot_play_is_not_posted(village, recording, speak, code):
    if recording is None:
        recording = (await upload(village, encoded("mp3")))[1]["url"]
    status, problem = await village.call(
        "POST", "/announcements", json={"title": "t", "body": "b", "recording": recording, "speak": speak}
    )
    assert status == 422, problem
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["recording"], code)]
    assert await posted_nothing(village)


@pytest.mark.parametrize("role", ["screen", "worker"])
async def test_only_the_committee_and_admins_upload_recordings(village, role):
    if role == "screen":
        token = (await village.screen("gate", "/hongqi/liujingtun"))["token"]
    else:
        token = await village.token("worker", "/hongqi/liujingtun")
    status, _ = await upload(village, encoded("mp3"), token=token)
    assert status == 403 and recordings(village) == []
