"""The WebSocket contract of docs/protocol.md §3, spoken frame by frame over a real socket."""

import asyncio
import time
import uuid

import aiohttp
import pytest

from announcements.errors import Conflict, Invalid
from broadcast_server.frames import text_frame
from broadcast_server.keys import HUB, RECORDER
from tests.broadcast_server.hubwire import RawScreen
from tests.wsframes import collect, connect, connected, event_keys, until

EVENT_TYPES = ("announcement", "retract", "request_update")
GATE, XINCUN = "/hongqi/liujingtun", "/hongqi/xincun"


def event_key(frame: dict) -> tuple[str, str, int]:
    """(type, announcement id or ticket, seq) of one event frame."""
    kind = frame["type"]
    ident = {"announcement": lambda f: f["announcement"]["id"], "retract": lambda f: f["announcement_id"],
             "request_update": lambda f: f["ticket"]}[kind](frame)
    return kind, ident, frame["seq"]


async def live_events(ws, count: int) -> list[dict]:
    """The next `count` event frames of a live connection (waits with a deadline)."""
    frames = await collect(ws, lambda got: sum(f["type"] in EVENT_TYPES for f in got) >= count)
    return [f for f in frames if f["type"] in EVENT_TYPES]


async def eventually(probe, done, timeout: float = 5.0):
    """Poll `probe()` until `done(result)` holds and return that result; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting; last saw {result}")
        await asyncio.sleep(0.05)


async def screen_row(village, screen_id: str) -> dict:
    _, screens = await village.call("GET", "/screens", expect=200)
    return next(s for s in screens if s["id"] == screen_id)


async def deliveries(village, announcement_id: str) -> dict:
    _, detail = await village.call("GET", f"/announcements/{announcement_id}", expect=200)
    return detail["deliveries"]


async def test_welcome_names_the_screens_area_for_people(village):
    """The kiosk's header shows the area's name as the committee gave it; the path stays the id."""
    await village.call("POST", "/areas", json={"path": "/dongfeng", "name": "东风村"}, expect=201)
    screen = await village.screen("gate", "/dongfeng")
    ws = await connect(village, screen["token"])
    [welcome, *_] = await until(ws, "synced")
    assert (welcome["area"], welcome["area_name"]) == ("/dongfeng", "东风村")


async def test_welcome_tells_the_kiosk_its_areas_dwell(village):
    """A dwell set on the village applies to kiosks in its hamlets; without one the kiosk keeps its default."""
    screen = await village.screen("gate", "/dongfeng/lijiatun")
    ws = await connect(village, screen["token"])
    [welcome, *_] = await until(ws, "synced")
    assert welcome["kiosk_dwell_s"] is None
    await ws.close()
    await village.call("PATCH", "/areas/%2Fdongfeng/kiosk-dwell", json={"kiosk_dwell_s": 20}, expect=200)
    ws = await connect(village, screen["token"])
    [welcome, *_] = await until(ws, "synced")
    assert welcome["kiosk_dwell_s"] == 20
    await ws.close()


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


# ------------------------------------------------------------ resuming by seq, in memory and from the table


async def resume(village, token: str, last_seq: int | None) -> tuple[dict, list[dict], dict]:
    """Say hello with `last_seq`: (welcome, the replayed frames, synced); nothing else may come between."""
    ws = await connect(village, token, last_seq=last_seq)
    try:
        frames = await until(ws, "synced")
    finally:
        await ws.close()
    welcome, replay, synced = frames[0], frames[1:-1], frames[-1]
    assert welcome["type"] == "welcome" and all(f["type"] in EVENT_TYPES for f in replay), frames
    assert synced["head_seq"] == welcome["head_seq"], frames
    return welcome, replay, synced


async def staff_patch(village, ticket: str, **changes) -> None:
    await village.call("PATCH", f"/requests/{ticket}", json=changes, expect=200)


async def history(village) -> dict:
    """Two screens (gate, xincun) watch live while announcements, revisions, retracts and request updates go by.

    Before the history each screen holds one announcement (`before`), a request of its own, and `last_seq`.
    The last four events are all for the gate screen, one of each kind, so that with a replay window of
    three events, each resume around the window's edge misses a different, visible part.
    """
    gate = await village.screen("gate", GATE)
    xincun = await village.screen("school", XINCUN)
    before = await village.post(target={"areas": ["/hongqi"]})
    tickets = {}
    for screen in (gate, xincun):
        _, reply = await village.call(
            "POST", "/replies", token=screen["token"], expect=201,
            json={"client_msg_id": uuid.uuid4().hex, "category": "suggestion", "text": "村口的路灯坏了。"},
        )
        tickets[screen["id"]] = reply["ticket"]
    watching, heads = {}, set()
    for screen in (gate, xincun):
        ws = await connect(village, screen["token"])
        heads.add((await until(ws, "synced"))[-1]["head_seq"])
        watching[screen["id"]] = ws
    (last_seq,) = heads  # the same for both: no event between the two hellos

    a = await village.post(target={"areas": ["/hongqi"]})  # both
    b = await village.post(target={"areas": [XINCUN]})  # xincun only
    await staff_patch(village, tickets[xincun["id"]], assignee="王网格员")  # xincun's request_update
    await village.call("PATCH", f"/announcements/{a['id']}", json={"body": "改到下午三点。"}, expect=200)  # both, revision 2
    await village.call("POST", f"/announcements/{b['id']}/cancel", expect=200)  # xincun only
    await village.call("POST", f"/announcements/{before['id']}/cancel", expect=200)  # both: a retract of an older one
    # the last four, all for the gate
    await staff_patch(village, tickets[gate["id"]], assignee="李网格员")  # the gate's request_update
    c = await village.post(target={"areas": [GATE]})
    await village.call("PATCH", f"/announcements/{c['id']}", json={"title": "更正：村民大会通知"}, expect=200)
    await village.call("POST", f"/announcements/{a['id']}/cancel", expect=200)  # both

    expected = {
        gate["id"]: [
            ("announcement", a["id"]), ("announcement", a["id"]), ("retract", before["id"]),
            ("request_update", tickets[gate["id"]]), ("announcement", c["id"]), ("announcement", c["id"]),
            ("retract", a["id"]),
        ],
        xincun["id"]: [
            ("announcement", a["id"]), ("announcement", b["id"]), ("request_update", tickets[xincun["id"]]),
            ("announcement", a["id"]), ("retract", b["id"]), ("retract", before["id"]), ("retract", a["id"]),
        ],
    }
    live = {}
    for screen in (gate, xincun):
        ws = watching[screen["id"]]
        live[screen["id"]] = await live_events(ws, len(expected[screen["id"]]))
        await ws.close()
        assert [event_key(f)[:2] for f in live[screen["id"]]] == expected[screen["id"]], live[screen["id"]]
    assert [f["announcement"]["revision"] for f in live[gate["id"]] if f["type"] == "announcement"] == [1, 2, 1, 2]
    return {"gate": gate, "xincun": xincun, "last_seq": last_seq, "live": live}


@pytest.mark.parametrize("setting_overrides", [{"replay_memory_events": 3}], ids=["window-3"])
async def test_replay_from_database_when_memory_does_not_reach(village):
    """A screen further behind than the in-memory window gets exactly what it missed from the event table.

    Revisions, retracts (also of an announcement from before its last_seq) and its own request updates,
    in seq order, nothing for other screens, and no reset: it keeps what it holds.
    """
    seen = await history(village)
    head = seen["live"][seen["gate"]["id"]][-1]["seq"]
    assert seen["last_seq"] < head - 3 - 3  # well before the three events the hub keeps in memory
    for screen in (seen["gate"], seen["xincun"]):
        _, replay, synced = await resume(village, screen["token"], seen["last_seq"])
        live = seen["live"][screen["id"]]
        assert synced["reset"] is False and synced["head_seq"] == head, synced
        assert [event_key(f) for f in replay] == [event_key(f) for f in live]
        assert replay == live  # the very frames sent live: revisions, reasons, statuses


@pytest.mark.parametrize("setting_overrides", [{"replay_memory_events": 3}], ids=["window-3"])
async def test_resume_at_the_edge_of_the_replay_window(village):
    """Resuming one before, exactly at and one after the oldest last_seq the memory serves: each gets what it missed.

    The hub keeps the last three events; a last_seq of `head - 3` needs only those, `head - 4` needs one
    more from the table. All four newest events are for this screen, so a window shifted by one shows.
    """
    seen = await history(village)
    gate = seen["gate"]
    live = seen["live"][gate["id"]]
    head = live[-1]["seq"]
    assert [f["seq"] for f in live[-4:]] == [head - 3, head - 2, head - 1, head]  # the four newest events
    edge = head - 3  # the oldest last_seq whose missed events are all in memory
    for last_seq, missed in ((edge - 1, 4), (edge, 3), (edge + 1, 2)):
        _, replay, synced = await resume(village, gate["token"], last_seq)
        assert synced["reset"] is False and synced["head_seq"] == head, (last_seq, synced)
        assert [event_key(f) for f in replay] == [event_key(f) for f in live[-missed:]], last_seq


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


@pytest.mark.parametrize(
    "message, error, code, ref",
    [
        ({"type": "feedback", "ticket": "A7K-3QX", "rating": "satisfied"}, Conflict("rated already"), "conflict", "A7K-3QX"),
        (
            {"type": "reply", "client_msg_id": "m1", "announcement_id": "a1", "category": "help", "text": "路灯坏了"},
            Invalid("text: not now"),
            "invalid",
            "m1",
        ),
    ],
    ids=["feedback", "reply"],
)
async def test_a_handlers_domain_error_is_answered_with_its_code_and_ref(village, message, error, code, ref):
    """Any handler, also one another package registers, just raises a domain error: the hub answers it with
    the error's code and the message's ref (a reply's client_msg_id, a feedback's ticket), and the connection stays."""
    async def refuse(conn, received):
        raise error

    village.app[HUB].register_handler(message["type"], refuse)
    screen = await village.screen("gate", GATE)
    ws = await connected(village, screen["token"])
    await ws.send_json(message)
    answer = (await until(ws, "error"))[-1]
    assert answer == {"type": "error", "code": code, "message": error.detail, "ref": ref}
    await ws.send_json({"type": "ping"})
    await until(ws, "pong")
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


@pytest.mark.settings(hello_timeout_s=1)
async def test_no_hello_closes_4408(village):
    """A client that says nothing is closed with 4408 after the hello timeout."""
    ws = await village.http.ws_connect(village.url + "/ws")
    msg = await ws.receive(timeout=10)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4408


async def test_second_connection_replaces_first_4409(village):
    """A second connection of the same screen closes the first with 4409, saying why (for the device's log)."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    first = await connect(village, screen["token"])
    await until(first, "synced")
    second = await connect(village, screen["token"])
    await until(second, "synced")
    msg = await first.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4409 and "replaced" in msg.extra
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
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4401 and msg.extra == "screen removed"
    again = await connect(village, screen["token"])
    assert (await again.receive_json(timeout=5))["code"] == "unauthorized"


async def test_revoking_a_screens_token_closes_its_live_connection(village):
    """DELETE /tokens/{id} of a connected screen's token closes it with 4401 "token revoked"; it cannot come back."""
    screen = await village.screen("gate", GATE)
    ws = await connected(village, screen["token"])
    _, tokens = await village.call("GET", "/tokens", expect=200)
    [token_id] = [t["id"] for t in tokens if t["screen_id"] == screen["id"]]
    await village.call("DELETE", f"/tokens/{token_id}", expect=204)
    msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 4401, "token revoked")
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
    assert (await until(ws, "error"))[-1]["ref"] == "unknown"  # frames are handled in order: all three were
    expected = {"targeted": 1, "received": 1, "displayed": 1, "played": 0}
    assert await eventually(lambda: deliveries(village, a["id"]), lambda d: d == expected) == expected
    row = await eventually(lambda: screen_row(village, screen["id"]), lambda r: r["cursor"] == event["seq"])
    assert row["online"] is True and row["behind"] == 0 and row["client"] == {"name": "t", "version": "0"}
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


