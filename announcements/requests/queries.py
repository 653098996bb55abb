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
from announcements.errors import NotFound
from announcements.paging import PAGE_LIMIT_DEFAULT, newest_first, split_page
from announcements.protocol import RequestCategory, RequestStatus
from announcements.request_models import (
    OPEN_STATUSES,
    ContactPublic,
    HistoryPublic,
    RequestDetail,
    RequestHistory,
    RequestPublic,
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
    return RequestPublic.model_validate({**data, "contact": contact, "overdue": is_overdue(request, now)})


_PUBLIC_FIELDS = tuple(name for name in RequestPublic.model_fields if name not in ("contact", "overdue"))


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


async def list_requests(
    *,
    session: AsyncSession,
    principal: Principal,
    filters: RequestFilter,
    now: datetime,
    limit: int = PAGE_LIMIT_DEFAULT,
    cursor: str | None = None,
) -> tuple[list[ServiceRequest], str | None]:
    """Newest first, one page, and the cursor of the next page (None on the last)."""
    query = _filtered(select(ServiceRequest), principal=principal, filters=filters, now=now)
    query = newest_first(query, created=col(ServiceRequest.created_at), key=col(ServiceRequest.ticket), cursor=cursor, limit=limit)
    rows = (await session.exec(query)).all()
    return split_page(rows, limit=limit, created_of=lambda r: r.created_at, key_of=lambda r: r.ticket)


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
