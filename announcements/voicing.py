"""Which announcements need speech, and attaching the finished audio as a new revision.

The database is the speech queue: an announcement with `speech_status = pending` waits for a clip,
so a crash or restart loses no job, and replicas may race harmlessly (the clip is content-addressed
and only the first attach makes a revision).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.drills import marked_speech
from announcements.events import append_announcement_event
from announcements.models import (
    OPEN_STATUSES,
    SPEECH_FAILED,
    SPEECH_PENDING,
    SPEECH_READY,
    Announcement,
    AnnouncementStatus,
    priority_order,
)
from announcements.protocol import Audio, Language

MEDIA_PREFIX = "/media/"  # GET /media/{name} serves the clip files (docs/protocol.md §4)


def media_url(name: str) -> str:
    """The URL an `audio` object gives for a clip file."""
    return MEDIA_PREFIX + name


def media_name(url: str) -> str | None:
    """The clip file a media URL names (the inverse of `media_url`); None for any other URL."""
    name = url.removeprefix(MEDIA_PREFIX)
    return name if url.startswith(MEDIA_PREFIX) and name and "/" not in name else None


def spoken_text(announcement: Announcement) -> str:
    """What the loudspeaker says: the title, then the body; a drill's between the words that say it is one (the
    speech cache key is made from these words, so a drill's clip is never the same notice's real one)."""
    separator = "。" if announcement.language == Language.ZH else ". "
    text = f"{announcement.title.rstrip('。.!！ ')}{separator}{announcement.body}"
    return marked_speech(text, announcement.language) if announcement.drill else text


async def pending_speech(*, session: AsyncSession, limit: int = 20) -> Sequence[Announcement]:
    """Announcements waiting for their clip, emergencies first."""
    query = (
        select(Announcement)
        .where(Announcement.speech_status == SPEECH_PENDING, col(Announcement.status).in_(OPEN_STATUSES))
        .order_by(priority_order(), col(Announcement.created_at))
        .limit(limit)
    )
    return (await session.exec(query)).all()


async def _still_waiting(session: AsyncSession, announcement_id: str, text: str) -> Announcement | None:
    """The announcement, if it still waits for a clip of exactly this text (it may have been corrected)."""
    announcement = await session.get(Announcement, announcement_id)
    if (
        announcement is None
        or announcement.speech_status != SPEECH_PENDING
        or announcement.status not in OPEN_STATUSES
        or spoken_text(announcement) != text
    ):
        return None
    return announcement


async def attach_audio(*, session: AsyncSession, announcement_id: str, text: str, audio: Audio) -> Announcement | None:
    """Give the announcement its audio; a live one goes out again as the next revision. None if stale."""
    announcement = await _still_waiting(session, announcement_id, text)
    if announcement is None:
        return None
    announcement.audio = audio.model_dump(mode="json")
    announcement.speech_status = SPEECH_READY
    announcement.speech_error = None
    if announcement.status == AnnouncementStatus.LIVE:
        announcement.revision += 1
        await append_announcement_event(session=session, announcement=announcement)
    session.add(announcement)
    return announcement


async def record_speech_failure(*, session: AsyncSession, announcement_id: str, text: str, reason: str) -> bool:
    """Mark the speech as failed with its reason (the text has gone out regardless)."""
    announcement = await _still_waiting(session, announcement_id, text)
    if announcement is None:
        return False
    announcement.speech_status = SPEECH_FAILED
    announcement.speech_error = reason[:500]
    session.add(announcement)
    return True
