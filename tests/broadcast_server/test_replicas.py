"""Replicas that act as one (PostgreSQL; SQLite is one replica): a second server on the same database, polling
only every 30 s, so what arrives sooner came by LISTEN/NOTIFY. A post on A reaches a screen on B at once; a
screen removed or moved on A is closed on B; a listener cut off by the database comes back and hears again."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aiohttp
import asyncpg
import pytest

from broadcast_server.app import create_app
from broadcast_server.keys import HUB, SETTINGS
from broadcast_server.wakeup import APPLICATION_NAME, asyncpg_dsn
from tests.wsframes import connected, until

pytestmark = [
    pytest.mark.parametrize("database_settings", ["postgres"], indirect=True),
    pytest.mark.settings(event_poll_s=30),
]
VILLAGE = "/hongqi/liujingtun"
SOONER_THAN_THE_POLL_S = 5


@pytest.fixture
async def replica_b(village, aiohttp_server):
    """A second server on the same database, listening for the first's events."""
    server = await aiohttp_server(create_app(village.app[SETTINGS]))
    await asyncio.wait_for(server.app[HUB].wakeup.listening.wait(), 10)
    await asyncio.wait_for(village.app[HUB].wakeup.listening.wait(), 10)
    return SimpleNamespace(app=server.app, http=village.http, url=str(server.make_url("")).rstrip("/"))


async def closed_with(ws) -> int:
    message = await ws.receive(timeout=SOONER_THAN_THE_POLL_S)
    while message.type == aiohttp.WSMsgType.TEXT:
        message = await ws.receive(timeout=SOONER_THAN_THE_POLL_S)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return ws.close_code


async def test_a_post_on_one_replica_reaches_a_screen_on_another_at_once(village, replica_b):
    gate = await village.screen("村口大屏", VILLAGE)
    ws = await connected(replica_b, gate["token"])
    for n in range(3):
        posted = await village.post(title=f"通知 {n}", speak=False)
        frames = await until(ws, "announcement", timeout=SOONER_THAN_THE_POLL_S)
        assert frames[-1]["announcement"]["id"] == posted["id"]
    await ws.close()


async def test_a_screen_removed_or_moved_on_one_replica_is_closed_on_another(village, replica_b):
    gate, market = await village.screen("村口大屏", VILLAGE), await village.screen("集市屏", VILLAGE)
    gate_ws, market_ws = await connected(replica_b, gate["token"]), await connected(replica_b, market["token"])
    await village.call("DELETE", f"/screens/{gate['id']}", expect=204)
    assert await closed_with(gate_ws) == 4401
    await village.call("PATCH", f"/screens/{market['id']}", json={"area": "/hongqi"}, expect=200)
    assert await closed_with(market_ws) == 1001  # to hand-shake again under its new area
    again = await connected(replica_b, market["token"])
    posted = await village.post(title="街道通知", speak=False, target={"areas": ["/hongqi"]})
    assert (await until(again, "announcement", timeout=SOONER_THAN_THE_POLL_S))[-1]["announcement"]["id"] == posted["id"]
    await again.close()


async def test_a_listener_cut_off_by_the_database_listens_again(village, replica_b):
    gate = await village.screen("村口大屏", VILLAGE)
    ws = await connected(replica_b, gate["token"])
    wakeup = replica_b.app[HUB].wakeup
    admin = await asyncpg.connect(asyncpg_dsn(village.app[SETTINGS].database_url))
    try:
        cut = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",  # not another test run's
            APPLICATION_NAME,
        )
        assert cut == 2  # both replicas' listeners
    finally:
        await admin.close()
    await asyncio.wait_for(_until_cleared(wakeup.listening), 5)
    await asyncio.wait_for(wakeup.listening.wait(), 10)
    posted = await village.post(title="又能听到了", speak=False)
    assert (await until(ws, "announcement", timeout=SOONER_THAN_THE_POLL_S))[-1]["announcement"]["id"] == posted["id"]
    await ws.close()


async def _until_cleared(flag: asyncio.Event) -> None:
    while flag.is_set():
        await asyncio.sleep(0.05)
