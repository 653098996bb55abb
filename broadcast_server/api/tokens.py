"""/api/v1/tokens: access tokens for people and scripts (admin)."""

from aiohttp import web

from announcements.models import Role, TokenCreate, TokenCreated, TokenPublic
from announcements.registry import create_token, list_tokens, revoke_token
from broadcast_server.auth import require_principal
from broadcast_server.keys import DATABASE
from broadcast_server.routing import RouteTable, json_response, parse_body

routes = RouteTable(prefix="/api/v1", tag="tokens")


@routes.post("/tokens", summary="Make a token; the secret is shown this once", body=TokenCreate, response=TokenCreated, status=201)
async def post_token(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    data = await parse_body(request, TokenCreate)
    principal.require_scope(data.area)
    async with request.app[DATABASE].write() as session:
        token, secret = await create_token(session=session, data=data)
        answer = TokenCreated(id=token.id, role=token.role, area=token.area, name=token.name, token=secret)
    return json_response(answer, status=201)


@routes.get("/tokens", summary="Tokens in scope (never their secrets)", response=list[TokenPublic])
async def get_tokens(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    async with request.app[DATABASE].read() as session:
        tokens = await list_tokens(session=session, principal=principal)
    return json_response([TokenPublic.model_validate(t, from_attributes=True) for t in tokens])


@routes.delete("/tokens/{id}", summary="Revoke a token, closing any live connection", status=204)
async def delete_token(request: web.Request) -> web.Response:
    principal = await require_principal(request, Role.ADMIN)
    async with request.app[DATABASE].write() as session:
        await revoke_token(session=session, token_id=request.match_info["id"], principal=principal)
    return web.Response(status=204)
