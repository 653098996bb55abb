"""The event log: every change a screen must learn of, in `seq` order.

Written in the same transaction as the change it describes; the hub sends only what is here, each
row read back as the protocol message it stands for (`event_message`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field, TypeAdapter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.database import lock_event_order, note_events
from announcements.drills import marked_title
from announcements.models import SPEECH_LIVE, Announcement, AnnouncementStatus, Event
from announcements.protocol import (
    AnnouncementEvent,
    AnnouncementPayload,
    AreaUpdate,
    CloseCode,
    LiveEvent,
    LiveState,
    RequestUpdate,
    Retract,
    RetractReason,
)
from announcements.targeting import Target

ANNOUNCEMENT = "announcement"
RETRACT = "retract"
REQUEST_UPDATE = "request_update"
AREA = "area"
LIVE = "live"
DISCONNECT = "disconnect"  # for the replicas, never sent to a screen


class Disconnect(BaseModel):
    """An order to every replica, not a message to screens: close this screen's connection (its token was revoked,
    it was removed, or it moved and must hand-shake again), wherever it is connected."""

    type: Literal["disconnect"] = "disconnect"
    seq: int
    screen_id: str
    code: int
    reason: str


EventMessage = Annotated[
    AnnouncementEvent | Retract | RequestUpdate | AreaUpdate | LiveEvent | Disconnect, Field(discriminator="type")
]
_event_adapter: TypeAdapter[EventMessage] = TypeAdapter(EventMessage)


async def append_event(
    *, session: AsyncSession, type: str, target: Target, payload: dict, announcement_id: str | None = None
) -> Event:
    """Add one event to the log in the caller's transaction; its `seq` is set on return."""
    await lock_event_order(session)
    event = Event(type=type, target=target.to_json(), payload=payload, announcement_id=announcement_id)
    session.add(event)
    await session.flush()
    await note_events(session, event)
    return event


async def append_disconnect_event(*, session: AsyncSession, screen_id: str, code: CloseCode, reason: str) -> Event:
    """Close the screen's socket on whichever replica holds it, once this transaction commits."""
    payload = {"screen_id": screen_id, "code": int(code), "reason": reason}
    return await append_event(session=session, type=DISCONNECT, target=Target(screens=(screen_id,)), payload=payload)


def announcement_payload(announcement: Announcement) -> dict:
    """The `announcement` object screens are sent for one revision; a drill's title carries its 演练 marking."""
    payload = AnnouncementPayload(
        id=announcement.id,
        revision=announcement.revision,
        title=marked_title(announcement.title, announcement.language) if announcement.drill else announcement.title,
        body=announcement.body,
        priority=announcement.priority,
        category=announcement.category,
        language=announcement.language,
        published_at=announcement.published_at,
        expires_at=announcement.expires_at,
        audio=announcement.audio,
        schedule_id=announcement.schedule_id,
        images=announcement.images,
        drill=announcement.drill,
        cap=announcement.cap,
    )
    return {"announcement": payload.model_dump(mode="json")}


async def append_announcement_event(*, session: AsyncSession, announcement: Announcement) -> Event:
    return await append_event(
        session=session,
        type=ANNOUNCEMENT,
        target=Target.from_json(announcement.target),
        payload=announcement_payload(announcement),
        announcement_id=announcement.id,
    )


async def append_retract_event(*, session: AsyncSession, announcement: Announcement, reason: RetractReason) -> Event:
    return await append_event(
        session=session,
        type=RETRACT,
        target=Target.from_json(announcement.target),
        payload={"announcement_id": announcement.id, "reason": reason},
        announcement_id=announcement.id,
    )


async def calls_in_progress(*, session: AsyncSession) -> Sequence[Event]:
    """The `started` events of the live calls still going on (their announcement still marked live): what a screen
    that says hello, or a hub that starts, must know of them."""
    query = (
        select(Event)
        .join(Announcement, Announcement.id == Event.announcement_id)
        .where(Event.type == LIVE, Announcement.speech_status == SPEECH_LIVE)
        .order_by(col(Event.seq))
    )
    return [row for row in (await session.exec(query)).all() if row.payload.get("state") == LiveState.STARTED]


def event_message(row: Event) -> EventMessage:
    """The message screens are sent for one event row: its type and seq, and the payload it was written with."""
    return _event_adapter.validate_python({"type": row.type, "seq": row.seq, **row.payload})


async def events_after(*, session: AsyncSession, after: int, limit: int = 1000, upto: int | None = None) -> Sequence[Event]:
    query = select(Event).where(Event.seq > after).order_by(col(Event.seq)).limit(limit)
    if upto is not None:
        query = query.where(Event.seq <= upto)
    return (await session.exec(query)).all()


async def head_seq(*, session: AsyncSession) -> int:
    return (await session.exec(select(sa.func.coalesce(sa.func.max(Event.seq), 0)))).one()


async def latest_live_events(*, session: AsyncSession) -> Sequence[Event]:
    """The newest announcement event of every live announcement: a screen's whole current state."""
    newest = (
        select(sa.func.max(Event.seq))
        .join(Announcement, Announcement.id == Event.announcement_id)
        .where(Announcement.status == AnnouncementStatus.LIVE, Event.type == ANNOUNCEMENT)
        .group_by(Event.announcement_id)
    )
    return (await session.exec(select(Event).where(col(Event.seq).in_(newest)).order_by(col(Event.seq)))).all()