@pytest.mark.parametrize("setting_overrides", [{"receipt_rate_per_minute": 5}], ids=["5-a-minute"])
async def test_receipts_are_bounded_per_screen(village):
    """Past the screen's receipt rate, receipts are refused with when to retry, also after reconnecting;
    another screen's receipts still count."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    neighbour = await village.screen("market", "/hongqi/liujingtun")
    posted = await village.post()
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    for _ in range(5):
        await ws.send_json({"type": "receipt", "announcement_id": posted["id"], "state": "displayed"})
    error = await refused_receipt(ws, posted["id"])
    assert error["code"] == "rate_limited" and error["retry_after_s"] >= 1 and "receipts" in error["message"], error
    assert error["ref"] == posted["id"]
    other = await connected(village, neighbour["token"])
    await other.send_json({"type": "receipt", "announcement_id": posted["id"], "state": "played"})
    await eventually(lambda: figures(village, posted["id"]), lambda d: d["played"] == 1)
    await other.close()
    await ws.close()
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    assert (await refused_receipt(ws, posted["id"]))["code"] == "rate_limited"
    assert (await figures(village, posted["id"]))["played"] == 1  # the neighbour's
    await ws.close()


def pause_replays(village, monkeypatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold every handshake between reading its replay and sending it, so live events arrive meanwhile.

    Returns (replaying: set once a handshake is held, release: set it to let the handshake go on)."""
    hub = village.app[HUB]
    replay_for = hub._replay_for
    replaying, release = asyncio.Event(), asyncio.Event()

    async def held_replay(conn, last_seq, upto):
        result = await replay_for(conn, last_seq, upto)
        replaying.set()
        await release.wait()
        return result

    monkeypatch.setattr(hub, "_replay_for", held_replay)
    return replaying, release


