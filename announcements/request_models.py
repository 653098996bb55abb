"""Tables and API shapes of the request log: villagers' requests, their history, reply keys.

A request is what a villager sends back through a screen (docs/protocol.md §3.7 `reply`, §2.11.1 `POST /replies`) or
what comes in over Open311. It gets a ticket, lands in the log, and every change to it is a row of
its history (who, when, from which status to which, what was said), from which the figures are
computed. `ReplyKey` makes a reply idempotent by (screen, client_msg_id).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from announcements.models import _time_column
from announcements.protocol import Rating, RequestCategory, RequestStatus
from announcements.timeutil import utcnow

TICKET_MAX = 16
TEXT_MAX = 4000  # the column; the accepted length is the `reply_max_chars` setting (1,000 by default)
RESPONSE_MAX = 2000
NAME_MAX = 100
PHONE_MAX = 30

OPEN_STATUSES = (RequestStatus.RECEIVED, RequestStatus.ASSIGNED, RequestStatus.IN_PROGRESS)
DONE_STATUSES = (RequestStatus.RESOLVED, RequestStatus.CLOSED)


class RequestSource(StrEnum):
    SCREEN = "screen"  # a `reply` over the WebSocket
    HTTP = "http"  # POST /api/v1/replies
    OPEN311 = "open311"  # POST /open311/v2/requests


class HistoryAction(StrEnum):
    RECEIVED = "received"
    UPDATE = "update"  # a change by staff: status, assignee and/or response
    FEEDBACK = "feedback"  # the villager's answer to "are you satisfied?"
    NO_FOLLOW_UP = "no_follow_up"  # no answer within the configured days
    NOTE = "note"  # staff's internal note (in `note`): never shown to villagers, screens or Open311
    CONTACT_EXPORT = "contact_export"  # an admin exported the phone number unmasked (for a call-back)


# A rating, or "no_follow_up" (the word of its history action): built from Rating, so the two cannot drift apart.
FollowUp = StrEnum("FollowUp", {**{r.name: r.value for r in Rating}, "NONE": HistoryAction.NO_FOLLOW_UP.value}, module=__name__)
FollowUp.__doc__ = "What came of asking the villager (回访): a rating, or nothing within the configured days."  # the OpenAPI description

VILLAGER = "villager"
SYSTEM = "system"


# ---------------------------------------------------------------- requests

class ServiceRequestBase(SQLModel):
    category: RequestCategory = Field(sa_type=sa.String(20), index=True)
    text: str = Field(max_length=TEXT_MAX)
    announcement_id: str | None = Field(default=None, foreign_key="announcement.id", index=True, max_length=32)


class ServiceRequest(ServiceRequestBase, table=True):
    __tablename__ = "service_request"

    ticket: str = Field(primary_key=True, max_length=TICKET_MAX)
    status: RequestStatus = Field(default=RequestStatus.RECEIVED, sa_type=sa.String(20), index=True)
    area: str = Field(max_length=600, index=True)  # the area of the screen it came from
    screen_id: str | None = Field(default=None, foreign_key="screen.id", index=True, max_length=32)
    source: RequestSource = Field(default=RequestSource.SCREEN, sa_type=sa.String(20))
    contact_name: str | None = Field(default=None, max_length=NAME_MAX)
    contact_phone: str | None = Field(default=None, max_length=PHONE_MAX)
    address: str | None = Field(default=None, max_length=500)
    assignee: str | None = Field(default=None, max_length=NAME_MAX, index=True)
    response: str | None = Field(default=None, max_length=RESPONSE_MAX)
    created_at: datetime = _time_column(default_factory=utcnow, index=True)
    updated_at: datetime = _time_column(default_factory=utcnow)
    response_due_at: datetime = _time_column()
    resolution_due_at: datetime = _time_column(index=True)
    first_response_at: datetime | None = _time_column(default=None)
    resolved_at: datetime | None = _time_column(default=None, index=True)
    closed_at: datetime | None = _time_column(default=None)
    follow_up: FollowUp | None = Field(default=None, sa_type=sa.String(30))
    follow_up_at: datetime | None = _time_column(default=None)


class RequestHistory(SQLModel, table=True):
    """One change to a request: who (a token's name and role, `villager` or `system`), when, what."""

    __tablename__ = "request_history"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True, sa_column_kwargs={"autoincrement": True})
    ticket: str = Field(foreign_key="service_request.ticket", index=True, max_length=TICKET_MAX)
    at: datetime = _time_column(default_factory=utcnow)
    actor: str = Field(max_length=NAME_MAX)
    actor_role: str = Field(max_length=20)
    action: HistoryAction = Field(sa_type=sa.String(30))
    from_status: RequestStatus | None = Field(default=None, sa_type=sa.String(20))
    to_status: RequestStatus | None = Field(default=None, sa_type=sa.String(20))
    assignee: str | None = Field(default=None, max_length=NAME_MAX)
    response: str | None = Field(default=None, max_length=RESPONSE_MAX)
    rating: Rating | None = Field(default=None, sa_type=sa.String(30))
    note: str | None = Field(default=None, max_length=TEXT_MAX)


