"""The event log on SQLite and PostgreSQL: seq order, reading it back, the live state, and each row as its message."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from announcements.database import Database
from announcements.events import (
    REQUEST_UPDATE,
    append_announcement_event,
    append_event,
    append_retract_event,
    event_message,
    events_after,
    head_seq,
    latest_live_events,
)
from announcements.models import Announcement, AnnouncementStatus, Event
from announcements.protocol import AnnouncementEvent, Audio, AudioAlternative, RequestUpdate, Retract, encode
from announcements.targeting import Target

PUBLISHED = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
EXPIRES = datetime(2026, 11, 26, 8, 0, 0, 250_000, tzinfo=UTC)
AUDIO = Audio(
    url="/media/ab12.mp3", format="mp3", duration_s=17.4, repeat=2, alternatives=[AudioAlternative(url="/media/ab12.ogg", format="ogg")]
)


def announcement(title: str, *, audio: Audio | None = None) -> Announcement:
    """A live announcement for /hongqi, as the queue makes one go out."""
    return Announcement(
        title=title,
        body='明天上午九点在村委会召开"村民大会"。\n请各户派代表参加。',
        area="/",
        target=Target(areas=("/hongqi",)).to_json(),
        status=AnnouncementStatus.LIVE,
        published_at=PUBLISHED,
        expires_at=EXPIRES,
        audio=audio.model_dump(mode="json") if audio else None,
    )


async def go_out(db: Database, *announcements: Announcement) -> list[Event]:
    """Store each announcement with its announcement event, in one transaction."""
    async with db.write() as session:
        events = []
        for item in announcements:
            session.add(item)
            events.append(await append_announcement_event(session=session, announcement=item))
        return events


async def revise(db: Database, item: Announcement) -> Event:
    async with db.write() as session:
        item.revision += 1
        session.add(item)
        return await append_announcement_event(session=session, announcement=item)


async def cancel(db: Database, item: Announcement) -> Event:
    async with db.write() as session:
        item.status = AnnouncementStatus.CANCELLED
        session.add(item)
        return await append_retract_event(session=session, announcement=item, reason="cancelled")


def request_update(ticket: str) -> dict:
    return {"ticket": ticket, "status": "assigned", "response": None}


async def tell_screen(db: Database, screen_id: str, ticket: str) -> Event:
    async with db.write() as session:
        return await append_event(
            session=session,
            type=REQUEST_UPDATE,
            target=Target(screens=(screen_id,)),
            payload=request_update(ticket),
        )


async def all_events(db: Database) -> list[Event]:
    async with db.read() as session:
        return list(await events_after(session=session, after=0))


async def test_seq_grows_with_every_append_and_the_head_is_the_newest(db):
    """An empty log's head is 0; every append takes the next seq, also across transactions."""
    async with db.read() as session:
        assert await head_seq(session=session) == 0
    first, second = await go_out(db, announcement("a"), announcement("b"))
    update = await tell_screen(db, "s1", "A7K-3QX")
    assert first.seq < second.seq < update.seq
    async with db.read() as session:
        assert await head_seq(session=session) == update.seq


async def test_events_after_reads_a_window_in_seq_order(db):
    """After a seq, at most `limit` events, oldest first, and none past `upto`."""
    events = await go_out(db, *(announcement(f"n{n}") for n in range(5)))
    seqs = [e.seq for e in events]
    async with db.read() as session:
        assert [e.seq for e in await events_after(session=session, after=seqs[0])] == seqs[1:]
        assert [e.seq for e in await events_after(session=session, after=seqs[0], limit=2)] == seqs[1:3]
        assert [e.seq for e in await events_after(session=session, after=seqs[0], upto=seqs[3])] == seqs[1:4]
        assert await events_after(session=session, after=seqs[-1]) == []


