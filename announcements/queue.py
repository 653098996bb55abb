"""The announcement queue: create, revise, cancel, publish when due, expire; each change with its event.

Rules: an announcement waits for `publish_at`; what is due goes live in priority order; it is
retracted at `expires_at` or when cancelled. Screens learn of nothing that is not in the event log.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import in_area_subtree
from announcements.database import skip_locked
from announcements.errors import Conflict, Invalid, NotFound
from announcements.events import append_announcement_event, append_retract_event
from announcements.models import (
    DRILL_NOT_EMERGENCY,
    OPEN_STATUSES,
    SPEECH_PENDING,
    Announcement,
    AnnouncementCreate,
    AnnouncementStatus,
    AnnouncementUpdate,
    Deliveries,
    Delivery,
    IdempotencyRecord,
    Screen,
    TargetSpec,
    priority_order,
)
from announcements.paging import PAGE_LIMIT_DEFAULT, newest_first, split_page
from announcements.pictures import described
from announcements.protocol import Priority, RetractReason, ScreenKind
from announcements.speech import recording
from announcements.targeting import Target, reach_condition
from announcements.tokens import Principal

UNSPOKEN = "a recording is for the loudspeakers: post it with speak true"


@dataclass(frozen=True)
class Created:
    announcement: Announcement
    replayed: bool  # True when an Idempotency-Key matched an earlier request


def _body_hash(data: AnnouncementCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def resolve_target(*, session: AsyncSession, spec: TargetSpec | None, principal: Principal) -> Target:
    """The target with the poster's area filled in, checked against the poster's scope."""
    target = Target.from_json(spec.model_dump() if spec else None).with_default_area(principal.area)
    for area in target.areas:
        principal.require_scope(area)
    if target.screens:
        found = (await session.exec(select(Screen).where(col(Screen.id).in_(target.screens)))).all()
        known = {s.id: s for s in found if s.revoked_at is None}
        unknown = [sid for sid in target.screens if sid not in known]
        if unknown:
            raise Invalid(
                f"target.screens names unknown screens: {', '.join(unknown)}",
                errors=[{"loc": ["target", "screens"], "msg": f"unknown screen {sid}"} for sid in unknown],
            )
        for screen in known.values():
            principal.require_scope(screen.area)
    return target


UNREACHED = "target reaches no registered screen or loudspeaker; choose other areas, tags or screens"


@dataclass(frozen=True)
class Reach:
    """How many registered devices a target reaches now, by kind: what the console shows before a post."""

    screens: int
    speakers: int

    @property
    def devices(self) -> int:
        return self.screens + self.speakers


async def count_reach(*, session: AsyncSession, target: Target) -> Reach:
    """The devices the target reaches now, by the rule the hub applies (`Target.matches`).

    Without tags they are counted in SQL; with tags the candidates are checked one by one.
    """
    if not target.tags:
        query = select(Screen.kind, sa.func.count()).where(reach_condition(target)).group_by(col(Screen.kind))
        counts = dict((await session.exec(query)).all())
        return Reach(screens=counts.get(ScreenKind.SCREEN, 0), speakers=counts.get(ScreenKind.SPEAKER, 0))
    query = select(Screen.id, Screen.area, Screen.tags, Screen.kind).where(reach_condition(target))
    rows = (await session.exec(query)).all()
    kinds = [kind for screen_id, area, tags, kind in rows if target.matches(screen_id=screen_id, area=area, tags=tags)]
    return Reach(screens=kinds.count(ScreenKind.SCREEN), speakers=kinds.count(ScreenKind.SPEAKER))


async def count_targeted(*, session: AsyncSession, target: Target) -> int:
    """How many registered devices (screens and loudspeakers) the target reaches now."""
    return (await count_reach(session=session, target=target)).devices


async def reach_of(*, session: AsyncSession, spec: TargetSpec | None, principal: Principal) -> Reach:
    """What a post with this target would reach, checked as a post is (scope, unknown screens)."""
    return await count_reach(session=session, target=await resolve_target(session=session, spec=spec, principal=principal))


async def _go_live(*, session: AsyncSession, announcement: Announcement, now: datetime) -> None:
    announcement.status = AnnouncementStatus.LIVE
    announcement.published_at = now
    announcement.targeted = await count_targeted(session=session, target=Target.from_json(announcement.target))
    session.add(announcement)
    await append_announcement_event(session=session, announcement=announcement)


async def check_recording(url: str | None, *, speak: bool, media_dir: Path | None) -> None:
    """A notice's or a timed broadcast's recording: it is for the loudspeakers (speak true), and one POST /media stored.
    That is checked where the url comes from a client (`media_dir` given); a timed broadcast's occurrences carry the
    url checked when the broadcast was made, and a file gone since fails as its speech would (the narrator says why)."""
    if url is None:
        return
    if not speak:
        raise Invalid(UNSPOKEN, errors=[{"loc": ["recording"], "msg": UNSPOKEN, "type": "recording_not_spoken"}])
    if media_dir is not None:
        await recording.known(url, media_dir)


async def create_announcement(
    *,
    session: AsyncSession,
    data: AnnouncementCreate,
    principal: Principal,
    now: datetime,
    default_lifetime: timedelta,
    idempotency_key: str | None = None,
    require_reach: bool = False,
    schedule_id: str | None = None,
    media_dir: Path | None = None,
    cap: dict | None = None,
) -> Created:
    """Accept an announcement: live at once, or scheduled for `publish_at`.

    `require_reach`: refuse a target that reaches no registered device now (a mistyped tag, an empty area).
    `schedule_id`: the timed broadcast making it (announcements/schedules.py), carried to the screens.
    `cap`: the CAP alert making it (announcements/cap/intake.py, a `CapAlertKey`), carried to the screens.
    `media_dir`: where POST /media stored the pictures and the recording `data` names (needed only when it names any).
    """
    body_hash = _body_hash(data)
    if idempotency_key is not None:
        record = await session.get(IdempotencyRecord, (principal.token_id, idempotency_key))
        if record is not None:
            if record.body_hash != body_hash:
                raise Conflict("Idempotency-Key was already used with a different body")
            return Created(await session.get(Announcement, record.announcement_id), replayed=True)

    target = await resolve_target(session=session, spec=data.target, principal=principal)
    if require_reach and not (await count_reach(session=session, target=target)).devices:
        raise Invalid(UNREACHED, errors=[{"loc": ["target"], "msg": UNREACHED, "type": "target_unreached"}])
    start = data.publish_at if data.publish_at and data.publish_at > now else now
    expires_at = data.expires_at or start + default_lifetime
    if expires_at <= now:
        raise Invalid("expires_at is in the past", errors=[{"loc": ["expires_at"], "msg": "must be in the future"}])

    images = await described(data.images, media_dir) if data.images else []
    await check_recording(data.recording, speak=data.speak, media_dir=media_dir)

    announcement = Announcement(
        **data.model_dump(exclude={"target", "publish_at", "expires_at", "images"}),
        area=principal.area,
        target=target.to_json(),
        publish_at=data.publish_at,
        expires_at=expires_at,
        created_by=principal.token_id,
        speech_status=SPEECH_PENDING if data.speak else None,
        schedule_id=schedule_id,
        cap=cap,
        images=images,
    )
    session.add(announcement)
    if start <= now:
        await _go_live(session=session, announcement=announcement, now=now)
    if idempotency_key is not None:
        session.add(
            IdempotencyRecord(
                token_id=principal.token_id, key=idempotency_key, body_hash=body_hash, announcement_id=announcement.id
            )
        )
    await session.flush()
    return Created(announcement, replayed=False)


async def get_announcement(*, session: AsyncSession, announcement_id: str, principal: Principal) -> Announcement:
    announcement = await session.get(Announcement, announcement_id)
    if announcement is None or not principal.in_scope(announcement.area):
        raise NotFound(f"no announcement {announcement_id} in scope")
    return announcement


async def list_announcements(
    *,
    session: AsyncSession,
    principal: Principal,
    status: AnnouncementStatus | None = None,
    limit: int = PAGE_LIMIT_DEFAULT,
    cursor: str | None = None,
) -> tuple[list[Announcement], str | None]:
    """Newest first, one page, and the cursor of the next page (None on the last)."""
    query = select(Announcement).where(in_area_subtree(col(Announcement.area), principal.area))
    if status is not None:
        query = query.where(Announcement.status == status)
    query = newest_first(query, created=col(Announcement.created_at), key=col(Announcement.id), cursor=cursor, limit=limit)
    rows = (await session.exec(query)).all()
    return split_page(rows, limit=limit, created_of=lambda a: a.created_at, key_of=lambda a: a.id)


async def deliveries(*, session: AsyncSession, announcement: Announcement) -> Deliveries:
    counts = (
        await session.exec(
            select(
                sa.func.count(col(Delivery.received_at)),
                sa.func.count(col(Delivery.displayed_at)),
                sa.func.count(col(Delivery.played_at)),
            ).where(Delivery.announcement_id == announcement.id)
        )
    ).one()
    return Deliveries(targeted=announcement.targeted, received=counts[0], displayed=counts[1], played=counts[2])




async def update_announcement(
    *, session: AsyncSession, announcement_id: str, changes: AnnouncementUpdate, principal: Principal, now: datetime
) -> Announcement:
    """Correct a scheduled or live announcement; screens get the next revision."""
    announcement = await get_announcement(session=session, announcement_id=announcement_id, principal=principal)
    if announcement.status not in OPEN_STATUSES:
        raise Conflict(f"announcement is {announcement.status}; only scheduled or live ones can change")
    fields = changes.model_dump(exclude_unset=True, exclude_none=True)
    if not fields:
        raise Invalid("nothing to change: give title, body, priority or expires_at")
    if "expires_at" in fields and fields["expires_at"] <= now:
        raise Invalid("expires_at is in the past", errors=[{"loc": ["expires_at"], "msg": "must be in the future"}])
    if announcement.drill and fields.get("priority", Priority.EMERGENCY) != Priority.EMERGENCY:
        raise Invalid(DRILL_NOT_EMERGENCY, errors=[{"loc": ["priority"], "msg": DRILL_NOT_EMERGENCY, "type": "drill_not_emergency"}])
    for name, value in fields.items():
        setattr(announcement, name, value)
    announcement.revision += 1
    if {"title", "body"} & fields.keys() and announcement.speak:
        announcement.audio = None  # the old speech no longer says what the text says
        announcement.speech_status = SPEECH_PENDING
        announcement.speech_error = None
    session.add(announcement)
    if announcement.status == AnnouncementStatus.LIVE:
        await append_announcement_event(session=session, announcement=announcement)
    await session.flush()
    return announcement


async def cancel_announcement(
    *, session: AsyncSession, announcement_id: str, principal: Principal, now: datetime
) -> Announcement:
    announcement = await get_announcement(session=session, announcement_id=announcement_id, principal=principal)
    if announcement.status not in OPEN_STATUSES:
        raise Conflict(f"announcement is {announcement.status} already")
    was_live = announcement.status == AnnouncementStatus.LIVE
    announcement.status = AnnouncementStatus.CANCELLED
    announcement.ended_at = now
    session.add(announcement)
    if was_live:
        await append_retract_event(session=session, announcement=announcement, reason=RetractReason.CANCELLED)
    await session.flush()
    return announcement


async def publish_due(*, session: AsyncSession, now: datetime) -> list[Announcement]:
    """Publish every scheduled announcement whose time has come, emergencies first."""
    query = (
        select(Announcement)
        .where(Announcement.status == AnnouncementStatus.SCHEDULED, col(Announcement.publish_at) <= now)
        .order_by(priority_order(), col(Announcement.publish_at))
    )
    published = []
    # skip_locked: replicas sharing a PostgreSQL database never publish or expire the same row twice.
    for announcement in (await session.exec(skip_locked(query, session=session))).all():
        if announcement.expires_at <= now:
            announcement.status = AnnouncementStatus.EXPIRED  # its whole window passed while the server was down
            announcement.ended_at = now
            session.add(announcement)
            continue
        await _go_live(session=session, announcement=announcement, now=now)
        published.append(announcement)
    return published


async def expire_due(*, session: AsyncSession, now: datetime) -> list[Announcement]:
    """Retract every live announcement past its `expires_at`."""
    query = select(Announcement).where(
        Announcement.status == AnnouncementStatus.LIVE, col(Announcement.expires_at) <= now
    )
    expired = []
    for announcement in (await session.exec(skip_locked(query, session=session))).all():
        announcement.status = AnnouncementStatus.EXPIRED
        announcement.ended_at = now
        session.add(announcement)
        await append_retract_event(session=session, announcement=announcement, reason=RetractReason.EXPIRED)
        expired.append(announcement)
    return expired


async def next_deadline(*, session: AsyncSession) -> datetime | None:
    """The next moment the queue has something to do (a publish or an expiry)."""
    next_publish = (
        await session.exec(
            select(sa.func.min(Announcement.publish_at)).where(Announcement.status == AnnouncementStatus.SCHEDULED)
        )
    ).one()
    next_expiry = (
        await session.exec(
            select(sa.func.min(Announcement.expires_at)).where(Announcement.status == AnnouncementStatus.LIVE)
        )
    ).one()
    candidates = [t for t in (next_publish, next_expiry) if t is not None]
    return min(candidates) if candidates else None

