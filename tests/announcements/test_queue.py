"""The announcement queue on its own: what publish_due and expire_due pick and in which order, cancelling, scope."""

import asyncio
from datetime import timedelta

import pytest

from announcements.database import Database
from announcements.errors import Conflict, Forbidden, NotFound
from announcements.events import RETRACT, events_after, head_seq
from announcements.models import AnnouncementCreate, AnnouncementStatus, Role, ScreenCreate
from announcements.queue import (
    cancel_announcement,
    create_announcement,
    expire_due,
    get_announcement,
    list_announcements,
    publish_due,
)
from announcements.registry import create_screen
from announcements.timeutil import utcnow
from announcements.tokens import Principal
from tests.announcements.conftest import open_database

LIFETIME = timedelta(hours=1)
VILLAGE = Principal(token_id="committee", role=Role.COMMITTEE, area="/hongqi/liujingtun", name="村委会")
NEIGHBOUR = Principal(token_id="neighbour", role=Role.COMMITTEE, area="/hongqi/xincun", name="新村村委会")


async def post(db: Database, *, now, by: Principal = VILLAGE, **fields):
    """An announcement as `by` posts it at `now` (live at once unless `publish_at` lies ahead)."""
    data = AnnouncementCreate(title="村民大会通知", body="明天上午九点在村委会召开村民大会。", **fields)
    async with db.write() as session:
        created = await create_announcement(session=session, data=data, principal=by, now=now, default_lifetime=LIFETIME)
    return created.announcement


async def status_of(db: Database, announcement) -> AnnouncementStatus:
    async with db.read() as session:
        return (await get_announcement(session=session, announcement_id=announcement.id, principal=VILLAGE)).status


async def test_publish_due_takes_emergencies_first_then_the_earliest_and_leaves_the_rest(db):
    """What is due goes live by priority, then by publish_at, and its events follow that order; what is not
    due yet stays scheduled; one whose whole window passed (the server was down) expires without going live."""
    t0 = utcnow()
    normal_early = await post(db, now=t0, priority="normal", publish_at=t0 + timedelta(minutes=1))
    low = await post(db, now=t0, priority="low", publish_at=t0 + timedelta(minutes=1))
    normal_late = await post(db, now=t0, priority="normal", publish_at=t0 + timedelta(minutes=2))
    emergency = await post(db, now=t0, priority="emergency", publish_at=t0 + timedelta(minutes=3))
    not_yet = await post(db, now=t0, priority="emergency", publish_at=t0 + timedelta(minutes=10))
    missed = await post(db, now=t0, publish_at=t0 + timedelta(minutes=1), expires_at=t0 + timedelta(minutes=4))
    async with db.read() as session:
        head = await head_seq(session=session)

    later = t0 + timedelta(minutes=5)
    async with db.write() as session:
        published = await publish_due(session=session, now=later)
    in_order = [emergency.id, normal_early.id, normal_late.id, low.id]
    assert [a.id for a in published] == in_order
    async with db.read() as session:
        events = await events_after(session=session, after=head)
    assert [e.announcement_id for e in events] == in_order
    assert all(a.status == AnnouncementStatus.LIVE and a.published_at == later for a in published)
    assert await status_of(db, not_yet) == AnnouncementStatus.SCHEDULED
    assert await status_of(db, missed) == AnnouncementStatus.EXPIRED

    async with db.write() as session:
        assert await publish_due(session=session, now=later) == []  # published once


async def test_expire_due_retracts_what_has_run_out_and_only_that(db):
    """A live announcement past its expires_at is expired and retracted (reason `expired`); a younger one stays live."""
    t0 = utcnow()
    short = await post(db, now=t0, expires_at=t0 + timedelta(minutes=5))
    long = await post(db, now=t0, expires_at=t0 + timedelta(minutes=30))
    later = t0 + timedelta(minutes=10)
    async with db.write() as session:
        expired = await expire_due(session=session, now=later)
    assert [(a.id, a.status, a.ended_at) for a in expired] == [(short.id, AnnouncementStatus.EXPIRED, later)]
    assert await status_of(db, long) == AnnouncementStatus.LIVE
    async with db.read() as session:
        retracts = [e for e in await events_after(session=session, after=0) if e.type == RETRACT]
    assert [(e.announcement_id, e.payload["reason"]) for e in retracts] == [(short.id, "expired")]


