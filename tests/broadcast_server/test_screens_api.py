"""Managing screens: rename, move, re-tag; what each shows now; offline for how long, flagged past the setting."""

from datetime import timedelta

import pytest
from aiohttp import WSMsgType

from announcements.protocol import CloseCode
from announcements.timeutil import utcnow
from broadcast_server.keys import HUB
from tests.broadcast_server.test_hub import eventually
from tests.wsframes import connect, connected, until

VILLAGE = "/hongqi/liujingtun"
OTHER = "/hongqi/dongtun"


async def listed(village, screen_id: str, token=None) -> dict:
    _, screens = await village.call("GET", "/screens", token=token, expect=200)
    return next(s for s in screens if s["id"] == screen_id)


async def test_a_screen_moved_to_another_area_reconnects_and_gets_that_area(village):
    """The move changes its token's scope too; the live connection closes 1001 and the next welcome names the new area."""
    await village.call("POST", "/areas", json={"path": OTHER, "name": "东屯村"}, expect=201)
    gate = await village.screen("村口", VILLAGE, tags=["gate"])
    ws = await connected(village, gate["token"])
    _, moved = await village.call("PATCH", f"/screens/{gate['id']}", json={"area": OTHER, "name": "东屯村口"}, expect=200)
    assert moved["area"] == OTHER and moved["name"] == "东屯村口" and moved["tags"] == ["gate"]
    closing = await ws.receive(timeout=5)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) and ws.close_code == CloseCode.GOING_AWAY
    again = await connect(village, gate["token"])
    welcome = (await until(again, "welcome"))[-1]
    assert welcome["area"] == OTHER and welcome["area_name"] == "东屯村"
    _, tokens = await village.call("GET", "/tokens", expect=200)
    assert any(t["screen_id"] == gate["id"] and t["area"] == OTHER for t in tokens)
    shown = await listed(village, gate["id"])
    assert shown["area_name"] == "东屯村" and shown["name"] == "东屯村口"
    await again.close()


async def test_new_tags_take_effect_for_targeting_at_once(village):
    gate = await village.screen("村口", VILLAGE)
    ws = await connected(village, gate["token"])
    await village.call("PATCH", f"/screens/{gate['id']}", json={"tags": ["market"]}, expect=200)
    await ws.receive(timeout=5)
    assert ws.close_code == CloseCode.GOING_AWAY
    ws = await connected(village, gate["token"])
    await village.post(title="集市改期", target={"areas": [VILLAGE], "tags": ["market"]})
    frames = await until(ws, "announcement")
    assert frames[-1]["announcement"]["title"] == "集市改期"
    _, tags = await village.call("GET", "/screens/tags", expect=200)
    assert tags == ["market"]
    await ws.close()


async def test_a_rename_alone_keeps_the_connection(village):
    gate = await village.screen("村口", VILLAGE)
    ws = await connected(village, gate["token"])
    await village.call("PATCH", f"/screens/{gate['id']}", json={"name": "村委会门口"}, expect=200)
    assert village.app[HUB].is_online(gate["id"]) and not ws.closed
    assert (await listed(village, gate["id"]))["name"] == "村委会门口"
    await ws.close()


async def test_bad_changes_are_refused_and_change_nothing(village, clock):
    clock.at = utcnow()  # the list's offline_s stands still between the two looks
    gate = await village.screen("村口", VILLAGE, tags=["gate"])
    before = await listed(village, gate["id"])
    for body, field in (({"name": "长" * 500}, "name"), ({"area": "Not/A/Path"}, "area"), ({"tags": ["x" * 41]}, "tags")):
        status, problem = await village.call("PATCH", f"/screens/{gate['id']}", json=body)
        assert status == 422 and problem["errors"][0]["loc"][-1] == field, problem
    local_admin = await village.token("admin", VILLAGE)
    status, _ = await village.call("PATCH", f"/screens/{gate['id']}", token=local_admin, json={"area": OTHER})
    assert status == 403
    status, _ = await village.call("PATCH", "/screens/nosuchscreen", json={"name": "x"})
    assert status == 404
    assert await listed(village, gate["id"]) == before


async def test_the_list_says_what_each_screen_shows_and_when_it_last_confirmed(village):
    """Each screen its own: two screens that confirmed are each given their time, and one that never did has none."""
    gate = await village.screen("村口", VILLAGE)
    hall = await village.screen("村委会", VILLAGE)
    idle = await village.screen("广场", OTHER)
    sockets = [await connected(village, gate["token"]), await connected(village, hall["token"])]
    await village.post(title="普通通知", target={"areas": [VILLAGE]})
    urgent = await village.post(title="防汛紧急通知", priority="emergency", target={"areas": [VILLAGE]})
    for ws in sockets:
        frames = await until(ws, "announcement")
        frames += await until(ws, "announcement")
        await ws.send_json({"type": "ack", "seq": max(f["seq"] for f in frames)})
    for screen in (gate, hall):
        row = await eventually(lambda screen=screen: listed(village, screen["id"]), lambda r: r["last_received_at"] is not None)
        assert row["showing"] == {"id": urgent["id"], "title": "防汛紧急通知", "priority": "emergency"}
        assert row["online"] and row["offline_s"] is None and not row["offline_alert"]
    assert (await listed(village, idle["id"]))["showing"] is None
    assert (await listed(village, idle["id"]))["last_received_at"] is None
    for ws in sockets:
        await ws.close()


@pytest.mark.settings(screen_offline_alert_minutes=30)
async def test_a_screen_offline_longer_than_the_setting_is_flagged(village, clock):
    gate = await village.screen("村口", VILLAGE)
    clock.shift += timedelta(minutes=29)
    row = await listed(village, gate["id"])
    assert not row["online"] and 29 * 60 - 5 <= row["offline_s"] <= 29 * 60 + 5 and not row["offline_alert"]
    clock.shift += timedelta(minutes=2)
    assert (await listed(village, gate["id"]))["offline_alert"]


async def test_showing_is_the_most_urgent_then_the_newest_of_what_reaches_the_screen(village, clock):
    """An older emergency stays first over a newer normal notice; among normal ones the newest; a notice for a tag
    the screen does not carry is not what it shows, one for a tag it carries or for its id alone is."""
    gate = await village.screen("村口", VILLAGE)
    square = await village.screen("广场", OTHER)
    start = utcnow()

    async def post_at(minute: int, **notice) -> dict:
        clock.at = start + timedelta(minutes=minute)
        return await village.post(speak=False, **notice)

    flood = await post_at(0, title="防汛紧急通知", priority="emergency", target={"areas": [VILLAGE]})
    await post_at(1, title="普通通知", target={"areas": [VILLAGE]})
    await post_at(2, title="旧通知", target={"areas": [OTHER]})
    newer = await post_at(3, title="新通知", target={"areas": [OTHER]})
    market = await post_at(4, title="集市通知", target={"areas": [OTHER], "tags": ["market"]})
    assert (await listed(village, gate["id"]))["showing"]["id"] == flood["id"]
    assert (await listed(village, square["id"]))["showing"]["id"] == newer["id"]
    stall = await village.screen("集市", OTHER, tags=["market"])  # carries the tag: the newest for it is the market's
    assert (await listed(village, stall["id"]))["showing"]["id"] == market["id"]
    desk = await village.screen("服务中心", OTHER)
    for_desk = await post_at(5, title="办事指南", target={"screens": [desk["id"]]})  # named by its id alone
    assert (await listed(village, desk["id"]))["showing"]["id"] == for_desk["id"]
    assert (await listed(village, square["id"]))["showing"]["id"] == newer["id"]
