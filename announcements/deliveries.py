"""Delivery figures and presence: screens' cumulative acks (their cursors), receipts, last seen; in batches.

A burst (one announcement reaching ten thousand screens, each acking) becomes one statement per
kind, not one transaction per screen.

Presence is shared by the replicas through the database: each screen row names the replica it is connected to
(`connected_to`), and each replica keeps a heartbeat row (`Replica.alive_at`, every `presence_beat_s`). A screen is
online when the process that answers holds its connection, or when it is connected to another replica whose
heartbeat is fresh: a replica killed -9 leaves its rows behind, and they stop counting once its heartbeat is stale.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.database import is_postgres
from announcements.models import Announcement, AnnouncementStatus, Delivery, Replica, Screen
from announcements.protocol import ReceiptState, priority_rank
from announcements.targeting import Target

STATES = tuple(ReceiptState)
ROWS_PER_STATEMENT = 500
STALE_AFTER_BEATS = 3  # a replica whose heartbeat is older than this many beats is taken for dead (or cut off)
DEAD_REPLICA_KEPT = timedelta(days=1)  # then its row goes; its screens' `connected_to` stays, naming no live replica


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
    await _execute_in_slices(session, upsert, rows)
    return len(rows)


async def _execute_in_slices(session: AsyncSession, statement, rows: list[dict]) -> None:
    """One statement compiled once and run as executemany, in slices: ten thousand rows must neither build a giant
    statement nor hold the event loop while their parameters are prepared."""
    connection = await session.connection()
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        await connection.execute(statement, rows[start : start + ROWS_PER_STATEMENT])


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
    await _execute_in_slices(session, statement, [{"screen": screen_id, "seq": seq} for screen_id, seq in cursors.items()])


@dataclass(frozen=True, slots=True)
class Seen:
    """The last the hub said of one screen in a batch: it connected to this replica, or it left it; with the client
    it named in its hello, if one came in the batch."""

    connected: bool
    client: dict | None = None


def _presence_update(*, connected: bool, named: bool) -> sa.Update:
    """Last seen now; connected to this replica (`me`), or, on leaving, to none: but only while the row still names
    this replica, so that this one's late close does not take a screen that moved on from the replica it is on."""
    screens = Screen.__table__
    me = sa.bindparam("me", type_=screens.c.connected_to.type)
    here = me if connected else sa.case((screens.c.connected_to == me, sa.null()), else_=screens.c.connected_to)
    values = {"last_seen": sa.bindparam("at"), "connected_to": here} | ({"client": sa.bindparam("info")} if named else {})
    return sa.update(screens).where(screens.c.id == sa.bindparam("screen")).values(values)


async def record_presence(*, session: AsyncSession, seen: dict[str, Seen], replica_id: str, at: datetime) -> None:
    """Write what the hub said of each screen: last seen, the replica it is connected to, the client it named
    (one executemany per kind of row, whatever the number of screens)."""
    batches: dict[tuple[bool, bool], list[dict]] = {}
    for screen_id, state in seen.items():
        row = {"screen": screen_id, "at": at, "me": replica_id} | ({"info": state.client} if state.client is not None else {})
        batches.setdefault((state.connected, state.client is not None), []).append(row)
    for (connected, named), rows in batches.items():
        await _execute_in_slices(session, _presence_update(connected=connected, named=named), rows)


async def heartbeat(*, session: AsyncSession, replica_id: str, at: datetime, holding: Collection[str]) -> None:
    """This replica is alive at `at`; the rows of replicas dead over `DEAD_REPLICA_KEPT` go.

    And a screen it holds (`holding`) that the database says is connected nowhere is its own again. The screen's
    old replica may have written its hello late (a slow commit, after this replica's), then its close, leaving the
    row empty: mended within a beat. A row naming another replica is left alone: that one writes its own close.
    """
    insert = (postgresql.insert if is_postgres(session) else sqlite.insert)(Replica).values(id=replica_id, alive_at=at)
    await session.exec(insert.on_conflict_do_update(index_elements=["id"], set_={"alive_at": insert.excluded.alive_at}))
    await session.exec(sa.delete(Replica).where(col(Replica.alive_at) < at - DEAD_REPLICA_KEPT))
    screens = Screen.__table__
    ids = list(holding)
    for start in range(0, len(ids), ROWS_PER_STATEMENT):
        unclaimed = screens.c.id.in_(ids[start : start + ROWS_PER_STATEMENT]), screens.c.connected_to.is_(None)
        await session.exec(sa.update(screens).where(*unclaimed).values(connected_to=replica_id))


async def leave(*, session: AsyncSession, replica_id: str) -> None:
    """A replica that closes cleanly holds no screen any more, and has no heartbeat."""
    screens = Screen.__table__
    await session.exec(sa.update(screens).where(screens.c.connected_to == replica_id).values(connected_to=None))
    await session.exec(sa.delete(Replica).where(col(Replica.id) == replica_id))


@dataclass(frozen=True, slots=True)
class Presence:
    """Who is online, as the process that answers sees it: the screens it holds (`here`, known at once), and those
    connected to another replica whose heartbeat is fresh (`elsewhere`: those replicas' ids)."""

    here: Callable[[str], bool]
    elsewhere: frozenset[str]

    def online(self, screen_id: str, connected_to: str | None) -> bool:
        """Whether a screen (its id and its row's `connected_to`) is online."""
        return self.here(screen_id) or connected_to in self.elsewhere


async def read_presence(
    *, session: AsyncSession, here: Callable[[str], bool], replica_id: str, now: datetime, beat_s: float
) -> Presence:
    """Presence now: the other replicas whose heartbeat is at most `STALE_AFTER_BEATS` beats old vouch for the
    screens their rows name; this replica's own word is `here`, which knows a close before its row is written.
    A heartbeat is written by one replica's clock and read by another's: their clocks must agree within seconds."""
    fresh = now - timedelta(seconds=STALE_AFTER_BEATS * beat_s)
    alive = await session.exec(select(Replica.id).where(col(Replica.alive_at) >= fresh, col(Replica.id) != replica_id))
    return Presence(here=here, elsewhere=frozenset(alive.all()))


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
