"""The WebSocket contract of PROTOCOL.md section 3, spoken frame by frame over a real socket."""

import asyncio

import aiohttp
import pytest

from broadcast_server.keys import HUB, RECORDER
from broadcast_server.ratelimit import RateLimiter
from tests.wsframes import connect, event_keys, until


async def test_hello_welcome_reset_replay_then_live(village):
    """A new screen gets welcome, the live state with reset, synced, then live events."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    first = await village.post(target={"areas": ["/hongqi"]})
    ws = await connect(village, screen["token"])
    frames = await until(ws, "synced")
    assert frames[0]["type"] == "welcome" and frames[0]["screen_id"] == screen["id"]
    assert frames[0]["area"] == "/hongqi/liujingtun" and frames[0]["kind"] == "screen"
    assert [f["announcement"]["id"] for f in frames if f["type"] == "announcement"] == [first["id"]]
    assert frames[-1]["reset"] is True and frames[-1]["head_seq"] == frames[0]["head_seq"]
    second = await village.post(target={"areas": ["/hongqi/liujingtun"]}, priority="emergency")
    live = await until(ws, "announcement")
    assert live[-1]["announcement"]["id"] == second["id"] and live[-1]["seq"] > frames[-1]["head_seq"]
    await ws.close()


async def test_resume_replays_only_what_was_missed(village):
    """With last_seq, the replay is exactly the targeted events after it, oldest first."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    a = await village.post()
    ws = await connect(village, screen["token"])
    head = (await until(ws, "synced"))[-1]["head_seq"]
    await ws.close()
    b = await village.post(target={"areas": ["/hongqi/liujingtun"]})
    await village.post(target={"areas": ["/hongqi/xincun"]})  # not for this screen
    await village.call("POST", f"/announcements/{a['id']}/cancel", expect=200)
    ws = await connect(village, screen["token"], last_seq=head)
    frames = await until(ws, "synced")
    replay = [f for f in frames if f["type"] in ("announcement", "retract")]
    assert event_keys(frames) == [("announcement", b["id"]), ("retract", a["id"])]
    assert replay[1]["reason"] == "cancelled" and frames[-1]["reset"] is False
    assert [f["seq"] for f in replay] == sorted(f["seq"] for f in replay)
    await ws.close()


async def test_replay_from_database_when_memory_does_not_reach(village):
    """A screen further behind than the in-memory window is replayed from the event table."""
    village.app[HUB]._recent.clear()  # as after a restart with a small replay window
    screen = await village.screen("gate", "/hongqi/liujingtun")
    posted = [await village.post(title=f"n{i}") for i in range(3)]
    village.app[HUB]._recent.clear()
    ws = await connect(village, screen["token"], last_seq=0)
    frames = await until(ws, "synced")
    assert [f["announcement"]["id"] for f in frames if f["type"] == "announcement"] == [p["id"] for p in posted]
    await ws.close()


@pytest.mark.parametrize(
    "frame, code",
    [
        ("this is not json", "invalid"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "ack", "seq": "x"}', "invalid"),
        ('{"type": "ack", "seq": 999999}', "invalid"),
        ('{"type": "hello", "token": "again"}', "invalid"),
    ],
)
async def test_malformed_frame_gets_error_and_connection_stays(village, frame, code):
    """A bad frame is answered with an error naming it, and ping still gets pong afterwards."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    await ws.send_str(frame)
    error = (await until(ws, "error"))[-1]
    assert error["code"] == code and error["message"]
    await ws.send_json({"type": "ping"})
    assert (await until(ws, "pong"))[-1] == {"type": "pong"}
    await ws.close()


async def test_bad_token_closes_4401(village):
    """An unknown token gets an unauthorized error and close code 4401."""
    ws = await connect(village, "vb_wrong")
    error = await ws.receive_json(timeout=5)
    assert error == {"type": "error", "code": "unauthorized", "message": error["message"], "ref": None}
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4401


async def test_committee_token_is_not_a_screen(village):
    """Only screen tokens may say hello."""
    committee = await village.token("committee", "/hongqi")
    ws = await connect(village, committee)
    await ws.receive_json(timeout=5)
    assert (await ws.receive(timeout=5)).data == 4401


async def test_no_hello_closes_4408(village):
    """A client that says nothing is closed with 4408 after the hello timeout."""
    ws = await village.http.ws_connect(village.url + "/ws")
    msg = await ws.receive(timeout=10)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4408


async def test_second_connection_replaces_first_4409(village):
    """A second connection of the same screen closes the first with 4409."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    first = await connect(village, screen["token"])
    await until(first, "synced")
    second = await connect(village, screen["token"])
    await until(second, "synced")
    msg = await first.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4409
    await second.send_json({"type": "ping"})
    await until(second, "pong")
    await second.close()


