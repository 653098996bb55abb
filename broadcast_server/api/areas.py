"""/api/v1/areas: the administrative tree. A path is the id machines use; people read the name."""

from collections.abc import Sequence

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import normalize_area
from announcements.kiosk_dwell import inherited_dwells
from announcements.models import Area, AreaCreate, AreaPublic, AreaUpdate, Role
from announcements.registry import create_area, list_areas, update_area
from broadcast_server.auth import require_principal
from broadcast_server.keys import DATABASE
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable, json_response, parse_body

routes = RouteTable(prefix="/api/v1", tag="areas")


async def _public(session: AsyncSession, areas: Sequence[Area]) -> list[AreaPublic]:
    """The areas as answered, each with the kiosk dwell it inherits (from ancestors the reader may not see)."""
    inherited = await inherited_dwells(session=session, paths=[a.path for a in areas])
    return [
        AreaPublic.model_validate(a, from_attributes=True).model_copy(update={"kiosk_dwell_inherited_s": inherited[a.path]})
        for a in areas
    ]


@routes.post("/areas", summary="Create or name an area (admin)", body=AreaCreate, response=AreaPublic, status=201)
async def post_area(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    data = await parse_body(request, AreaCreate)
    async with request.app[DATABASE].write() as session:
        area = await create_area(session=session, data=data, principal=principal)
        [answer] = await _public(session, [area])
    return json_response(answer, status=201)


@routes.get("/areas", summary="The areas in the token's scope, with the kiosk dwell each sets and inherits", response=list[AreaPublic])
async def get_areas(request: web.Request) -> web.Response:
    principal = await require_principal(request)
    async with request.app[DATABASE].read() as session:
        areas = await list_areas(session=session, principal=principal)
        answer = await _public(session, areas)
    return json_response(answer)


@routes.patch("/areas/{path}", summary="Rename an area or set its division codes (admin); {path} is its path URL-encoded whole, and stays",
              body=AreaUpdate, response=AreaPublic)
async def patch_area(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    try:
        path = normalize_area(request.match_info["path"])
    except ValueError as exc:
        raise Problem(404, f"no area {request.match_info['path']}: {exc}") from None
    data = await parse_body(request, AreaUpdate)
    async with request.app[DATABASE].write() as session:
        area = await update_area(session=session, path=path, data=data, principal=principal)
        [answer] = await _public(session, [area])
    return json_response(answer)
