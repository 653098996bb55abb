"""The web pages the server serves itself: the committee console at `/` and the kiosk page at `/screen`.

Plain files, no build step. Every response carries a Content-Security-Policy that allows no inline
script and no other origin, so text a villager typed can never run as code even if a page slipped.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web, web_response

STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",  # CSP 3: 'self' covers ws: and wss: to this same host and port
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SERVER_NAME = "village-broadcast"


def name_server_without_version() -> None:
    """`Server: village-broadcast` on every response, not aiohttp's `Python/3.x aiohttp/3.y` naming exact versions.

    aiohttp's default is the one place that covers every response: an app's middleware or
    on_response_prepare signal never sees the 400s its parser sends for malformed requests, which are
    what a scanner sends first. (tests/broadcast_server/test_hardening.py notices if aiohttp moves it.)
    """
    web_response.SERVER_SOFTWARE = SERVER_NAME


@web.middleware
async def security_headers(request: web.Request, handler):
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def _page(name: str):
    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / name / "index.html", headers={"Cache-Control": "no-cache"})

    serve.__name__ = f"get_{name}_page"
    return serve


def add_web_routes(app: web.Application) -> None:
    app.router.add_get("/", _page("console"))
    app.router.add_get("/screen", _page("kiosk"))
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
