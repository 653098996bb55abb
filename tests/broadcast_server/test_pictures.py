"""Pictures on notices (issue 11 §3, PROTOCOL.md 1.1): POST /api/v1/media, `images` on a post, and what a real
screen client receives and shows. Every picture is made here with Pillow; none is kept in the repository."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import aiohttp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from PIL import ExifTags, Image
from sqlmodel import SQLModel

from announcements.pictures import MAX_SIDE
from broadcast_server.keys import DATABASE, SETTINGS
from screen_client.display import TerminalDisplay
from tests.e2e.screens import running

MB = 1024 * 1024


def picture(size=(300, 200), fmt="JPEG", mode="RGB", color=(200, 40, 40), **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt, **save)
    return out.getvalue()


def camera_photo() -> bytes:
    """A 3000×1000 JPEG as a phone held upright writes it: sideways pixels, Orientation 6, GPS and an ICC profile.
    Left half red, right half blue: upright, red is on top."""
    image = Image.new("RGB", (3000, 1000), (220, 0, 0))
    image.paste((0, 0, 220), (1500, 0, 3000, 1000))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "VillagePhone"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (30.0, 15.0, 7.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, icc_profile=b"\0" * 128, quality=90)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width`×`height`: a decompression bomb, as far as its size goes."""
    data = bytearray(picture((8, 8), "PNG", mode="L", color=0))
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:33] = header + struct.pack(">I", zlib.crc32(header))
    return bytes(data)


async def upload(village, data: bytes, *, token: str | None = None, filename: str = "photo.jpg"):
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="image/jpeg")
    return await village.call("POST", "/media", data=form, token=token)


def stored(village) -> list[Path]:
    media = village.app[SETTINGS].media_dir
    return sorted(p for p in media.glob("*") if p.suffix in (".jpg", ".png")) if media.exists() else []


async def test_a_camera_photo_is_upright_stripped_resized_and_named_by_its_hash(village):
    status, answer = await upload(village, camera_photo())
    assert status == 201, answer
    assert answer["kind"] == "image"
    assert (answer["width"], answer["height"]) == (MAX_SIDE // 3, MAX_SIDE)  # turned upright, then fitted
    [path] = stored(village)
    saved = path.read_bytes()
    assert answer["url"] == f"/media/{hashlib.sha256(saved).hexdigest()}.jpg" == f"/media/{path.name}"
    for trace in (b"Exif", b"VillagePhone", b"ICC_PROFILE", b"http://ns.adobe.com/xap"):
        assert trace not in saved
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.size == (640, 1920)
        assert not image.getexif() and "icc_profile" not in image.info
        top, bottom = image.getpixel((320, 100)), image.getpixel((320, 1800))
    assert top[0] > 180 and top[2] < 60, top  # red on top: rotated the way the phone was held
    assert bottom[2] > 180 and bottom[0] < 60, bottom
    async with village.http.get(village.url + answer["url"]) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
        assert "immutable" in resp.headers["Cache-Control"]
        assert await resp.read() == saved


async def test_the_same_picture_twice_is_stored_once(village):
    data = picture((800, 600))
    first = await upload(village, data)
    again = await upload(village, data)
    assert first[0] == again[0] == 201
    assert first[1]["url"] == again[1]["url"]
    assert len(stored(village)) == 1


async def test_a_small_picture_is_not_enlarged(village):
    _, answer = await upload(village, picture((320, 240)))
    assert (answer["width"], answer["height"]) == (320, 240)


@pytest.mark.parametrize(
    ("data", "extension", "content_type"),
    [
        (picture((400, 300), "PNG", mode="RGBA", color=(0, 120, 0, 100)), "png", "image/png"),  # see-through: stays PNG
        (picture((400, 300), "PNG"), "jpg", "image/jpeg"),  # opaque: a JPEG is smaller
        (picture((400, 300), "WEBP"), "jpg", "image/jpeg"),
        (picture((400, 300), "WEBP", mode="RGBA", color=(0, 0, 200, 50)), "png", "image/png"),
    ],
    ids=["png-transparent", "png-opaque", "webp", "webp-transparent"],
)
async def test_png_and_webp_are_accepted(village, data, extension, content_type):
    status, answer = await upload(village, data, filename="picture.bin")
    assert status == 201, answer
    assert answer["url"].endswith("." + extension) and (answer["width"], answer["height"]) == (400, 300)
    async with village.http.get(village.url + answer["url"]) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == content_type


@pytest.mark.parametrize(
    "data",
    [b"\xe6\x98\x8e\xe5\xa4\xa9\xe5\xbc\x80\xe4\xbc\x9a\n" * 100, picture(fmt="GIF"), picture()[:400]],
    ids=["text-named-jpg", "gif", "truncated-jpeg"],
)
async def test_what_is_not_a_picture_is_refused_by_its_content(village, data):
    status, problem = await upload(village, data, filename="photo.jpg")
    assert status == 422, problem
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["file"], "image_not_picture")]
    assert stored(village) == []


@pytest.mark.parametrize("claimed", [(10_000, 8_000), (30_000, 30_000)], ids=["80-megapixels", "900-megapixels"])
async def test_a_decompression_bomb_is_refused(village, claimed):
    status, problem = await upload(village, png_claiming(*claimed))
    assert status == 422, problem
    assert problem["errors"][0]["type"] == "image_too_many_pixels"
    assert stored(village) == []


