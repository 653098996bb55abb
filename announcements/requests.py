"""The request log: replies taken in with a ticket, the state machine, feedback (回访), no follow-up.

Rules (docs/protocol.md §2.11.3): a request moves received → assigned → in_progress → resolved →
closed; received, assigned and in_progress may go to rejected (with a response saying why);
resolved may go back to in_progress (reopened). Anything else is a Conflict (409).

Every change is a row of the request's history in the same transaction, and every change a
screen must learn of (a new status or response) is also a `request_update` event targeting the
screen the request came from, so it reaches that screen live or, after a reconnect, by `seq`.

Decisions where the contract is silent:
- Any change by staff (status, assignee or response) is the request's first response.
- Setting an assignee on a `received` request moves it to `assigned`.
- A PATCH that names the current status changes nothing about the status (not a 409).
- Rejecting needs a `response` in the same change.
- Feedback `satisfied` or `basically_satisfied` closes a resolved request; `dissatisfied`
  reopens it to `in_progress` with the villager's comment in its history; the same feedback sent
  again is a no-op (a resend after a lost connection).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import in_area_subtree
from announcements.clientinput import text_problem
from announcements.deadlines import DEFAULT_DEADLINES, Deadline
from announcements.deliveries import sent_to
from announcements.errors import Conflict, DomainError, Invalid, NotFound
from announcements.events import REQUEST_UPDATE, append_event
from announcements.paging import PAGE_LIMIT_DEFAULT, newest_first, split_page
from announcements.request_models import (
    DONE_STATUSES,
    OPEN_STATUSES,
    SYSTEM,
    VILLAGER,
    ContactPublic,
    FollowUp,
    HistoryAction,
    HistoryPublic,
    Rating,
    ReplyKey,
    RequestCategory,
    RequestDetail,
    RequestHistory,
    RequestPublic,
    RequestSource,
    RequestStatus,
    RequestUpdate,
    ServiceRequest,
)
from announcements.targeting import Target
from announcements.tokens import Principal

# ---------------------------------------------------------------- tickets

# No 0/O, 1/I/L: a ticket read aloud over the phone cannot be misheard as another.
TICKET_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_TICKET_RE = re.compile(rf"^[{TICKET_ALPHABET}]{{6}}$")


def new_ticket() -> str:
    """Six random characters as `A7K-3QX` (31^6, about 887 million): short, readable, not guessable."""
    chars = "".join(secrets.choice(TICKET_ALPHABET) for _ in range(6))
    return f"{chars[:3]}-{chars[3:]}"


def normalize_ticket(raw: str) -> str | None:
    """The canonical ticket for what a person typed (any case, with or without the dash or spaces), or None."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    compact = re.sub(r"[\s\-]", "", raw).upper()
    if not _TICKET_RE.match(compact):
        return None
    return f"{compact[:3]}-{compact[3:]}"


# ---------------------------------------------------------------- villagers' text

def check_text(value: str | None, *, field: str, max_chars: int | None = None, required: bool = False) -> str | None:
    """Villagers' text is stored as given; only what no database or XML document can hold is refused."""
    if value is None:
        if required:
            raise Invalid(f"{field}: required", errors=[{"loc": [field], "msg": "required"}])
        return None
    if required and not value.strip():
        raise Invalid(f"{field}: must not be blank", errors=[{"loc": [field], "msg": "must not be blank"}])
    if max_chars is not None and len(value) > max_chars:
        msg = f"at most {max_chars} characters (got {len(value)})"
        raise Invalid(f"{field}: {msg}", errors=[{"loc": [field], "msg": msg}])
    msg = text_problem(value)
    if msg:
        raise Invalid(f"{field}: {msg}", errors=[{"loc": [field], "msg": msg}])
    return value


