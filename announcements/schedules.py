"""Timed broadcasts (定时广播): a notice template and an iCalendar recurrence; each occurrence becomes a
normal announcement through the queue's create path, so events, speech, receipts, replay and quiet hours
work unchanged.

The rule runs in local wall time (the schedule's `timezone`, by default the server's) so "every day at 06:30"
stays 06:30. An
occurrence missed while the server was down is not replayed as a burst: only the latest missed one is
created, and only while its lifetime has not yet passed.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from dateutil.rrule import rruleset, rrulestr
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import in_area_subtree
from announcements.database import skip_locked
from announcements.errors import Conflict, Invalid, NotFound
from announcements.models import (
    SCHEDULE_OPEN,
    AnnouncementCreate,
    Occurrence,
    Role,
    Schedule,
    ScheduleCreate,
    SchedulePublic,
    ScheduleStatus,
    ScheduleUpdate,
    ScheduleWhen,
    TargetPublic,
    UpcomingDay,
)
from announcements.queue import check_recording, create_announcement, resolve_target
from announcements.tokens import Principal

log = logging.getLogger(__name__)

MAX_OCCURRENCES = 1000  # in total for a rule with an end, and in the first year for one without
UPCOMING_DAYS_MAX = 62


def _invalid(loc: str, code: str, msg: str) -> Invalid:
    """Bad input, with a code the console translates (`error.code.<code>`)."""
    return Invalid(msg, errors=[{"loc": ["body", loc], "msg": msg, "type": code}])


@dataclass(frozen=True)
class Recurrence:
    """A validated rule in local wall time; occurrences come out as aware UTC datetimes."""

    rrule: str | None
    dates: tuple[date, ...]
    start: datetime  # naive, local
    until: date | None
    zone: ZoneInfo

    @classmethod
    def of(cls, schedule: Schedule) -> Recurrence:
        zone = ZoneInfo(schedule.timezone)
        start = schedule.starts_at.astimezone(zone).replace(tzinfo=None)
        until = date.fromisoformat(schedule.until) if schedule.until else None
        return cls(schedule.rrule, tuple(date.fromisoformat(d) for d in schedule.dates), start, until, zone)

    def _set(self) -> rruleset:
        rules = rruleset()
        end = datetime.combine(self.until, time(23, 59, 59)) if self.until else None
        if self.rrule:
            parsed = rrulestr(self.rrule, dtstart=self.start, forceset=False)
            rules.rrule(parsed.replace(until=end) if end else parsed)
        for day in self.dates:
            at = datetime.combine(day, self.start.time())
            if at >= self.start and (end is None or at <= end):
                rules.rdate(at)
        return rules

    def _utc(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.zone).astimezone(ZoneInfo("UTC"))

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone).replace(tzinfo=None)

    def after(self, at: datetime, *, inclusive: bool = False) -> datetime | None:
        found = self._set().after(self.local(at), inc=inclusive)
        return self._utc(found) if found else None

    def latest_until(self, at: datetime) -> datetime | None:
        """The latest occurrence at or before `at`."""
        found = self._set().before(self.local(at), inc=True)
        return self._utc(found) if found else None

    def between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        for local in self._set().between(self.local(start), self.local(end), inc=True):
            yield self._utc(local)

    def count_capped(self) -> int:
        """How many times it fires: in total if it ends, in its first year if not; stops counting past the cap."""
        bounded = self.until is not None or not self.rrule or "COUNT=" in self.rrule.upper()
        horizon = None if bounded else self.start + timedelta(days=366)
        occurrences = self._set() if horizon is None else itertools.takewhile(lambda t: t < horizon, self._set())
        return sum(1 for _ in itertools.islice(occurrences, MAX_OCCURRENCES + 1))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {name!r}: give an IANA name such as Asia/Shanghai"
        raise _invalid("timezone", "schedule_timezone_unknown", message) from None


def _recurrence(when: ScheduleWhen, *, default_zone: str, now: datetime) -> Recurrence:
    """`when` checked: a known zone, a rule or dates (not both), an end not before the start, a first occurrence
    after now, and not more than MAX_OCCURRENCES; each failure names its field and carries a code."""
    zone = _zone(when.timezone or default_zone)
    rrule = when.rrule.strip().upper().removeprefix("RRULE:") if when.rrule else None
    if bool(rrule) == bool(when.dates):
        raise _invalid("rrule", "schedule_rule_or_dates", "give either a recurrence rule or a list of dates, not both or neither")
    start = when.dtstart.astimezone(zone).replace(tzinfo=None) if when.dtstart.tzinfo else when.dtstart
    start = start.replace(second=0, microsecond=0)
    if rrule:
        if any(part.split("=")[0] in ("DTSTART", "UNTIL") for part in rrule.split(";")):
            raise _invalid("rrule", "schedule_rule_invalid", "the rule must not hold DTSTART or UNTIL: give them as dtstart and until")
        try:
            rrulestr(rrule, dtstart=start)
        except (ValueError, TypeError) as exc:
            raise _invalid("rrule", "schedule_rule_invalid", f"not an iCalendar RRULE: {exc}") from None
    if when.until is not None and when.until < start.date():
        raise _invalid("until", "schedule_end_before_start", "the end date is before the start")
    recurrence = Recurrence(rrule, tuple(sorted(set(when.dates))), start, when.until, zone)
    if recurrence.after(now) is None:
        raise _invalid("rrule", "schedule_never_fires", "this schedule would never fire after now")
    if recurrence.count_capped() > MAX_OCCURRENCES:
        raise _invalid(
            "rrule", "schedule_too_many", f"this schedule would fire more than {MAX_OCCURRENCES} times (in total, or in a year)"
        )
    return recurrence


def _apply_when(schedule: Schedule, recurrence: Recurrence, now: datetime) -> None:
    schedule.rrule = recurrence.rrule
    schedule.dates = [d.isoformat() for d in recurrence.dates]
    schedule.starts_at = recurrence.start.replace(tzinfo=recurrence.zone).astimezone(ZoneInfo("UTC"))
    schedule.until = recurrence.until.isoformat() if recurrence.until else None
    schedule.timezone = recurrence.zone.key
    schedule.next_at = recurrence.after(now)


def _when_of(schedule: Schedule) -> dict:
    recurrence = Recurrence.of(schedule)
    return {"rrule": schedule.rrule, "dates": list(recurrence.dates), "dtstart": recurrence.start, "until": recurrence.until,
            "timezone": schedule.timezone}


def _changed_when(schedule: Schedule, changes: ScheduleUpdate) -> ScheduleWhen | None:
    """The stored rule with the PATCH's rule fields laid over it; a new `rrule` drops the `dates` and the other
    way round. None when the PATCH names no rule field."""
    given = {name: getattr(changes, name) for name in ScheduleWhen.model_fields if name in changes.model_fields_set}
    if not given:
        return None
    if given.get("rrule") and "dates" not in given:
        given["dates"] = []
    if given.get("dates") and "rrule" not in given:
        given["rrule"] = None
    for name in ("dates", "dtstart", "timezone"):  # null: keep
        if name in given and given[name] is None:
            del given[name]
    return ScheduleWhen.model_validate({**_when_of(schedule), **given})


def _wall_time_with_offset(recurrence: Recurrence) -> datetime:
    """The first local time as RFC 3339 needs it: the wall time of `timezone`, with that zone's offset then."""
    return recurrence.start.replace(tzinfo=recurrence.zone)


