"""Live calls (实时喊话) through the real server: a caller's WebSocket in, a loudspeaker stream and devices out.

The caller sends a 1 kHz tone as Chromium's MediaRecorder would (Opus in WebM, a piece every quarter
second, cut at arbitrary bytes); a listener of /stream/{area}.mp3 decodes what it hears with FFmpeg and
finds the tone; the area's devices are told `started` then `ended`; the call is kept as an announcement.
"""

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from announcements.models import Announcement
from broadcast_server.keys import DATABASE, LIVE_CALLS
from tests import wsframes
from tests.e2e.live_audio import keep_talking, recorded_tone, speak, tone_seconds
from tests.e2e.screens import eventually
from tests.e2e.test_stream import LIUJINGTUN, XINCUN, decode, listen

# The rules of a call are the server's own, the same on either database: SQLite only, except where storage matters.
ONE_DATABASE = pytest.mark.parametrize("database_settings", ["sqlite"], indirect=True)


@pytest.fixture
async def village(village):
    for path, name in ((LIUJINGTUN, "柳井屯"), (XINCUN, "新村")):
        await village.call("POST", "/areas", json={"path": path, "name": name}, expect=201)
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


@ONE_DATABASE  # the record and its events are written as every announcement's are, tested on both elsewhere
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
        assert (await ended(ws))["code"] == "caller"
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


class TalkingCall:
    """A call that goes on sending sound in the background until it is stopped or ended."""

    def __init__(self, ws, started):
        self.ws, self.started = ws, started
        self.voice = asyncio.create_task(keep_talking(ws))

    @property
    def id(self) -> str:
        return self.started["call_id"]

    async def end(self) -> dict:
        """Stop talking and say stop; the server's `ended`."""
        self.voice.cancel()
        await asyncio.gather(self.voice, return_exceptions=True)
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError):  # an admin may have ended it already
                await self.ws.send_json({"type": "stop"})
        return await ended(self.ws)


async def talking(village, token, areas, **kw) -> TalkingCall:
    ws, started = await open_call(village, token, areas, **kw)
    assert started["type"] == "started", started
    return TalkingCall(ws, started)