async def test_latest_live_events_are_the_newest_revision_of_each_live_announcement(db):
    """A screen's whole state: one event per live announcement, its newest revision, in seq order; nothing
    of a cancelled announcement, and no request updates."""
    revised, cancelled, plain = announcement("revised"), announcement("cancelled"), announcement("plain")
    *_, plain_event = await go_out(db, revised, cancelled, plain)
    second_revision = await revise(db, revised)
    await cancel(db, cancelled)
    await tell_screen(db, "s1", "A7K-3QX")
    async with db.read() as session:
        live = await latest_live_events(session=session)
    assert [(e.announcement_id, e.seq) for e in live] == [(plain.id, plain_event.seq), (revised.id, second_revision.seq)]
    assert event_message(live[1]).announcement.revision == 2


async def test_each_row_reads_back_as_its_typed_message(db):
    """An announcement row is an AnnouncementEvent with times and audio typed; a retract and a request
    update are theirs, with their seq."""
    spoken = announcement("村民大会通知", audio=AUDIO)
    await go_out(db, spoken)
    await cancel(db, spoken)
    await tell_screen(db, "s1", "A7K-3QX")
    sent, retract, update = (event_message(row) for row in await all_events(db))

    assert isinstance(sent, AnnouncementEvent)
    payload = sent.announcement
    assert (payload.id, payload.revision, payload.title, payload.priority) == (spoken.id, 1, "村民大会通知", "normal")
    assert (payload.published_at, payload.expires_at) == (PUBLISHED, EXPIRES)
    assert payload.audio == AUDIO and payload.schedule_id is None  # posted by a person, not a timed broadcast
    assert retract == Retract(seq=sent.seq + 1, announcement_id=spoken.id, reason="cancelled")
    assert update == RequestUpdate(seq=sent.seq + 2, ticket="A7K-3QX", status="assigned", response=None)


async def test_a_message_encodes_to_the_row_as_stored(db):
    """The JSON screens get for an event is its type, its seq and the payload as written: the same keys,
    values and bytes (compact, UTF-8 as is), whatever the database gave back."""
    spoken = announcement('紧急 "通知"', audio=AUDIO)
    await go_out(db, spoken, announcement("silent"))
    await revise(db, spoken)
    await cancel(db, spoken)
    await tell_screen(db, "s1", "A7K-3QX")
    rows = await all_events(db)
    assert len(rows) == 5
    for row in rows:
        stored = json.dumps({"type": row.type, "seq": row.seq, **row.payload}, ensure_ascii=False, separators=(",", ":"))
        assert encode(event_message(row)) == stored


async def test_a_commit_hands_on_the_events_it_kept_and_only_those(db):
    """What the hub fans out without reading the table back (`on_events_committed`) is what was committed: not an
    event a rolled-back savepoint took back, nothing of a transaction that failed, and each as it reads back."""
    handed: list[list[Event]] = []
    db.on_events_committed(handed.append)
    target = Target(areas=("/hongqi",))
    async with db.write() as session:
        kept = await append_event(session=session, type=REQUEST_UPDATE, target=target, payload=request_update("A-1"))
        try:
            async with session.begin_nested():
                await append_event(session=session, type=REQUEST_UPDATE, target=target, payload=request_update("A-2"))
                raise RuntimeError("the savepoint is rolled back")
        except RuntimeError:
            pass
        live = await append_announcement_event(session=session, announcement=announcement("通知"))
    try:
        async with db.write() as session:
            await append_event(session=session, type=REQUEST_UPDATE, target=target, payload=request_update("A-3"))
            raise RuntimeError("the transaction fails")
    except RuntimeError:
        pass
    async with db.write() as session:
        await head_seq(session=session)  # a transaction that appends nothing hands nothing on

    assert [[event.seq for event in batch] for batch in handed] == [[kept.seq, live.seq]]
    async with db.read() as session:
        stored = await events_after(session=session, after=0)
    assert [event.seq for event in stored] == [kept.seq, live.seq]
    assert [encode(event_message(event)) for event in handed[0]] == [encode(event_message(event)) for event in stored]
