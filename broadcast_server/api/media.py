"""Media: GET /media/{name} (speech clips and pictures) for screens and speakers; POST /api/v1/media (a picture for
a notice) and POST /api/v1/speech/preview for the committee."""

from __future__ import annotations

import re
from typing import Literal

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, Field

from announcements import pictures
from announcements.models import Role
from announcements.pronunciations import current_pronunciations
from announcements.protocol import Language
from announcements.speech import SpeechFailed
from announcements.speech.synthesizer import spoken
from broadcast_server.auth import require_principal
from broadcast_server.keys import DATABASE, SETTINGS, SPEECH
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable, json_response, parse_body

routes = RouteTable(tag="media")
MEDIA_NAME = re.compile(r"^[0-9a-f]{16,64}\.(mp3|ogg|wav|jpg|png)$")
CONTENT_TYPES = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/wav", "jpg": "image/jpeg", "png": "image/png"}
MULTIPART_ROOM = 64 * 1024  # the multipart envelope around the file: boundaries, part headers, a file name
CHUNK = 64 * 1024


class SpeechPreview(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    language: Language = Language.ZH
    format: Literal["mp3", "text"] = Field(default="mp3", description="mp3: hear it; text: read what the loudspeaker will say")


class SpokenText(BaseModel):
    """What the loudspeaker says for a text (PROTOCOL.md 1.1): its numbers and symbols in words."""

    spoken: str


class MediaUpload(BaseModel):
    """POST /media: one multipart field."""

    file: bytes = Field(description="a JPEG, PNG or WebP picture, at most 10 MB")


class MediaStored(BaseModel):
    """What POST /media stored: the url to give in a notice's `images`, and the size screens show."""

    url: str = Field(description="/media/<sha256 of the stored bytes>.jpg (or .png when it has transparency)")
    kind: Literal["image"] = "image"
    width: int
    height: int


@routes.get("/media/{name}", summary="A clip or a picture (content-hash name): ETag, immutable, byte ranges", auth=False,
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


async def _uploaded_file(request: web.Request) -> bytes:
    """The `file` part of a multipart body, read up to pictures.MAX_BYTES and no further.

    The body is streamed, never read whole: a 50 MB upload is refused by its Content-Length before
    any of it is read, or after the first 10 MB where it gives none.
    """
    if request.content_length is not None and request.content_length > pictures.MAX_BYTES + MULTIPART_ROOM:
        raise pictures.too_large()
    if request.content_type != "multipart/form-data":
        raise pictures.not_a_picture("send the picture as multipart/form-data, in a field named `file`")
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "file":
                continue  # another field: skipped unread (the reader drains it)
            data = bytearray()
            while chunk := await part.read_chunk(CHUNK):
                data += chunk
                if len(data) > pictures.MAX_BYTES:
                    raise pictures.too_large()
            return bytes(data)
    except (HttpProcessingError, ValueError, RuntimeError, AssertionError) as exc:  # aiohttp's multipart reader on a broken body
        raise Problem(400, f"the multipart body cannot be read: {exc}") from None
    raise pictures.not_a_picture("the body has no field named `file`")


@routes.post("/api/v1/media", summary="Store a picture for a notice: oriented, metadata stripped, resized; content-hash url",
             body=MediaUpload, body_content_type="multipart/form-data", response=MediaStored, status=201)
async def post_media(request: web.Request) -> web.Response:
    await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    picture = await pictures.store(await _uploaded_file(request), request.app[SETTINGS].media_dir)
    return json_response(MediaStored(url=picture.url, width=picture.width, height=picture.height), status=201)


@routes.post("/api/v1/speech/preview", summary="Hear a text before posting it (MP3, said once), or read what will be said",
             body=SpeechPreview, content_type="audio/mpeg", response=bytes, also=(("application/json", SpokenText),))
async def post_preview(request: web.Request) -> web.Response:
    await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    data = await parse_body(request, SpeechPreview)
    async with request.app[DATABASE].read() as session:
        pronunciations = await current_pronunciations(session=session)
    if data.format == "text":  # needs no synthesis, so it answers even where speech is off
        return json_response(SpokenText(spoken=spoken(data.text, data.language, pronunciations)))
    speech = request.app[SPEECH]
    if speech is None:
        raise Problem(503, "speech is not available on this server")
    try:
        mp3 = await speech.preview(data.text, data.language, pronunciations)
    except SpeechFailed as exc:
        raise Problem(422, f"this text cannot be spoken: {exc}") from None
    return web.Response(body=mp3, content_type="audio/mpeg")
