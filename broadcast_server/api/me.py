"""/api/v1/me: who the caller is, a token or a signed-in user (the secret is never in the answer);
/api/v1/me/password: a signed-in user changes its own password."""

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.accounts import hash_password, own_account, set_password
from announcements.models import Area, Me, PasswordChange, User
from announcements.tokens import Principal
from broadcast_server.auth import require_principal
from broadcast_server.keys import DATABASE
from broadcast_server.routing import RouteTable, json_response, parse_body
from broadcast_server.sessions import session_secret

routes = RouteTable(prefix="/api/v1", tag="me")


async def describe(session: AsyncSession, principal: Principal) -> Me:
    area = await session.get(Area, principal.area)
    user = await session.get(User, principal.token_id) if principal.kind == "user" else None
    return Me(
        kind="user" if user is not None else "token",
        token_id=principal.token_id if user is None else None,
        name=user.name if user is not None else principal.name,
        display_name=principal.name,  # a user's display name, or the token's name
        role=principal.role,
        area=principal.area,
        area_name=area.name if area is not None else None,
        screen_id=principal.screen_id,
    )


@routes.get("/me", summary="Who the bearer token is, or the signed-in user: role, area and name", response=Me)
async def get_me(request: web.Request) -> web.Response:
    principal = await require_principal(request)
    async with request.app[DATABASE].read() as session:
        return json_response(await describe(session, principal))


@routes.post("/me/password", summary="Change one's own password (a signed-in user); other sessions end", body=PasswordChange,
             status=204)
async def post_my_password(request: web.Request) -> web.Response:
    principal = await require_principal(request)
    data = await parse_body(request, PasswordChange)
    async with request.app[DATABASE].read() as session:
        user = await own_account(session=session, principal=principal, current_password=data.current_password)
    password_hash = await hash_password(data.new_password)
    async with request.app[DATABASE].write() as session:
        fresh = await session.get(User, user.id)  # as it is now, not as read: it may have been disabled meanwhile
        await set_password(session=session, user=fresh, password_hash=password_hash, keep_session=session_secret(request))
    return web.Response(status=204)
