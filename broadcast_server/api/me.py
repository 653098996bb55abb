"""/api/v1/me: who the bearer token is (any valid token; the secret is never in the answer)."""

from aiohttp import web

from announcements.models import Area, Me
from broadcast_server.auth import require_principal
from broadcast_server.keys import DATABASE
from broadcast_server.routing import RouteTable, json_response

routes = RouteTable(prefix="/api/v1", tag="me")


@routes.get("/me", summary="Who the bearer token is: its role, area and name", response=Me)
async def get_me(request: web.Request) -> web.Response:
    principal = await require_principal(request)
    async with request.app[DATABASE].read() as session:
        area = await session.get(Area, principal.area)
    return json_response(
        Me(
            token_id=principal.token_id,
            name=principal.name,
            role=principal.role,
            area=principal.area,
            area_name=area.name if area is not None else None,
            screen_id=principal.screen_id,
        )
    )