class ReplyKey(SQLModel, table=True):
    """A screen's `client_msg_id` and the ticket it was given: a resend gets the same ticket."""

    __tablename__ = "reply_key"

    screen_id: str = Field(primary_key=True, max_length=32)
    client_msg_id: str = Field(primary_key=True, max_length=100)
    ticket: str = Field(max_length=TICKET_MAX)
    created_at: datetime = _time_column(default_factory=utcnow)


# ---------------------------------------------------------------- API shapes

class ContactBody(SQLModel):
    name: str | None = Field(default=None, max_length=NAME_MAX)
    phone: str | None = Field(default=None, max_length=PHONE_MAX)


class ReplyCreate(SQLModel):
    """POST /api/v1/replies: the WebSocket `reply` without its `type`."""

    client_msg_id: str = Field(min_length=1, max_length=100)
    announcement_id: str | None = Field(default=None, max_length=64)
    category: RequestCategory
    text: str = Field(min_length=1, max_length=1000)
    contact: ContactBody | None = None


class ReplyAccepted(SQLModel):
    client_msg_id: str
    ticket: str
    status: RequestStatus


class ContactPublic(SQLModel):
    name: str | None = None
    phone: str | None = None


class HistoryPublic(SQLModel):
    at: datetime
    actor: str
    actor_role: str
    action: HistoryAction
    from_status: RequestStatus | None = None
    to_status: RequestStatus | None = None
    assignee: str | None = None
    response: str | None = None
    rating: Rating | None = None
    note: str | None = None


class RequestPublic(ServiceRequestBase):
    ticket: str
    status: RequestStatus
    area: str
    screen_id: str | None
    source: RequestSource
    contact: ContactPublic | None = None  # only for tokens whose scope covers the request
    address: str | None = None
    assignee: str | None
    response: str | None
    created_at: datetime
    updated_at: datetime
    response_due_at: datetime
    resolution_due_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    follow_up: FollowUp | None
    overdue: bool = False
    due_at: datetime | None = None  # the deadline that matters now: first response until there is one, then resolution
    due_soon: bool = False  # open, not overdue, and less than a quarter of that deadline's time left
    due_in_s: int | None = None  # seconds from the server's now to `due_at` (negative once past): no trust in a phone's clock


class RequestDetail(RequestPublic):
    history: list[HistoryPublic]


class RequestPage(SQLModel):
    items: list[RequestPublic]
    next_cursor: str | None = None


class RequestUpdate(SQLModel):
    """PATCH /api/v1/requests/{ticket}: any of the three; `rejected` needs a `response`."""

    status: RequestStatus | None = None
    assignee: str | None = Field(default=None, max_length=NAME_MAX)
    response: str | None = Field(default=None, min_length=1, max_length=RESPONSE_MAX)

    @field_validator("assignee")
    @classmethod
    def _assignee_named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("assignee is a grid worker's name; use null to unassign")
        return value


class NoteCreate(SQLModel):
    """POST /api/v1/requests/{ticket}/notes: staff's internal note, kept in the history only."""

    text: str = Field(min_length=1, max_length=RESPONSE_MAX)


class Assignee(SQLModel):
    """A worker account a request may be assigned to: `assignee` holds its sign-in `name`, people read `display_name`."""

    name: str
    display_name: str
    area: str


class RequestSummary(SQLModel):
    """GET /api/v1/requests/summary: what the clerk's front page and the console's badge show."""

    waiting: int  # received: nobody assigned yet, waiting for the clerk
    overdue: int
    due_soon: int
    mine: int  # open and assigned to the signed-in person (a worker's 我的事项)
    new: int  # taken in after `since` (0 without it)
    latest_created_at: datetime | None  # the newest request in scope: the next poll's `since`
    poll_s: float = 20.0  # when the console asks again (the server's setting `console_poll_s`)


class FeedbackCreate(SQLModel):
    """POST /api/v1/requests/{ticket}/feedback (screen token): the WebSocket `feedback` over HTTP."""

    rating: Rating
    comment: str | None = Field(default=None, max_length=1000)


class RequestUpdatePublic(SQLModel):
    """What the screen is told (the `request_update` message, without `type` and `seq`)."""

    ticket: str
    status: RequestStatus
    response: str | None = None


# ---------------------------------------------------------------- figures

class Rate(SQLModel):
    numerator: int
    denominator: int
    rate: float | None  # numerator / denominator, 4 decimals; null when nothing to divide


class Durations(SQLModel):
    """Seconds, over `count` requests; nearest-rank percentiles."""

    count: int
    median_s: float | None
    p90_s: float | None


class Totals(SQLModel):
    all: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    by_area: dict[str, int]


class AnnouncementFigures(SQLModel):
    id: str
    title: str
    status: str
    published_at: datetime | None
    targeted: int
    received: int
    displayed: int
    played: int


class Stats(SQLModel):
    scope: str
    generated_at: datetime
    since: datetime | None = None
    until: datetime | None = None
    totals: Totals
    response_rate: Rate  # first response within its deadline, over those that needed one by now
    resolution_rate: Rate  # resolved + closed, over all but rejected
    satisfaction_rate: Rate  # satisfied + basically satisfied, over those that answered
    time_to_first_response: Durations
    time_to_resolution: Durations
    overdue: int
    no_follow_up: int
    reopened: int
    emergencies: int  # emergencies that went live in the scope (since/until bound their publish time); no drill
    drills: int  # drills (演练) that went live likewise: counted apart, never as emergencies
    announcements: list[AnnouncementFigures]