def mask_phone(phone: str | None) -> str | None:
    """138****5678: the first three and last four digits stay, the ones between become '*'."""
    if not phone:
        return phone
    digits = [i for i, c in enumerate(phone) if c.isdigit()]
    keep_head, keep_tail = (3, 4) if len(digits) >= 9 else (0, min(2, len(digits)))
    hidden = set(digits[keep_head : len(digits) - keep_tail])
    return "".join("*" if i in hidden else c for i, c in enumerate(phone))


# ---------------------------------------------------------------- taking replies in

@dataclass(frozen=True, slots=True)
class NewRequest:
    """A reply (or an Open311 report) checked at the edge, ready to store."""

    area: str
    category: RequestCategory
    text: str
    screen_id: str | None = None
    client_msg_id: str | None = None  # with screen_id, the idempotency key
    announcement_id: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    address: str | None = None
    source: RequestSource = RequestSource.SCREEN
    actor: str = VILLAGER
    actor_role: str = VILLAGER


@dataclass(frozen=True, slots=True)
class Taken:
    ticket: str
    status: RequestStatus
    created: bool  # False when the (screen, client_msg_id) was seen before: nothing was stored


async def store_requests(
    *, session: AsyncSession, items: Sequence[NewRequest], now: datetime, deadlines: dict[str, Deadline] = DEFAULT_DEADLINES
) -> list[Taken | DomainError]:
    """Store a batch in the caller's transaction: one insert per table for all of them.

    A (screen, client_msg_id) seen before, or twice in the batch, gets its first ticket and stores
    nothing. Raises IntegrityError when a concurrent transaction stored the same key or ticket
    meanwhile; `store_request` (one at a time, in a savepoint) sorts that out.
    """
    results: list[Taken | DomainError | None] = [None] * len(items)
    keyed = [item for item in items if item.screen_id and item.client_msg_id]
    known: dict[tuple[str, str], str] = {}
    if keyed:
        rows = await session.exec(
            select(ReplyKey.screen_id, ReplyKey.client_msg_id, ReplyKey.ticket).where(
                col(ReplyKey.screen_id).in_({i.screen_id for i in keyed}),
                col(ReplyKey.client_msg_id).in_({i.client_msg_id for i in keyed}),
            )
        )
        known = {(s, c): t for s, c, t in rows.all()}
    statuses: dict[str, RequestStatus] = {}
    if known:
        rows = await session.exec(
            select(ServiceRequest.ticket, ServiceRequest.status).where(col(ServiceRequest.ticket).in_(set(known.values())))
        )
        statuses = {t: RequestStatus(s) for t, s in rows.all()}
    referenced = {(i.announcement_id, i.screen_id) for i in items if i.announcement_id and i.screen_id}
    sent = await sent_to(session=session, pairs=referenced)

    fresh: list[tuple[int, NewRequest]] = []
    in_batch: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        key = (item.screen_id, item.client_msg_id)
        if item.client_msg_id and key in known:
            ticket = known[key]
            results[index] = Taken(ticket, statuses.get(ticket, RequestStatus.RECEIVED), created=False)
        elif item.client_msg_id and key in in_batch:
            results[index] = in_batch[key]  # resolved below, once the first one has its ticket
        elif item.announcement_id and (item.announcement_id, item.screen_id) not in sent:
            # The same answer for unknown and for another area's: no hint that the id exists.
            results[index] = Invalid(
                f"announcement_id: no announcement {item.announcement_id} was sent to this screen",
                errors=[{"loc": ["announcement_id"], "msg": "not an announcement sent to this screen"}],
            )
        else:
            if item.client_msg_id:
                in_batch[key] = index
            fresh.append((index, item))

    tickets = await _unused_tickets(session=session, count=len(fresh))
    request_rows, history_rows, key_rows = [], [], []
    for (index, item), ticket in zip(fresh, tickets, strict=True):
        deadline = deadlines.get(item.category, DEFAULT_DEADLINES[item.category])
        request_rows.append(
            {
                "ticket": ticket, "status": RequestStatus.RECEIVED.value, "category": item.category.value,
                "text": item.text, "announcement_id": item.announcement_id, "area": item.area,
                "screen_id": item.screen_id, "source": item.source.value, "contact_name": item.contact_name,
                "contact_phone": item.contact_phone, "address": item.address, "assignee": None, "response": None,
                "created_at": now, "updated_at": now, "response_due_at": deadline.response_due(now),
                "resolution_due_at": deadline.resolution_due(now), "first_response_at": None,
                "resolved_at": None, "closed_at": None, "follow_up": None, "follow_up_at": None,
            }
        )
        history_rows.append(
            {
                "ticket": ticket, "at": now, "actor": item.actor, "actor_role": item.actor_role,
                "action": HistoryAction.RECEIVED.value, "from_status": None,
                "to_status": RequestStatus.RECEIVED.value, "assignee": None, "response": None,
                "rating": None, "note": None,
            }
        )
        if item.client_msg_id and item.screen_id:
            key_rows.append({"screen_id": item.screen_id, "client_msg_id": item.client_msg_id, "ticket": ticket, "created_at": now})
        results[index] = Taken(ticket, RequestStatus.RECEIVED, created=True)
    if request_rows:
        connection = await session.connection()
        await connection.execute(sa.insert(ServiceRequest.__table__), request_rows)
        await connection.execute(sa.insert(RequestHistory.__table__), history_rows)
        if key_rows:
            await connection.execute(sa.insert(ReplyKey.__table__), key_rows)
    for index, result in enumerate(results):
        if isinstance(result, int):  # a repeat within the batch: the first one's ticket
            first = results[result]
            results[index] = Taken(first.ticket, first.status, created=False)
    return results  # type: ignore[return-value]


