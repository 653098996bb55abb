"""/api/v1/announcements: post, list, read with delivery figures, correct, cancel."""

import re
from datetime import timedelta

from aiohttp import web
from pydantic import BaseModel

from announcements.models import (
    SPEECH_PENDING,
    Announcement,
    AnnouncementCreate,
    AnnouncementDetail,
    AnnouncementPage,
    AnnouncementPublic,
    AnnouncementStatus,
    AnnouncementUpdate,
    Role,
    TargetSpec,
)
from announcements.paging import PageQuery
from announcements.queue import (
    cancel_announcement,
    create_announcement,
    deliveries,
    get_announcement,
    list_announcements,
    reach_of,
    update_announcement,
)
from broadcast_server.auth import require_principal
from broadcast_server.keys import CLOCK, DATABASE, DISPATCHER, NARRATOR, SETTINGS
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable, json_response, parse_body, parse_query

routes = RouteTable(prefix="/api/v1", tag="announcements")
POSTERS = (Role.ADMIN, Role.COMMITTEE)
MAX_IDEMPOTENCY_KEY = 200
IDEMPOTENCY_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")


class AnnouncementQuery(PageQuery):
    status: AnnouncementStatus | None = None


class PostQuery(BaseModel):
    require_reach: bool = False  # refuse (422) a target that reaches no registered device now


class ReachRequest(BaseModel):
    target: TargetSpec | None = None


class Reach(BaseModel):
    screens: int
    speakers: int


def _idempotency_key(request: web.Request) -> str | None:
    """The Idempotency-Key header, which is stored: printable ASCII only, as the IETF draft's sf-string.

    aiohttp hands over bytes that are not UTF-8 as lone surrogates, which no database can store.
    """
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        msg = f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters (such as a UUID)"
        raise Problem(422, f"Idempotency-Key: {msg}", errors=[{"loc": ["header", "Idempotency-Key"], "msg": msg, "type": "header_invalid"}])
    return key


def _public(announcement) -> AnnouncementPublic:
    return AnnouncementPublic.model_validate(announcement, from_attributes=True)


def _queue_changed(request: web.Request, announcement: Announcement) -> None:
    """Tell the dispatcher the announcement's publish and expiry times, and the narrator when it has speech to make.
    Only what changed wakes: the screens' events wake the hub by themselves, and a post's fan-out has the loop."""
    request.app[DISPATCHER].expect(announcement.publish_at, announcement.expires_at)
    if announcement.speech_status == SPEECH_PENDING:
        request.app[NARRATOR].poke()


@routes.post(
    "/announcements",
    summary="Post an announcement (honours an Idempotency-Key header)",
    body=AnnouncementCreate,
    query=PostQuery,
    response=AnnouncementPublic,
    status=201,
)
async def post_announcement(request: web.Request) -> web.Response:
    principal = await require_principal(request, *POSTERS)
    key = _idempotency_key(request)
    query = parse_query(request, PostQuery)
    data = await parse_body(request, AnnouncementCreate)
    lifetime = timedelta(hours=request.app[SETTINGS].default_lifetime_hours)
    async with request.app[DATABASE].write() as session:
        created = await create_announcement(
            session=session,
            data=data,
            principal=principal,
            now=request.app[CLOCK](),
            default_lifetime=lifetime,
            idempotency_key=key,
            require_reach=query.require_reach,
            media_dir=request.app[SETTINGS].media_dir,
        )
        answer = _public(created.announcement)
    _queue_changed(request, created.announcement)
    headers = {"Idempotent-Replayed": "true"} if created.replayed else None
    return json_response(answer, status=201, headers=headers)


@routes.post(
    "/announcements/reach",
    summary="How many screens and loudspeakers a target would reach now (nothing is posted)",
    body=ReachRequest,
    response=Reach,
)
async def post_reach(request: web.Request) -> web.Response:
    principal = await require_principal(request, *POSTERS)
    data = await parse_body(request, ReachRequest)
    async with request.app[DATABASE].read() as session:
        reach = await reach_of(session=session, spec=data.target, principal=principal)
    return json_response(Reach(screens=reach.screens, speakers=reach.speakers))


@routes.get("/announcements", summary="Announcements in scope, newest first", query=AnnouncementQuery, response=AnnouncementPage)
async def get_announcements(request: web.Request) -> web.Response:
    principal = await require_principal(request, *POSTERS)
    query = parse_query(request, AnnouncementQuery)
    async with request.app[DATABASE].read() as session:
        items, next_cursor = await list_announcements(
            session=session, principal=principal, status=query.status, limit=query.limit, cursor=query.cursor
        )
    return json_response(AnnouncementPage(items=[_public(a) for a in items], next_cursor=next_cursor))


@routes.get("/announcements/{id}", summary="One announcement with its delivery figures", response=AnnouncementDetail)
async def get_one_announcement(request: web.Request) -> web.Response:
    principal = await require_principal(request, *POSTERS)
    async with request.app[DATABASE].read() as session:
        announcement = await get_announcement(session=session, announcement_id=request.match_info["id"], principal=principal)
        figures = await deliveries(session=session, announcement=announcement)
    return json_response(AnnouncementDetail.model_validate({**_public(announcement).model_dump(), "deliveries": figures}))


@routes.patch(
    "/announcements/{id}",
    summary="Correct title, body, priority or expiry; screens get the next revision",
    body=AnnouncementUpdate,
    response=AnnouncementPublic,
)
async def patch_announcement(request: web.Request) -> web.Response:
    principal = await require_principal(request, *POSTERS)
    changes = await parse_body(request, AnnouncementUpdate)
    async with request.app[DATABASE].write() as session:
        announcement = await update_announcement(
            session=session, announcement_id=request.match_info["id"], changes=changes, principal=principal, now=request.app[CLOCK]()
        )
        answer = _public(announcement)
    _queue_changed(request, announcement)
    return json_response(answer)


@routes.post("/announcements/{id}/cancel", summary="Cancel; screens get a retract", response=AnnouncementPublic)
async def post_cancel(request: web.Request) -> web.Response:
    principal = await require_principal(request, *POSTERS)
    async with request.app[DATABASE].write() as session:
        announcement = await cancel_announcement(
            session=session, announcement_id=request.match_info["id"], principal=principal, now=request.app[CLOCK]()
        )
        answer = _public(announcement)
    # Its retract wakes the hub; a deadline it leaves with the dispatcher wakes it for nothing, harmlessly.
    return json_response(answer)
