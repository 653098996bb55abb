"""Taking requests in: replies from screens and Open311 reports stored with a new ticket, in batches.

Idempotency: a screen's reply carries a `client_msg_id`; the same (screen, client_msg_id) sent again,
after a lost connection or twice in one batch, gets the ticket it was given the first time and stores
nothing (the `reply_key` table remembers the pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.deadlines import DEFAULT_DEADLINES, Deadline
from announcements.deliveries import sent_to
from announcements.errors import Conflict, DomainError, Invalid
from announcements.protocol import RequestCategory, RequestStatus
from announcements.request_models import (
    VILLAGER,
    HistoryAction,
    ReplyKey,
    RequestHistory,
    RequestSource,
    ServiceRequest,
)
from announcements.requests.tickets import DIGITS_LONG, DIGITS_SHORT, new_ticket


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


# Six-digit draws that collide this many rounds running mean that space is crowded: draw nine digits.
CROWDED_ROUNDS = 3


async def _unused_tickets(*, session: AsyncSession, count: int) -> list[str]:
    """`count` new tickets that no stored request has (a collision is rare but possible; see tickets.py)."""
    tickets: set[str] = set()
    rounds = 0
    while len(tickets) < count:
        digits = DIGITS_SHORT if rounds < CROWDED_ROUNDS else DIGITS_LONG
        rounds += 1
        candidates = {new_ticket(digits) for _ in range(count - len(tickets))} - tickets
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
