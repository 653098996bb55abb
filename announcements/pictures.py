"""Pictures on notices (PROTOCOL.md 1.1 `images`): checked, turned upright, stripped of metadata, sized for
screens, and stored under the hash of what is served, so the same picture is stored once.

Decoding runs in a worker thread: a 10 MB photo takes long enough to stall every screen's connection if it
ran on the event loop. Where replicas share their media (mediastore.py), a stored picture is put in the store
too, and a notice may name a picture another replica took. Every refusal is a DomainError carrying a code the
console words (`error.code.<code>`).
"""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from announcements import mediastore
from announcements.errors import Invalid, TooLarge
from announcements.protocol import Image as Picture
from announcements.speech.cache import keep_by_content
from announcements.voicing import media_name

MAX_BYTES = 10 * 1024 * 1024  # a phone photo; PROTOCOL.md 1.1 issue 11 §3
MAX_SIDE = 1920  # px on the long side: a 1080p kiosk shows it whole; never enlarged
MAX_PIXELS = 64_000_000  # the decoded size refused before decoding (a 48 MP phone photo passes; a bomb does not)
JPEG_QUALITY = 85
ACCEPTED = ("JPEG", "PNG", "WEBP")  # by content: Pillow is told to try no other decoder
URL = re.compile(r"^/media/([0-9a-f]{64})\.(jpg|png)$")


def _refused(loc: list, code: str, msg: str) -> Invalid:
    return Invalid(msg, errors=[{"loc": loc, "msg": msg, "type": code}])


def not_a_picture(msg: str = "not a JPEG, PNG or WebP picture") -> Invalid:
    return _refused(["file"], "image_not_picture", msg)


def too_large() -> TooLarge:
    msg = f"the picture is larger than {MAX_BYTES // (1024 * 1024)} MB; send a smaller one"
    return TooLarge(msg, errors=[{"loc": ["file"], "msg": msg, "type": "image_too_large"}])


def _has_alpha(image: Image.Image) -> bool:
    """Whether any pixel is see-through: only then is it kept as PNG (a photo with an unused alpha channel is a JPEG)."""
    if image.mode == "P":
        image = image.convert("RGBA")
    if "A" not in image.getbands() and "transparency" not in image.info:
        return False
    return image.convert("RGBA").getchannel("A").getextrema()[0] < 255


def _screen_ready(data: bytes) -> tuple[bytes, str, int, int]:
    """The picture as screens get it: (bytes, extension, width, height). Runs in a worker thread."""
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED) as image:
            if image.width * image.height > MAX_PIXELS:
                raise _refused(["file"], "image_too_many_pixels", f"the picture has more than {MAX_PIXELS:,} pixels")
            image.draft(None, (MAX_SIDE, MAX_SIDE))  # a JPEG decodes at a reduced scale: less memory, same result
            upright = ImageOps.exif_transpose(image)
            transparent = _has_alpha(upright)
            upright = upright.convert("RGBA" if transparent else "RGB")
            upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    except Image.DecompressionBombError:
        raise _refused(["file"], "image_too_many_pixels", "the picture has too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise not_a_picture() from None  # not an image, or a damaged or truncated one
    # A fresh image holds the pixels only: no EXIF (GPS, camera), XMP, ICC or comment can ride along.
    clean = Image.new(upright.mode, upright.size)
    clean.paste(upright)
    out = io.BytesIO()
    if transparent:
        clean.save(out, "PNG", optimize=True)
    else:
        clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue(), "png" if transparent else "jpg", clean.width, clean.height


def _store(data: bytes, media_dir: Path) -> Picture:
    saved, extension, width, height = _screen_ready(data)
    return Picture(url=keep_by_content(media_dir, saved, extension), width=width, height=height)


async def store(data: bytes, media_dir: Path) -> Picture:
    """Check and store an uploaded picture; `Invalid` (422) when it is not one, or has too many pixels."""
    if len(data) > MAX_BYTES:
        raise too_large()
    picture = await asyncio.to_thread(_store, data, media_dir)
    await mediastore.share(media_dir, media_name(picture.url))
    return picture


def _describe(urls: list[str], media_dir: Path) -> list[Picture]:
    pictures = []
    for index, url in enumerate(urls):
        match = URL.match(url)
        path = media_dir / f"{match[1]}.{match[2]}" if match else None
        try:
            if path is None:
                raise FileNotFoundError(url)
            with Image.open(path) as image:  # the header only: its size
                pictures.append(Picture(url=url, width=image.width, height=image.height))
        except (OSError, UnidentifiedImageError):
            raise _refused(["images", index], "image_unknown", f"{url!r} is not a picture stored with POST /media") from None
    return pictures


async def described(urls: list[str], media_dir: Path) -> list[dict]:
    """The `images` of a new notice from the urls POST /media answered; `Invalid` naming any other url."""
    for url in urls:
        if match := URL.match(url):
            await mediastore.local(media_dir, f"{match[1]}.{match[2]}")  # taken by another replica: copied here first
    return [p.model_dump() for p in await asyncio.to_thread(_describe, urls, media_dir)]
