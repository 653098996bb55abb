"""/api/v1/session: a person signs in with a name and a password, and signs out (the console's session cookie)."""

from aiohttp import web

from announcements.accounts import check_password, drop_expired_sessions, end_session, start_session, user_principal
from announcements.models import Me, SignIn
from broadcast_server.api.me import describe
from broadcast_server.keys import CLOCK, DATABASE, SIGNIN_THROTTLE
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable, json_response, parse_body
from broadcast_server.sessions import (
    clear_session_cookie,
    require_same_origin,
    session_lifetime,
    session_secret,
    set_session_cookie,
)

routes = RouteTable(prefix="/api/v1", tag="session")


@routes.post("/session", summary="Sign in with a name and a password: sets the session cookie, answers who", body=SignIn,
             response=Me, auth=False)
async def post_session(request: web.Request) -> web.Response:
    require_same_origin(request)  # a page elsewhere may not sign a browser in to an account of its choosing
    data = await parse_body(request, SignIn)
    throttle = request.app[SIGNIN_THROTTLE]
    address = throttle.proxies.client_address(request)  # behind a trusted proxy: the client's, not the proxy's
    await throttle.admit(name=data.name, address=address)  # counted as a failure until it succeeds
    now = request.app[CLOCK]()
    async with request.app[DATABASE].read() as session:  # the slow password check holds no writer back
        user = await check_password(session=session, name=data.name, password=data.password)
    if user is None:
        raise Problem(
            401, "the name or the password is wrong, or the account is disabled",
            errors=[{"loc": [], "msg": "wrong name or password", "type": "wrong_credentials"}],
        )
    await throttle.signed_in(name=data.name, address=address)
    async with request.app[DATABASE].write() as session:
        await drop_expired_sessions(session=session, now=now)
        _, secret = await start_session(session=session, user=user, now=now, lifetime=session_lifetime(request.app))
    async with request.app[DATABASE].read() as session:
        me = await describe(session, user_principal(user))
    response = json_response(me)
    set_session_cookie(request, response, secret)
    return response


@routes.delete("/session", summary="Sign out: ends this browser's session (no session: nothing to end)", status=204, auth=False)
async def delete_session(request: web.Request) -> web.Response:
    secret = session_secret(request)
    if secret is not None:
        require_same_origin(request)
        async with request.app[DATABASE].write() as session:
            await end_session(session=session, secret=secret)
    response = web.Response(status=204)
    clear_session_cookie(response)
    return response
