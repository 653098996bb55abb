"""/api/v1 request log: replies from screens, the log, one request with its history, changes,
feedback, the figures and the CSV export."""

from __future__ import annotations

from datetime import UTC
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import BaseModel, Field, field_validator

from announcements.areas import normalize_area
from announcements.models import Role
from announcements.paging import PageQuery
from announcements.protocol import RequestCategory, RequestStatus
from announcements.registry import area_names
from announcements.request_models import (
    Assignee,
    FeedbackCreate,
    NoteCreate,
    ReplyAccepted,
    ReplyCreate,
    RequestDetail,
    RequestPage,
    RequestSource,
    RequestSummary,
    RequestUpdate,
    RequestUpdatePublic,
    Stats,
)
from announcements.requests.export import CsvLanguage, requests_csv
from announcements.requests.queries import (
    RequestFilter,
    all_requests,
    assignable_workers,
    list_requests,
    request_detail,
    request_summary,
    sign_in_name,
    to_public,
)
from announcements.requests.workflow import add_note, record_contact_export, update_request
from announcements.stats import compute_stats
from announcements.timeutil import ClientDateTime
from broadcast_server.auth import require_principal
from broadcast_server.keys import CLOCK, DATABASE, REPLIES, SETTINGS
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable, json_response, parse_body, parse_query

routes = RouteTable(prefix="/api/v1", tag="requests")
STAFF = (Role.ADMIN, Role.COMMITTEE, Role.WORKER)


class RequestQuery(PageQuery):
    """The log's filters; `mine` is what is assigned to the caller (a worker's 我的事项)."""

    status: RequestStatus | None = None
    category: RequestCategory | None = None
    area: str | None = Field(default=None, max_length=600)
    assignee: str | None = Field(default=None, max_length=100)
    q: str | None = Field(default=None, max_length=200, description="text search in the text, response, assignee or ticket")
    overdue: bool | None = None
    since: ClientDateTime | None = None
    until: ClientDateTime | None = None
    mine: bool = Field(default=False, description="only what is assigned to the caller (their sign-in name)")

    @field_validator("area")
    @classmethod
    def _area(cls, value: str | None) -> str | None:
        return None if value is None else normalize_area(value)

    def filters(self, me: str | None = None) -> RequestFilter:
        """The filters; `me` (the caller's sign-in name) stands in for `assignee` when `mine` is set."""
        return RequestFilter(
            status=self.status, category=self.category, area=self.area, assignee=me if self.mine else self.assignee,
            q=self.q or None, overdue=self.overdue, since=self.since, until=self.until,
        )


class ListQuery(RequestQuery):
    sort: Literal["worklist", "newest"] = Field(default="worklist", description="worklist: open requests for help first, then newest")


class SummaryQuery(BaseModel):
    since: ClientDateTime | None = Field(default=None, description="count the requests taken in after this time as new")


class CsvQuery(RequestQuery):
    unmask: bool = Field(default=False, description="(admin) show phone numbers in full; recorded in each request's history")
    lang: CsvLanguage = Field(default=CsvLanguage.ZH, description="headers and words: zh (default) or en (the API's field names)")
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
    summary="The request log in scope: open requests for help first, then newest; filters status, category, area, assignee, "
    "mine, q, overdue",
    query=ListQuery,
    response=RequestPage,
)
async def get_requests(request: web.Request) -> web.Response:
    principal = await require_principal(request, *STAFF)
    query = parse_query(request, ListQuery)
    now = request.app[CLOCK]()
    async with request.app[DATABASE].read() as session:
        me = await sign_in_name(session=session, principal=principal) if query.mine else None
        items, next_cursor = await list_requests(
            session=session, principal=principal, filters=query.filters(me), now=now, limit=query.limit, cursor=query.cursor,
            urgent_first=query.sort == "worklist",
        )
    return json_response(RequestPage(items=[to_public(r, now=now, principal=principal) for r in items], next_cursor=next_cursor))


@routes.get(
    "/requests/summary",
    summary="The worklist's counts: waiting to be assigned, overdue, nearly due, mine, new since `since`",
    query=SummaryQuery,
    response=RequestSummary,
)
async def get_request_summary(request: web.Request) -> web.Response:
    principal = await require_principal(request, *STAFF)
    query = parse_query(request, SummaryQuery)
    async with request.app[DATABASE].read() as session:
        summary = await request_summary(session=session, principal=principal, now=request.app[CLOCK](), since=query.since)
    summary.poll_s = request.app[SETTINGS].console_poll_s
    return json_response(summary)


@routes.get(
    "/requests/assignees",
    summary="Worker accounts in scope a request may be assigned to (assignee = their sign-in name)",
    response=list[Assignee],
)
async def get_assignees(request: web.Request) -> web.Response:
    principal = await require_principal(request, *STAFF)
    async with request.app[DATABASE].read() as session:
        workers = await assignable_workers(session=session, principal=principal)
    return json_response([Assignee(name=w.name, display_name=w.display_name, area=w.area) for w in workers])


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
    return json_response(detail)


@routes.post(
    "/requests/{ticket}/notes",
    summary="Add an internal note (staff only; kept in the history, never shown to the villager, screens or Open311)",
    body=NoteCreate,
    response=RequestDetail,
    status=201,
)
async def post_note(request: web.Request) -> web.Response:
    principal = await require_principal(request, *STAFF)
    note = await parse_body(request, NoteCreate)
    now = request.app[CLOCK]()
    async with request.app[DATABASE].write() as session:
        noted = await add_note(session=session, ticket=request.match_info["ticket"], text=note.text, principal=principal, now=now)
        detail = await request_detail(session=session, ticket=noted.ticket, principal=principal, now=now)
    return json_response(detail, status=201)


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

@routes.get(
    "/requests.csv",
    summary="The request log for a spreadsheet (UTF-8 with BOM), Chinese headers unless lang=en; an admin may unmask phones",
    query=CsvQuery,
    response=str,
    content_type="text/csv",
)
async def get_requests_csv(request: web.Request) -> web.Response:
    principal = await require_principal(request, *STAFF)
    query = parse_query(request, CsvQuery)
    if query.unmask and principal.role != Role.ADMIN:
        raise Problem(403, "only an admin may export phone numbers unmasked")
    now = request.app[CLOCK]()
    database = request.app[DATABASE]
    # an unmasked export is a write: each request whose phone it shows records who saw it (a history row)
    async with database.write() if query.unmask else database.read() as session:
        rows = list(await all_requests(session=session, principal=principal, filters=query.filters(), now=now))
        names = await area_names(session=session)
        if query.unmask:
            await record_contact_export(session=session, requests=rows, principal=principal, now=now)
    body = requests_csv(rows, now=now, unmask=query.unmask, zone=ZoneInfo(query.tz), area_names=names, lang=query.lang)
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="requests-{stamp}.csv"', "Cache-Control": "no-store"},
    )
