"""Media: GET /media/{name} (speech clips, pictures, recordings) for screens and speakers; POST /api/v1/media (a picture
or a recording for a notice) and POST /api/v1/speech/preview for the committee."""

from __future__ import annotations

import re
from typing import Literal

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, Field

from announcements import mediastore, pictures
from announcements.drills import marked_speech
from announcements.models import Role
from announcements.pronunciations import current_pronunciations
from announcements.protocol import Language
from announcements.speech import SpeechFailed, recording
from announcements.speech.synthesizer import spoken
from broadcast_server.auth import require_principal
from broadcast_server.keys import DATABASE, SETTINGS, SPEECH
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable, json_response, parse_body

routes = RouteTable(tag="media")
MEDIA_NAME = re.compile(r"^[0-9a-f]{16,64}\.(mp3|ogg|wav|flac|jpg|png)$")
CONTENT_TYPES = {
    "mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/wav", "flac": "audio/flac", "jpg": "image/jpeg", "png": "image/png",
}
MULTIPART_ROOM = 64 * 1024  # the multipart envelope around the file: boundaries, part headers, a file name
CHUNK = 64 * 1024


class SpeechPreview(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    language: Language = Language.ZH
    format: Literal["mp3", "text"] = Field(default="mp3", description="mp3: hear it; text: read what the loudspeaker will say")
    drill: bool = Field(default=False, description="said as a drill (演练) is: between the words that mark it one")


class SpokenText(BaseModel):
    """What the loudspeaker says for a text (PROTOCOL.md 1.1): its numbers and symbols in words."""

    spoken: str


class MediaUpload(BaseModel):
    """POST /media: one multipart field."""

    file: bytes = Field(description=f"a JPEG, PNG or WebP picture of at most 10 MB, or a recording ({recording.FORMATS}) of at most "
                                    f"{recording.MAX_BYTES // (1024 * 1024)} MB and {recording.MAX_SECONDS / 60:g} minutes")


class MediaStored(BaseModel):
    """What POST /media stored: the url to give in a notice's `images` (with the size screens show) or `recording`
    (with how long it plays once)."""

    url: str = Field(description="/media/<sha256 of the stored bytes>.jpg (.png when it has transparency; .flac for a recording)")
    kind: Literal["image", "audio"]
    width: int | None = Field(default=None, description="a picture's")
    height: int | None = Field(default=None, description="a picture's")
    duration_s: float | None = Field(default=None, description="a recording's, played once")


@routes.get("/media/{name}", summary="A clip or a picture (content-hash name): ETag, immutable, byte ranges", auth=False,
            content_type="audio/mpeg")
async def get_media(request: web.Request) -> web.StreamResponse:
    if not request.app[SETTINGS].media_public:
        await require_principal(request)
    name = request.match_info["name"]
    if not MEDIA_NAME.match(name):
        raise Problem(404, f"no media named {name!r}")
    media_dir = request.app[SETTINGS].media_dir
    if not await mediastore.local(media_dir, name):  # made by another replica: copied from the store into this one's disk
        raise Problem(404, f"no media named {name!r}")
    return web.FileResponse(
        media_dir / name,
        headers={
            "Content-Type": CONTENT_TYPES[name.rsplit(".", 1)[1]],
            "Cache-Control": "public, max-age=31536000, immutable",  # the name is the content's hash
        },
    )


def _picture(head: bytes) -> bool:
    """A JPEG, PNG or WebP by its first bytes: what pictures.store may take."""
    return head.startswith((b"\xff\xd8", b"\x89PNG")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _neither() -> Exception:
    return pictures.not_a_picture(f"neither a picture (JPEG, PNG, WebP) nor a recording ({recording.FORMATS})")


async def _uploaded_file(request: web.Request) -> bytes:
    """The `file` part of a multipart body, read up to its limit and no further.

    The body is streamed, never read whole: what its first bytes show decides the limit (a recording:
    recording.MAX_BYTES, anything else: pictures.MAX_BYTES), so a larger body is refused by its
    Content-Length before any of it is read, or once its part passes that limit.
    """
    if request.content_length is not None and request.content_length > recording.MAX_BYTES + MULTIPART_ROOM:
        raise recording.too_large()
    if request.content_type != "multipart/form-data":
        raise pictures.not_a_picture("send the picture or recording as multipart/form-data, in a field named `file`")
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "file":
                continue  # another field: skipped unread (the reader drains it)
            data = bytearray()
            while chunk := await part.read_chunk(CHUNK):
                data += chunk
                audio = not _picture(data[:16]) and recording.looks_like_audio(data[:16])
                if len(data) > (recording.MAX_BYTES if audio else pictures.MAX_BYTES):
                    raise recording.too_large() if audio else pictures.too_large()
            return bytes(data)
    except (HttpProcessingError, ValueError, RuntimeError, AssertionError) as exc:  # aiohttp's multipart reader on a broken body
        raise Problem(400, f"the multipart body cannot be read: {exc}") from None
    raise pictures.not_a_picture("the body has no field named `file`")


@routes.post("/api/v1/media", summary="Store a picture (oriented, metadata stripped, resized) or a recording (decoded, checked, "
             "loudness-normalized) for a notice; content-hash url",
             body=MediaUpload, body_content_type="multipart/form-data", response=MediaStored, status=201)
async def post_media(request: web.Request) -> web.Response:
    await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    data = await _uploaded_file(request)
    media_dir = request.app[SETTINGS].media_dir
    if _picture(data[:16]):
        picture = await pictures.store(data, media_dir)
        stored = MediaStored(url=picture.url, kind="image", width=picture.width, height=picture.height)
    elif recording.looks_like_audio(data[:16]):
        voice = await recording.store(data, media_dir)
        stored = MediaStored(url=voice.url, kind="audio", duration_s=voice.duration_s)
    elif not data:
        raise recording.not_audio("the file is empty")
    else:
        raise _neither()
    return json_response(stored.model_dump(exclude_none=True), status=201)


@routes.post("/api/v1/speech/preview", summary="Hear a text before posting it (MP3, said once), or read what will be said",
             body=SpeechPreview, content_type="audio/mpeg", response=bytes, also=(("application/json", SpokenText),))
async def post_preview(request: web.Request) -> web.Response:
    await require_principal(request, Role.ADMIN, Role.COMMITTEE)
    data = await parse_body(request, SpeechPreview)
    text = marked_speech(data.text, data.language) if data.drill else data.text
    async with request.app[DATABASE].read() as session:
        pronunciations = await current_pronunciations(session=session)
    if data.format == "text":  # needs no synthesis, so it answers even where speech is off
        return json_response(SpokenText(spoken=spoken(text, data.language, pronunciations)))
    speech = request.app[SPEECH]
    if speech is None:
        raise Problem(503, "speech is not available on this server")
    try:
        mp3 = await speech.preview(text, data.language, pronunciations)
    except SpeechFailed as exc:
        raise Problem(422, f"this text cannot be spoken: {exc}") from None
    return web.Response(body=mp3, content_type="audio/mpeg")