def public(schedule: Schedule) -> SchedulePublic:
    fields = {name: getattr(schedule, name) for name in SchedulePublic.model_fields if name not in ("dtstart", "target", "paused")}
    return SchedulePublic.model_validate(
        {
            **fields,
            "target": TargetPublic.model_validate(schedule.target),
            "dtstart": _wall_time_with_offset(Recurrence.of(schedule)),
            "paused": schedule.status == ScheduleStatus.PAUSED,
        }
    )


async def create_schedule(
    *, session: AsyncSession, data: ScheduleCreate, principal: Principal, now: datetime, timezone: str, media_dir: Path
) -> Schedule:
    """`timezone`: the server's, for a schedule that names none."""
    await check_recording(data.recording, speak=data.speak, media_dir=media_dir)
    target = await resolve_target(session=session, spec=data.target, principal=principal)
    recurrence = _recurrence(data, default_zone=timezone, now=now)
    template = data.model_dump(exclude={"target", *ScheduleWhen.model_fields})
    schedule = Schedule(
        **template, area=principal.area, target=target.to_json(), timezone=timezone, created_by=principal.token_id, starts_at=now
    )
    _apply_when(schedule, recurrence, now)
    session.add(schedule)
    await session.flush()
    return schedule


async def get_schedule(*, session: AsyncSession, schedule_id: str, principal: Principal) -> Schedule:
    schedule = await session.get(Schedule, schedule_id)
    if schedule is None or not principal.in_scope(schedule.area):
        raise NotFound(f"no schedule {schedule_id} in scope")
    return schedule


async def list_schedules(*, session: AsyncSession, principal: Principal) -> list[Schedule]:
    """Every schedule in scope, the ones still running first, then by their next time."""
    query = select(Schedule).where(in_area_subtree(col(Schedule.area), principal.area))
    rows = (await session.exec(query)).all()
    return sorted(rows, key=lambda s: (s.status not in SCHEDULE_OPEN, s.next_at or s.created_at))


