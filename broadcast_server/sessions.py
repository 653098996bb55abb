"""Console sessions over HTTP: the cookie, the Origin check for cookie-borne writes, and the sign-in throttle.

The session cookie is HttpOnly (no script reads it) and SameSite=Strict (no other site's page sends
it); a write carried by it must also come from this server's own pages, by its Origin header. A bearer
token carries no ambient authority (a page elsewhere cannot make a browser send it), so it needs neither.

Behind a reverse proxy every request comes from the proxy's address, over plain HTTP. For peers named in
`trusted_proxies` (and only those: anyone else could write the headers) the client's address is read from
X-Forwarded-For and HTTPS from X-Forwarded-Proto, so the throttle counts villages apart and the cookie is Secure.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import timedelta
from urllib.parse import urlsplit

from aiohttp import web

from announcements.database import Database
from announcements.errors import RateLimited
from broadcast_server.keys import DATABASE, SETTINGS, SIGNIN_THROTTLE
from broadcast_server.problems import Problem
from broadcast_server.ratelimit import rate_limiter

COOKIE_NAME = "vb_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_lifetime(app: web.Application) -> timedelta:
    return timedelta(days=app[SETTINGS].session_days)


def session_secret(request: web.Request) -> str | None:
    secret = request.cookies.get(COOKIE_NAME, "").strip()
    return secret if secret and secret.isascii() else None


def set_session_cookie(request: web.Request, response: web.StreamResponse, secret: str) -> None:
    response.set_cookie(
        COOKIE_NAME, secret, max_age=int(session_lifetime(request.app).total_seconds()), path="/",
        httponly=True, samesite="Strict", secure=request.app[SIGNIN_THROTTLE].proxies.is_https(request),
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE_NAME, path="/", samesite="Strict")


def require_same_origin(request: web.Request, *, even_to_read: bool = False) -> None:
    """A cookie-borne write must name this server as its Origin: 403 otherwise (a forged cross-site request).
    `even_to_read`: a WebSocket opens with a GET, yet what goes over it writes (a live call)."""
    if request.method in SAFE_METHODS and not even_to_read:
        return
    origin = request.headers.get("Origin", "")
    if not origin or urlsplit(origin).netloc != request.host:
        raise Problem(
            403, "a change made with a session cookie must come from this server's own pages (Origin)",
            errors=[{"loc": ["header", "Origin"], "msg": "not this server", "type": "origin_mismatch"}],
        )


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The peers whose forwarding headers are believed (setting `trusted_proxies`: addresses or networks)."""

    def __init__(self, entries: list[str]):
        self.networks: list[Network] = [ipaddress.ip_network(entry, strict=False) for entry in entries]

    def trusts(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 (a dual-stack socket) is 127.0.0.1
        return any(ip in network for network in self.networks)

    def client_address(self, request: web.Request) -> str:
        """The peer's address; when the peer is a trusted proxy, the nearest X-Forwarded-For hop that is not one.

        Read from the right: each trusted proxy appends the address it saw, so the first untrusted hop from the
        right is the last one a trusted proxy vouched for; anything to its left the client may have written.
        """
        peer = request.remote or "unknown"
        if not self.trusts(peer):
            return peer
        hops = [hop.strip() for line in request.headers.getall("X-Forwarded-For", []) for hop in line.split(",")]
        hops = [hop for hop in hops if hop]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop[:64]  # a key in the throttle's memory: bounded whatever a proxy passes on
        return hops[0][:64] if hops else peer

    def is_https(self, request: web.Request) -> bool:
        """The client's connection was TLS: this server's own, or (from a trusted proxy) X-Forwarded-Proto https."""
        if request.secure:
            return True
        if not self.trusts(request.remote):
            return False
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return forwarded == "https"


def _signin_refused(retry: int) -> RateLimited:
    refused = RateLimited(f"too many failed sign-ins; try again in {math.ceil(retry / 60)} min", retry_after_s=retry)
    refused.errors = [{"loc": [], "msg": "too many failed sign-ins", "type": "signin_throttled"}]
    return refused


class SignInThrottle:
    """Failed sign-ins per name and per client address (settings `signin_failures_per_*`, `signin_window_minutes`).

    Each is a bucket (broadcast_server/ratelimit.py): that many failures at once, then one more every window
    divided by that many. On PostgreSQL the buckets are in the database, so replicas count together.
    """

    def __init__(
        self, *, per_name: int, per_address: int, window_minutes: float, db: Database,
        trusted_proxies: list[str] | None = None,
    ):
        window_s = window_minutes * 60.0
        self.proxies = TrustedProxies(trusted_proxies or [])
        self.names = rate_limiter(per_name, what="sign-in name", db=db, period_s=window_s, refusal=_signin_refused)
        self.addresses = rate_limiter(
            per_address, what="sign-in address", db=db, period_s=window_s, refusal=_signin_refused
        )

    async def admit(self, *, name: str, address: str) -> None:
        """Count this attempt as a failure of the name and of the address until it succeeds (`signed_in`);
        RateLimited, with the seconds to wait, when either has failed too often. Counted before the password
        is checked, so attempts sent at once (to one replica or several) cannot all slip past the count."""
        await self.names.acquire(name)
        try:
            await self.addresses.acquire(address)
        except RateLimited:
            await self.names.release(name)
            raise

    async def signed_in(self, *, name: str, address: str) -> None:
        """The attempt `admit` counted succeeded: it clears its name's failures and was no failure of its address."""
        await self.names.forget(name)
        await self.addresses.release(address)


def install_signin_throttle(app: web.Application) -> None:
    """The throttle is made at start-up, once the database is open (it counts there on PostgreSQL)."""
    app.on_startup.append(_open_signin_throttle)  # runs after every cleanup context has started


async def _open_signin_throttle(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[SIGNIN_THROTTLE] = SignInThrottle(
        per_name=settings.signin_failures_per_name,
        per_address=settings.signin_failures_per_address,
        window_minutes=settings.signin_window_minutes,
        db=app[DATABASE],
        trusted_proxies=settings.trusted_proxies,
    )