async def post_while_held(village, count: int, **fields) -> list[dict]:
    """Post `count` announcements to the gate and wait until the hub has fanned each out."""
    hub = village.app[HUB]
    head = hub.head_seq
    posted = [await village.post(title=f"meanwhile {n}", target={"areas": [GATE]}, **fields) for n in range(count)]
    await eventually(lambda: asyncio.sleep(0, hub.head_seq), lambda seq: seq >= head + count)
    return posted


async def test_events_that_arrive_during_the_handshake_follow_the_replay(village, monkeypatch):
    """Live events committed while a screen's replay is on its way are held and sent right after `synced`:
    none lost, none twice, in seq order."""
    screen = await village.screen("gate", GATE)
    before = await village.post(title="before", target={"areas": [GATE]})
    replaying, release = pause_replays(village, monkeypatch)
    ws = await connect(village, screen["token"])
    await asyncio.wait_for(replaying.wait(), 5)
    meanwhile = await post_while_held(village, 2)
    release.set()
    frames = await collect(ws, lambda got: sum(f["type"] == "announcement" for f in got) >= 3)
    kinds = [f["type"] for f in frames]
    assert kinds.index("synced") == kinds.index("announcement") + 1  # the replay (one event), then synced
    events = [f for f in frames if f["type"] == "announcement"]
    assert [e["announcement"]["id"] for e in events] == [before["id"], *(m["id"] for m in meanwhile)]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    await ws.send_json({"type": "ping"})
    await until(ws, "pong")
    await ws.close()


