"""Reading the request log: one request, its history, pages and filters, overdue, and the API shape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import in_area_subtree
from announcements.database import is_postgres
from announcements.errors import Invalid, NotFound
from announcements.models import Role, User
from announcements.paging import PAGE_LIMIT_DEFAULT, decode_cursor, newest_first, split_page
from announcements.protocol import RequestCategory, RequestStatus
from announcements.request_models import (
    OPEN_STATUSES,
    ContactPublic,
    HistoryPublic,
    RequestDetail,
    RequestHistory,
    RequestPublic,
    RequestSummary,
    ServiceRequest,
)
from announcements.requests.tickets import normalize_ticket
from announcements.tokens import Principal


async def get_request(
    *, session: AsyncSession, ticket: str, principal: Principal | None = None, for_update: bool = False
) -> ServiceRequest:
    """The request, or NotFound when unknown or outside the principal's scope (not told apart)."""
    canonical = normalize_ticket(ticket)
    request = None
    if canonical is not None:
        query = select(ServiceRequest).where(ServiceRequest.ticket == canonical)
        if for_update and is_postgres(session):
            query = query.with_for_update()
        request = (await session.exec(query)).first()
    if request is None or (principal is not None and not principal.in_scope(request.area)):
        raise NotFound(f"no request {ticket} in scope")
    return request


async def request_history(*, session: AsyncSession, ticket: str) -> Sequence[RequestHistory]:
    return (
        await session.exec(select(RequestHistory).where(RequestHistory.ticket == ticket).order_by(col(RequestHistory.id)))
    ).all()


def past_deadline(
    *, still_open: bool, responded: bool, response_due_at: datetime, resolution_due_at: datetime, now: datetime
) -> bool:
    """The overdue rule: still open, and no first response by its deadline or not resolved by its own.

    One rule for the request's flag and the figures; `overdue_condition` is its SQL form for filters.
    """
    return still_open and (now > resolution_due_at or (not responded and now > response_due_at))


def is_overdue(request: ServiceRequest, now: datetime) -> bool:
    return past_deadline(
        still_open=request.status in OPEN_STATUSES,
        responded=request.first_response_at is not None,
        response_due_at=request.response_due_at,
        resolution_due_at=request.resolution_due_at,
        now=now,
    )


def due_at(request: ServiceRequest) -> datetime | None:
    """The deadline that matters now for an open request: the first response until there is one, then resolution."""
    if request.status not in OPEN_STATUSES:
        return None
    return request.response_due_at if request.first_response_at is None else request.resolution_due_at


DUE_SOON_SHARE = 0.25  # "nearly due": less than this share of the deadline's whole time is left


def is_due_soon(request: ServiceRequest, now: datetime) -> bool:
    """Open, not yet overdue, and less than a quarter of the time to its current deadline left (30 min of a 2 h one)."""
    due = due_at(request)
    if due is None or is_overdue(request, now):
        return False
    return due - now < (due - request.created_at) * DUE_SOON_SHARE


def overdue_condition(now: datetime):
    """`past_deadline` in SQL, so a filtered page counts exactly the requests flagged overdue."""
    still_open = col(ServiceRequest.status).in_([s.value for s in OPEN_STATUSES])
    return sa.and_(
        still_open,
        or_(
            sa.and_(col(ServiceRequest.first_response_at).is_(None), col(ServiceRequest.response_due_at) < now),
            col(ServiceRequest.resolution_due_at) < now,
        ),
    )


def to_public(request: ServiceRequest, *, now: datetime, principal: Principal | None = None) -> RequestPublic:
    """The API shape; the contact only for a principal whose scope covers the request."""
    show_contact = principal is not None and principal.in_scope(request.area)
    contact = None
    if show_contact and (request.contact_name or request.contact_phone):
        contact = ContactPublic(name=request.contact_name, phone=request.contact_phone)
    data = {name: getattr(request, name) for name in _PUBLIC_FIELDS}
    due = due_at(request)
    worklist = {
        "overdue": is_overdue(request, now), "due_at": due, "due_soon": is_due_soon(request, now),
        "due_in_s": None if due is None else int((due - now).total_seconds()),
    }
    return RequestPublic.model_validate({**data, "contact": contact, **worklist})


