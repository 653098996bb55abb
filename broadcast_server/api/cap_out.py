"""CAP 1.2 out (docs/protocol.md §2.15): this server's warnings for a county platform or a neighbouring system.

- `GET /api/v1/announcements/{id}.cap`: any announcement in the caller's scope, read as `GET /announcements/{id}` is.
- `GET /cap/alerts.atom`: the public feed, without a token, as neighbouring systems expect. It lists only what the
  loudspeakers have said aloud already, of the priorities in `cap_export_priorities` (emergencies by default).
- `GET /cap/alerts/{id}.cap`: an entry's alert, without a token, only for an announcement the feed's rule admits;
  any other id is a 404, the same whether or not it exists, so no village notice shows through.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from announcements.cap.export import (
    ATOM_MEDIA_TYPE,
    CAP_MEDIA_TYPE,
    FEED_SIZE,
    CapExport,
    feed_announcements,
    load,
    public_announcement,
)
from announcements.queue import get_announcement
from broadcast_server.api.announcements import POSTERS
from broadcast_server.auth import require_principal
from broadcast_server.keys import CLOCK, DATABASE, SETTINGS, SIGNIN_THROTTLE
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable

routes = RouteTable(tag="cap")
FEED_PATH = "/cap/alerts.atom"


def _export(request: web.Request) -> CapExport:
    settings = request.app[SETTINGS]
    return CapExport(sender=settings.cap_export_sender, sender_name=settings.cap_export_sender_name, zone=ZoneInfo(settings.timezone))


def _xml(body: bytes, content_type: str) -> web.Response:
    return web.Response(body=body, content_type=content_type, charset="utf-8")


def _base_url(request: web.Request) -> str:
    """This server as its client reached it: the feed's links are absolute, for readers that resolve no relative ones."""
    https = request.app[SIGNIN_THROTTLE].proxies.is_https(request)  # the trusted proxies, as the server read them
    return f"{'https' if https else request.scheme}://{request.host}"


@routes.get(
    "/api/v1/announcements/{id}.cap",
    summary="One announcement as a CAP 1.2 alert (Alert, Update for a revision, Cancel once cancelled)",
    content_type=CAP_MEDIA_TYPE,
    response=str,
)
async def get_announcement_cap(request: web.Request) -> web.Response:
    principal = await require_principal(request, *POSTERS)
    async with request.app[DATABASE].read() as session:
        announcement = await get_announcement(session=session, announcement_id=request.match_info["id"], principal=principal)
        [exported] = await load(session, [announcement])
    return _xml(_export(request).document(exported), CAP_MEDIA_TYPE)


@routes.get(
    FEED_PATH,
    summary=f"Atom feed of the public announcements (no token): the newest {FEED_SIZE}, each with its CAP 1.2 alert",
    auth=False,
    content_type=ATOM_MEDIA_TYPE,
    response=str,
)
async def get_cap_feed(request: web.Request) -> web.Response:
    priorities, now = request.app[SETTINGS].cap_export_priorities, request.app[CLOCK]()
    async with request.app[DATABASE].read() as session:
        listed = await load(session, await feed_announcements(session, priorities=priorities, now=now))
    base = _base_url(request)
    body = _export(request).feed(listed, self_url=base + FEED_PATH, cap_url=lambda id: f"{base}/cap/alerts/{id}.cap", now=now)
    return _xml(body, ATOM_MEDIA_TYPE)


@routes.get(
    "/cap/alerts/{id}.cap",
    summary="The CAP 1.2 alert of an announcement the public feed lists (no token)",
    auth=False,
    content_type=CAP_MEDIA_TYPE,
    response=str,
)
async def get_public_cap(request: web.Request) -> web.Response:
    announcement_id, priorities, now = request.match_info["id"], request.app[SETTINGS].cap_export_priorities, request.app[CLOCK]()
    async with request.app[DATABASE].read() as session:
        announcement = await public_announcement(session, announcement_id=announcement_id, priorities=priorities, now=now)
        if announcement is None:
            raise Problem(404, f"no public alert {announcement_id}: only what {FEED_PATH} lists is public")
        [exported] = await load(session, [announcement])
    return _xml(_export(request).document(exported), CAP_MEDIA_TYPE)
