"""A loudspeaker box end to end: real speech on the server, a real screen client with a command player
that downloads the clip and decodes it as a real player would, and the `played` receipt in the figures."""

import hashlib
import json
import shlex
import sys

import pytest

from broadcast_server.keys import RECORDER
from screen_client.player import CommandPlayer
from tests.e2e.screens import eventually, running


@pytest.fixture
def speech_enabled() -> bool:
    return True


# The player command: decodes the file it is given with FFmpeg (PyAV) and appends what it heard.
DECODE_SCRIPT = r"""
import hashlib, json, sys
from pathlib import Path

import av

path, out = Path(sys.argv[1]), Path(sys.argv[2])
heard = {"file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
samples, rate, peak = 0, None, 0.0
try:
    with av.open(str(path)) as container:
        heard["format"] = container.format.name
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            samples += frame.samples
            rate = frame.sample_rate
            peak = max(peak, float(abs(frame.to_ndarray()).max()))
    heard.update(samples=samples, rate=rate, duration_s=samples / rate, peak=peak)
except Exception as exc:  # undecodable: say so, and fail as a real player would
    heard["error"] = repr(exc)
with out.open("a") as log:
    log.write(json.dumps(heard) + "\n")
sys.exit(1 if "error" in heard else 0)
"""


async def played_figure(village, announcement_id):
    await village.app[RECORDER].flush()
    _, detail = await village.call("GET", f"/announcements/{announcement_id}", expect=200)
    return detail if detail["deliveries"]["played"] >= 1 else None


async def test_speaker_downloads_decodes_and_plays_the_real_clip(village, tmp_path):
    """The speaker fetches the announcement's MP3 with its token, the player command decodes all of it
    (more than a second of sound, the same bytes the server serves), and `played` reaches the figures."""
    horn = await village.screen("horn", "/hongqi/liujingtun", kind="speaker")
    script = tmp_path / "decode.py"
    script.write_text(DECODE_SCRIPT)
    plays = tmp_path / "plays.jsonl"
    cache = tmp_path / "horn-audio"
    python, decode, out = (shlex.quote(str(part)) for part in (sys.executable, script, plays))
    template = f"{python} {decode} {{file}} {out}"
    player = CommandPlayer(template, server_url=village.url, token=horn["token"], cache_dir=cache)
    async with running(village.url, horn["token"], tmp_path / "horn", display=None, player=player) as client:
        await client.wait_for(lambda: client.synced)
        posted = await village.post(title="打疫苗", body="明天上午八点到十一点在卫生室打疫苗，请带好身份证。")
        await eventually(lambda: plays.exists() and plays.read_text().strip(), 60)
        assert "error" not in plays.read_text(), plays.read_text()
        detail = await eventually(lambda: played_figure(village, posted["id"]), 10)
        assert client.store.unplayed() == []

    audio = detail["audio"]
    assert detail["speech_status"] == "ready" and audio["format"] == "mp3"
    heard = [json.loads(line) for line in plays.read_text().splitlines()]
    assert len(heard) == 1  # played once (`repeat` is rendered into the clip)
    heard = heard[0]
    async with village.http.get(village.url + audio["url"], headers=village.auth(horn["token"])) as resp:
        assert resp.status == 200
        served = await resp.read()
    assert heard["sha256"] == hashlib.sha256(served).hexdigest()  # the very clip of this announcement
    assert heard["file"].startswith(str(cache))
    assert heard["format"] == "mp3" and heard["rate"] > 0  # demuxed and decoded as MP3
    assert heard["duration_s"] > 1.0 and abs(heard["duration_s"] - audio["duration_s"]) < 0.5
    assert heard["peak"] > 0.01  # sound, not silence
    assert detail["deliveries"]["played"] == 1