_COMPUTED = ("contact", "overdue", "due_at", "due_soon", "due_in_s")
_PUBLIC_FIELDS = tuple(name for name in RequestPublic.model_fields if name not in _COMPUTED)


async def request_detail(
    *, session: AsyncSession, ticket: str, principal: Principal, now: datetime
) -> RequestDetail:
    request = await get_request(session=session, ticket=ticket, principal=principal)
    history = await request_history(session=session, ticket=request.ticket)
    public = to_public(request, now=now, principal=principal)
    return RequestDetail.model_validate(
        {**public.model_dump(), "history": [HistoryPublic.model_validate(h, from_attributes=True) for h in history]}
    )


@dataclass(frozen=True)
class RequestFilter:
    status: RequestStatus | None = None
    category: RequestCategory | None = None
    area: str | None = None
    assignee: str | None = None
    q: str | None = None
    overdue: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query, *, principal: Principal, filters: RequestFilter, now: datetime):
    query = query.where(in_area_subtree(col(ServiceRequest.area), principal.area))
    if filters.area is not None:
        principal.require_scope(filters.area)
        query = query.where(in_area_subtree(col(ServiceRequest.area), filters.area))
    if filters.status is not None:
        query = query.where(ServiceRequest.status == filters.status.value)
    if filters.category is not None:
        query = query.where(ServiceRequest.category == filters.category.value)
    if filters.assignee is not None:
        query = query.where(ServiceRequest.assignee == filters.assignee)
    if filters.since is not None:
        query = query.where(col(ServiceRequest.created_at) >= filters.since)
    if filters.until is not None:
        query = query.where(col(ServiceRequest.created_at) < filters.until)
    if filters.q:
        needle = filters.q.lower()
        conditions = [
            sa.func.lower(col(column)).contains(needle, autoescape=True)
            for column in (ServiceRequest.text, ServiceRequest.response, ServiceRequest.assignee)
        ]
        ticket = normalize_ticket(filters.q)
        if ticket is not None:
            conditions.append(ServiceRequest.ticket == ticket)
        query = query.where(or_(*conditions))
    if filters.overdue is True:
        query = query.where(overdue_condition(now))
    elif filters.overdue is False:
        query = query.where(sa.not_(overdue_condition(now)))
    return query


async def sign_in_name(*, session: AsyncSession, principal: Principal) -> str:
    """What `assignee` holds for this person: a user's sign-in name (stable, unique), else the token's name."""
    if principal.kind == "user":
        name = (await session.exec(select(User.name).where(User.id == principal.token_id))).first()
        if name:
            return name
    return principal.name


async def assignable_workers(*, session: AsyncSession, principal: Principal) -> Sequence[User]:
    """Worker accounts (not disabled) whose scope lies within the caller's: whom a request may be assigned to."""
    query = select(User).where(
        User.role == Role.WORKER.value, col(User.disabled_at).is_(None), in_area_subtree(col(User.area), principal.area)
    )
    return (await session.exec(query.order_by(col(User.display_name), col(User.name)))).all()


def urgent_rank():
    """1 for an open request for help (求助, urgent), else 0: the worklist puts these first."""
    open_help = sa.and_(
        ServiceRequest.category == RequestCategory.HELP.value, col(ServiceRequest.status).in_([s.value for s in OPEN_STATUSES])
    )
    return sa.case((open_help, 1), else_=0)


def _rank_of(request: ServiceRequest) -> int:
    return int(request.category == RequestCategory.HELP and request.status in OPEN_STATUSES)


