"""/api/v1/screens: the devices (screens and loudspeakers) in scope."""


from aiohttp import web

from announcements.deliveries import last_received, now_showing
from announcements.models import Role, ScreenCreate, ScreenCreated, ScreenPublic, ScreenStatus, ScreenUpdate, Showing
from announcements.registry import active_screens, area_names, create_screen, revoke_screen, tags_in_use, update_screen
from broadcast_server.auth import require_principal
from broadcast_server.keys import CLOCK, DATABASE, HUB, SETTINGS
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


@routes.get("/screens", summary="Devices in scope: online, for how long offline, what each shows now", response=list[ScreenStatus])
async def get_screens(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    hub = request.app[HUB]
    alert_s = request.app[SETTINGS].screen_offline_alert_minutes * 60
    async with request.app[DATABASE].read() as session:
        screens = await active_screens(session=session, scope=principal.area)
        names = await area_names(session=session)
        showing = await now_showing(session=session, screens=screens)
        received = await last_received(session=session, screen_ids=[s.id for s in screens])
        presence = await hub.presence(session=session)
    now = request.app[CLOCK]()
    answer = []
    for screen in screens:
        online = presence.online(screen.id, screen.connected_to)
        offline_s = None if online else (now - (screen.last_seen or screen.created_at)).total_seconds()
        shown = showing.get(screen.id)
        answer.append(
            ScreenStatus.model_validate(screen, from_attributes=True).model_copy(
                update={
                    "online": online,
                    "behind": max(0, hub.head_seq - screen.cursor),
                    "area_name": names.get(screen.area),
                    "showing": Showing(id=shown.id, title=shown.title, priority=shown.priority) if shown else None,
                    "last_received_at": received.get(screen.id),
                    "offline_s": offline_s,
                    "offline_alert": offline_s is not None and offline_s > alert_s,
                }
            )
        )
    return json_response(answer)


@routes.get("/screens/tags", summary="The tags the devices in scope carry, sorted (what a target may name)", response=list[str])
async def get_screen_tags(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    async with request.app[DATABASE].read() as session:
        tags = await tags_in_use(session=session, scope=principal.area)
    return json_response(tags)


@routes.patch("/screens/{id}", summary="Rename, move or re-tag a device (admin)", body=ScreenUpdate, response=ScreenPublic)
async def patch_screen(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    data = await parse_body(request, ScreenUpdate)
    async with request.app[DATABASE].write() as session:
        screen = await update_screen(session=session, screen_id=request.match_info["id"], data=data, principal=principal)
        answer = ScreenPublic.model_validate(screen, from_attributes=True)
        presence = await request.app[HUB].presence(session=session)
    return json_response(answer.model_copy(update={"online": presence.online(screen.id, screen.connected_to)}))


@routes.delete("/screens/{id}", summary="Revoke a device's token and close its connection", status=204)
async def delete_screen(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    async with request.app[DATABASE].write() as session:
        await revoke_screen(session=session, screen_id=request.match_info["id"], principal=principal)
    return web.Response(status=204)
