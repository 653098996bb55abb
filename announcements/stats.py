"""The figures a district reports, computed from the request history (so they can be recomputed).

Each request's story is replayed from its history rows; nothing here trusts the summary columns
of the request row except what never changes (category, area, creation time, deadlines).

Definitions:
- first response: the first change made by staff (status, assignee or response);
- response rate: first responses within their deadline, over the requests that needed one by now
  (answered, in time or late, plus unanswered past the deadline; still within it: not counted);
- resolution rate: requests now resolved or closed, over all but the rejected ones;
- satisfaction rate: requests whose latest rating is satisfied or basically satisfied, over those
  with a rating ("no follow-up" is not a rating);
- time to resolution: from taken in to the latest move into `resolved`, for requests now resolved
  or closed;
- median: the usual one (the mean of the middle two for an even count); p90: nearest rank;
- emergencies and drills: announcements of the scope that went live, each counted in one of the two only (a
  drill is posted as an emergency but rehearses one: it never counts as a real one).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import in_area_subtree
from announcements.models import Announcement
from announcements.protocol import Priority, Rating, RequestStatus
from announcements.queue import deliveries, list_announcements
from announcements.request_models import (
    DONE_STATUSES,
    OPEN_STATUSES,
    SYSTEM,
    VILLAGER,
    AnnouncementFigures,
    Durations,
    HistoryAction,
    Rate,
    RequestHistory,
    ServiceRequest,
    Stats,
    Totals,
)
from announcements.requests.queries import past_deadline
from announcements.tokens import Principal

RECENT_ANNOUNCEMENTS = 10
_GOOD = (Rating.SATISFIED.value, Rating.BASICALLY_SATISFIED.value)


@dataclass(frozen=True, slots=True)
class Facts:
    """What never changes about a request."""

    ticket: str
    category: str
    area: str
    created_at: datetime
    response_due_at: datetime
    resolution_due_at: datetime


@dataclass(frozen=True, slots=True)
class Step:
    """One history row, as the figures need it (in the order they happened)."""

    ticket: str
    at: datetime
    actor_role: str
    action: str
    to_status: str | None
    rating: str | None


@dataclass
class Story:
    """A request replayed from its history."""

    status: str = RequestStatus.RECEIVED.value
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None  # the latest move into resolved
    rating: str | None = None  # the latest rating
    no_follow_up: bool = False
    reopened: bool = False


def replay(steps: Iterable[Step]) -> Story:
    story = Story()
    for step in steps:
        if step.actor_role not in (VILLAGER, SYSTEM) and story.first_response_at is None and step.action == HistoryAction.UPDATE:
            story.first_response_at = step.at
        if step.to_status is not None:
            if story.status == RequestStatus.RESOLVED and step.to_status == RequestStatus.IN_PROGRESS:
                story.reopened = True
            story.status = step.to_status
            if step.to_status == RequestStatus.RESOLVED:
                story.resolved_at = step.at
                story.no_follow_up = False
        if step.action == HistoryAction.FEEDBACK:
            story.rating = step.rating
            story.no_follow_up = False
        elif step.action == HistoryAction.NO_FOLLOW_UP:
            story.no_follow_up = True
    return story


def rate(numerator: int, denominator: int) -> Rate:
    return Rate(numerator=numerator, denominator=denominator, rate=round(numerator / denominator, 4) if denominator else None)


def durations(seconds: Sequence[float]) -> Durations:
    if not seconds:
        return Durations(count=0, median_s=None, p90_s=None)
    ordered = sorted(seconds)
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    return Durations(count=len(ordered), median_s=round(statistics.median(ordered), 3), p90_s=round(p90, 3))


@dataclass(frozen=True)
class Figures:
    totals: Totals
    response_rate: Rate
    resolution_rate: Rate
    satisfaction_rate: Rate
    time_to_first_response: Durations
    time_to_resolution: Durations
    overdue: int
    no_follow_up: int
    reopened: int


def figures(facts: Sequence[Facts], steps: Iterable[Step], *, now: datetime) -> Figures:
    """Every figure from the facts and the history (a pure function: the tests recompute it by hand)."""
    by_ticket: dict[str, list[Step]] = {f.ticket: [] for f in facts}
    for step in steps:
        if step.ticket in by_ticket:
            by_ticket[step.ticket].append(step)
    by_status: Counter[str] = Counter()
    responded_in_time = needed_response = 0
    done = not_rejected = 0
    good = rated = 0
    overdue = no_follow_up = reopened = 0
    to_response: list[float] = []
    to_resolution: list[float] = []
    for fact in facts:
        story = replay(by_ticket[fact.ticket])
        by_status[story.status] += 1
        if story.first_response_at is not None:
            needed_response += 1
            responded_in_time += story.first_response_at <= fact.response_due_at
            to_response.append((story.first_response_at - fact.created_at).total_seconds())
        elif now > fact.response_due_at:
            needed_response += 1
        if story.status != RequestStatus.REJECTED:
            not_rejected += 1
        if story.status in DONE_STATUSES:
            done += 1
            if story.resolved_at is not None:
                to_resolution.append((story.resolved_at - fact.created_at).total_seconds())
        if story.rating is not None:
            rated += 1
            good += story.rating in _GOOD
        overdue += past_deadline(
            still_open=story.status in OPEN_STATUSES,
            responded=story.first_response_at is not None,
            response_due_at=fact.response_due_at,
            resolution_due_at=fact.resolution_due_at,
            now=now,
        )
        no_follow_up += story.no_follow_up
        reopened += story.reopened
    return Figures(
        totals=Totals(
            all=len(facts),
            by_status={s.value: by_status.get(s.value, 0) for s in RequestStatus},
            by_category=dict(sorted(Counter(f.category for f in facts).items())),
            by_area=dict(sorted(Counter(f.area for f in facts).items())),
        ),
        response_rate=rate(responded_in_time, needed_response),
        resolution_rate=rate(done, not_rejected),
        satisfaction_rate=rate(good, rated),
        time_to_first_response=durations(to_response),
        time_to_resolution=durations(to_resolution),
        overdue=overdue,
        no_follow_up=no_follow_up,
        reopened=reopened,
    )


async def emergencies_and_drills(
    *, session: AsyncSession, scope: str, since: datetime | None = None, until: datetime | None = None
) -> tuple[int, int]:
    """(emergencies, drills) of the scope that went live within [since, until), in one query."""
    conditions = [
        in_area_subtree(col(Announcement.area), scope),
        Announcement.priority == Priority.EMERGENCY,
        col(Announcement.published_at).is_not(None),
    ]
    if since is not None:
        conditions.append(col(Announcement.published_at) >= since)
    if until is not None:
        conditions.append(col(Announcement.published_at) < until)
    query = select(Announcement.drill, sa.func.count()).where(*conditions).group_by(col(Announcement.drill))
    counts = dict((await session.exec(query)).all())
    return counts.get(False, 0), counts.get(True, 0)


async def compute_stats(
    *,
    session: AsyncSession,
    principal: Principal,
    now: datetime,
    area: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    recent_announcements: int = RECENT_ANNOUNCEMENTS,
) -> Stats:
    """The figures for the principal's scope (or an area inside it), requests taken in within [since, until)."""
    scope = area or principal.area
    if area is not None:
        principal.require_scope(area)
    conditions = [in_area_subtree(col(ServiceRequest.area), scope)]
    if since is not None:
        conditions.append(col(ServiceRequest.created_at) >= since)
    if until is not None:
        conditions.append(col(ServiceRequest.created_at) < until)
    facts = [
        Facts(*row)
        for row in (
            await session.exec(
                select(
                    ServiceRequest.ticket, ServiceRequest.category, ServiceRequest.area, ServiceRequest.created_at,
                    ServiceRequest.response_due_at, ServiceRequest.resolution_due_at,
                ).where(*conditions)
            )
        ).all()
    ]
    steps = [
        Step(*row)
        for row in (
            await session.exec(
                select(
                    RequestHistory.ticket, RequestHistory.at, RequestHistory.actor_role, RequestHistory.action,
                    RequestHistory.to_status, RequestHistory.rating,
                )
                .join(ServiceRequest, col(ServiceRequest.ticket) == col(RequestHistory.ticket))
                .where(*conditions)
                .order_by(col(RequestHistory.id))
            )
        ).all()
    ]
    result = figures(facts, steps, now=now)
    emergencies, drills = await emergencies_and_drills(session=session, scope=scope, since=since, until=until)

    announcements, _ = await list_announcements(
        session=session, principal=replace(principal, area=scope), limit=recent_announcements
    )
    recent = []
    for announcement in announcements:
        counts = await deliveries(session=session, announcement=announcement)
        recent.append(
            AnnouncementFigures(
                id=announcement.id, title=announcement.title, status=announcement.status,
                published_at=announcement.published_at, **counts.model_dump(),
            )
        )
    return Stats(
        scope=scope,
        generated_at=now,
        since=since,
        until=until,
        totals=result.totals,
        response_rate=result.response_rate,
        resolution_rate=result.resolution_rate,
        satisfaction_rate=result.satisfaction_rate,
        time_to_first_response=result.time_to_first_response,
        time_to_resolution=result.time_to_resolution,
        overdue=result.overdue,
        no_follow_up=result.no_follow_up,
        reopened=result.reopened,
        emergencies=emergencies,
        drills=drills,
        announcements=recent,
    )
