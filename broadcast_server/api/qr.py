"""POST /api/v1/qr: a QR code for setting up a new screen (POST, so a token never sits in a URL)."""

import io

import segno
from aiohttp import web
from pydantic import BaseModel, Field

from announcements.models import Role
from broadcast_server.auth import require_principal
from broadcast_server.routing import RouteTable, parse_body

routes = RouteTable(prefix="/api/v1", tag="web")


class QrRequest(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


@routes.post("/qr", summary="A QR code (SVG) of a text, such as a new screen's set-up link", body=QrRequest,
             content_type="image/svg+xml", response=bytes)
async def post_qr(request: web.Request) -> web.Response:
    await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    data = await parse_body(request, QrRequest)
    buffer = io.BytesIO()
    # A standalone document (with xmlns), so that an <img> can show it.
    segno.make(data.text, error="m").save(buffer, kind="svg", xmldecl=False, svgns=True, scale=6, border=2)
    return web.Response(body=buffer.getvalue(), content_type="image/svg+xml")
