"""Media shared by replicas (issue 13 §1): two servers on one PostgreSQL database, each with its own data dir, as two
machines behind nginx. Whatever one made or took (a clip, a picture, a recording), the other serves byte for byte; a
clip is synthesized once for the two; on SQLite the disk alone holds the media, as before."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Mapping

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from PIL import Image
from sqlmodel import SQLModel, select

from announcements import mediastore
from announcements.models import MediaPart
from broadcast_server.app import create_app
from broadcast_server.keys import DATABASE, NARRATOR, SETTINGS, SPEECH
from tests.announcements.test_recording import encoded
from tests.broadcast_server.test_pictures import upload
from tests.conftest import Village
from tests.e2e.screens import eventually
from tests.wsframes import connected, until

postgres_only = pytest.mark.parametrize("database_settings", ["postgres"], indirect=True)
no_speech = pytest.mark.parametrize("speech_enabled", [False])  # its worker processes are slow to start
VILLAGE = "/hongqi/liujingtun"
RENDERED = "s clip in"  # the synthesizer's log line for a clip it rendered itself


@pytest.fixture
def speech_enabled() -> bool:
    """Speech is on: clips are made (a test about something else turns it off)."""
    return True


@pytest.fixture
def start_replica(village, aiohttp_server, tmp_path):
    """Start another server on the same database with a data dir of its own (`name`), as on another machine."""

    async def start(name: str) -> Village:
        settings = village.app[SETTINGS].model_copy(update={"data_dir": tmp_path / name})
        server = await aiohttp_server(create_app(settings))
        return Village(server=server, http=village.http, admin=village.admin)

    return start


@pytest.fixture
async def replica_b(start_replica) -> Village:
    return await start_replica("replica-b")


@pytest.fixture
def renders(caplog):
    """How many clips the synthesizers of this process rendered (not copied, not found on disk) so far."""
    caplog.set_level(logging.INFO, logger="announcements.speech.synthesizer")
    return lambda: sum(RENDERED in record.getMessage() for record in caplog.records)


async def get(replica: Village, url: str, **headers) -> tuple[int, bytes, Mapping[str, str]]:
    async with replica.http.get(replica.url + url, headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers


async def voiced(ws, announcement_id: str) -> dict:
    """The announcement as a screen gets it once its audio is ready."""
    while True:
        announcement = (await until(ws, "announcement", timeout=60))[-1]["announcement"]
        if announcement["id"] == announcement_id and announcement.get("audio"):
            return announcement


def noise_photo(width: int = 1600, height: int = 1200) -> bytes:
    """A JPEG of noise: larger than a piece of the store (1 MiB) after the server re-encodes it."""
    pixels = np.random.default_rng(13).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


async def pieces(replica: Village, name: str) -> int:
    async with replica.app[DATABASE].read() as session:
        return (await session.exec(select(sa.func.count()).select_from(MediaPart).where(MediaPart.name == name))).one()


@postgres_only
async def test_a_clip_made_on_one_replica_is_served_by_the_other_and_made_once(village, replica_b, renders):
    gate = await village.screen("村口大屏", VILLAGE)
    ws = await connected(replica_b, gate["token"])
    posted = await village.post(title="停电通知", body="明天上午八点到十二点停电检修。")
    audio = (await voiced(ws, posted["id"]))["audio"]
    await ws.close()
    assert renders() == 1  # both replicas' narrators saw the notice; one rendered it, the other at most copied it

    for url in (audio["url"], audio["alternatives"][0]["url"]):  # the MP3 and the Ogg Opus
        status_a, on_a, headers_a = await get(village, url)
        status_b, on_b, headers_b = await get(replica_b, url)
        assert (status_a, status_b) == (200, 200) and on_a == on_b and len(on_a) > 1000
        assert headers_b["ETag"] == headers_a["ETag"] and headers_b["Content-Type"] == headers_a["Content-Type"]
        status, part, _ = await get(replica_b, url, Range="bytes=100-199")
        assert status == 206 and part == on_a[100:200]
        assert (replica_b.app[SETTINGS].media_dir / url.removeprefix("/media/")).read_bytes() == on_a  # B's own cache now


@postgres_only
async def test_a_clip_is_synthesized_once_when_both_replicas_need_it_at_once(village, replica_b, renders):
    text = "今天下午三点在村委会门口发放化肥。"
    on_a, on_b = await asyncio.gather(village.app[SPEECH].synthesize(text, "zh"), replica_b.app[SPEECH].synthesize(text, "zh"))
    assert renders() == 1 and sorted([on_a.cached, on_b.cached]) == [False, True]  # the other waited its turn and copied
    assert on_a.mp3_name == on_b.mp3_name and on_a.duration_s == on_b.duration_s
    for name in (on_a.mp3_name, on_a.ogg_name):
        assert (village.app[SETTINGS].media_dir / name).read_bytes() == (replica_b.app[SETTINGS].media_dir / name).read_bytes()

    again = await replica_b.app[SPEECH].synthesize(text, "zh")
    assert again.cached and renders() == 1


@postgres_only
async def test_a_spoken_notice_voiced_on_one_replica_is_not_synthesized_again_on_the_other(village, start_replica, renders, caplog):
    """A voiced a notice before B started; the same notice again, voiced by B alone, is copied from the store."""
    gate = await village.screen("村口大屏", VILLAGE)
    ws = await connected(village, gate["token"])
    first = await village.post(title="收费通知", body="请各户本周内缴纳水费。")
    audio = (await voiced(ws, first["id"]))["audio"]
    await ws.close()
    assert renders() == 1

    replica_b = await start_replica("replica-b")
    await village.app[NARRATOR].close()  # from here on only B's narrator voices notices
    ws = await connected(replica_b, gate["token"])
    again = await replica_b.post(title="收费通知", body="请各户本周内缴纳水费。")
    assert (await voiced(ws, again["id"]))["audio"]["url"] == audio["url"]
    await ws.close()
    assert renders() == 1 and "copied from the media store" in caplog.text
    status, on_b, _ = await get(replica_b, audio["url"])
    assert status == 200 and on_b == (await get(village, audio["url"]))[1]


@postgres_only
async def test_a_picture_and_a_recording_uploaded_on_one_replica_are_served_and_used_by_the_other(village, replica_b, renders):
    photo = noise_photo()
    status, picture = await upload(village, photo)
    assert status == 201, picture
    status, voice = await upload(village, encoded("m4a", level=0.1), filename="voice.m4a")
    assert status == 201, voice

    for stored in (picture, voice):
        status_a, on_a, headers_a = await get(village, stored["url"])
        status_b, on_b, headers_b = await get(replica_b, stored["url"])
        assert (status_a, status_b) == (200, 200) and on_a == on_b
        assert headers_b["ETag"] == headers_a["ETag"]
    assert await pieces(village, picture["url"].removeprefix("/media/")) >= 2  # larger than a piece: kept in pieces

    # a notice posted on B (nginx sends the clerk anywhere) may carry what A took, and plays the recording
    gate = await village.screen("村口大屏", VILLAGE)
    ws = await connected(replica_b, gate["token"])
    posted = await replica_b.post(title="寻物启事", body="见图。", images=[picture["url"]], recording=voice["url"])
    assert posted["images"][0]["width"] == picture["width"]
    audio = (await voiced(ws, posted["id"]))["audio"]
    await ws.close()
    assert audio["source"] == "recording"
    status, clip, _ = await get(replica_b, audio["url"])
    assert status == 200 and clip == (await get(village, audio["url"]))[1]


@postgres_only
@no_speech
async def test_a_name_stored_nowhere_is_404_on_both(village, replica_b):
    for replica in (village, replica_b):
        status, _, _ = await get(replica, f"/media/{'ab' * 32}.jpg")
        assert status == 404
    assert not (replica_b.app[SETTINGS].media_dir / f"{'ab' * 32}.jpg").exists()


@postgres_only
@no_speech
async def test_a_replica_that_kept_media_on_its_disk_only_puts_it_in_the_store_when_it_starts(village, aiohttp_server, tmp_path):
    """An upgrade from one server, or a restored backup: what its disk holds, the other replicas serve too."""
    before = tmp_path / "before-the-store"
    (before / "media").mkdir(parents=True)
    old = b"\xff\xd8" + bytes(range(256)) * 10
    (before / "media" / f"{'cd' * 32}.jpg").write_bytes(old)
    await aiohttp_server(create_app(village.app[SETTINGS].model_copy(update={"data_dir": before})))

    async def served_by_a():
        status, body, _ = await get(village, f"/media/{'cd' * 32}.jpg")
        return status == 200 and body

    assert await eventually(served_by_a) == old


@pytest.mark.parametrize("database_settings", ["sqlite"], indirect=True)
@no_speech
async def test_on_sqlite_the_disk_alone_holds_the_media(village):
    status, picture = await upload(village, noise_photo(200, 100))
    assert status == 201
    assert mediastore.of(village.app[SETTINGS].media_dir) is None
    assert await pieces(village, picture["url"].removeprefix("/media/")) == 0
    status, _, _ = await get(village, picture["url"])
    assert status == 200


@no_speech
async def test_migration_0010_builds_the_table_the_model_describes(village):
    async with village.app[DATABASE].engine.connect() as conn:
        diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    assert [d for d in diffs if "media_part" in repr(d)] == []
