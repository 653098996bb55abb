"""Speech media: GET /media/{name} for screens and speakers, POST /api/v1/speech/preview for the committee."""

from __future__ import annotations

import re

from aiohttp import web
from pydantic import BaseModel, Field

from announcements.models import Role
from announcements.protocol import Language
from announcements.speech import SpeechFailed
from broadcast_server.auth import require_principal
from broadcast_server.keys import SETTINGS, SPEECH
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable, parse_body

routes = RouteTable(tag="media")
MEDIA_NAME = re.compile(r"^[0-9a-f]{16,64}\.(mp3|ogg|wav)$")
CONTENT_TYPES = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/wav"}


class SpeechPreview(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    language: Language = Language.ZH


@routes.get("/media/{name}", summary="A synthesized clip (content-hash name): ETag, immutable, byte ranges", auth=False,
            content_type="audio/mpeg")
async def get_media(request: web.Request) -> web.StreamResponse:
    if not request.app[SETTINGS].media_public:
        await require_principal(request)
    name = request.match_info["name"]
    if not MEDIA_NAME.match(name):
        raise Problem(404, f"no media named {name!r}")
    path = request.app[SETTINGS].media_dir / name
    if not path.is_file():
        raise Problem(404, f"no media named {name!r}")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": CONTENT_TYPES[name.rsplit(".", 1)[1]],
            "Cache-Control": "public, max-age=31536000, immutable",  # the name is the content's hash
        },
    )


@routes.post("/api/v1/speech/preview", summary="Hear a text before posting it (MP3, said once)", body=SpeechPreview,
             content_type="audio/mpeg", response=bytes)
async def post_preview(request: web.Request) -> web.Response:
    await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    data = await parse_body(request, SpeechPreview)
    speech = request.app[SPEECH]
    if speech is None:
        raise Problem(503, "speech is not available on this server")
    try:
        mp3 = await speech.preview(data.text, data.language)
    except SpeechFailed as exc:
        raise Problem(422, f"this text cannot be spoken: {exc}") from None
    return web.Response(body=mp3, content_type="audio/mpeg")
