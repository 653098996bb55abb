"""Proof of delivery (回传): per device, how far one announcement got, and which devices have not played an emergency.

An announcement's devices are those its target reaches now (`targeting.reach_condition`, narrowed by
`Target.matches`: the hub's own rule), together with every device that has a delivery mark for it: one moved or
removed since still proves what it got. Each list is one query joined in SQL, whatever the number of devices.
Whether a device is online is the caller's `Presence` (announcements/deliveries.py): its own connections and the
other replicas' heartbeats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import ROOT, in_area_subtree
from announcements.deliveries import Presence
from announcements.errors import NotFound
from announcements.models import Announcement, AnnouncementStatus, Delivery, Screen
from announcements.protocol import Priority, ScreenKind
from announcements.requests.export import CsvLanguage, local_time, spreadsheet
from announcements.targeting import Target, reach_condition
from announcements.tokens import Principal

SHARES = (50, 90, 100)  # the percentages of the targeted devices whose time to play the summary gives


class DeviceDelivery(SQLModel):
    """One device and how far the announcement got on it; a time is null while it has not."""

    screen_id: str
    name: str
    kind: ScreenKind
    area: str
    area_name: str | None = Field(description="the area's name; null if the area is not on record")
    online: bool = Field(description="connected to the server process that answers, or to another replica that is alive")
    last_seen: datetime | None = Field(description="when it last connected or disconnected")
    received_at: datetime | None
    displayed_at: datetime | None
    played_at: datetime | None


class DeliverySummary(SQLModel):
    targeted: int = Field(description="the devices listed: those the target reaches, and any other that got it")
    received: int
    displayed: int
    played: int
    offline: int = Field(description="targeted devices not online now")
    played_50_s: float | None = Field(description="seconds from going live until half the targeted devices played it; null until then")
    played_90_s: float | None = Field(description="... until 90 % of them did")
    played_all_s: float | None = Field(description="... until every one did")


class DeliveryReport(SQLModel):
    announcement_id: str
    title: str
    priority: Priority
    drill: bool
    audible: bool = Field(description="it is spoken or a recording is played: done means played; else it means received")
    status: AnnouncementStatus
    published_at: datetime | None
    summary: DeliverySummary
    devices: list[DeviceDelivery] = Field(description="those that have not played it first, then by area and name")
    next_offset: int | None = Field(default=None, description="the `offset` of the next page; null on the last")


class OverdueDevice(DeviceDelivery):
    """A device that has not played a live emergency within the deadline: someone should go there."""

    announcement_id: str
    title: str
    drill: bool
    published_at: datetime
    due_at: datetime = Field(description="when it should have played it by: going live plus emergency_play_deadline_s")


class OverdueList(SQLModel):
    deadline_s: float = Field(description="the setting emergency_play_deadline_s")
    total: int = Field(description="all overdue devices in scope; `devices` holds the first `limit` of them")
    devices: list[OverdueDevice] = Field(description="by emergency, oldest first, then by area and name")


def time_to_share(offsets_s: Iterable[float], *, targeted: int, percent: int) -> float | None:
    """Seconds from going live until `percent` % of the `targeted` devices had played it (`offsets_s`: each play's
    seconds after going live): the time of the ceil(percent × targeted / 100)-th play; None while fewer have played."""
    needed = -(-targeted * percent // 100)
    ordered = sorted(offsets_s)
    if targeted <= 0 or needed > len(ordered):
        return None
    return ordered[needed - 1]


_DEVICE = (Screen.id, Screen.name, Screen.kind, Screen.area, Screen.last_seen, Screen.connected_to)
_MARKS = (Delivery.received_at, Delivery.displayed_at, Delivery.played_at)


def _device_columns(targets: Iterable[Target]) -> tuple:
    """`_DEVICE` and `tags`, read only when a target names tags: decoding ten thousand JSON lists is most of the time."""
    return (*_DEVICE, Screen.tags if any(t.tags for t in targets) else sa.null().label("tags"))


def _reaches(target: Target, row) -> bool:
    return target.matches(screen_id=row.id, area=row.area, tags=row.tags or ())


def _device(row, marks, *, names: dict[str, str], presence: Presence) -> dict:
    """A device row (`_device_columns`) and its marks (`_MARKS`, or None) as `DeviceDelivery` fields."""
    return {
        "screen_id": row.id, "name": row.name, "kind": row.kind, "area": row.area, "area_name": names.get(row.area),
        "online": presence.online(row.id, row.connected_to), "last_seen": row.last_seen,
        "received_at": marks and marks.received_at, "displayed_at": marks and marks.displayed_at,
        "played_at": marks and marks.played_at,
    }


def devices_seen_by(announcement: Announcement, principal: Principal) -> str:
    """The area whose devices `principal` sees in the announcement's report: every device of one posted in its scope;
    of another (a county's warning that reached the village), only its own area's devices, which it answers for."""
    return ROOT if principal.in_scope(announcement.area) else principal.area


async def _device_rows(*, session: AsyncSession, announcement: Announcement, within: str, limit: int | None = None) -> list:
    """The announcement's devices in the area `within` with their marks (`_device_columns` and `_MARKS`), those that
    have not played it first, then by area and name; the first `limit` of them. Without tags the SQL is exact
    (`reach_condition`) and reads no more than `limit`; with tags the rows are checked one by one first."""
    target = Target.from_json(announcement.target)
    marked = sa.and_(col(Delivery.screen_id) == col(Screen.id), col(Delivery.announcement_id) == announcement.id)
    query = (
        select(*_device_columns([target]), *_MARKS, col(Delivery.screen_id).label("marked"))
        .outerjoin(Delivery, marked)
        .where(sa.or_(col(Delivery.screen_id).is_not(None), reach_condition(target)), in_area_subtree(col(Screen.area), within))
        .order_by(col(Delivery.played_at).is_(None).desc(), col(Screen.area), col(Screen.name), col(Screen.id))
    )
    if not target.tags:
        return (await session.exec(query.limit(limit))).all()
    rows = [row for row in (await session.exec(query)).all() if row.marked is not None or _reaches(target, row)]
    return rows[:limit]


def _summary(rows: Sequence, *, published_at: datetime | None, presence: Presence) -> DeliverySummary:
    played = [row.played_at for row in rows if row.played_at is not None]
    offsets = [max(0.0, (at - published_at).total_seconds()) for at in played] if published_at else []
    times = {share: time_to_share(offsets, targeted=len(rows), percent=share) for share in SHARES}
    return DeliverySummary(
        targeted=len(rows),
        received=sum(row.received_at is not None for row in rows),
        displayed=sum(row.displayed_at is not None for row in rows),
        played=len(played),
        offline=sum(not presence.online(row.id, row.connected_to) for row in rows),
        played_50_s=times[50], played_90_s=times[90], played_all_s=times[100],
    )


async def _visible_rows(*, session: AsyncSession, announcement: Announcement, principal: Principal) -> list:
    """The devices of the report `principal` may read; NotFound when it may read none (as for an unknown id)."""
    within = devices_seen_by(announcement, principal)
    rows = await _device_rows(session=session, announcement=announcement, within=within)
    if within != ROOT and not rows:
        raise NotFound(f"no announcement {announcement.id} in scope")
    return rows


LIVE_EMERGENCIES_MAX = 50  # a district has a few at once; the newest these many are looked at


class LiveEmergency(SQLModel):
    """A live emergency (a drill too) whose 回传 report the caller may read."""

    id: str
    title: str
    drill: bool
    area: str = Field(description="the poster's scope")
    published_at: datetime | None


async def live_emergencies(*, session: AsyncSession, principal: Principal) -> list[LiveEmergency]:
    """The live emergencies whose report `principal` may read, newest first: those posted in its scope, and those
    posted above or beside it that reach devices in its area (a county's warning to the village), by the report's
    own rule (`devices_seen_by`), so the console opens only reports it can show."""
    query = (
        select(Announcement)
        .where(Announcement.status == AnnouncementStatus.LIVE, Announcement.priority == Priority.EMERGENCY)
        .order_by(col(Announcement.published_at).desc(), col(Announcement.id))
        .limit(LIVE_EMERGENCIES_MAX)
    )
    readable = []
    for announcement in (await session.exec(query)).all():
        within = devices_seen_by(announcement, principal)
        if within == ROOT or await _device_rows(session=session, announcement=announcement, within=within, limit=1):
            readable.append(LiveEmergency.model_validate(announcement, from_attributes=True))
    return readable


async def delivery_report(
    *, session: AsyncSession, announcement: Announcement, principal: Principal, names: dict[str, str], presence: Presence,
    limit: int, offset: int = 0,
) -> DeliveryReport:
    """The summary over all of the announcement's devices the caller may see, and the page of `limit` devices from
    `offset`."""
    rows = await _visible_rows(session=session, announcement=announcement, principal=principal)
    return DeliveryReport(
        announcement_id=announcement.id, title=announcement.title, priority=announcement.priority, drill=announcement.drill,
        audible=announcement.speak or announcement.recording is not None, status=announcement.status,
        published_at=announcement.published_at,
        summary=_summary(rows, published_at=announcement.published_at, presence=presence),
        devices=[DeviceDelivery(**_device(row, row, names=names, presence=presence)) for row in rows[offset : offset + limit]],
        next_offset=offset + limit if offset + limit < len(rows) else None,
    )


# (English, Chinese) headers of the CSV: the English ones are the API's field names.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("screen_id", "设备编号"), ("name", "设备名称"), ("kind", "类型"), ("area", "区域"), ("area_name", "区域名称"),
    ("online", "是否在线"), ("last_seen", "最后在线"), ("received_at", "收到时间"), ("displayed_at", "显示时间"),
    ("played_at", "播放时间"),
)
KIND_WORDS = {ScreenKind.SCREEN: "屏幕", ScreenKind.SPEAKER: "喇叭"}  # as the console says them (i18n/zh.js kind.*)
_TIMES = ("last_seen", "received_at", "displayed_at", "played_at")


async def delivery_csv(
    *, session: AsyncSession, announcement: Announcement, principal: Principal, names: dict[str, str], presence: Presence,
    zone: ZoneInfo, lang: CsvLanguage = CsvLanguage.ZH,
) -> bytes:
    """Every device of the report as a spreadsheet, in the report's order; times are wall times in `zone`."""
    rows = await _visible_rows(session=session, announcement=announcement, principal=principal)

    def values_of(row) -> list:
        device = _device(row, row, names=names, presence=presence)  # the JSON report's fields, in the sheet's words
        device["kind"] = str(KIND_WORDS.get(row.kind, row.kind) if lang == CsvLanguage.ZH else row.kind)
        for field in _TIMES:
            device[field] = local_time(device[field], zone)
        return [device[field] for field, _ in COLUMNS]

    return spreadsheet(COLUMNS, map(values_of, rows), lang=lang)


async def overdue_devices(
    *, session: AsyncSession, scope: str, now: datetime, deadline: timedelta, names: dict[str, str], presence: Presence,
    limit: int,
) -> OverdueList:
    """The devices in `scope` that have not played a live emergency (a drill too) gone live more than `deadline` ago,
    the first `limit` of them; each stays listed until it plays it or the emergency ends. An emergency without sound
    (speak false) has nothing to play and is left out."""
    emergencies = (
        await session.exec(
            select(Announcement)
            .where(
                Announcement.status == AnnouncementStatus.LIVE, Announcement.priority == Priority.EMERGENCY,
                col(Announcement.speak).is_(True), col(Announcement.published_at) <= now - deadline,
                col(Announcement.expires_at) > now,
            )
            .order_by(col(Announcement.published_at), col(Announcement.id))
        )
    ).all()
    if not emergencies:
        return OverdueList(deadline_s=deadline.total_seconds(), total=0, devices=[])
    targets = {a.id: Target.from_json(a.target) for a in emergencies}
    screens = (
        await session.exec(
            select(*_device_columns(targets.values()))
            .where(in_area_subtree(col(Screen.area), scope), sa.or_(*map(reach_condition, targets.values())))
            .order_by(col(Screen.area), col(Screen.name), col(Screen.id))
        )
    ).all()
    marks = (  # of the devices in scope only: a village's list does not read the whole county's receipts
        await session.exec(
            select(Delivery.announcement_id, Delivery.screen_id, *_MARKS)
            .join(Screen, col(Screen.id) == col(Delivery.screen_id))
            .where(col(Delivery.announcement_id).in_(list(targets)), in_area_subtree(col(Screen.area), scope))
        )
    ).all()
    by_pair = {(m.announcement_id, m.screen_id): m for m in marks}
    overdue = []
    for announcement in emergencies:
        for row in screens:
            got = by_pair.get((announcement.id, row.id))
            if (got is None or got.played_at is None) and _reaches(targets[announcement.id], row):
                overdue.append((announcement, row, got))
    return OverdueList(
        deadline_s=deadline.total_seconds(),
        total=len(overdue),
        devices=[
            OverdueDevice(
                **_device(row, got, names=names, presence=presence), announcement_id=announcement.id, title=announcement.title,
                drill=announcement.drill, published_at=announcement.published_at, due_at=announcement.published_at + deadline,
            )
            for announcement, row, got in overdue[:limit]
        ],
    )
