"""Working the request log: the status rules, staff changes, villagers' feedback, and telling the screen.

Rules (docs/protocol.md §2.11.3): a request moves received → assigned → in_progress → resolved →
closed; received, assigned and in_progress may go to rejected (with a response saying why);
resolved may go back to in_progress (reopened). Anything else is a Conflict (409).

Every change is a row of the request's history in the same transaction, and every change a
screen must learn of (a new status or response) is also a `request_update` event targeting the
screen the request came from, so it reaches that screen live or, after a reconnect, by `seq`.

Decisions where the contract is silent:
- A change to a status more than one step ahead through open statuses (received → resolved) walks
  every step, each its own history row: the worklist resolves in one click, the history stays whole.
- A staff note is a history row only (action `note`): the villager, screens and Open311 never see it.
- Any change by staff (status, assignee or response) is the request's first response.
- Setting an assignee on a `received` request moves it to `assigned`.
- A PATCH that names the current status changes nothing about the status (not a 409).
- Rejecting needs a `response` in the same change.
- Feedback `satisfied` or `basically_satisfied` closes a resolved request; `dissatisfied`
  reopens it to `in_progress` with the villager's comment in its history; the same feedback sent
  again is a no-op (a resend after a lost connection).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.errors import Conflict, Invalid, NotFound
from announcements.events import REQUEST_UPDATE, append_event
from announcements.protocol import Rating, RequestStatus
from announcements.request_models import (
    OPEN_STATUSES,
    VILLAGER,
    FollowUp,
    HistoryAction,
    RequestHistory,
    RequestUpdate,
    ServiceRequest,
)
from announcements.requests.queries import get_request
from announcements.requests.text import check_text
from announcements.targeting import Target
from announcements.tokens import Principal

TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.RECEIVED: frozenset({RequestStatus.ASSIGNED, RequestStatus.REJECTED}),
    RequestStatus.ASSIGNED: frozenset({RequestStatus.IN_PROGRESS, RequestStatus.REJECTED}),
    RequestStatus.IN_PROGRESS: frozenset({RequestStatus.RESOLVED, RequestStatus.REJECTED}),
    RequestStatus.RESOLVED: frozenset({RequestStatus.CLOSED, RequestStatus.IN_PROGRESS}),
    RequestStatus.CLOSED: frozenset(),
    RequestStatus.REJECTED: frozenset(),
}


def steps_to(current: RequestStatus, new: RequestStatus) -> list[RequestStatus]:
    """The statuses a change walks through, `new` last: one legal step, or from an open status several through open ones.

    So "resolve" works in one go from received or assigned (received → assigned → in_progress → resolved),
    each step its own history row; anything else (closing a received request, say) is a Conflict (409).
    """
    if new in TRANSITIONS[current]:
        return [new]
    paths = [[current]] if current in OPEN_STATUSES else []
    while paths:
        path = paths.pop(0)
        for step in sorted(TRANSITIONS[path[-1]] - set(path)):
            if step == new:
                return [*path[1:], step]
            if step in OPEN_STATUSES:
                paths.append([*path, step])
    allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is final)"
    raise Conflict(f"a {current.value} request cannot become {new.value}; it may become: {allowed}")


def set_status(request: ServiceRequest, new: RequestStatus, now: datetime) -> None:
    """Move to `new` with the times that go with it (the caller has checked the transition)."""
    request.status = new
    if new == RequestStatus.RESOLVED:
        request.resolved_at = now
        request.follow_up = None  # a (new) resolution asks the villager again
        request.follow_up_at = None
    elif new == RequestStatus.IN_PROGRESS:
        request.resolved_at = None
    elif new in (RequestStatus.CLOSED, RequestStatus.REJECTED):
        request.closed_at = now


async def tell_screen(*, session: AsyncSession, request: ServiceRequest) -> None:
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
    steps = steps_to(old_status, new_status) if new_status is not None else []
    if new_status == RequestStatus.REJECTED and not fields.get("response"):
        raise Invalid("rejecting a request needs a response saying why", errors=[{"loc": ["response"], "msg": "required to reject"}])
    response_changed = "response" in fields and fields["response"] != request.response
    if new_status is None and not assignee_changed and not response_changed:
        return request  # nothing to do: the same change sent again

    if assignee_changed:
        request.assignee = fields["assignee"]
    if response_changed:
        request.response = fields["response"]
    request.first_response_at = request.first_response_at or now
    request.updated_at = now
    # One history row per step; the assignee goes with the first row, the response with the last.
    rows = list(zip([old_status, *steps], steps, strict=False)) or [(None, None)]
    for index, (from_status, to_status) in enumerate(rows):
        if to_status is not None:
            set_status(request, to_status, now)
        session.add(
            RequestHistory(
                ticket=request.ticket, at=now, actor=principal.name, actor_role=principal.role.value,
                action=HistoryAction.UPDATE, from_status=from_status, to_status=to_status,
                assignee=fields["assignee"] if assignee_changed and index == 0 else None,
                response=fields["response"] if response_changed and index == len(rows) - 1 else None,
            )
        )
    session.add(request)
    if new_status is not None or response_changed:
        await tell_screen(session=session, request=request)
    await session.flush()
    return request


async def add_note(*, session: AsyncSession, ticket: str, text: str, principal: Principal, now: datetime) -> ServiceRequest:
    """Staff's internal note: a history row only; no status, no first response, nothing told to the screen."""
    check_text(text, field="text", required=True)
    request = await get_request(session=session, ticket=ticket, principal=principal, for_update=True)
    session.add(
        RequestHistory(
            ticket=request.ticket, at=now, actor=principal.name, actor_role=principal.role.value, action=HistoryAction.NOTE, note=text
        )
    )
    await session.flush()
    return request


async def record_contact_export(
    *, session: AsyncSession, requests: Sequence[ServiceRequest], principal: Principal, now: datetime
) -> None:
    """A history row on each request whose phone number an export showed in full: who saw it, and when."""
    rows = [
        {
            "ticket": r.ticket, "at": now, "actor": principal.name, "actor_role": principal.role.value,
            "action": HistoryAction.CONTACT_EXPORT.value, "from_status": None, "to_status": None, "assignee": None,
            "response": None, "rating": None, "note": None,
        }
        for r in requests
        if r.contact_phone
    ]
    if rows:
        connection = await session.connection()
        await connection.execute(sa.insert(RequestHistory.__table__), rows)


_RATING_OUTCOME = {
    Rating.SATISFIED: RequestStatus.CLOSED,
    Rating.BASICALLY_SATISFIED: RequestStatus.CLOSED,
    Rating.DISSATISFIED: RequestStatus.IN_PROGRESS,
}


async def record_feedback(
    *, session: AsyncSession, ticket: str, screen_id: str, rating: Rating, comment: str | None, now: datetime
) -> ServiceRequest:
    """The villager's answer on a resolved request from this screen; the same answer again changes nothing."""
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
        return request  # the same answer sent again
    if request.status != RequestStatus.RESOLVED:
        raise Conflict(f"request {request.ticket} is {request.status.value}; feedback is for a resolved request")
    request.follow_up = FollowUp(rating.value)
    request.follow_up_at = now
    set_status(request, outcome, now)
    request.updated_at = now
    session.add(request)
    session.add(
        RequestHistory(
            ticket=request.ticket, at=now, actor=VILLAGER, actor_role=VILLAGER, action=HistoryAction.FEEDBACK,
            from_status=RequestStatus.RESOLVED, to_status=outcome, rating=rating, note=comment,
        )
    )
    await tell_screen(session=session, request=request)
    await session.flush()
    return request