async def update_schedule(
    *, session: AsyncSession, schedule_id: str, changes: ScheduleUpdate, principal: Principal, now: datetime, media_dir: Path
) -> Schedule:
    """Edit the template or the rule, pause or resume; the next time is counted again from now."""
    schedule = await get_schedule(session=session, schedule_id=schedule_id, principal=principal)
    if schedule.status not in SCHEDULE_OPEN:
        raise Conflict(f"schedule is {schedule.status}; it can no longer change")
    fields = changes.model_dump(
        exclude_unset=True, exclude_none=True, exclude={"paused", "target", "recording", *ScheduleWhen.model_fields}
    )
    when = _changed_when(schedule, changes)
    new_recording = "recording" in changes.model_fields_set  # null too: speak the text again
    if not fields and when is None and changes.paused is None and changes.target is None and not new_recording:
        raise Invalid("nothing to change")
    if changes.target is not None:  # checked against the editor's scope, as a new schedule's target is
        target = await resolve_target(session=session, spec=changes.target, principal=principal)
        schedule.target = target.to_json()
    recurrence = _recurrence(when, default_zone=schedule.timezone, now=now) if when else Recurrence.of(schedule)
    for name, value in fields.items():
        setattr(schedule, name, value)
    if new_recording:
        schedule.recording = changes.recording
    await check_recording(schedule.recording, speak=schedule.speak, media_dir=media_dir if new_recording else None)
    if changes.paused is not None:
        schedule.status = ScheduleStatus.PAUSED if changes.paused else ScheduleStatus.ACTIVE
    _apply_when(schedule, recurrence, now)
    if schedule.next_at is None:
        schedule.status = ScheduleStatus.ENDED
    session.add(schedule)
    await session.flush()
    return schedule


async def stop_schedule(*, session: AsyncSession, schedule_id: str, principal: Principal) -> Schedule:
    """Stop for good; the announcements it already made stay as they are."""
    schedule = await get_schedule(session=session, schedule_id=schedule_id, principal=principal)
    if schedule.status not in SCHEDULE_OPEN:
        raise Conflict(f"schedule is {schedule.status} already")
    schedule.status = ScheduleStatus.STOPPED
    schedule.next_at = None
    session.add(schedule)
    await session.flush()
    return schedule


async def upcoming(*, session: AsyncSession, principal: Principal, now: datetime, days: int, timezone: str) -> list[UpcomingDay]:
    """The coming `days` local days (today first), each with the occurrences still to come of the running
    schedules in scope (today's that have passed are not among them)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    end = datetime.combine(today + timedelta(days=days), time(0), zone) - timedelta(seconds=1)
    by_day: dict[date, list[Occurrence]] = {today + timedelta(days=i): [] for i in range(days)}
    for schedule in await list_schedules(session=session, principal=principal):
        if schedule.status not in SCHEDULE_OPEN:
            continue
        recurrence = Recurrence.of(schedule)
        for at in recurrence.between(now, end):
            local = at.astimezone(zone)
            by_day[local.date()].append(
                Occurrence(
                    schedule_id=schedule.id, title=schedule.title, priority=schedule.priority, at=at,
                    time=local.strftime("%H:%M"), status=schedule.status,
                )
            )
    return [UpcomingDay(day=day, occurrences=sorted(items, key=lambda o: o.at)) for day, items in by_day.items()]


OCCURRENCE_FIELDS = ("title", "body", "priority", "category", "language", "speak", "repeat", "recording")


def _poster(schedule: Schedule) -> Principal:
    """The schedule posts as its creator did, within the scope it was made in."""
    return Principal(token_id=schedule.created_by or schedule.id, role=Role.COMMITTEE, area=schedule.area, name=f"schedule {schedule.id}")


async def create_due_occurrences(*, session: AsyncSession, now: datetime) -> list[str]:
    """For each active schedule whose `next_at` has come: create its latest due occurrence as an announcement
    and advance `next_at`, in the caller's transaction. Claimed with skip_locked: replicas never create one twice.
    Returns the ids of the announcements created."""
    query = select(Schedule).where(Schedule.status == ScheduleStatus.ACTIVE, col(Schedule.next_at) <= now)
    created = []
    for schedule in (await session.exec(skip_locked(query, session=session))).all():
        recurrence = Recurrence.of(schedule)
        at = recurrence.latest_until(now)  # after an outage: the latest missed one only
        if at is not None and at != schedule.next_at:
            log.warning("schedule %s: skipped occurrences from %s to before %s (server was not running)", schedule.id, schedule.next_at, at)
        expires_at = at + timedelta(minutes=schedule.lifetime_minutes) if at else now
        if at is not None and expires_at > now and (schedule.last_at is None or at > schedule.last_at):
            data = AnnouncementCreate(
                **{name: getattr(schedule, name) for name in OCCURRENCE_FIELDS},
                target=schedule.target,
                expires_at=expires_at,
            )
            result = await create_announcement(
                session=session, data=data, principal=_poster(schedule), now=now, default_lifetime=timedelta(0),
                idempotency_key=f"schedule:{schedule.id}:{at.isoformat()}", schedule_id=schedule.id,
            )
            created.append(result.announcement.id)
            schedule.last_at = at
        schedule.next_at = recurrence.after(now)
        if schedule.next_at is None:
            schedule.status = ScheduleStatus.ENDED
        session.add(schedule)
    return created


async def next_schedule_deadline(*, session: AsyncSession) -> datetime | None:
    """When the next active schedule fires."""
    return (await session.exec(select(sa.func.min(Schedule.next_at)).where(Schedule.status == ScheduleStatus.ACTIVE))).one()
