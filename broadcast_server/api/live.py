"""/api/v1/live/...: the live calls in progress (the WebSocket that carries one is broadcast_server/live.py)."""

from aiohttp import web
from pydantic import BaseModel

from announcements.models import Role
from broadcast_server.auth import require_principal
from broadcast_server.keys import LIVE_CALLS
from broadcast_server.routing import RouteTable, json_response

routes = RouteTable(prefix="/api/v1", tag="live")


class CallInProgress(BaseModel):
    call_id: str
    caller_name: str
    areas: list[str]
    priority: str
    seconds: float


@routes.get("/live/calls", summary="The live calls going on now in the caller's scope", response=list[CallInProgress])
async def get_calls(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    calls = request.app[LIVE_CALLS]
    return json_response([
        CallInProgress(call_id=c.id, caller_name=c.caller.name, areas=list(c.areas), priority=c.priority, seconds=round(c.seconds, 1))
        for c in calls.in_scope(principal)
    ])


@routes.delete("/live/calls/{call_id}", summary="Stop a live call (an admin, or the caller)", status=204)
async def delete_call(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    await request.app[LIVE_CALLS].stop_by(request.match_info["call_id"], principal)
    return web.Response(status=204)
