"""/api/v1/screens: the devices (screens and loudspeakers) in scope."""

from aiohttp import web

from announcements.models import Role, ScreenCreate, ScreenCreated, ScreenPublic
from announcements.registry import active_screens, create_screen, revoke_screen, tags_in_use
from broadcast_server.auth import require_principal
from broadcast_server.keys import DATABASE, HUB
from broadcast_server.routing import RouteTable, json_response, parse_body

routes = RouteTable(prefix="/api/v1", tag="screens")


@routes.post("/screens", summary="Register a device; its token is shown this once", body=ScreenCreate, response=ScreenCreated, status=201)
async def post_screen(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    data = await parse_body(request, ScreenCreate)
    principal.require_scope(data.area)
    async with request.app[DATABASE].write() as session:
        screen, secret = await create_screen(session=session, data=data)
        answer = ScreenCreated(id=screen.id, name=screen.name, area=screen.area, kind=screen.kind, tags=screen.tags, token=secret)
    return json_response(answer, status=201)


@routes.get("/screens", summary="Devices in scope, with online, last_seen, client and how far behind", response=list[ScreenPublic])
async def get_screens(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    hub = request.app[HUB]
    async with request.app[DATABASE].read() as session:
        screens = await active_screens(session=session, scope=principal.area)
    answer = [
        ScreenPublic.model_validate(s, from_attributes=True).model_copy(
            update={"online": hub.is_online(s.id), "behind": max(0, hub.head_seq - s.cursor)}
        )
        for s in screens
    ]
    return json_response(answer)


@routes.get("/screens/tags", summary="The tags the devices in scope carry, sorted (what a target may name)", response=list[str])
async def get_screen_tags(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    async with request.app[DATABASE].read() as session:
        tags = await tags_in_use(session=session, scope=principal.area)
    return json_response(tags)


@routes.delete("/screens/{id}", summary="Revoke a device's token and close its connection", status=204)
async def delete_screen(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    async with request.app[DATABASE].write() as session:
        screen = await revoke_screen(session=session, screen_id=request.match_info["id"], principal=principal)
    await request.app[HUB].disconnect(screen.id, reason="screen removed")
    return web.Response(status=204)