async def _unused_tickets(*, session: AsyncSession, count: int) -> list[str]:
    """`count` new tickets that no stored request has (a collision is rare but possible)."""
    tickets: set[str] = set()
    while len(tickets) < count:
        candidates = {new_ticket() for _ in range(count - len(tickets))} - tickets
        taken = set(
            (await session.exec(select(ServiceRequest.ticket).where(col(ServiceRequest.ticket).in_(candidates)))).all()
        )
        tickets |= candidates - taken
    return list(tickets)


async def store_request(
    *, session: AsyncSession, item: NewRequest, now: datetime, deadlines: dict[str, Deadline] = DEFAULT_DEADLINES
) -> Taken:
    """Store one, safe against a concurrent writer of the same key or ticket (in a savepoint, retried)."""
    for _ in range(5):
        try:
            async with session.begin_nested():
                result = (await store_requests(session=session, items=[item], now=now, deadlines=deadlines))[0]
        except IntegrityError:
            continue  # someone stored this key (or drew this ticket) meanwhile: look again
        if isinstance(result, DomainError):
            raise result
        return result
    raise Conflict("the reply could not be stored after several attempts; send it again")


# ---------------------------------------------------------------- reading the log

async def get_request(
    *, session: AsyncSession, ticket: str, principal: Principal | None = None, for_update: bool = False
) -> ServiceRequest:
    """The request, or NotFound when unknown or outside the principal's scope (not told apart)."""
    canonical = normalize_ticket(ticket)
    request = None
    if canonical is not None:
        query = select(ServiceRequest).where(ServiceRequest.ticket == canonical)
        if for_update and _is_postgres(session):
            query = query.with_for_update()
        request = (await session.exec(query)).first()
    if request is None or (principal is not None and not principal.in_scope(request.area)):
        raise NotFound(f"no request {ticket} in scope")
    return request


async def request_history(*, session: AsyncSession, ticket: str) -> Sequence[RequestHistory]:
    return (
        await session.exec(select(RequestHistory).where(RequestHistory.ticket == ticket).order_by(col(RequestHistory.id)))
    ).all()


def is_overdue(request: ServiceRequest, now: datetime) -> bool:
    """No first response by its deadline yet, or still open past its resolution deadline."""
    if request.first_response_at is None and request.status in OPEN_STATUSES and now > request.response_due_at:
        return True
    return request.status in OPEN_STATUSES and now > request.resolution_due_at


