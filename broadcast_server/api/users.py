"""/api/v1/users: people's accounts in scope (admin): create, list, and change one (PROTOCOL.md §5 `PATCH /users/{name}`)."""

from aiohttp import web

from announcements.accounts import create_user, get_user, hash_password, list_users, update_user
from announcements.models import Role, UserCreate, UserPublic, UserUpdate
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


@routes.patch(
    "/users/{name}",
    summary="Change a user: display name, role, area, disabled (its sessions end), or a new password (its sessions end)",
    body=UserUpdate,
    response=UserPublic,
)
async def patch_user(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    data = await parse_body(request, UserUpdate)
    password_hash = await hash_password(data.password) if data.password is not None else None
    async with request.app[DATABASE].write() as session:
        user = await get_user(session=session, principal=principal, name=request.match_info["name"].strip().lower())
        user = await update_user(
            session=session, user=user, data=data, password_hash=password_hash, principal=principal, now=request.app[CLOCK]()
        )
    return json_response(_public(user))
