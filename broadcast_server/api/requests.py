"""/api/v1 request log: replies from screens, the log, one request with its history, changes,
feedback, the figures and the CSV export."""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import BaseModel, Field, field_validator

from announcements.areas import normalize_area
from announcements.models import Role
from announcements.paging import PageQuery
from announcements.protocol import RequestCategory, RequestStatus
from announcements.request_models import (
    FeedbackCreate,
    ReplyAccepted,
    ReplyCreate,
    RequestDetail,
    RequestPage,
    RequestSource,
    RequestUpdate,
    RequestUpdatePublic,
    ServiceRequest,
    Stats,
)
from announcements.requests.queries import RequestFilter, all_requests, is_overdue, list_requests, request_detail, to_public
from announcements.requests.text import mask_phone
from announcements.requests.workflow import update_request
from announcements.stats import compute_stats
from announcements.timeutil import ClientDateTime
from broadcast_server.auth import require_principal
from broadcast_server.keys import CLOCK, DATABASE, HUB, REPLIES
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable, json_response, parse_body, parse_query

routes = RouteTable(prefix="/api/v1", tag="requests")
STAFF = (Role.ADMIN, Role.COMMITTEE, Role.WORKER)


class RequestQuery(PageQuery):
    status: RequestStatus | None = None
    category: RequestCategory | None = None
    area: str | None = Field(default=None, max_length=600)
    assignee: str | None = Field(default=None, max_length=100)
    q: str | None = Field(default=None, max_length=200, description="text search in the text, response, assignee or ticket")
    overdue: bool | None = None
    since: ClientDateTime | None = None
    until: ClientDateTime | None = None

    @field_validator("area")
    @classmethod
    def _area(cls, value: str | None) -> str | None:
        return None if value is None else normalize_area(value)

    def filters(self) -> RequestFilter:
        return RequestFilter(
            status=self.status, category=self.category, area=self.area, assignee=self.assignee,
            q=self.q or None, overdue=self.overdue, since=self.since, until=self.until,
        )


class CsvQuery(RequestQuery):
    unmask: bool = Field(default=False, description="(admin) show phone numbers in full")
    tz: str = Field(default="UTC", max_length=60, description="time zone of the times, e.g. Asia/Shanghai")

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use a name like Asia/Shanghai)") from None
        return value


class StatsQuery(BaseModel):
    area: str | None = Field(default=None, max_length=600)
    since: ClientDateTime | None = None
    until: ClientDateTime | None = None

    @field_validator("area")
    @classmethod
    def _area(cls, value: str | None) -> str | None:
        return None if value is None else normalize_area(value)


# ---------------------------------------------------------------- replies (screen token)

@routes.post(
    "/replies",
    summary="(screen) A villager's reply: 201 with a new ticket, 200 with the same ticket for a client_msg_id seen before",
    body=ReplyCreate,
    response=ReplyAccepted,
    status=201,
)
async def post_reply(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.SCREEN)
    if principal.screen_id is None:
        raise Problem(403, "this screen token belongs to no screen")
    body = await parse_body(request, ReplyCreate)
    desk = request.app[REPLIES]
    item = desk.checked(screen_id=principal.screen_id, area=principal.area, reply=body, source=RequestSource.HTTP)
    taken = await desk.take(item, rate_key=principal.screen_id)
    answer = ReplyAccepted(client_msg_id=body.client_msg_id, ticket=taken.ticket, status=taken.status)
    return json_response(answer, status=201 if taken.created else 200)


@routes.post(
    "/requests/{ticket}/feedback",
    summary="(screen) The villager's answer on a resolved request from this screen (the WebSocket feedback)",
    body=FeedbackCreate,
    response=RequestUpdatePublic,
)
async def post_feedback(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.SCREEN)
    body = await parse_body(request, FeedbackCreate)
    result = await request.app[REPLIES].feedback(
        screen_id=principal.screen_id or "", ticket=request.match_info["ticket"], rating=body.rating, comment=body.comment
    )
    return json_response(RequestUpdatePublic(ticket=result.ticket, status=result.status, response=result.response))


# ---------------------------------------------------------------- the log (staff)

@routes.get(
    "/requests",
    summary="The request log in scope, newest first; filters status, category, area, assignee, q, overdue",
    query=RequestQuery,
    response=RequestPage,
)
async def get_requests(request: web.Request) -> web.Response:
    principal = await require_principal(request, *STAFF)
    query = parse_query(request, RequestQuery)
    now = request.app[CLOCK]()
    async with request.app[DATABASE].read() as session:
        items, next_cursor = await list_requests(
            session=session, principal=principal, filters=query.filters(), now=now, limit=query.limit, cursor=query.cursor
        )
    return json_response(RequestPage(items=[to_public(r, now=now, principal=principal) for r in items], next_cursor=next_cursor))