async def refused(village, token, areas) -> dict:
    """The error a `start` gets, after which the server closes the socket."""
    ws, answer = await open_call(village, token, areas)
    assert answer["type"] == "error", answer
    assert (await ws.receive(timeout=5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await ws.close()
    return answer


@ONE_DATABASE
async def test_one_call_per_area_and_the_second_caller_learns_who_talks(village):
    """While 柳井屯's committee talks to 柳井屯, a county caller to 红旗 (which covers it) and a second caller to
    柳井屯 are told `busy` with who is talking and where; 新村 is free; once the call ends 红旗 is free too."""
    first = await talking(village, await village.token("committee", LIUJINGTUN), [LIUJINGTUN])
    county = await village.token("committee", "/hongqi")
    for areas in (["/hongqi"], [LIUJINGTUN], [XINCUN, LIUJINGTUN]):
        answer = await refused(village, county, areas)
        assert answer["code"] == "busy" and answer["caller_name"] == f"committee@{LIUJINGTUN}", answer
        assert answer["areas"] == [LIUJINGTUN] and answer["call_id"] == first.id
    beside = await talking(village, county, [XINCUN])
    assert (await beside.end())["reason"] is None
    assert (await first.end())["reason"] is None
    again = await talking(village, county, ["/hongqi"])
    await again.end()


@ONE_DATABASE
async def test_a_call_is_refused_outside_the_callers_scope_and_to_no_area(village):
    """A village's committee cannot call its neighbour or the county; an area that does not exist, a path that is
    not one, and a worker or a screen are refused; nothing is started or listed."""
    xincun = await village.token("committee", XINCUN)
    for areas in ([LIUJINGTUN], ["/hongqi"], [XINCUN, LIUJINGTUN]):
        assert (await refused(village, xincun, areas))["code"] == "forbidden"
    assert (await refused(village, xincun, [XINCUN + "/nowhere"]))["code"] == "not_found"
    assert (await refused(village, xincun, ["no slash"]))["code"] == "invalid"
    assert (await refused(village, xincun, []))["code"] == "invalid"
    for token in (await village.token("worker", XINCUN), (await village.screen("gate", XINCUN))["token"]):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
            await village.http.ws_connect(village.url + "/api/v1/live", headers=village.auth(token))
        assert refusal.value.status == 403
    _, listed = await village.call("GET", "/announcements", expect=200)
    assert not [a for a in listed["items"] if a["title"].startswith("实时喊话")]


@ONE_DATABASE
async def test_a_call_whose_browser_vanishes_or_falls_silent_ends_within_five_seconds(village):
    """A caller whose connection drops (no close frame) and one whose page stops sending sound: each call ends
    within 5 s for its devices (`ended`), and the area is free again."""
    committee = await village.token("committee", "/hongqi")
    device = await wsframes.connected(village, (await village.screen("speaker", LIUJINGTUN, kind="speaker"))["token"])
    dropped = await talking(village, committee, [LIUJINGTUN])
    await wsframes.until(device, "live")
    dropped.voice.cancel()
    dropped.ws._conn.transport.abort()  # the phone lost its signal: no close frame
    lost = asyncio.get_running_loop().time()
    assert [f["state"] for f in await wsframes.until(device, "live", timeout=10) if f["type"] == "live"] == ["ended"]
    assert asyncio.get_running_loop().time() - lost < 5.0

    silent, started = await open_call(village, committee, [LIUJINGTUN])
    await silent.send_bytes(recorded_tone(0.5))
    quiet = asyncio.get_running_loop().time()
    assert (await ended(silent))["code"] == "silent"
    assert asyncio.get_running_loop().time() - quiet < 6.0
    told = await wsframes.collect(device, lambda frames: len(live_frames(frames)) == 2)
    assert [state for state, _ in live_frames(told)] == ["started", "ended"]


@ONE_DATABASE
async def test_an_admin_sees_and_stops_a_call_others_cannot(village):
    """The county admin lists the call in progress and stops it: the caller is told who stopped it. Another
    village's committee neither sees nor stops it, and a committee member who is not the caller may not stop it."""
    call = await talking(village, await village.token("committee", LIUJINGTUN), [LIUJINGTUN])
    xincun = await village.token("committee", XINCUN)
    _, theirs = await village.call("GET", "/live/calls", token=xincun, expect=200)
    assert theirs == []
    await village.call("DELETE", f"/live/calls/{call.id}", token=xincun, expect=404)
    colleague = await village.token("committee", LIUJINGTUN)
    await village.call("DELETE", f"/live/calls/{call.id}", token=colleague, expect=403)
    _, calls = await village.call("GET", "/live/calls", expect=200)
    assert [(c["call_id"], c["areas"], c["caller_name"]) for c in calls] == [(call.id, [LIUJINGTUN], f"committee@{LIUJINGTUN}")]
    await village.call("DELETE", f"/live/calls/{call.id}", expect=204)
    stopped = await call.end()
    assert (stopped["code"], stopped["by"], stopped["reason"]) == ("stopped", "root", "stopped by root")
    _, calls = await village.call("GET", "/live/calls", expect=200)
    assert calls == []


async def test_a_replay_holds_a_call_only_while_it_goes_on(village):
    """A speaker that connects during a call is told `started` in its replay; one that resumes after the call from
    a seq before it gets the `ended`, never a `started` that would set it playing a call that is over."""
    speaker = (await village.screen("speaker", LIUJINGTUN, kind="speaker"))["token"]
    before = await wsframes.connect(village, speaker)
    head = (await wsframes.until(before, "synced"))[-1]["head_seq"]
    await before.close()
    call = await talking(village, await village.token("committee", "/hongqi"), [LIUJINGTUN])
    during = await wsframes.connect(village, speaker)
    assert [(f["state"], f["call_id"]) for f in await wsframes.until(during, "synced") if f["type"] == "live"] == [("started", call.id)]
    await during.close()
    await call.end()
    after = await wsframes.connect(village, speaker, last_seq=head)
    assert [f["state"] for f in await wsframes.until(after, "synced") if f["type"] == "live"] == ["ended"]
    fresh = await wsframes.connect(village, speaker)
    assert not [f for f in await wsframes.until(fresh, "synced") if f["type"] == "live"]


@ONE_DATABASE
async def test_sound_that_is_not_a_browsers_recording_ends_the_call_and_is_kept_as_such(village):
    """A JPEG sent as the microphone ends the call with a reason the console words; the call is still on record,
    with no audio and the reason."""
    ws, started = await open_call(village, await village.token("committee", LIUJINGTUN), [LIUJINGTUN])
    await ws.send_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 2000)
    assert (await ended(ws))["code"] == "bad_sound"

    async def record():
        _, detail = await village.call("GET", f"/announcements/{started['call_id']}", expect=200)
        return detail if detail["speech_status"] == "failed" else None

    detail = await eventually(record)
    assert detail["audio"] is None and detail["speech_error"] == "nothing was said"


@ONE_DATABASE
async def test_a_signed_in_clerk_calls_from_this_servers_page_only(village):
    """The console's socket carries the session cookie: from this server's own page (its Origin) it starts a call;
    from another site, or with no Origin, it is refused before any call (a forged cross-site socket). A token
    in the URL needs no Origin: another site cannot have it."""
    user = {"name": "li", "display_name": "李主任", "role": "committee", "area": LIUJINGTUN, "password": "村口大槐树-2026"}
    await village.call("POST", "/users", json=user, expect=201)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        signed_in = await browser.post(village.url + "/api/v1/session", json={"name": "li", "password": "村口大槐树-2026"},
                                       headers={"Origin": village.url})
        assert signed_in.status == 200
        for origin in ("http://evil.example", None):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
                await browser.ws_connect(village.url + "/api/v1/live", headers={"Origin": origin} if origin else {})
            assert refusal.value.status == 403
        ws = await browser.ws_connect(village.url + "/api/v1/live", headers={"Origin": village.url})
        await ws.send_json({"type": "start", "areas": [LIUJINGTUN]})
        started = await ws.receive_json(timeout=10)
        assert started["type"] == "started"
        await ws.send_json({"type": "stop"})
        assert (await ended(ws))["reason"] is None
    # a console signed in with a token gives it in the URL, as a WebSocket takes no header from a page
    token = await village.token("committee", LIUJINGTUN)
    ws = await village.http.ws_connect(village.url + f"/api/v1/live?token={token}")
    await ws.send_json({"type": "start", "areas": [LIUJINGTUN]})
    assert (await ws.receive_json(timeout=10))["type"] == "started"
    await ws.send_json({"type": "stop"})
    assert (await ended(ws))["code"] == "caller"


@ONE_DATABASE
async def test_a_call_whose_server_died_is_ended_for_its_devices_when_its_lease_lapses(village):
    """A call left marked live by a replica that died (its lease not renewed) is ended by the server that finds it:
    the devices that were told `started` are told `ended`, and the record says the call was cut off."""
    speaker = await wsframes.connected(village, (await village.screen("speaker", LIUJINGTUN, kind="speaker"))["token"])
    call = await talking(village, await village.token("committee", "/hongqi"), [LIUJINGTUN])
    await wsframes.until(speaker, "live")
    calls = village.app[LIVE_CALLS]
    del calls.calls[call.id]  # as another replica would see it: not one of its own
    async with village.app[DATABASE].write() as session:
        row = await session.get(Announcement, call.id)
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)
    calls._leases.poke()
    told = await wsframes.until(speaker, "live")
    assert (told[-1]["call_id"], told[-1]["state"]) == (call.id, "ended")
    _, detail = await village.call("GET", f"/announcements/{call.id}", expect=200)
    assert detail["speech_error"] == "the call was cut off" and detail["status"] == "expired"
    call.voice.cancel()
    await call.ws.close()