async def test_eleven_megabytes_are_refused_by_content_length(village):
    status, problem = await upload(village, b"\xff\xd8" + b"\0" * (11 * MB))
    assert status == 413, problem
    assert problem["errors"][0]["type"] == "image_too_large" and "10 MB" in problem["detail"]
    assert stored(village) == []


async def test_fifty_megabytes_without_a_length_are_refused_after_ten(village):
    """Sent chunked (no Content-Length): the server stops reading the part past the limit."""
    boundary = "pictureboundary"
    sent = 0

    async def body():
        nonlocal sent
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
               "Content-Type: image/jpeg\r\n\r\n").encode()
        for _ in range(50):
            sent += MB
            yield b"\0" * MB
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**village.auth(), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    try:
        async with village.http.post(village.url + "/api/v1/media", data=body(), headers=headers) as resp:
            assert resp.status == 413
            assert (await resp.json())["errors"][0]["type"] == "image_too_large"
    except aiohttp.ClientOSError:
        pass  # the server answered and closed while the rest was still being sent: refused all the same
    assert stored(village) == []


async def test_a_body_without_a_file_field_is_refused(village):
    form = aiohttp.FormData()
    form.add_field("picture", b"x", filename="a.jpg")
    status, problem = await village.call("POST", "/media", data=form)
    assert status == 422 and problem["errors"][0]["type"] == "image_not_picture"
    status, problem = await village.call("POST", "/media", json={"file": "x"})
    assert status == 422 and problem["errors"][0]["loc"] == ["file"]


@pytest.mark.parametrize("role", ["screen", "worker"])
async def test_only_the_committee_and_admins_upload(village, role):
    if role == "screen":
        token = (await village.screen("gate", "/hongqi/liujingtun"))["token"]
    else:
        token = await village.token("worker", "/hongqi/liujingtun")
    status, _ = await upload(village, picture(), token=token)
    assert status == 403
    assert stored(village) == []


async def test_a_notice_carries_its_pictures_in_order(village):
    committee = await village.token("committee", "/hongqi/liujingtun")
    urls = [(await upload(village, picture(color=(i * 50, 0, 0)), token=committee))[1]["url"] for i in range(4)]
    posted = await village.post(committee, images=urls)
    assert [image["url"] for image in posted["images"]] == urls
    assert posted["images"][0] == {"url": urls[0], "width": 300, "height": 200}
    _, again = await village.call("GET", f"/announcements/{posted['id']}", expect=200)
    assert again["images"] == posted["images"]
    _, page = await village.call("GET", "/announcements", expect=200)
    assert page["items"][0]["images"] == posted["images"]
    plain = await village.post(committee)
    assert plain["images"] == []


async def test_five_pictures_are_refused_naming_images(village):
    _, answer = await upload(village, picture())
    status, problem = await village.call("POST", "/announcements", json={"title": "t", "body": "b", "images": [answer["url"]] * 5})
    assert status == 422
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["images"], "images_too_many")]


@pytest.mark.parametrize(
    "url",
    [f"/media/{'0' * 64}.jpg", "/media/abc.jpg", "https://example.org/cat.jpg", "/media/../village.db", "/media/{0}.mp3"],
    ids=["unknown-hash", "not-a-hash", "elsewhere", "traversal", "a-speech-clip"],
)
async def test_a_url_this_server_did_not_store_is_refused(village, url):
    _, answer = await upload(village, picture())
    clip = village.app[SETTINGS].media_dir / f"{'a' * 32}.mp3"
    clip.write_bytes(b"ID3")  # a real file in the media folder, but not a picture
    url = url.format("a" * 32)
    status, problem = await village.call("POST", "/announcements", json={"title": "t", "body": "b", "images": [answer["url"], url]})
    assert status == 422, problem
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["images", 1], "image_unknown")]


async def test_a_screen_client_gets_the_pictures_and_notes_them(village, tmp_path):
    gate = await village.screen("gate", "/hongqi/liujingtun")
    urls = [(await upload(village, picture(color=c)))[1]["url"] for c in ((200, 0, 0), (0, 200, 0))]
    terminal = io.StringIO()
    async with running(village.url, gate["token"], tmp_path / "gate", display=TerminalDisplay(terminal, color=False)) as client:
        await client.wait_for(lambda: client.synced)
        posted = await village.post(title="修路通知", target={"areas": ["/hongqi/liujingtun"]}, images=urls)
        await client.wait_for(lambda: [a.id for a in client.announcements()] == [posted["id"]])
        [shown] = client.announcements()
        assert [(i.url, i.width, i.height) for i in shown.images] == [(u, 300, 200) for u in urls]
        await client.wait_for(lambda: "附图片 2 张" in terminal.getvalue())
    for url in urls:  # and a screen fetches them as it fetches speech
        async with village.http.get(village.url + url) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"


async def test_migration_0005_builds_the_images_column_the_model_describes(village):
    async with village.app[DATABASE].engine.connect() as conn:
        diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    assert [d for d in diffs if "announcement" in repr(d)] == []