def overdue_condition(now: datetime):
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


# ---------------------------------------------------------------- working the log

TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.RECEIVED: frozenset({RequestStatus.ASSIGNED, RequestStatus.REJECTED}),
    RequestStatus.ASSIGNED: frozenset({RequestStatus.IN_PROGRESS, RequestStatus.REJECTED}),
    RequestStatus.IN_PROGRESS: frozenset({RequestStatus.RESOLVED, RequestStatus.REJECTED}),
    RequestStatus.RESOLVED: frozenset({RequestStatus.CLOSED, RequestStatus.IN_PROGRESS}),
    RequestStatus.CLOSED: frozenset(),
    RequestStatus.REJECTED: frozenset(),
}


def check_transition(current: RequestStatus, new: RequestStatus) -> None:
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is final)"
        raise Conflict(f"a {current.value} request cannot become {new.value}; it may become: {allowed}")


def _set_status(request: ServiceRequest, new: RequestStatus, now: datetime) -> None:
    request.status = new
    if new == RequestStatus.RESOLVED:
        request.resolved_at = now
        request.follow_up = None  # a (new) resolution asks the villager again
        request.follow_up_at = None
    elif new == RequestStatus.IN_PROGRESS:
        request.resolved_at = None
    elif new in (RequestStatus.CLOSED, RequestStatus.REJECTED):
        request.closed_at = now


async def _tell_screen(*, session: AsyncSession, request: ServiceRequest) -> None:
    """A `request_update` event for the screen the request came from (none for Open311 reports)."""
    if request.screen_id is None:
        return
    await append_event(
        session=session,
        type=REQUEST_UPDATE,
        target=Target(screens=(request.screen_id,)),
        payload={"ticket": request.ticket, "status": RequestStatus(request.status).value, "response": request.response},
    )


async def update_request(
    *, session: AsyncSession, ticket: str, changes: RequestUpdate, principal: Principal, now: datetime
) -> ServiceRequest:
    """Change status, assignee and/or response; history row and (for status or response) screen event."""
    fields = changes.model_dump(exclude_unset=True)
    if not fields:
        raise Invalid("nothing to change: give status, assignee or response")
    for name in ("status", "response"):
        if name in fields and fields[name] is None:
            raise Invalid(f"{name}: may be changed but not removed", errors=[{"loc": [name], "msg": "must not be null"}])
    check_text(fields.get("assignee"), field="assignee")
    check_text(fields.get("response"), field="response", required="response" in fields)

    request = await get_request(session=session, ticket=ticket, principal=principal, for_update=True)
    request.status = RequestStatus(request.status)
    old_status = request.status
    new_status = RequestStatus(fields["status"]) if "status" in fields else None
    assignee_changed = "assignee" in fields and fields["assignee"] != request.assignee
    if new_status is None and assignee_changed and fields["assignee"] and old_status == RequestStatus.RECEIVED:
        new_status = RequestStatus.ASSIGNED
    if new_status == old_status:
        new_status = None
    if new_status is not None:
        check_transition(old_status, new_status)
    if new_status == RequestStatus.REJECTED and not fields.get("response"):
        raise Invalid("rejecting a request needs a response saying why", errors=[{"loc": ["response"], "msg": "required to reject"}])
    response_changed = "response" in fields and fields["response"] != request.response
    if new_status is None and not assignee_changed and not response_changed:
        return request  # nothing to do: the same change sent again

    if new_status is not None:
        _set_status(request, new_status, now)
    if assignee_changed:
        request.assignee = fields["assignee"]
    if response_changed:
        request.response = fields["response"]
    request.first_response_at = request.first_response_at or now
    request.updated_at = now
    session.add(request)
    session.add(
        RequestHistory(
            ticket=request.ticket, at=now, actor=principal.name, actor_role=principal.role.value,
            action=HistoryAction.UPDATE, from_status=old_status if new_status else None, to_status=new_status,
            assignee=fields["assignee"] if assignee_changed else None,
            response=fields["response"] if response_changed else None,
        )
    )
    if new_status is not None or response_changed:
        await _tell_screen(session=session, request=request)
    await session.flush()
    return request