@routes.get("/requests/{ticket}", summary="One request with its full history", response=RequestDetail)
async def get_one_request(request: web.Request) -> web.Response:
    principal = await require_principal(request, *STAFF)
    async with request.app[DATABASE].read() as session:
        detail = await request_detail(
            session=session, ticket=request.match_info["ticket"], principal=principal, now=request.app[CLOCK]()
        )
    return json_response(detail)


@routes.patch(
    "/requests/{ticket}",
    summary="Change status, assignee or response; 409 on an illegal status change; the screen gets a request_update",
    body=RequestUpdate,
    response=RequestDetail,
)
async def patch_request(request: web.Request) -> web.Response:
    principal = await require_principal(request, *STAFF)
    changes = await parse_body(request, RequestUpdate)
    now = request.app[CLOCK]()
    async with request.app[DATABASE].write() as session:
        changed = await update_request(
            session=session, ticket=request.match_info["ticket"], changes=changes, principal=principal, now=now
        )
        detail = await request_detail(session=session, ticket=changed.ticket, principal=principal, now=now)
    request.app[HUB].notify()
    return json_response(detail)


@routes.get("/stats", summary="Request-log and delivery figures for the scope", query=StatsQuery, response=Stats)
async def get_stats(request: web.Request) -> web.Response:
    principal = await require_principal(request, *STAFF)
    query = parse_query(request, StatsQuery)
    async with request.app[DATABASE].read() as session:
        stats = await compute_stats(
            session=session, principal=principal, now=request.app[CLOCK](), area=query.area, since=query.since, until=query.until
        )
    return json_response(stats)


# ---------------------------------------------------------------- CSV

CSV_COLUMNS = (
    "ticket", "created_at", "status", "category", "area", "text", "contact_name", "contact_phone", "assignee",
    "response", "first_response_at", "resolved_at", "closed_at", "response_due_at", "resolution_due_at", "overdue",
    "follow_up", "announcement_id", "source",
)
_FORMULA_START = ("=", "+", "-", "@")


def _may_be_formula(text: str) -> bool:
    """Whether a spreadsheet might read `text` as a formula (OWASP CSV injection).

    A leading tab or carriage return, or a formula sign as the first character after any whitespace
    (spreadsheets skip it), in any form NFKC folds to the ASCII sign: fullwidth ＝＋－＠, small ﹦﹢﹣﹫.
    """
    if text.startswith(("\t", "\r")):
        return True
    first = text.lstrip()[:1]
    return unicodedata.normalize("NFKC", first).startswith(_FORMULA_START)


def _cell(value) -> str:
    """A spreadsheet cell: villagers' text never becomes a formula (a leading ' keeps it text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if _may_be_formula(text) else text


def requests_csv(rows: list[ServiceRequest], *, now: datetime, unmask: bool, zone: ZoneInfo) -> bytes:
    """UTF-8 with a BOM (so Excel reads Chinese right), CRLF rows, phones masked unless `unmask`."""

    def when(value: datetime | None) -> str | None:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else None

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            _cell(v)
            for v in (
                r.ticket, when(r.created_at), r.status, r.category, r.area, r.text, r.contact_name,
                r.contact_phone if unmask else mask_phone(r.contact_phone), r.assignee, r.response,
                when(r.first_response_at), when(r.resolved_at), when(r.closed_at), when(r.response_due_at),
                when(r.resolution_due_at), is_overdue(r, now), r.follow_up, r.announcement_id, r.source,
            )
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


@routes.get(
    "/requests.csv",
    summary="The request log for a spreadsheet (UTF-8 with BOM); phones masked unless an admin passes unmask=true",
    query=CsvQuery,
    response=str,
    content_type="text/csv",
)
async def get_requests_csv(request: web.Request) -> web.Response:
    principal = await require_principal(request, *STAFF)
    query = parse_query(request, CsvQuery)
    if query.unmask and principal.role != Role.ADMIN:
        raise Problem(403, "only an admin token may export phone numbers unmasked")
    now = request.app[CLOCK]()
    async with request.app[DATABASE].read() as session:
        rows = list(await all_requests(session=session, principal=principal, filters=query.filters(), now=now))
    body = requests_csv(rows, now=now, unmask=query.unmask, zone=ZoneInfo(query.tz))
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="requests-{stamp}.csv"', "Cache-Control": "no-store"},
    )
