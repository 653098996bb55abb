"""/api/v1/cap: CAP 1.2 alerts in (admin, or a `feed` token), the alerts taken in (admin), and the watched sources.

The body is one CAP 1.2 `<alert>` as XML, at most `cap_max_bytes`. A refusal is problem+json whose
`errors[].type` names the reason (announcements/cap/refusals.py) and changes nothing. An alert from a watched
source (setting `cap_sources`) is taken by the same `take_document` as a POSTed one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import aiohttp
from aiohttp import web
from pydantic import RootModel
from sqlalchemy.exc import IntegrityError

from announcements.cap.alert import MEDIA_TYPES, Alert, read_alert
from announcements.cap.intake import Taken, find_alert, list_alerts, take_in
from announcements.cap.refusals import CapRefused, Refusal
from announcements.cap.signature import Certificates, read_signed_alert
from announcements.models import CapAlertPage, CapAlertPublic, CapOutcome, CapTaken, Role
from announcements.paging import PageQuery
from announcements.protocol import CapAlertKey
from announcements.tokens import Principal
from broadcast_server.auth import require_principal
from broadcast_server.background import BackgroundLoop
from broadcast_server.cap_sources import SourceStatus, read_at_most, watcher_for
from broadcast_server.keys import CAP_SOURCES, CLOCK, DATABASE, DISPATCHER, NARRATOR, SETTINGS
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable, json_response, parse_query

routes = RouteTable(prefix="/api/v1", tag="cap")
TAKERS = (Role.ADMIN, Role.FEED)
# A malformed body is 400, as unreadable JSON is; every other refusal 422.
_STATUS = {Refusal.CONTENT_TYPE: 415, Refusal.TOO_LARGE: 413, Refusal.NOT_XML: 400, Refusal.DOCTYPE: 400}


class CapDocument(RootModel[bytes]):
    """One CAP 1.2 `<alert>` (urn:oasis:names:tc:emergency:cap:1.2), as XML."""


def _problem(refused: CapRefused) -> Problem:
    return Problem(_STATUS.get(refused.code, 422), refused.detail, errors=refused.errors)


async def _body(request: web.Request, limit: int) -> bytes:
    """The XML body, read up to `limit` bytes and no further."""
    if request.content_type not in MEDIA_TYPES:
        raise CapRefused(Refusal.CONTENT_TYPE, f"send the alert as {', '.join(MEDIA_TYPES)}, not {request.content_type}")
    too_large = CapRefused(Refusal.TOO_LARGE, f"the alert is larger than cap_max_bytes ({limit} bytes)")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    data = await read_at_most(request.content, limit)
    if len(data) > limit:
        raise too_large
    return data


async def _take_in(app: web.Application, alert: Alert, principal: Principal) -> Taken:
    settings = app[SETTINGS]
    try:
        async with app[DATABASE].write() as session:
            return await take_in(
                session=session, alert=alert, principal=principal, rules=settings.cap_mapping, now=app[CLOCK](),
                default_lifetime=timedelta(hours=settings.default_lifetime_hours),
            )
    except IntegrityError:  # the same alert, taken in meanwhile by another replica (or source): the unique key held
        async with app[DATABASE].read() as session:
            earlier = await find_alert(session=session, sender=alert.sender, identifier=alert.identifier, sent=alert.sent)
        if earlier is None:
            raise
        return Taken(earlier, duplicate=True)


async def take_document(app: web.Application, data: bytes, *, principal: Principal, trust: Certificates | None) -> tuple[Alert, Taken]:
    """Read one CAP document (from what its signature covers, when `trust` is given), take it in, and wake whoever
    acts on new announcements; CapRefused says why not. An alert matching no area is kept, and refused all the same."""
    limit = app[SETTINGS].cap_max_bytes
    if trust is None:
        alert = await read_alert(data, max_bytes=limit)
    else:
        alert = await read_signed_alert(data, max_bytes=limit, certificates=trust)
    taken = await _take_in(app, alert, principal)
    row = taken.alert
    if not taken.duplicate and row.outcome in (CapOutcome.CREATED, CapOutcome.UPDATED, CapOutcome.CANCELLED):
        app[DISPATCHER].poke()  # new publish and expiry times
        app[NARRATOR].poke()  # new speech to make
    if not taken.duplicate and row.outcome == CapOutcome.UNMATCHED:
        # the alert is kept for the admins (GET /cap/alerts), who may give an area the code it names
        raise CapRefused(Refusal.NO_MATCHING_AREA, f"nothing was broadcast: the alert {row.reason}", loc=["alert", "info", "area"])
    return alert, taken


@routes.post(
    "/cap",
    summary="Take in a CAP 1.2 alert (admin, feed): announcements made, revised or retracted; 200 for one taken in before",
    body=CapDocument,
    body_content_type=MEDIA_TYPES[0],
    body_also=MEDIA_TYPES[1:],
    response=CapTaken,
    status=201,
)
async def post_cap(request: web.Request) -> web.Response:
    principal = await require_principal(request, *TAKERS)
    settings = request.app[SETTINGS]
    try:
        data = await _body(request, settings.cap_max_bytes)
        alert, taken = await take_document(request.app, data, principal=principal, trust=settings.cap_post_trust)
    except CapRefused as refused:
        raise _problem(refused) from None
    row = taken.alert
    answer = CapTaken(
        alert=CapAlertKey(identifier=alert.identifier, sender=alert.sender, sent=alert.sent), outcome=row.outcome,
        announcements=row.announcement_ids, areas=row.areas, duplicate=taken.duplicate, reason=row.reason,
    )
    return json_response(answer, status=200 if taken.duplicate else 201)


@routes.get("/cap/alerts", summary="The CAP alerts taken in within the scope, newest first, with what each did (admin)",
            query=PageQuery, response=CapAlertPage)
async def get_cap_alerts(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    query = parse_query(request, PageQuery)
    async with request.app[DATABASE].read() as session:
        rows, next_cursor = await list_alerts(session=session, principal=principal, limit=query.limit, cursor=query.cursor)
    items = [CapAlertPublic.model_validate(row, from_attributes=True) for row in rows]
    return json_response(CapAlertPage(items=items, next_cursor=next_cursor))


@routes.get("/cap/sources", summary="The watched CAP sources in the scope: last poll, what it took in, last error (admin)",
            response=list[SourceStatus])
async def get_cap_sources(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    return json_response([w.status for w in request.app[CAP_SOURCES] if principal.in_scope(w.source.area)])


async def cap_sources(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: every configured source watched by a loop of its own (a source that fails never stops another),
    each alert taken as a POSTed one is, in the source's name and scope."""
    settings = app[SETTINGS]
    async with aiohttp.ClientSession(headers={"User-Agent": "village-broadcast (CAP sources)"}) as http:
        watchers = [
            watcher_for(
                source, take=partial(_take_from_source, app, principal=source.principal, trust=source.trust), clock=app[CLOCK],
                http=http, max_bytes=settings.cap_max_bytes,
            )
            for source in settings.cap_sources
        ]
        loops = [BackgroundLoop(f"cap-source {w.source.name}", w.one_pass) for w in watchers]
        app[CAP_SOURCES] = watchers
        for loop in loops:
            loop.start()
        yield
        await asyncio.gather(*(loop.close() for loop in loops))


async def _take_from_source(app: web.Application, data: bytes, *, principal: Principal, trust: Certificates | None) -> Taken:
    _, taken = await take_document(app, data, principal=principal, trust=trust)
    return taken
