"""Delivery figures: screens' cumulative acks (their cursors) and receipts, written in batches.

A burst (one announcement reaching ten thousand screens, each acking) becomes one statement per
kind, not one transaction per screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.models import Announcement, Delivery, Screen

STATES = ("received", "displayed", "played")


@dataclass(frozen=True, slots=True)
class Mark:
    """One screen reached one state for one announcement."""

    announcement_id: str
    screen_id: str
    state: str
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
        if mark.state != "received":
            row[f"{mark.state}_at"] = row[f"{mark.state}_at"] or mark.at
    return list(rows.values())


async def record_marks(*, session: AsyncSession, marks: list[Mark]) -> int:
    """Upsert delivery marks, keeping the first time of each state; marks for unknown announcements are dropped."""
    if not marks:
        return 0
    ids = {m.announcement_id for m in marks}
    known = set((await session.exec(select(Announcement.id).where(col(Announcement.id).in_(ids)))).all())
    rows = [r for r in _merge(marks) if r["announcement_id"] in known]
    if not rows:
        return 0
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Delivery).values(rows)
    table = Delivery.__table__
    statement = statement.on_conflict_do_update(
        index_elements=["announcement_id", "screen_id"],
        set_={
            f"{state}_at": sa.func.coalesce(table.c[f"{state}_at"], statement.excluded[f"{state}_at"])
            for state in STATES
        },
    )
    await (await session.connection()).execute(statement)
    return len(rows)


async def record_cursors(*, session: AsyncSession, cursors: dict[str, int]) -> None:
    """Advance each screen's ack cursor (never backwards)."""
    connection = await session.connection()
    for screen_id, seq in cursors.items():
        await connection.execute(
            sa.update(Screen).where(col(Screen.id) == screen_id, col(Screen.cursor) < seq).values(cursor=seq)
        )