@pytest.mark.settings(send_buffer_bytes=8192)
async def test_a_screen_that_falls_behind_during_its_handshake_is_closed_and_resumes(village, monkeypatch):
    """Two 6 KB announcements held for a screen still in its handshake pass its 8 KB buffer together (each
    alone would not): it is closed with 1013, and resuming gets both."""
    screen = await village.screen("gate", GATE)
    replaying, release = pause_replays(village, monkeypatch)
    ws = await connect(village, screen["token"])
    await asyncio.wait_for(replaying.wait(), 5)
    meanwhile = await post_while_held(village, 2, body="村" * 2000)
    release.set()
    msg = None
    async with asyncio.timeout(5):
        while msg is None or msg.type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            msg = await ws.receive()
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1013)
    monkeypatch.undo()
    _, replay, synced = await resume(village, screen["token"], 0)
    assert synced["reset"] is False
    assert [f["announcement"]["id"] for f in replay if f["type"] == "announcement"] == [m["id"] for m in meanwhile]


@pytest.mark.parametrize("setting_overrides", [{"send_buffer_bytes": 16 * 1024}], ids=["buffer-16k"])
async def test_slow_screen_is_disconnected_not_waited_for(village):
    """A screen that stops reading is closed with 1013 once the server holds more than send_buffer_bytes for it.

    A normal screen meanwhile gets every announcement; the slow one, back with its last acked seq, is
    replayed exactly what it missed (no reset).
    """
    slow_screen = await village.screen("slow", GATE)
    fast_screen = await village.screen("fast", GATE)
    fast = await connect(village, fast_screen["token"])
    await until(fast, "synced")
    slow = await RawScreen.open(village.url)
    try:
        await slow.hello(slow_screen["token"])
        await slow.until("synced")
        first = await village.post(target={"areas": [GATE]})
        got = (await slow.until("announcement"))[-1]
        assert got["announcement"]["id"] == first["id"]
        await slow.send_json({"type": "ack", "seq": got["seq"]})
        assert event_keys(await until(fast, "announcement")) == [("announcement", first["id"])]

        # From here on the slow screen reads nothing (it only sends a pong now and then, so that the
        # server's heartbeat does not end it first). Each announcement is about 15 KB; the kernel takes
        # about 100 KB of them (see hubwire), then the server's own buffer passes 16 KB.
        body = "村委会通知：" + "明天上午九点在村委会召开村民大会，请各户派代表参加。" * 190
        burst = []
        while (await screen_row(village, slow_screen["id"]))["online"]:
            assert len(burst) < 60, "the screen that stopped reading was never disconnected"
            await slow.keep_alive()
            posted = await village.post(title=f"burst {len(burst)}", body=body, target={"areas": [GATE]})
            burst.append(posted["id"])
            assert event_keys(await until(fast, "announcement")) == [("announcement", posted["id"])]
        after = await village.post(title="after", target={"areas": [GATE]})
        assert event_keys(await until(fast, "announcement")) == [("announcement", after["id"])]
        assert (await screen_row(village, fast_screen["id"]))["online"]

        frames, code = await slow.until_closed()
        assert code == 1013
        assert event_keys(frames) == [("announcement", i) for i in burst[: len(frames)]]  # what got out, in order
    finally:
        slow.close()
    _, replay, synced = await resume(village, slow_screen["token"], got["seq"])
    assert synced["reset"] is False
    assert event_keys(replay) == [("announcement", i) for i in [*burst, after["id"]]]
    await fast.close()


