"""/api/v1/users: people's accounts in scope (admin): create, list, disable, reset a password."""

from aiohttp import web

from announcements.accounts import create_user, disable_user, get_user, hash_password, list_users, set_password
from announcements.models import PasswordReset, Role, UserCreate, UserPublic
from broadcast_server.auth import require_principal
from broadcast_server.keys import CLOCK, DATABASE
from broadcast_server.routing import RouteTable, json_response, parse_body

routes = RouteTable(prefix="/api/v1", tag="users")


def _public(user) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


@routes.post("/users", summary="Make a user who signs in with a name and a password", body=UserCreate, response=UserPublic, status=201)
async def post_user(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    data = await parse_body(request, UserCreate)
    password_hash = await hash_password(data.password)  # before the transaction: it takes tens of milliseconds
    async with request.app[DATABASE].write() as session:
        user = await create_user(session=session, data=data, password_hash=password_hash, principal=principal)
    return json_response(_public(user), status=201)


@routes.get("/users", summary="Users in scope, disabled ones too (never a password)", response=list[UserPublic])
async def get_users(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    async with request.app[DATABASE].read() as session:
        users = await list_users(session=session, principal=principal)
    return json_response([_public(u) for u in users])


@routes.post("/users/{id}/disable", summary="Disable a user: it can no longer sign in, its sessions end at once", response=UserPublic)
async def post_disable_user(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    async with request.app[DATABASE].write() as session:
        user = await get_user(session=session, principal=principal, user_id=request.match_info["id"])
        user = await disable_user(session=session, user=user, principal=principal, now=request.app[CLOCK]())
    return json_response(_public(user))


@routes.post("/users/{id}/password", summary="Set a user's password (a reset): its sessions end", body=PasswordReset, status=204)
async def post_user_password(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    data = await parse_body(request, PasswordReset)
    password_hash = await hash_password(data.password)
    async with request.app[DATABASE].write() as session:
        user = await get_user(session=session, principal=principal, user_id=request.match_info["id"])
        await set_password(session=session, user=user, password_hash=password_hash)
    return web.Response(status=204)