async def test_deleting_a_screen_closes_its_connection(village):
    """DELETE /screens/{id} revokes the token and closes the live connection with 4401."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    await village.call("DELETE", f"/screens/{screen['id']}", expect=204)
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4401
    again = await connect(village, screen["token"])
    assert (await again.receive_json(timeout=5))["code"] == "unauthorized"


async def test_ack_and_receipts_fill_the_figures(village):
    """A cumulative ack counts as received; receipts count displayed and played; GET /screens shows the cursor."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    a = await village.post()
    event = (await until(ws, "announcement"))[-1]
    await ws.send_json({"type": "ack", "seq": event["seq"]})
    await ws.send_json({"type": "receipt", "announcement_id": a["id"], "state": "displayed"})
    await ws.send_json({"type": "receipt", "announcement_id": "unknown", "state": "played"})
    await asyncio.sleep(0.3)
    await village.app[RECORDER].flush()
    _, detail = await village.call("GET", f"/announcements/{a['id']}", expect=200)
    assert detail["deliveries"] == {"targeted": 1, "received": 1, "displayed": 1, "played": 0}
    _, screens = await village.call("GET", "/screens", expect=200)
    assert screens[0]["online"] is True and screens[0]["cursor"] == event["seq"] and screens[0]["behind"] == 0
    assert screens[0]["client"] == {"name": "t", "version": "0"}
    await ws.close()


async def figures(village, announcement_id: str) -> dict:
    await village.app[RECORDER].flush()
    _, detail = await village.call("GET", f"/announcements/{announcement_id}", expect=200)
    return detail["deliveries"]


async def refused_receipt(ws, announcement_id: str, state: str = "played") -> dict:
    await ws.send_json({"type": "receipt", "announcement_id": announcement_id, "state": state})
    error = (await until(ws, "error"))[-1]
    await ws.send_json({"type": "ping"})
    await until(ws, "pong")  # the connection stays usable
    return error


async def test_receipts_count_only_for_what_the_screen_was_sent(village):
    """Another area's, another tag's or a not yet published announcement cannot be marked by this screen.

    Checked while the announcement is live (from memory) and after it ended (from the database).
    """
    screen = await village.screen("gate", "/hongqi/liujingtun")
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    own = await village.post(target={"areas": ["/hongqi/liujingtun"]})
    await until(ws, "announcement")
    sibling = await village.post(target={"areas": ["/hongqi/xincun"]})
    tagged = await village.post(target={"areas": ["/hongqi"], "tags": ["market"]})
    later = await village.post(publish_at="2999-01-01T00:00:00+08:00")
    for ended in (False, True):
        if ended:
            for a in (own, sibling, tagged):
                await village.call("POST", f"/announcements/{a['id']}/cancel", expect=200)
        for other in (sibling, tagged, later):
            error = await refused_receipt(ws, other["id"])
            assert error["code"] == "not_found" and error["ref"] == other["id"], error
            assert "was sent to this screen" in error["message"] and error["message"].startswith("no announcement")
            counted = await figures(village, other["id"])
            assert (counted["received"], counted["displayed"], counted["played"]) == (0, 0, 0)
        await ws.send_json({"type": "receipt", "announcement_id": own["id"], "state": "displayed" if not ended else "played"})
    await ws.send_json({"type": "ping"})
    await until(ws, "pong")
    assert await figures(village, own["id"]) == {"targeted": 1, "received": 1, "displayed": 1, "played": 1}
    await ws.close()