async def test_a_screen_that_asks_without_reading_the_answers_is_closed_like_a_slow_one(village):
    """The server's own answers (pong here) count against the send buffer too: a screen that keeps asking and stops
    reading is closed with 1013 once its answers pass send_buffer_bytes, and the server goes on serving others."""
    screen = await village.screen("chatty", GATE)
    chatty = await RawScreen.open(village.url)
    try:
        await chatty.hello(screen["token"])
        await chatty.until("synced")
        asked = 0
        while (await screen_row(village, screen["id"]))["online"]:
            assert asked < 40_000, "the screen that stopped reading its answers was never disconnected"
            for _ in range(1000):
                await chatty.send_json({"type": "ping"})
            asked += 1000
        frames, code = await chatty.until_closed()
        assert code == 1013 and {f["type"] for f in frames} == {"pong"}
    finally:
        chatty.close()
    await village.post(target={"areas": [GATE]})  # the server still answers


@pytest.mark.settings(send_buffer_bytes=16 * 1024)
async def test_a_replay_longer_than_the_send_buffer_waits_for_the_screen(village):
    """A resume whose replay is many times the send buffer is written as fast as the screen reads, not cut
    with 1013 (which would only repeat at every resume): a screen that reads nothing for a second still
    gets every event it missed, then synced, and stays connected."""
    screen = await village.screen("gate", GATE)
    body = "村委会通知：" + "明天上午九点在村委会召开村民大会，请各户派代表参加。" * 190  # about 14 KB a frame
    missed = [(await village.post(title=f"missed {n}", body=body, target={"areas": [GATE]}))["id"] for n in range(20)]
    raw = await RawScreen.open(village.url)
    try:
        await raw.hello(screen["token"], last_seq=0)
        await asyncio.sleep(1)  # what the server writes meanwhile fills the kernel's buffers, then its own
        frames = await raw.until("synced")
        assert event_keys(frames) == [("announcement", i) for i in missed] and frames[-1]["reset"] is False
        await raw.send_json({"type": "ping"})
        assert (await raw.until("pong"))[-1] == {"type": "pong"}
    finally:
        raw.close()


