"""Online is true across replicas: a screen connected to another replica on the same database is online here while
that replica's heartbeat is fresh (announcements/deliveries.py), and offline once it leaves or the replica dies.

The replica tests run on PostgreSQL (SQLite is one replica): a second server `replica_b` on the same database.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from announcements.deliveries import DEAD_REPLICA_KEPT, STALE_AFTER_BEATS
from announcements.models import Replica, Screen
from announcements.protocol import CloseCode
from broadcast_server.app import create_app
from broadcast_server.keys import CLOCK, DATABASE, HUB, RECORDER, REPLICA_ID, SETTINGS
from tests.conftest import Village
from tests.e2e.screens import eventually, running
from tests.wsframes import connected

VILLAGE = "/hongqi/liujingtun"
POSTGRES = pytest.mark.parametrize("database_settings", ["postgres"], indirect=True)


@pytest.fixture
async def replica_b(village, clock, aiohttp_server) -> Village:
    """A second server on the same database, with its own replica id."""
    server = await aiohttp_server(create_app(village.app[SETTINGS], clock=clock))
    return Village(server=server, http=village.http, admin=village.admin)


async def listed(replica: Village, screen_id: str) -> dict:
    """The screen as the replica's GET /screens lists it."""
    _, screens = await replica.call("GET", "/screens", expect=200)
    return next(s for s in screens if s["id"] == screen_id)


async def reported(replica: Village, announcement_id: str, screen_id: str) -> tuple[dict, dict]:
    """The screen's row and the summary of the replica's delivery report."""
    _, report = await replica.call("GET", f"/announcements/{announcement_id}/deliveries", expect=200)
    return next(d for d in report["devices"] if d["screen_id"] == screen_id), report["summary"]


async def overdue(replica: Village, screen_id: str) -> dict:
    _, body = await replica.call("GET", "/deliveries/overdue", expect=200)
    return next(d for d in body["devices"] if d["screen_id"] == screen_id)


async def online_on(replica: Village, screen_id: str) -> bool:
    return (await listed(replica, screen_id))["online"]


async def offline_on(replica: Village, screen_id: str) -> bool:
    return not await online_on(replica, screen_id)


async def set_heartbeat_back(village: Village, replica_id: str, by: timedelta) -> None:
    """What a replica killed -9 leaves: a heartbeat that is not renewed (here, made old at once)."""
    async with village.app[DATABASE].write() as session:
        await session.exec(sa.update(Replica).where(Replica.id == replica_id).values(alive_at=village.app[CLOCK]() - by))


@POSTGRES
@pytest.mark.settings(emergency_play_deadline_s=0.1)
async def test_a_screen_on_another_replica_is_online_here_until_it_leaves_that_one(village, replica_b, tmp_path):
    """A screen connected to replica B: A's screens page, delivery report and overdue list say online; once it
    disconnects from B (and B has written that), A says offline."""
    gate = await village.screen("村口大屏", VILLAGE)
    posted = await village.post(title="山洪预警", body="河水上涨，请沿河住户立即转移。", priority="emergency")
    async with running(replica_b.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: client.synced)
        assert not village.app[HUB].is_online(gate["id"])  # not connected to A itself
        await eventually(lambda: online_on(village, gate["id"]))
        assert (await listed(village, gate["id"]))["offline_s"] is None
        device, summary = await reported(village, posted["id"], gate["id"])
        assert device["online"] and summary["offline"] == 0
        assert (await overdue(village, gate["id"]))["online"]  # speech is off here: it has nothing to play
    await eventually(lambda: offline_on(village, gate["id"]))
    device, summary = await reported(village, posted["id"], gate["id"])
    assert not device["online"] and summary["offline"] == 1
    assert not (await overdue(village, gate["id"]))["online"]


@POSTGRES
async def test_a_screen_that_moved_on_stays_online_when_the_old_replica_notices_late(village, replica_b):
    """The screen connects to B while A still holds its old connection (A has not noticed it is gone): A's close,
    written after B's hello, does not take the screen from B; both replicas say online."""
    gate = await village.screen("村口大屏", VILLAGE)
    on_a = await connected(village, gate["token"])
    await village.app[RECORDER].flush()
    on_b = await connected(replica_b, gate["token"])
    await replica_b.app[RECORDER].flush()
    await on_a.close()
    await eventually(lambda: not village.app[HUB].is_online(gate["id"]))
    await village.app[RECORDER].flush()  # A's close is written last
    assert await online_on(village, gate["id"]) and await online_on(replica_b, gate["id"])
    await on_b.close()
    await eventually(lambda: offline_on(village, gate["id"]))


