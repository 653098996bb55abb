"""Delivery figures and presence: screens' cumulative acks (their cursors), receipts, last seen; in batches.

A burst (one announcement reaching ten thousand screens, each acking) becomes one statement per
kind, not one transaction per screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.database import is_postgres
from announcements.models import Announcement, AnnouncementStatus, Delivery, Screen
from announcements.protocol import ReceiptState, priority_rank
from announcements.targeting import Target

STATES = tuple(ReceiptState)
ROWS_PER_STATEMENT = 500


@dataclass(frozen=True, slots=True)
class Mark:
    """One screen reached one state for one announcement."""

    announcement_id: str
    screen_id: str
    state: ReceiptState
    at: datetime


def _merge(marks: list[Mark]) -> list[dict]:
    """One row per (announcement, screen); a later state implies the earlier ones (played ⇒ received)."""
    rows: dict[tuple[str, str], dict] = {}
    for mark in marks:
        row = rows.setdefault(
            (mark.announcement_id, mark.screen_id),
            {"announcement_id": mark.announcement_id, "screen_id": mark.screen_id,
             "received_at": None, "displayed_at": None, "played_at": None},
        )
        row["received_at"] = row["received_at"] or mark.at
        if mark.state != ReceiptState.RECEIVED:
            row[f"{mark.state}_at"] = row[f"{mark.state}_at"] or mark.at
    return list(rows.values())


async def sent_to(*, session: AsyncSession, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those (announcement id, screen id) pairs where the announcement went out to the screen.

    That is: it was published, and its target reaches the screen as the hub's targeting would. A
    screen may report on, or reply to, only what it was sent; never another area's announcement.
    """
    if not pairs:
        return set()
    announcement_ids = {a for a, _ in pairs}
    screen_ids = {s for _, s in pairs}
    targets = {
        announcement_id: Target.from_json(target)
        for announcement_id, target in (
            await session.exec(
                select(Announcement.id, Announcement.target).where(
                    col(Announcement.id).in_(announcement_ids), col(Announcement.published_at).is_not(None)
                )
            )
        ).all()
    }
    screens = {
        screen_id: (area, tags or ())
        for screen_id, area, tags in (
            await session.exec(select(Screen.id, Screen.area, Screen.tags).where(col(Screen.id).in_(screen_ids)))
        ).all()
    }
    return {
        (a, s)
        for a, s in pairs
        if a in targets and s in screens and targets[a].matches(screen_id=s, area=screens[s][0], tags=screens[s][1])
    }


async def record_marks(*, session: AsyncSession, marks: list[Mark]) -> int:
    """Upsert delivery marks, keeping the first time of each state; marks for unknown announcements are dropped."""
    if not marks:
        return 0
    ids = {m.announcement_id for m in marks}
    known = set((await session.exec(select(Announcement.id).where(col(Announcement.id).in_(ids)))).all())
    rows = [r for r in _merge(marks) if r["announcement_id"] in known]
    if not rows:
        return 0
    insert = (postgresql.insert if is_postgres(session) else sqlite.insert)(Delivery)
    table = Delivery.__table__
    upsert = insert.on_conflict_do_update(
        index_elements=["announcement_id", "screen_id"],
        set_={f"{state}_at": sa.func.coalesce(table.c[f"{state}_at"], insert.excluded[f"{state}_at"]) for state in STATES},
    )
    # One statement compiled once and run as executemany, in slices: ten thousand rows must neither
    # build a giant statement nor hold the event loop while their parameters are prepared.
    connection = await session.connection()
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        await connection.execute(upsert, rows[start : start + ROWS_PER_STATEMENT])
    return len(rows)


async def record_cursors(*, session: AsyncSession, cursors: dict[str, int]) -> None:
    """Advance each screen's ack cursor (never backwards), in one executemany."""
    if not cursors:
        return
    screens = Screen.__table__
    statement = (
        sa.update(screens)
        .where(screens.c.id == sa.bindparam("screen"), screens.c.cursor < sa.bindparam("seq"))
        .values(cursor=sa.bindparam("seq"))
    )
    rows = [{"screen": screen_id, "seq": seq} for screen_id, seq in cursors.items()]
    connection = await session.connection()
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        await connection.execute(statement, rows[start : start + ROWS_PER_STATEMENT])


async def record_presence(*, session: AsyncSession, seen: dict[str, dict | None], at: datetime) -> None:
    """Note when each screen was last there, and the client it runs where it said (one executemany each)."""
    screens = Screen.__table__
    connection = await session.connection()
    with_client = [{"screen": sid, "at": at, "info": client} for sid, client in seen.items() if client is not None]
    without = [{"screen": sid, "at": at} for sid, client in seen.items() if client is None]
    if with_client:
        statement = sa.update(screens).where(screens.c.id == sa.bindparam("screen"))
        await connection.execute(statement.values(last_seen=sa.bindparam("at"), client=sa.bindparam("info")), with_client)
    if without:
        statement = sa.update(screens).where(screens.c.id == sa.bindparam("screen"))
        await connection.execute(statement.values(last_seen=sa.bindparam("at")), without)


async def now_showing(*, session: AsyncSession, screens: Sequence[Screen]) -> dict[str, Announcement]:
    """Per screen, the live announcement it was sent that it puts first: the most urgent, then the newest.

    What the console shows as "showing now"; a screen with nothing live is left out.
    """
    live = (await session.exec(select(Announcement).where(Announcement.status == AnnouncementStatus.LIVE))).all()
    ranked = sorted(live, key=lambda a: (priority_rank(a.priority), -(a.published_at or a.created_at).timestamp()))
    targets = [(a, Target.from_json(a.target)) for a in ranked]
    showing = {}
    for screen in screens:
        for announcement, target in targets:
            if target.matches(screen_id=screen.id, area=screen.area, tags=screen.tags or ()):
                showing[screen.id] = announcement
                break
    return showing


async def last_received(*, session: AsyncSession, screen_ids: Sequence[str]) -> dict[str, datetime]:
    """When each screen last acknowledged receiving an announcement (its newest delivery mark)."""
    if not screen_ids:
        return {}
    rows = await session.exec(
        select(Delivery.screen_id, sa.func.max(Delivery.received_at))
        .where(col(Delivery.screen_id).in_(list(screen_ids)))
        .group_by(Delivery.screen_id)
    )
    return {screen_id: at for screen_id, at in rows.all() if at is not None}