@pytest.mark.parametrize("size, header", [(5, b"\x81\x05"), (126, b"\x81\x7e\x00\x7e"), (70000, b"\x81\x7f" + (70000).to_bytes(8, "big"))])
def test_text_frame_lengths(size, header):
    """A server text frame carries its payload length in 7, 16 or 64 bits, unmasked (RFC 6455)."""
    frame = text_frame(b"x" * size)
    assert frame.startswith(header) and len(frame) == len(header) + size
    assert text_frame("村" * size) == text_frame(("村" * size).encode())  # text is framed as its UTF-8


@pytest.mark.settings(heartbeat_s=0.5)
async def test_dead_connection_is_dropped_by_heartbeat(village):
    """A screen that stops answering WebSocket pings goes offline by itself."""
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


async def test_acks_move_the_cursor_forward_only(village):
    """A cumulative ack counts what it covers as received, once, and moves the cursor; repeated or older acks change nothing.

    Having acked all it was sent, the screen is at the head (0 behind) even when later events were for
    other screens. Each "nothing changed" is read once a receipt sent behind those acks has been counted,
    so older and repeated acks go in separate batches of the delivery recorder, each checked on its own.
    """
    gate = await village.screen("gate", GATE)
    other = await village.screen("school", XINCUN)
    ws = await connected(village, gate["token"])
    watcher = await connected(village, other["token"])
    posted = [await village.post(title=t, target={"areas": [GATE]}) for t in ("m", "n", "a", "b")]
    m, n, a, b = posted
    seq_m, seq_n, seq_a, seq_b = [f["seq"] for f in await live_events(ws, 4)]
    markers = iter([(m, "displayed"), (m, "played"), (n, "displayed"), (n, "played")])

    async def received() -> list[int]:
        return [(await deliveries(village, x["id"]))["received"] for x in posted]

    async def acks_then_look(*seqs: int) -> dict:
        """Send these acks, then a receipt; once the receipt counts, the acks were handled and recorded."""
        for seq in seqs:
            await ws.send_json({"type": "ack", "seq": seq})
        marker, state = next(markers)
        await ws.send_json({"type": "receipt", "announcement_id": marker["id"], "state": state})
        await eventually(lambda: deliveries(village, marker["id"]), lambda d: d[state] == 1)
        return await screen_row(village, gate["id"])

    await ws.send_json({"type": "ack", "seq": seq_a})  # m, n and a
    row = await eventually(lambda: screen_row(village, gate["id"]), lambda r: r["cursor"] == seq_a)
    assert row["behind"] == 1 and await received() == [1, 1, 1, 0]
    row = await acks_then_look(seq_n, seq_m)  # older
    assert (row["cursor"], row["behind"]) == (seq_a, 1) and await received() == [1, 1, 1, 0]
    row = await acks_then_look(seq_a)  # repeated
    assert (row["cursor"], row["behind"]) == (seq_a, 1) and await received() == [1, 1, 1, 0]

    await village.post(target={"areas": [XINCUN]})  # a later event, not for the gate
    seq_x = (await live_events(watcher, 1))[0]["seq"]  # the hub has it: its head moved
    await ws.send_json({"type": "ack", "seq": seq_b})  # everything the gate was sent
    row = await eventually(lambda: screen_row(village, gate["id"]), lambda r: r["cursor"] == seq_x)
    assert row["behind"] == 0 and await received() == [1, 1, 1, 1]
    row = await acks_then_look(seq_a, seq_m)  # older
    assert (row["cursor"], row["behind"]) == (seq_x, 0) and await received() == [1, 1, 1, 1]
    row = await acks_then_look(seq_b)  # repeated
    assert (row["cursor"], row["behind"]) == (seq_x, 0) and await received() == [1, 1, 1, 1]
    assert await deliveries(village, a["id"]) == {"targeted": 1, "received": 1, "displayed": 0, "played": 0}
    await ws.close()
    await watcher.close()
