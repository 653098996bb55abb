"""A live call (实时喊话) heard on a device, end to end: the real server, a caller's WebSocket sending a tone as
Chromium's MediaRecorder would, and a real `village-screen` client whose player command is a recorder.

The recorder stands in for mpg123: given a file it "plays" it (decodes it with FFmpeg, then takes as long as the
audio lasts); given a URL it fetches the stream for as long as it runs and keeps the bytes, which the test decodes.
It logs each start and stop with the time, so the test sees what sounded when.
"""

import io
import json
import shlex
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from broadcast_server.keys import RECORDER
from screen_client.display import TerminalDisplay
from screen_client.player import CommandPlayer
from tests.e2e.live_audio import recorded_tone, speak, tone_seconds
from tests.e2e.screens import eventually, running
from tests.e2e.test_live import ended, open_call
from tests.e2e.test_stream import LIUJINGTUN, decode


@pytest.fixture
def database_settings(tmp_path) -> dict:
    """Sound, not storage: SQLite only (tests/e2e/test_live.py runs the call on both databases)."""
    return {"data_dir": tmp_path}


@pytest.fixture
def speech_enabled() -> bool:
    return True  # the notice the call interrupts is spoken


@pytest.fixture
async def village(village):
    await village.call("POST", "/areas", json={"path": LIUJINGTUN, "name": "柳井屯"}, expect=201)
    return village


RECORDER_SCRIPT = r"""
import json, os, signal, sys, time, urllib.request
from pathlib import Path

target, log = sys.argv[1], Path(sys.argv[2])
kind = "url" if target.startswith("http") else "file"

def note(event, **more):
    with log.open("a") as out:
        out.write(json.dumps({"event": event, "kind": kind, "pid": os.getpid(), "time": time.time(), **more}) + "\n")

def stop(signum, frame):
    note("stopped")
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
if kind == "file":
    import av
    with av.open(target) as container:
        seconds = sum(frame.samples / frame.sample_rate for frame in container.decode(audio=0))
    note("start", file=target, seconds=seconds)
    time.sleep(seconds)
    note("end")
else:
    note("start", url=target)
    saved = log.with_name(f"stream-{os.getpid()}.mp3")
    with urllib.request.urlopen(target) as response, saved.open("wb") as out:
        note("connected", status=response.status, saved=str(saved))
        while chunk := response.read1(4096):
            out.write(chunk)
            out.flush()
    note("end")
"""


class Recorder:
    """The player command and what it logged."""

    def __init__(self, directory: Path) -> None:
        script = directory / "recorder.py"
        script.write_text(RECORDER_SCRIPT)
        self.log = directory / "recorder.jsonl"
        python, path, log = (shlex.quote(str(part)) for part in (sys.executable, script, self.log))
        self.template = f"{python} {path} {{file}} {log}"

    def events(self, kind: str | None = None, event: str | None = None) -> list[dict]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        found = [json.loads(line) for line in lines]
        return [e for e in found if (kind is None or e["kind"] == kind) and (event is None or e["event"] == event)]

    def order(self) -> list[tuple[str, str]]:
        return [(e["kind"], e["event"]) for e in self.events()]


def tone_in(saved: Path) -> float:
    """Seconds of the tone in what the recorder has saved so far (nothing decodes before the first whole frame)."""
    data = saved.read_bytes()
    return tone_seconds(*decode(data)) if data else 0.0


async def played_once(village, announcement_id: str) -> dict | None:
    """The announcement's (or call's) delivery figures once one device's `played` is counted."""
    await village.app[RECORDER].flush()
    _, detail = await village.call("GET", f"/announcements/{announcement_id}", expect=200)
    return detail["deliveries"] if detail["deliveries"]["played"] == 1 else None


async def test_a_screen_plays_the_call_from_started_to_ended_then_the_notice_it_interrupted(village, tmp_path):
    """张书记 calls 柳井屯 while its screen speaks a notice: the notice's player is stopped, the player is given the
    station's URL with the screen's token and records about 3 s of the tone spoken, the screen shows who is talking,
    the player is stopped when the call ends (not before the caller stopped), the notice then plays again whole,
    and the server counts the screen's `played` for the call."""
    _, secretary = await village.call(
        "POST", "/tokens", json={"role": "committee", "area": "/hongqi", "name": "张书记"}, expect=201
    )
    screen = await village.screen("村口大屏", LIUJINGTUN)
    recorder = Recorder(tmp_path)
    player = CommandPlayer(recorder.template, server_url=village.url, token=screen["token"], cache_dir=tmp_path / "audio")
    shown = io.StringIO()
    display = TerminalDisplay(shown, color=False)
    async with running(village.url, screen["token"], tmp_path / "screen", player=player, display=display) as client:
        await client.wait_for(lambda: client.synced)
        notice = await village.post(
            title="停水通知", target={"areas": [LIUJINGTUN]},
            body="因自来水管道检修，明天上午八点到下午五点全村停水，请各家各户提前储水，给大家带来不便，敬请谅解。",
        )
        await eventually(lambda: recorder.events("file", "start"), 120)

        ws, started = await open_call(village, secretary["token"], [LIUJINGTUN])
        assert started["type"] == "started", started
        call_id = started["call_id"]
        connected = await eventually(lambda: recorder.events("url", "connected"), 15)
        await eventually(lambda: "正在喊话：张书记" in shown.getvalue().rsplit("村务公告", 1)[-1])
        await speak(ws, recorded_tone(3.0), 3.0)
        saved = Path(connected[0]["saved"])
        await eventually(lambda: tone_in(saved) > 2.0, 10)  # the station has played out what it held
        said_stop = time.time()
        await ws.send_json({"type": "stop"})
        assert (await ended(ws))["reason"] is None
        ended_at = time.time()
        stopped = await eventually(lambda: recorder.events("url", "stopped"), 10)
        await eventually(lambda: len(recorder.events("file", "end")) == 1, 60)
        await client.wait_for(lambda: "正在喊话" not in shown.getvalue().rsplit("村务公告", 1)[-1])
        assert client.live_calls == []
        played = await eventually(lambda: played_once(village, call_id), 10)
        await eventually(lambda: played_once(village, notice["id"]), 10)

    assert recorder.order() == [
        ("file", "start"), ("file", "stopped"),  # the notice, cut off by the call
        ("url", "start"), ("url", "connected"), ("url", "stopped"),  # the call, from started to ended
        ("file", "start"), ("file", "end"),  # the notice again, whole
    ]
    first, again = recorder.events("file", "start")
    assert first["file"] == again["file"] and recorder.events("file", "end")[0]["time"] - again["time"] >= again["seconds"]
    url = urlsplit(recorder.events("url", "start")[0]["url"])
    assert url.path == "/stream/hongqi/liujingtun.mp3" and parse_qs(url.query) == {"token": [screen["token"]]}
    assert connected[0]["status"] == 200
    assert said_stop < stopped[0]["time"] < ended_at + 3  # stopped by `ended`: after the caller stopped, soon after
    assert tone_in(saved) > 2.0  # of the 3 s said: the start may be lost to the decoder's probe
    assert played == {"targeted": 1, "received": 1, "displayed": 0, "played": 1}
