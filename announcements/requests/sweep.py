"""No follow-up: resolved requests the villager never answered are recorded as such, and closed where the village wants."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.database import skip_locked
from announcements.protocol import RequestStatus
from announcements.request_models import SYSTEM, FollowUp, HistoryAction, RequestHistory, ServiceRequest
from announcements.requests.workflow import set_status, tell_screen


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
    swept = list((await session.exec(skip_locked(query, session=session))).all())  # replicas never record one twice
    days = after / timedelta(days=1)
    for request in swept:
        request.follow_up = FollowUp.NONE
        request.follow_up_at = now
        request.updated_at = now
        if close:
            set_status(request, RequestStatus.CLOSED, now)
        session.add(request)
        session.add(
            RequestHistory(
                ticket=request.ticket, at=now, actor=SYSTEM, actor_role=SYSTEM, action=HistoryAction.NO_FOLLOW_UP,
                from_status=RequestStatus.RESOLVED if close else None, to_status=RequestStatus.CLOSED if close else None,
                note=f"no answer from the villager within {days:g} days",
            )
        )
        if close:
            await tell_screen(session=session, request=request)
    await session.flush()
    return swept
