"""The pronunciation list (读音): words eSpeak NG says wrong in this deployment (单县, 乐亭, 六安, family names such
as 解 and 仇) and what to give it instead, kept by an admin.

One list for the whole deployment, read from the database before each clip is voiced: every replica says the same
without a cache to invalidate, and a changed word reaches the clips that contain it through their cache key (the
spoken text, announcements/speech/synthesizer.py).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.errors import NotFound
from announcements.models import Pronunciation, PronunciationEntry
from announcements.speech.synthesizer import Pronunciations
from announcements.timeutil import utcnow
from announcements.tokens import Principal


async def list_pronunciations(*, session: AsyncSession) -> list[Pronunciation]:
    """The list, sorted by word."""
    return list((await session.exec(select(Pronunciation).order_by(col(Pronunciation.word)))).all())


async def current_pronunciations(*, session: AsyncSession) -> Pronunciations:
    """The list as speech applies it now (one small query)."""
    rows = (await session.exec(select(Pronunciation.word, Pronunciation.say))).all()
    return Pronunciations(dict(rows))


async def put_pronunciation(*, session: AsyncSession, entry: PronunciationEntry, principal: Principal) -> Pronunciation:
    """Create the word's entry, or replace what it says (keeping who made it). Two admins adding one word at once
    meet in one row: the insert that loses the race on the key becomes a replace."""
    row = await session.get(Pronunciation, entry.word)
    if row is None:
        try:
            async with session.begin_nested():
                row = Pronunciation(word=entry.word, say=entry.say, created_by=principal.token_id)
                session.add(row)
            return row
        except IntegrityError:
            row = await session.get(Pronunciation, entry.word)
    row.say = entry.say
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()
    return row


async def delete_pronunciation(*, session: AsyncSession, word: str) -> None:
    row = await session.get(Pronunciation, word)
    if row is None:
        raise NotFound(
            f"no pronunciation for {word!r}", errors=[{"loc": ["word"], "msg": "not in the list", "type": "pronunciation_unknown"}]
        )
    await session.delete(row)
    await session.flush()
