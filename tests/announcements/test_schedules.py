"""Timed broadcasts on their own: each occurrence becomes one announcement at its time, once, even with replicas."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import select

from announcements.database import Database
from announcements.models import Announcement, Role, Schedule, ScheduleCreate, ScheduleStatus
from announcements.schedules import Recurrence, create_due_occurrences, create_schedule
from announcements.tokens import Principal
from tests.announcements.conftest import open_database

VILLAGE = Principal(token_id="committee", role=Role.COMMITTEE, area="/hongqi/liujingtun", name="村委会")
ZONE = "Asia/Shanghai"
CREATED = datetime(2030, 4, 30, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
FIRST = datetime(2030, 4, 30, 22, 30, tzinfo=UTC)  # 2030-05-01 06:30 in Shanghai


async def daily(db: Database, **fields) -> str:
    when = {"rrule": "FREQ=DAILY", "dtstart": "2030-05-01T06:30", **fields}
    data = ScheduleCreate(title="早间广播", body="今天天气晴。", **when)
    async with db.write() as session:
        schedule = await create_schedule(session=session, data=data, principal=VILLAGE, now=CREATED, timezone=ZONE, media_dir=Path('.'))
    assert schedule.next_at == FIRST
    return schedule.id


async def run(db: Database, now: datetime) -> list[str]:
    async with db.write() as session:
        return await create_due_occurrences(session=session, now=now)


async def announcements(db: Database) -> list[Announcement]:
    async with db.read() as session:
        return list((await session.exec(select(Announcement).order_by(Announcement.published_at))).all())


async def test_a_daily_broadcast_creates_each_occurrence_at_its_time_once(db):
    schedule_id = await daily(db)
    assert await run(db, FIRST - timedelta(seconds=1)) == []
    for day in range(3):
        at = FIRST + timedelta(days=day)
        assert len(await run(db, at)) == 1
        assert await run(db, at + timedelta(seconds=5)) == []  # the same occurrence is not made again
    made = await announcements(db)
    assert [a.published_at for a in made] == [FIRST + timedelta(days=d) for d in range(3)]
    assert {a.schedule_id for a in made} == {schedule_id}
    assert all(a.status == "live" or a.expires_at <= FIRST + timedelta(days=2) for a in made)
    assert {a.title for a in made} == {"早间广播"} and {a.area for a in made} == {VILLAGE.area}


async def test_after_an_outage_only_the_latest_missed_occurrence_is_made(db):
    await daily(db, lifetime_minutes=120)
    back = FIRST + timedelta(days=3, minutes=30)  # down for three mornings, back at 07:00 on the fourth
    assert len(await run(db, back)) == 1
    made = await announcements(db)
    assert len(made) == 1 and made[0].expires_at == FIRST + timedelta(days=3, minutes=120)


async def test_an_occurrence_whose_lifetime_passed_during_an_outage_is_not_made(db):
    await daily(db, lifetime_minutes=30)
    assert await run(db, FIRST + timedelta(hours=2)) == []
    assert await announcements(db) == []
    assert len(await run(db, FIRST + timedelta(days=1))) == 1  # the next morning comes as usual


async def test_a_schedule_past_its_end_date_ends(db):
    await daily(db, until="2030-05-01")
    assert len(await run(db, FIRST)) == 1
    assert await run(db, FIRST + timedelta(days=1)) == []
    async with db.read() as session:
        (schedule,) = (await session.exec(select(Schedule))).all()
    assert schedule.status == ScheduleStatus.ENDED and schedule.next_at is None


async def test_two_replicas_create_each_occurrence_once(settings, db):
    """Two processes' dispatchers (two engines) run at the same instant: one announcement per occurrence."""
    await daily(db)
    replica = await open_database(settings)
    try:
        for day in range(3):
            at = FIRST + timedelta(days=day)
            made = await asyncio.gather(run(db, at), run(replica, at))
            assert sum(len(ids) for ids in made) == 1, made
    finally:
        await replica.close()
    assert len(await announcements(db)) == 3


async def test_the_time_may_come_from_the_rule_as_byhour_and_byminute(db):
    """PROTOCOL.md's own example: FREQ=DAILY;BYHOUR=6;BYMINUTE=30 from a date fires at 06:30 local each day."""
    await daily(db, rrule="FREQ=DAILY;BYHOUR=6;BYMINUTE=30", dtstart="2030-05-01")
    assert await run(db, FIRST - timedelta(minutes=1)) == []
    assert len(await run(db, FIRST)) == 1 and len(await run(db, FIRST + timedelta(days=1))) == 1


async def test_a_schedule_in_another_zone_keeps_its_local_time(db):
    """06:30 in Urumqi is 00:30 UTC, two hours after 06:30 in Shanghai."""
    data = ScheduleCreate(title="早间广播", body="今天天气晴。", rrule="FREQ=DAILY", dtstart="2030-05-01T06:30", timezone="Asia/Urumqi")
    async with db.write() as session:
        schedule = await create_schedule(session=session, data=data, principal=VILLAGE, now=CREATED, timezone=ZONE, media_dir=Path('.'))
    assert (schedule.timezone, schedule.next_at) == ("Asia/Urumqi", FIRST + timedelta(hours=2))


def test_counting_a_rule_without_an_end_reads_no_further_than_its_first_year(monkeypatch):
    """The cap is checked on every save, in the event loop: a daily rule read on to the year 9999 (2.9 million
    occurrences) held every screen and request for seconds."""
    recurrence = Recurrence(rrule="FREQ=DAILY", dates=(), start=datetime(2030, 5, 1, 6, 30), until=None, zone=ZoneInfo(ZONE))
    read = []
    whole_set = Recurrence._set

    def counted(self):
        for occurrence in whole_set(self):
            read.append(occurrence)
            yield occurrence

    monkeypatch.setattr(Recurrence, "_set", counted)
    assert recurrence.count_capped() == 366  # 2030-05-01 06:30 up to 2031-05-02 06:30 (366 days on)
    assert len(read) <= 367