@POSTGRES
async def test_a_screen_replaced_by_its_own_new_connection_stays_online(village, replica_b):
    """A screen that reconnects to the same replica (its old connection closed as replaced) never left it."""
    gate = await village.screen("村口大屏", VILLAGE)
    first = await connected(village, gate["token"])
    second = await connected(village, gate["token"])
    await first.receive(timeout=5)
    assert first.close_code == CloseCode.REPLACED
    await village.app[RECORDER].flush()
    assert await online_on(replica_b, gate["id"])
    await second.close()


@POSTGRES
async def test_a_screen_its_replica_holds_is_claimed_again_at_the_next_beat(village, replica_b):
    """Should another replica's late write leave a screen connected nowhere while B holds it (its hello written
    before a slow commit of A's), B's next heartbeat makes it B's again."""
    gate = await village.screen("村口大屏", VILLAGE)
    ws = await connected(replica_b, gate["token"])
    await replica_b.app[RECORDER].flush()
    async with village.app[DATABASE].write() as session:
        await session.exec(sa.update(Screen).where(Screen.id == gate["id"]).values(connected_to=None))
    assert await offline_on(village, gate["id"])
    await replica_b.app[RECORDER].beat()
    assert await online_on(village, gate["id"])
    await ws.close()


@POSTGRES
@pytest.mark.settings(presence_beat_s=60)  # no beat of B's comes during the test by itself
async def test_a_replica_whose_heartbeat_is_stale_no_longer_makes_its_screens_online(village, replica_b, tmp_path):
    """B stops beating (killed -9): its screens count offline on A once the beat is 3 beats old, without waiting for
    the sockets to time out; they are online again when B beats again."""
    gate = await village.screen("村口大屏", VILLAGE)
    posted = await village.post(title="停水通知", speak=False)
    async with running(replica_b.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: client.synced)
        await eventually(lambda: online_on(village, gate["id"]))
        stale = timedelta(seconds=STALE_AFTER_BEATS * 60 + 1)
        await set_heartbeat_back(village, replica_b.app[REPLICA_ID], stale)
        screen = await listed(village, gate["id"])
        assert not screen["online"] and screen["offline_s"] is not None
        device, summary = await reported(village, posted["id"], gate["id"])
        assert not device["online"] and summary["offline"] == 1
        await replica_b.app[RECORDER].beat()
        assert await online_on(village, gate["id"])


@POSTGRES
async def test_a_replica_that_stops_leaves_no_screen_online_and_no_heartbeat(village, replica_b):
    """A clean stop (SIGTERM) takes the replica's screens and its heartbeat with it, at once."""
    gate = await village.screen("村口大屏", VILLAGE)
    ws = await connected(replica_b, gate["token"])
    await eventually(lambda: online_on(village, gate["id"]))
    b = replica_b.app[REPLICA_ID]
    await replica_b.server.close()
    assert await offline_on(village, gate["id"])
    async with village.app[DATABASE].read() as session:
        assert (await session.get(Replica, b)) is None
    await ws.close()


@pytest.mark.settings(delivery_flush_s=60)  # nothing is written unless the test flushes
async def test_this_replicas_own_screens_are_online_exactly_while_it_holds_them(village):
    """The server that answers knows its own screens at once: online from the hello and offline from the close,
    before either is written (on SQLite, the one server, as it always was)."""
    gate = await village.screen("村口大屏", VILLAGE)
    ws = await connected(village, gate["token"])
    assert await online_on(village, gate["id"])
    await village.app[RECORDER].flush()  # the row says it is connected to this replica
    await ws.close()
    await eventually(lambda: not village.app[HUB].is_online(gate["id"]))
    assert await offline_on(village, gate["id"])  # the row, not yet written again, still names this replica


async def test_rows_of_replicas_dead_over_a_day_go_at_a_beat(village):
    now = village.app[CLOCK]()
    async with village.app[DATABASE].write() as session:
        session.add(Replica(id="d" * 32, alive_at=now - DEAD_REPLICA_KEPT - timedelta(minutes=1)))
        session.add(Replica(id="e" * 32, alive_at=now - DEAD_REPLICA_KEPT + timedelta(minutes=1)))
    await village.app[RECORDER].beat()
    async with village.app[DATABASE].read() as session:
        left = set((await session.exec(select(Replica.id))).all())
    assert left == {"e" * 32, village.app[REPLICA_ID]}


async def test_migration_0014_builds_what_the_models_describe(village):
    async with village.app[DATABASE].engine.connect() as conn:
        diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    assert [d for d in diffs if "replica" in repr(d) or "connected_to" in repr(d)] == []