async def test_receipts_are_bounded_per_screen(village):
    """Past the screen's receipt rate, receipts are refused with when to retry, also after reconnecting."""
    village.app[HUB].receipt_limiter = RateLimiter(5, what="receipts")
    screen = await village.screen("gate", "/hongqi/liujingtun")
    posted = await village.post()
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    for _ in range(5):
        await ws.send_json({"type": "receipt", "announcement_id": posted["id"], "state": "displayed"})
    error = await refused_receipt(ws, posted["id"])
    assert error["code"] == "rate_limited" and error["retry_after_s"] >= 1 and "receipts" in error["message"], error
    await ws.close()
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    assert (await refused_receipt(ws, posted["id"]))["code"] == "rate_limited"
    assert (await figures(village, posted["id"]))["played"] == 0
    await ws.close()


async def test_slow_screen_is_disconnected_not_waited_for(village):
    """A screen whose outbox overflows is closed with 1013 while others keep receiving."""
    village.app[HUB]._settings.send_buffer_bytes = 1024  # about two announcements
    slow = await village.screen("slow", "/hongqi/liujingtun")
    fast = await village.screen("fast", "/hongqi/liujingtun")
    slow_ws = await connect(village, slow["token"])
    await until(slow_ws, "synced")
    fast_ws = await connect(village, fast["token"])
    await until(fast_ws, "synced")
    conn = village.app[HUB].connections[slow["id"]]
    conn.streaming = False  # the slow screen's socket stops draining
    for i in range(10):
        await village.post(title=f"burst {i}")
    got = 0
    while got < 10:
        got += sum(1 for f in await until(fast_ws, "announcement") if f["type"] == "announcement")
    assert slow["id"] not in village.app[HUB].connections
    msg = await slow_ws.receive(timeout=5)
    while msg.type == aiohttp.WSMsgType.TEXT:
        msg = await slow_ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1013
    await fast_ws.close()


async def test_dead_connection_is_dropped_by_heartbeat(village):
    """A screen that stops answering WebSocket pings goes offline by itself."""
    village.app[HUB]._settings.heartbeat_s = 0.5
    screen = await village.screen("gate", "/hongqi/liujingtun")
    ws = await village.http.ws_connect(village.url + "/ws", autoping=False)
    await ws.send_json({"type": "hello", "token": screen["token"], "last_seq": None})
    await until(ws, "synced")
    assert village.app[HUB].is_online(screen["id"])
    for _ in range(40):
        if not village.app[HUB].is_online(screen["id"]):
            break
        await asyncio.sleep(0.1)
    assert not village.app[HUB].is_online(screen["id"])


async def test_a_caught_up_screen_is_not_behind(village):
    """After acking all it was sent, a screen shows 0 behind even when later events were for other screens."""
    gate = await village.screen("gate", "/hongqi/liujingtun")
    ws = await connect(village, gate["token"])
    await until(ws, "synced")
    await village.post(target={"areas": ["/hongqi/liujingtun"]})
    event = (await until(ws, "announcement"))[-1]
    await village.post(target={"areas": ["/hongqi/xincun"]})  # a later event, not for this screen
    await asyncio.sleep(0.2)
    await ws.send_json({"type": "ack", "seq": event["seq"]})
    await asyncio.sleep(0.3)
    await village.app[RECORDER].flush()
    _, screens = await village.call("GET", "/screens", expect=200)
    assert screens[0]["behind"] == 0 and screens[0]["cursor"] > event["seq"]
    await ws.close()