_RATING_OUTCOME = {
    Rating.SATISFIED: RequestStatus.CLOSED,
    Rating.BASICALLY_SATISFIED: RequestStatus.CLOSED,
    Rating.DISSATISFIED: RequestStatus.IN_PROGRESS,
}


async def record_feedback(
    *, session: AsyncSession, ticket: str, screen_id: str, rating: Rating, comment: str | None, now: datetime
) -> tuple[ServiceRequest, bool]:
    """The villager's answer on a resolved request from this screen; returns (request, changed)."""
    rating = Rating(rating)
    check_text(comment, field="comment")
    try:
        request = await get_request(session=session, ticket=ticket, for_update=True)
    except NotFound:
        request = None
    if request is None or request.screen_id != screen_id:
        raise NotFound(f"no request {ticket} from this screen")
    request.status = RequestStatus(request.status)
    outcome = _RATING_OUTCOME[rating]
    if request.follow_up == rating.value and request.status == outcome:
        return request, False  # the same answer sent again
    if request.status != RequestStatus.RESOLVED:
        raise Conflict(f"request {request.ticket} is {request.status.value}; feedback is for a resolved request")
    request.follow_up = FollowUp(rating.value)
    request.follow_up_at = now
    _set_status(request, outcome, now)
    request.updated_at = now
    session.add(request)
    session.add(
        RequestHistory(
            ticket=request.ticket, at=now, actor=VILLAGER, actor_role=VILLAGER, action=HistoryAction.FEEDBACK,
            from_status=RequestStatus.RESOLVED, to_status=outcome, rating=rating, note=comment,
        )
    )
    await _tell_screen(session=session, request=request)
    await session.flush()
    return request, True


async def sweep_no_follow_up(
    *, session: AsyncSession, now: datetime, after: timedelta, close: bool, limit: int = 500
) -> list[ServiceRequest]:
    """Resolved requests without an answer for `after`: recorded as no follow-up, and closed if `close`."""
    query = (
        select(ServiceRequest)
        .where(
            ServiceRequest.status == RequestStatus.RESOLVED.value,
            col(ServiceRequest.follow_up).is_(None),
            col(ServiceRequest.resolved_at) <= now - after,
        )
        .order_by(col(ServiceRequest.resolved_at))
        .limit(limit)
    )
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True)  # replicas never record one twice
    swept = list((await session.exec(query)).all())
    days = after / timedelta(days=1)
    for request in swept:
        request.follow_up = FollowUp.NONE
        request.follow_up_at = now
        request.updated_at = now
        if close:
            _set_status(request, RequestStatus.CLOSED, now)
        session.add(request)
        session.add(
            RequestHistory(
                ticket=request.ticket, at=now, actor=SYSTEM, actor_role=SYSTEM, action=HistoryAction.NO_FOLLOW_UP,
                from_status=RequestStatus.RESOLVED if close else None, to_status=RequestStatus.CLOSED if close else None,
                note=f"no answer from the villager within {days:g} days",
            )
        )
        if close:
            await _tell_screen(session=session, request=request)
    await session.flush()
    return swept


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


__all__ = [
    "DONE_STATUSES",
    "OPEN_STATUSES",
    "NewRequest",
    "RequestFilter",
    "Taken",
    "TRANSITIONS",
    "all_requests",
    "check_text",
    "check_transition",
    "find_requests",
    "get_request",
    "is_overdue",
    "list_requests",
    "mask_phone",
    "new_ticket",
    "normalize_ticket",
    "record_feedback",
    "request_detail",
    "request_history",
    "store_request",
    "store_requests",
    "sweep_no_follow_up",
    "to_public",
    "update_request",
]
