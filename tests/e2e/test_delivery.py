"""The announcement path end to end: real server on loopback, real screen clients."""

import asyncio

from broadcast_server.keys import RECORDER
from tests.e2e.screens import ids, running, titles


async def test_post_reaches_exactly_the_targeted_screens(village, tmp_path):
    """An announcement for one village reaches its screens (with a tag filter) and no others."""
    gate = await village.screen("gate", "/hongqi/liujingtun", tags=["gate"])
    market = await village.screen("market", "/hongqi/liujingtun/grid-3", tags=["market"])
    other = await village.screen("other", "/hongqi/xincun", tags=["market"])
    async with (
        running(village.url, gate["token"], tmp_path / "gate") as c_gate,
        running(village.url, market["token"], tmp_path / "market") as c_market,
        running(village.url, other["token"], tmp_path / "other") as c_other,
    ):
        for client in (c_gate, c_market, c_other):
            await client.wait_for(lambda c=client: c.synced)
        village_wide = await village.post(title="全村", target={"areas": ["/hongqi/liujingtun"]})
        market_only = await village.post(title="集市", target={"areas": ["/hongqi"], "tags": ["market"]})
        await c_gate.wait_for(lambda: village_wide["id"] in ids(c_gate))
        await c_market.wait_for(lambda: {village_wide["id"], market_only["id"]} <= ids(c_market))
        await c_other.wait_for(lambda: market_only["id"] in ids(c_other))
        # A marker for all three: events arrive in seq order, so anything wrongly sent came before it.
        marker = await village.post(title="标记", target={"areas": ["/hongqi"]})
        for client in (c_gate, c_market, c_other):
            await client.wait_for(lambda c=client: marker["id"] in ids(c))
        assert ids(c_gate) == {village_wide["id"], marker["id"]}
        assert ids(c_market) == {village_wide["id"], market_only["id"], marker["id"]}
        assert ids(c_other) == {market_only["id"], marker["id"]}


async def test_offline_screen_gets_what_it_missed(village, tmp_path):
    """A screen that was off gets, on reconnect, what was posted and cancelled meanwhile."""
    gate = await village.screen("gate", "/hongqi/liujingtun")
    first = await village.post(title="第一条")
    async with running(village.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: titles(client) == ["第一条"])
        seen_seq = client.last_seq
    second = await village.post(title="第二条")
    await village.call("POST", f"/announcements/{first['id']}/cancel", expect=200)
    async with running(village.url, gate["token"], tmp_path / "gate") as client:
        assert client.last_seq == seen_seq  # resumes from its own stored position
        await client.wait_for(lambda: ids(client) == {second["id"]})
        assert client.connections == 1


async def test_cancel_sends_retract(village, tmp_path):
    """Cancelling removes the announcement from the screen."""
    gate = await village.screen("gate", "/hongqi/liujingtun")
    async with running(village.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: client.synced)
        posted = await village.post()
        await client.wait_for(lambda: posted["id"] in ids(client))
        await village.call("POST", f"/announcements/{posted['id']}/cancel", expect=200)
        await client.wait_for(lambda: posted["id"] not in ids(client))


async def test_correction_replaces_what_the_screen_shows(village, tmp_path):
    """A PATCH reaches the screen as the next revision, replacing the text."""
    gate = await village.screen("gate", "/hongqi/liujingtun")
    async with running(village.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: client.synced)
        posted = await village.post(title="停水通知")
        await client.wait_for(lambda: titles(client) == ["停水通知"])
        await village.call("PATCH", f"/announcements/{posted['id']}", json={"title": "停水通知（更正）"}, expect=200)
        await client.wait_for(lambda: titles(client) == ["停水通知（更正）"])
        assert client.announcements()[0].revision == 2


async def test_emergency_sorts_first_on_the_screen(village, tmp_path):
    """Whatever the posting order, the screen lists emergency, high, normal, low."""
    gate = await village.screen("gate", "/hongqi/liujingtun")
    for priority in ["normal", "low", "emergency", "high"]:
        await village.post(title=priority, priority=priority)
    async with running(village.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: len(titles(client)) == 4)
        assert titles(client) == ["emergency", "high", "normal", "low"]


async def test_receipts_show_up_in_deliveries(village, tmp_path):
    """Screens ack and send displayed receipts; GET /announcements/{id} counts them."""
    screens = [await village.screen(f"s{i}", "/hongqi/liujingtun") for i in range(3)]
    speaker = await village.screen("horn", "/hongqi/liujingtun", kind="speaker")
    async with (
        running(village.url, screens[0]["token"], tmp_path / "0") as a,
        running(village.url, screens[1]["token"], tmp_path / "1") as b,
        running(village.url, speaker["token"], tmp_path / "horn", display=None) as horn,
    ):
        for client in (a, b, horn):
            await client.wait_for(lambda c=client: c.synced)
        posted = await village.post(speak=False)
        for client in (a, b, horn):
            await client.wait_for(lambda c=client: posted["id"] in ids(c))
        figures = {}
        for _ in range(50):
            await village.app[RECORDER].flush()
            _, detail = await village.call("GET", f"/announcements/{posted['id']}", expect=200)
            figures = detail["deliveries"]
            if figures["received"] == 3 and figures["displayed"] == 2:
                break
            await asyncio.sleep(0.1)
        assert figures == {"targeted": 4, "received": 3, "displayed": 2, "played": 0}
