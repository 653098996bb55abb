"""Authentication: every API route knows who calls and in which area.

Scripts, screens and Open311 send a bearer token; people in the console carry a session cookie
(broadcast_server/sessions.py). Both resolve to a `Principal`, so authorization is one and the same.
"""

from __future__ import annotations

from aiohttp import web

from announcements.accounts import session_principal
from announcements.models import Role
from announcements.tokens import Principal, authenticate
from broadcast_server.keys import CLOCK, DATABASE
from broadcast_server.problems import Problem
from broadcast_server.sessions import require_same_origin, session_secret

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="village-broadcast"'}


def _secret(text: str) -> str | None:
    """`text` as a token to look up, or None: our tokens are ASCII; anything else is not one of them."""
    text = text.strip()
    return text if text and text.isascii() else None


def bearer_secret(request: web.Request) -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return _secret(secret) if scheme.lower() == "bearer" else None


async def _session_principal(request: web.Request, secret: str) -> Principal:
    require_same_origin(request)
    async with request.app[DATABASE].read() as session:
        principal = await session_principal(session=session, secret=secret, now=request.app[CLOCK]())
    if principal is None:
        raise Problem(
            401, "the session has ended; sign in again", headers=_CHALLENGE,
            errors=[{"loc": [], "msg": "session ended", "type": "session_ended"}],
        )
    return principal


async def require_principal(request: web.Request, *roles: Role, query_parameter: str | None = None) -> Principal:
    """The caller's principal, 401 without a valid token or session, 403 when its role is not among `roles`.

    A bearer token wins over a session cookie. `query_parameter` names a query-string parameter that
    may carry the token instead, for clients that can be given only a URL (the log redacts it:
    broadcast_server/redaction.py).
    """
    secret = bearer_secret(request)
    if secret is None and query_parameter is not None:
        secret = _secret(request.query.get(query_parameter, ""))
    if secret is None:
        cookie = session_secret(request)
        if cookie is None:
            raise Problem(401, "this needs 'Authorization: Bearer <token>'", headers=_CHALLENGE)
        principal = await _session_principal(request, cookie)
    else:
        async with request.app[DATABASE].read() as session:
            principal = await authenticate(session=session, secret=secret)
        if principal is None:
            raise Problem(401, "the token is unknown or revoked", headers=_CHALLENGE)
    if roles:
        principal.require_role(*roles)
    return principal
