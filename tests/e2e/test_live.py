"""Live calls (实时喊话) through the real server: a caller's WebSocket in, a loudspeaker stream and devices out.

The caller sends a 1 kHz tone as Chromium's MediaRecorder would (Opus in WebM, a piece every quarter
second, cut at arbitrary bytes); a listener of /stream/{area}.mp3 decodes what it hears with FFmpeg and
finds the tone; the area's devices are told `started` then `ended`; the call is kept as an announcement.
"""

import asyncio
import json

import aiohttp
import pytest

from tests import wsframes
from tests.e2e.live_audio import recorded_tone, speak, tone_seconds
from tests.e2e.screens import eventually
from tests.e2e.test_stream import LIUJINGTUN, XINCUN, decode, listen


@pytest.fixture
def database_settings(database_settings):
    return database_settings  # both databases: the call is an announcement and events like any other


@pytest.fixture
async def village(village):
    for path in (LIUJINGTUN, XINCUN):
        await village.call("POST", "/areas", json={"path": path, "name": {"/hongqi/liujingtun": "柳井屯", "/hongqi/xincun": "新村"}[path]}, expect=201)
    return village


async def open_call(village, token, areas, priority="high"):
    """A console's call socket after `start`: the socket and the server's first answer."""
    ws = await village.http.ws_connect(village.url + "/api/v1/live", headers=village.auth(token))
    await ws.send_json({"type": "start", "areas": areas, "priority": priority})
    return ws, await ws.receive_json(timeout=10)


async def ended(ws) -> dict:
    """The server's last word on a call before it closes the socket."""
    while True:
        msg = await ws.receive(timeout=15)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frame = json.loads(msg.data)
        if frame["type"] == "ended":
            return frame


def live_frames(frames):
    return [(f["state"], f.get("stream_url")) for f in frames if f["type"] == "live"]


class TestACall:
    @pytest.fixture
    def speech_enabled(self) -> bool:
        return True  # the kept record is rendered like any recording

    async def test_the_tone_spoken_reaches_the_stream_the_devices_and_the_record(self, village):
        """The committee of 红旗 calls 柳井屯: its loudspeaker stream plays the tone, its speaker device is told
        to play the station from `started` to `ended` and its receipt is counted, 新村 hears nothing, and the
        call is listed as an announcement whose audio (source live) holds what was said."""
        committee = await village.token("committee", "/hongqi")
        speaker = await village.screen("gate speaker", LIUJINGTUN, kind="speaker")
        device = await wsframes.connected(village, speaker["token"])
        here, there = await listen(village, LIUJINGTUN), await listen(village, XINCUN)
        ws, started = await open_call(village, committee, [LIUJINGTUN])
        assert started["type"] == "started" and started["areas"] == [{"path": LIUJINGTUN, "name": "柳井屯"}]
        told = await wsframes.until(device, "live")
        assert live_frames(told) == [("started", "/stream/hongqi/liujingtun.mp3")]
        assert told[-1]["call_id"] == started["call_id"] and told[-1]["priority"] == "high"
        await device.send_json({"type": "receipt", "call_id": started["call_id"], "state": "played"})

        await speak(ws, recorded_tone(4.0), 4.0)
        await asyncio.sleep(1.5)  # the station plays what it holds
        await ws.send_json({"type": "stop"})
        assert (await ended(ws))["reason"] is None
        assert live_frames(await wsframes.until(device, "live")) == [("ended", None)]
        await here.close(), await there.close()

        samples, rate = decode(bytes(here.data))
        assert tone_seconds(samples, rate) > 3.0  # of the 4 s said: the start may be lost to the decoder's probe
        other, rate = decode(bytes(there.data))
        assert tone_seconds(other, rate) == 0

        async def record():
            _, detail = await village.call("GET", f"/announcements/{started['call_id']}", expect=200)
            return detail if detail["audio"] else None

        detail = await eventually(record, 60)
        assert detail["audio"]["source"] == "live" and detail["status"] == "expired"
        assert 3.5 < detail["audio"]["duration_s"]
        _, listed = await village.call("GET", "/announcements", expect=200)
        assert started["call_id"] in [a["id"] for a in listed["items"]]
        assert detail["deliveries"] == {"targeted": 1, "received": 1, "displayed": 0, "played": 1}
