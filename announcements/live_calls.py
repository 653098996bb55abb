"""Live calls (实时喊话) as the database keeps them: each call is an announcement of its own.

The announcement is written when the call starts (who, when, which areas), with the `live` events that tell
the areas' devices to play the stream; it is marked `speech_status = live` while the call goes on, its lease
(`expires_at`) renewed by the replica that carries it. When the call ends, one `ended` event stops the
devices, and the announcement keeps the recording of what was said as its audio (`source: live`). A call
whose replica died is ended by the lease: whichever replica sees it lapse writes the `ended`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.errors import NotFound
from announcements.events import LIVE, append_event
from announcements.models import (
    SPEECH_FAILED,
    SPEECH_LIVE,
    SPEECH_PENDING,
    SPEECH_READY,
    Announcement,
    AnnouncementStatus,
    Area,
)
from announcements.protocol import Audio, Language, LiveState
from announcements.queue import count_targeted
from announcements.targeting import Target
from announcements.tokens import Principal

LEASE_S = 60.0  # a call not renewed for this long lost its replica: it is ended for everyone
TITLE = "实时喊话"


def stream_url(area: str) -> str:
    """The area's station (broadcast_server/stream.py), as devices are told to play it."""
    return f"/stream{area}.mp3"


async def area_names(*, session: AsyncSession, areas: Sequence[str]) -> dict[str, str] | None:
    """Each area's name, or None when one of them does not exist."""
    rows = {area.path: area.name for area in (await session.exec(select(Area).where(col(Area.path).in_(areas)))).all()}
    return rows if len(rows) == len(set(areas)) else None


async def start_call(
    *,
    session: AsyncSession,
    call_id: str,
    caller: Principal,
    areas: dict[str, str],
    priority: str,
    now: datetime,
) -> Announcement:
    """The call's announcement and one `started` event per area (each area's devices play their own station)."""
    target = Target(areas=tuple(areas))
    row = Announcement(
        id=call_id,
        title=f"{TITLE}（{caller.name}）",
        body="喊话区域：" + "、".join(areas.values()),
        priority=priority,
        language=Language.ZH,
        area=caller.area,
        target=target.to_json(),
        status=AnnouncementStatus.LIVE,
        published_at=now,
        expires_at=now + timedelta(seconds=LEASE_S),
        created_by=caller.token_id,
        speech_status=SPEECH_LIVE,
        targeted=await count_targeted(session=session, target=target),
    )
    session.add(row)
    await session.flush()
    for area in areas:
        payload = {
            "call_id": call_id,
            "state": LiveState.STARTED,
            "priority": priority,
            "areas": [area],
            "stream_url": stream_url(area),
            "caller_name": caller.name,
        }
        await append_event(session=session, type=LIVE, target=Target(areas=(area,)), payload=payload, announcement_id=call_id)
    return row


async def renew(*, session: AsyncSession, call_ids: Sequence[str], now: datetime) -> None:
    """Push the leases of the calls this replica carries forward."""
    for row in (await session.exec(select(Announcement).where(col(Announcement.id).in_(call_ids)))).all():
        row.expires_at = now + timedelta(seconds=LEASE_S)
        session.add(row)


async def end_call(*, session: AsyncSession, call_id: str, now: datetime, problem: str | None = None) -> Announcement | None:
    """Stop the call's devices (one `ended` event) and close its announcement; None if it had already ended."""
    row = await session.get(Announcement, call_id, with_for_update=True)
    if row is None or row.speech_status != SPEECH_LIVE:
        return None
    await append_event(
        session=session, type=LIVE, target=Target.from_json(row.target),
        payload={"call_id": call_id, "state": LiveState.ENDED}, announcement_id=call_id,
    )
    row.status = AnnouncementStatus.EXPIRED
    row.ended_at = row.expires_at = now
    row.speech_status = SPEECH_FAILED if problem else SPEECH_PENDING  # the recording is being kept (keep_recording)
    row.speech_error = problem
    session.add(row)
    return row


async def keep_recording(*, session: AsyncSession, call_id: str, audio: Audio | None, recording: str | None, problem: str | None) -> None:
    """The ended call's record: the audio of what was said, or why there is none."""
    row = await session.get(Announcement, call_id)
    if row is None:
        raise NotFound(f"no call {call_id}")
    row.audio = audio.model_dump(mode="json") if audio is not None else None
    row.recording = recording
    row.speech_status = SPEECH_FAILED if problem else SPEECH_READY
    row.speech_error = problem
    session.add(row)


async def lapsed(*, session: AsyncSession, now: datetime, besides: Sequence[str]) -> Sequence[str]:
    """Calls still marked live whose lease ran out (their replica is gone), other than those this replica carries."""
    query = select(Announcement.id).where(
        Announcement.speech_status == SPEECH_LIVE,
        col(Announcement.expires_at) < now,
        col(Announcement.id).not_in(besides),
    )
    return (await session.exec(query)).all()