async def list_requests(
    *,
    session: AsyncSession,
    principal: Principal,
    filters: RequestFilter,
    now: datetime,
    limit: int = PAGE_LIMIT_DEFAULT,
    cursor: str | None = None,
    urgent_first: bool = True,
) -> tuple[list[ServiceRequest], str | None]:
    """One page and the cursor of the next (None on the last): open requests for help first, then newest first.

    Sorted in SQL so paging is right; the urgent rank rides in the cursor's key ("1:A7K3QX"). A request
    that changes rank between two pages (resolved meanwhile) may be shown twice or skipped, as with any live list.
    """
    query = _filtered(select(ServiceRequest), principal=principal, filters=filters, now=now)
    if not urgent_first:
        query = newest_first(query, created=col(ServiceRequest.created_at), key=col(ServiceRequest.ticket), cursor=cursor, limit=limit)
        rows = (await session.exec(query)).all()
        return split_page(rows, limit=limit, created_of=lambda r: r.created_at, key_of=lambda r: r.ticket)
    rank, created, ticket = urgent_rank(), col(ServiceRequest.created_at), col(ServiceRequest.ticket)
    if cursor:
        at, key = decode_cursor(cursor)
        last_rank, _, last_ticket = key.partition(":")
        if last_rank not in ("0", "1") or not last_ticket:
            raise Invalid("cursor is not one this server gave out", errors=[{"loc": ["cursor"], "msg": "invalid cursor"}])
        query = query.where(
            or_(
                rank < int(last_rank),
                sa.and_(rank == int(last_rank), or_(created < at, sa.and_(created == at, ticket < last_ticket))),
            )
        )
    query = query.order_by(rank.desc(), created.desc(), ticket.desc()).limit(limit + 1)
    rows = (await session.exec(query)).all()
    return split_page(rows, limit=limit, created_of=lambda r: r.created_at, key_of=lambda r: f"{_rank_of(r)}:{r.ticket}")


async def request_summary(
    *, session: AsyncSession, principal: Principal, now: datetime, since: datetime | None
) -> RequestSummary:
    """The counts of the clerk's front page: waiting to be assigned, overdue, nearly due, mine, new since `since`."""
    scoped = in_area_subtree(col(ServiceRequest.area), principal.area)
    me = await sign_in_name(session=session, principal=principal)
    still_open = col(ServiceRequest.status).in_([s.value for s in OPEN_STATUSES])

    def count(condition):
        return sa.func.count().filter(condition)

    # nearly due is evaluated per row (its share of time left), over the open requests not yet overdue
    open_rows = (await session.exec(select(ServiceRequest).where(scoped, still_open, sa.not_(overdue_condition(now))))).all()
    row = (
        await session.exec(
            select(
                count(ServiceRequest.status == RequestStatus.RECEIVED.value),
                count(overdue_condition(now)),
                count(sa.and_(still_open, ServiceRequest.assignee == me)),
                count(col(ServiceRequest.created_at) > since) if since is not None else sa.literal(0),
                sa.func.max(ServiceRequest.created_at),
            ).where(scoped)
        )
    ).one()
    waiting, overdue, mine, new, latest = row
    return RequestSummary(
        waiting=waiting, overdue=overdue, due_soon=sum(is_due_soon(r, now) for r in open_rows), mine=mine, new=new,
        latest_created_at=latest,
    )


async def all_requests(
    *, session: AsyncSession, principal: Principal, filters: RequestFilter, now: datetime, limit: int = 100_000
) -> Sequence[ServiceRequest]:
    """Every matching request, oldest first (the CSV export)."""
    query = _filtered(select(ServiceRequest), principal=principal, filters=filters, now=now)
    query = query.order_by(col(ServiceRequest.created_at), col(ServiceRequest.ticket)).limit(limit)
    return (await session.exec(query)).all()


async def find_requests(
    *,
    session: AsyncSession,
    scope: str,
    tickets: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    statuses: Sequence[RequestStatus] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> Sequence[ServiceRequest]:
    """Requests in `scope` matching any of the tickets, categories and statuses given (Open311's filters), newest first."""
    query = select(ServiceRequest).where(in_area_subtree(col(ServiceRequest.area), scope))
    if tickets is not None:
        query = query.where(col(ServiceRequest.ticket).in_([t for t in map(normalize_ticket, tickets) if t]))
    if categories is not None:
        query = query.where(col(ServiceRequest.category).in_(list(categories)))
    if statuses is not None:
        query = query.where(col(ServiceRequest.status).in_([s.value for s in statuses]))
    if since is not None:
        query = query.where(col(ServiceRequest.created_at) >= since)
    if until is not None:
        query = query.where(col(ServiceRequest.created_at) <= until)
    query = query.order_by(col(ServiceRequest.created_at).desc(), col(ServiceRequest.ticket).desc()).limit(limit)
    return (await session.exec(query)).all()
