"""/api/v1/areas/{path}/kiosk-dwell: how long kiosks in an area show each notice (welcome `kiosk_dwell_s`)."""

from aiohttp import web

from announcements.areas import normalize_area
from announcements.kiosk_dwell import set_kiosk_dwell
from announcements.models import KioskDwell, Role
from broadcast_server.auth import require_principal
from broadcast_server.keys import DATABASE
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable, json_response, parse_body

routes = RouteTable(prefix="/api/v1", tag="areas")


@routes.patch("/areas/{path}/kiosk-dwell", summary="Seconds a kiosk shows each notice in this area (null: inherit, default 10)",
              body=KioskDwell, response=KioskDwell)
async def patch_kiosk_dwell(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    try:
        path = normalize_area(request.match_info["path"])
    except ValueError as exc:
        raise Problem(404, f"no area {request.match_info['path']}: {exc}") from None
    data = await parse_body(request, KioskDwell)
    async with request.app[DATABASE].write() as session:
        area = await set_kiosk_dwell(session=session, path=path, seconds=data.kiosk_dwell_s, principal=principal)
        answer = KioskDwell(kiosk_dwell_s=area.kiosk_dwell_s)
    return json_response(answer)