async def test_cancel_retracts_a_live_one_quietly_ends_a_scheduled_one_and_refuses_a_second_time(db):
    """Only a live announcement has something to retract; a cancelled one cannot be cancelled again (409)."""
    t0 = utcnow()
    live = await post(db, now=t0)
    scheduled = await post(db, now=t0, publish_at=t0 + timedelta(hours=2), expires_at=t0 + timedelta(hours=3))
    async with db.write() as session:
        for announcement in (live, scheduled):
            cancelled = await cancel_announcement(session=session, announcement_id=announcement.id, principal=VILLAGE, now=t0)
            assert (cancelled.status, cancelled.ended_at) == (AnnouncementStatus.CANCELLED, t0)
    async with db.read() as session:
        retracts = [e for e in await events_after(session=session, after=0) if e.type == RETRACT]
    assert [(e.announcement_id, e.payload["reason"]) for e in retracts] == [(live.id, "cancelled")]
    with pytest.raises(Conflict):
        async with db.write() as session:
            await cancel_announcement(session=session, announcement_id=live.id, principal=VILLAGE, now=t0)


async def test_a_poster_reaches_only_its_own_area(db):
    """Targeting an area or a screen outside the poster's scope is Forbidden; another village's announcement is
    NotFound to read or cancel, and absent from the list."""
    t0 = utcnow()
    async with db.write() as session:
        elsewhere, _ = await create_screen(session=session, data=ScreenCreate(name="gate", area="/hongqi/xincun"))
    for target in ({"areas": ["/hongqi/xincun"]}, {"areas": ["/hongqi"]}, {"screens": [elsewhere.id]}):
        with pytest.raises(Forbidden):
            await post(db, now=t0, target=target)
    theirs = await post(db, now=t0, by=NEIGHBOUR)
    ours = await post(db, now=t0, target={"areas": ["/hongqi/liujingtun/grid-3"]})
    async with db.write() as session:
        with pytest.raises(NotFound):
            await get_announcement(session=session, announcement_id=theirs.id, principal=VILLAGE)
        with pytest.raises(NotFound):
            await cancel_announcement(session=session, announcement_id=theirs.id, principal=VILLAGE, now=t0)
        listed, _ = await list_announcements(session=session, principal=VILLAGE)
    assert [a.id for a in listed] == [ours.id]
    assert await status_of(db, ours) == AnnouncementStatus.LIVE


async def test_two_replicas_publishing_at_once_publish_each_announcement_once(db, settings):
    """Replicas sharing the database: while one has claimed the due rows and not yet committed, the other finds
    nothing to publish. On PostgreSQL it skips the claimed rows at once (SKIP LOCKED) rather than waiting for
    them; on SQLite the one writer makes it wait, and then there is nothing left."""
    t0 = utcnow()
    due = [await post(db, now=t0, publish_at=t0 + timedelta(minutes=m)) for m in (1, 2, 3)]
    later = t0 + timedelta(minutes=5)
    other_replica = await open_database(settings)

    async def publish_on_the_other_replica():
        async with other_replica.write() as session:
            return await publish_due(session=session, now=later)

    try:
        async with db.write() as session:
            first = await publish_due(session=session, now=later)
            second = asyncio.create_task(publish_on_the_other_replica())
            if settings.database_url is not None:
                assert await asyncio.wait_for(second, timeout=10) == []
        assert await second == []
    finally:
        await other_replica.close()
    assert [a.id for a in first] == [a.id for a in due]
