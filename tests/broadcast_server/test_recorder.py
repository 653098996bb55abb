"""The delivery recorder keeps what a failed flush could not write and writes it once the database is back.

The failures are real (tests/requests/test_replies.py `DatabaseOutage`): on PostgreSQL the
recorder's connections go through a TCP hop that is cut, on SQLite another connection holds the
write lock past the (shortened) busy timeout. The recorder here is one of its own on the test's
database, flushed by hand; what landed is read back through the API and the tables.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from announcements.database import Database, sqlite_url
from announcements.models import Delivery, Screen
from broadcast_server.keys import DATABASE, SETTINGS
from broadcast_server.recorder import DeliveryRecorder
from tests.clock import SettableClock
from tests.e2e.screens import eventually

VILLAGE = "/hongqi/liujingtun"
UNREACHABLE = (DBAPIError, OSError)  # what a write raises when the database is locked or out of reach
T1 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
CLIENT = {"name": "village-screen", "version": "1.4.0"}
REPLICA = "a" * 32


async def recorder_on(outage, clock) -> tuple[DeliveryRecorder, Database]:
    fields = await outage.start()
    db = Database(fields.get("database_url") or sqlite_url(fields["data_dir"]), schema=fields.get("database_schema"))
    await outage.attach(db)
    return DeliveryRecorder(db, clock=clock, flush_interval_s=60, replica_id=REPLICA, beat_s=10), db


async def screens_by_id(village) -> dict[str, dict]:
    _, page = await village.call("GET", "/screens", expect=200)
    return {s["id"]: s for s in (page["items"] if isinstance(page, dict) else page)}


async def delivery_rows(village, announcement_id: str) -> dict[str, tuple]:
    async with village.app[DATABASE].read() as session:
        rows = (await session.exec(select(Delivery).where(Delivery.announcement_id == announcement_id))).all()
    return {r.screen_id: (_utc(r.received_at), _utc(r.displayed_at), _utc(r.played_at)) for r in rows}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def figures(village, announcement_id: str) -> dict:
    _, body = await village.call("GET", f"/announcements/{announcement_id}", expect=200)
    return body["deliveries"]


async def test_a_failed_flush_keeps_marks_cursors_and_presence_and_they_land_once(village, outage):
    """Marks, cursors and presence buffered before a flush that fails, and more arriving while it fails
    and after: nothing is written half, nothing is lost, and once the database is back one flush writes
    all of it, each mark at its own time and counted once, each cursor at its highest seq."""
    gate, well = await village.screen("gate", VILLAGE), await village.screen("well", VILLAGE)
    announcement = await village.post(target={"areas": [VILLAGE]})
    clock = SettableClock(T1)
    recorder, db = await recorder_on(outage, clock)
    try:
        recorder.cursor(well["id"], 1)
        await recorder.flush()  # a working flush first: the recorder's connections are open when the database goes
        assert (await screens_by_id(village))[well["id"]]["cursor"] == 1

        recorder.mark(announcement["id"], gate["id"], "received")
        recorder.mark(announcement["id"], gate["id"], "displayed")
        recorder.cursor(gate["id"], 1)
        recorder.connected(gate["id"], CLIENT)
        await outage.cut()
        clock.at = T1 + timedelta(seconds=1)
        failing = asyncio.create_task(recorder.flush())
        await asyncio.sleep(0)  # a yield, not a wait: the flush has taken the buffers and waits for the database
        recorder.mark(announcement["id"], well["id"], "played")  # played implies received
        recorder.cursor(gate["id"], 2)
        recorder.cursor(well["id"], 2)
        with pytest.raises(UNREACHABLE):
            await failing
        clock.at = T1 + timedelta(seconds=2)
        recorder.cursor(gate["id"], 1)  # an older ack arriving late moves no cursor back
        recorder.disconnected(well["id"])
        with pytest.raises(UNREACHABLE):
            await recorder.flush()  # still down: a second failure keeps everything too

        screens = await screens_by_id(village)
        assert (screens[gate["id"]]["cursor"], screens[gate["id"]]["last_seen"], screens[gate["id"]]["client"]) == (0, None, None)
        assert screens[well["id"]]["cursor"] == 1 and screens[well["id"]]["last_seen"] is None
        assert await figures(village, announcement["id"]) == {"targeted": 2, "received": 0, "displayed": 0, "played": 0}

        await outage.mend()
        clock.at = T1 + timedelta(seconds=3)

        async def flushed() -> bool:  # the first flush after the database is back may meet a dropped connection
            try:
                await recorder.flush()
            except Exception:
                return False
            return True

        await eventually(flushed)
    finally:
        await db.close()

    screens = await screens_by_id(village)
    assert (screens[gate["id"]]["cursor"], screens[well["id"]]["cursor"]) == (2, 2)
    assert screens[gate["id"]]["client"] == CLIENT
    assert screens[gate["id"]]["last_seen"] is not None and screens[well["id"]]["last_seen"] is not None
    assert await figures(village, announcement["id"]) == {"targeted": 2, "received": 2, "displayed": 1, "played": 1}
    at1, at2 = T1, T1 + timedelta(seconds=1)
    assert await delivery_rows(village, announcement["id"]) == {gate["id"]: (at1, at1, None), well["id"]: (at2, None, at2)}

    # Written once: a later flush and the same marks again change no figure and no first time.
    settings = village.app[SETTINGS]
    db = Database(settings.db_url, schema=settings.database_schema)
    recorder = DeliveryRecorder(db, clock=SettableClock(T1 + timedelta(minutes=5)), flush_interval_s=60, replica_id=REPLICA, beat_s=10)
    try:
        await recorder.flush()
        recorder.mark(announcement["id"], gate["id"], "received")
        recorder.mark(announcement["id"], well["id"], "played")
        await recorder.flush()
    finally:
        await db.close()
    assert await figures(village, announcement["id"]) == {"targeted": 2, "received": 2, "displayed": 1, "played": 1}
    assert await delivery_rows(village, announcement["id"]) == {gate["id"]: (at1, at1, None), well["id"]: (at2, None, at2)}


async def test_presence_noted_while_a_flush_fails_keeps_the_client_the_screen_named(village, outage):
    """A screen says hello (naming its client) and then leaves while the flush carrying the hello fails:
    once the database is back, the screen's client is the one it named, and it is offline."""
    gate = await village.screen("gate", VILLAGE)
    recorder, db = await recorder_on(outage, SettableClock(T1))
    try:
        recorder.connected(gate["id"], CLIENT)
        await outage.cut()
        failing = asyncio.create_task(recorder.flush())
        await asyncio.sleep(0)  # a yield: the flush has taken the buffers
        recorder.disconnected(gate["id"])  # its close meanwhile
        with pytest.raises(UNREACHABLE):
            await failing
        await outage.mend()

        async def flushed() -> bool:
            try:
                await recorder.flush()
            except UNREACHABLE:
                return False
            return True

        await eventually(flushed)
    finally:
        await db.close()
    screen = (await screens_by_id(village))[gate["id"]]
    assert screen["last_seen"] is not None
    assert screen["client"] == CLIENT
    async with village.app[DATABASE].read() as session:
        assert (await session.get(Screen, gate["id"])).connected_to is None
