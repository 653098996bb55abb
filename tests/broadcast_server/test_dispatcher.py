"""The queue over time: scheduled posts go out at their time, expiry retracts, a restart catches up."""

import json
from datetime import UTC, datetime, timedelta

import aiohttp

from broadcast_server.app import create_app
from tests.wsframes import collect, connect, event_keys, until


def in_seconds(s: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=s)).isoformat()


async def test_scheduled_announcement_arrives_at_its_time_not_before(village):
    """A post with publish_at 1.5 s ahead reaches the screen after that moment, and nothing comes earlier."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    publish_at = datetime.now(UTC) + timedelta(seconds=1.5)
    posted = await village.post(publish_at=publish_at.isoformat())
    first = json.loads((await ws.receive(timeout=10)).data)  # the first frame after synced, whenever it comes
    arrived = datetime.now(UTC)
    assert first["type"] == "announcement" and first["announcement"]["id"] == posted["id"], first
    assert arrived >= publish_at, f"arrived {(publish_at - arrived).total_seconds():.2f} s before its time"
    assert datetime.fromisoformat(first["announcement"]["published_at"]) >= publish_at
    await ws.close()


async def test_expiry_sends_retract(village):
    """At expires_at the screen gets a retract with reason expired, and the status is expired."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    posted = await village.post(expires_at=in_seconds(1))
    await until(ws, "announcement")
    retract = (await until(ws, "retract", timeout=5))[-1]
    assert retract == {"type": "retract", "seq": retract["seq"], "announcement_id": posted["id"], "reason": "expired"}
    _, detail = await village.call("GET", f"/announcements/{posted['id']}", expect=200)
    assert detail["status"] == "expired"
    await ws.close()


async def test_an_expiry_brought_forward_retracts_then_and_a_later_post_does_not_put_it_off(village):
    """A notice corrected to end in a second is retracted then, though a notice posted after it runs for an hour:
    each post and revision tells the dispatcher its times, and the earliest wins."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    posted = await village.post(expires_at=in_seconds(3600))
    await village.call("PATCH", f"/announcements/{posted['id']}", json={"expires_at": in_seconds(1)}, expect=200)
    await village.post(title="一小时后结束", expires_at=in_seconds(3600))
    retract = (await until(ws, "retract", timeout=5))[-1]
    assert (retract["announcement_id"], retract["reason"]) == (posted["id"], "expired")
    await ws.close()


async def test_emergencies_due_together_go_live_first(village):
    """Several announcements due at the same moment are published emergency first."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    when = in_seconds(1)
    for priority in ["low", "normal", "emergency", "high"]:
        await village.post(title=priority, priority=priority, publish_at=when)
    order = []
    while len(order) < 4:
        order += [f["announcement"]["priority"] for f in await until(ws, "announcement", timeout=5) if f["type"] == "announcement"]
    assert order == ["emergency", "high", "normal", "low"]
    await ws.close()


async def test_restart_catches_up(settings, aiohttp_server, village, clock):
    """What fell due while the server was down is published at start, and what expired is retracted."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    ws = await connect(village, screen["token"])
    head = (await until(ws, "synced"))[-1]["head_seq"]
    await ws.close()
    short = await village.post(title="short", expires_at=in_seconds(1.5))
    scheduled = await village.post(title="later", publish_at=in_seconds(1.5))
    await village.server.close()  # the server is down while both fall due
    clock.shift = timedelta(seconds=2)
    server = await aiohttp_server(create_app(settings, clock=clock))
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(str(server.make_url("/ws")))
        await ws.send_json({"type": "hello", "token": screen["token"], "last_seq": head})
        wanted = {("announcement", short["id"]), ("retract", short["id"]), ("announcement", scheduled["id"])}
        frames = await collect(ws, lambda frames: wanted <= set(event_keys(frames)))
        assert frames[0]["type"] == "welcome"
        await ws.close()
    await server.close()
