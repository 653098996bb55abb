"""Media every replica serves: each media file's bytes kept in the database too, the media dir as this replica's cache.

Replicas on PostgreSQL (`media_store = "auto"` there, or `"database"`) keep every clip, picture and recording in the
`media_part` table as well as on the disk of the replica that made it. A replica that needs a file its disk lacks
(GET /media, a notice naming a picture or recording uploaded elsewhere, a clip to play) copies it from the table into
its media dir first, written atomically like every media file and with the maker's modification time, so ETag and
Last-Modified are the same on every replica. The synthesizer looks here before rendering (a clip another replica made
is copied, not rendered again), and one replica at a time renders a given clip (`turn`), so a clip is synthesized once
for the whole deployment. On SQLite one server process owns the media dir and the disk alone is enough.

Files are kept in pieces of at most PART_BYTES: a ten-minute recording (about 10 MB of FLAC) is ten rows, so no one
row or query carries a whole large file; files are read and written in threads, never on the event loop.

The functions take the media dir, the handle every caller already has: `serving` ties a store to it for as long as
the app runs; without one (SQLite) they look at the disk only.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from announcements.database import Database
from announcements.files import atomic_file
from announcements.models import MediaPart

log = logging.getLogger(__name__)

PART_BYTES = 1024 * 1024
TURN_POLL_S = 0.25  # how often a replica waiting for another's clip looks whether its turn has come
_TURN_LOCKS = 0x5642_4D53  # "VBMS": the advisory-lock key space of clip turns (two int4 keys: apart from the others)

_stores: dict[Path, list[MediaStore]] = {}


class MediaStore:
    """The `media_part` table behind one media dir."""

    def __init__(self, db: Database, media_dir: Path):
        self._db = db
        self.media_dir = media_dir
        self._fetching: dict[str, asyncio.Task[bool]] = {}

    async def stored(self, name: str) -> bool:
        async with self._db.read() as session:
            return (await session.exec(_first_part(name))).first() is not None

    async def fetch(self, name: str) -> bool:
        """Copy a stored file into the media dir; False when the store does not have it. Concurrent asks share one copy."""
        task = self._fetching.get(name)
        if task is None:
            task = asyncio.create_task(self._fetch(name))
            self._fetching[name] = task
            task.add_done_callback(lambda _: self._fetching.pop(name, None))
        return await asyncio.shield(task)

    async def _fetch(self, name: str) -> bool:
        async with self._db.read() as session:
            modified_ns = (await session.exec(_first_part(name))).first()
            if modified_ns is None:
                return False
            count = (await session.exec(select(sa.func.count()).select_from(MediaPart).where(MediaPart.name == name))).one()
            pieces = [  # one piece a query: no result holds more than PART_BYTES
                (await session.exec(select(MediaPart.data).where(MediaPart.name == name, MediaPart.part == part))).one()
                for part in range(count)
            ]
        await asyncio.to_thread(_materialize, self.media_dir / name, pieces, modified_ns)
        return True

    async def put(self, *names: str) -> None:
        """Keep files of the media dir in the store in one transaction: another replica sees all of them or none."""
        async with self._db.read() as session:
            present = set((await session.exec(select(MediaPart.name).where(col(MediaPart.name).in_(names), MediaPart.part == 0))).all())
        missing = sorted(set(names) - present)  # one order everywhere: two replicas putting the same files never deadlock
        if not missing:
            return
        rows = await asyncio.to_thread(_pieces, self.media_dir, missing)
        dialect = sqlite if self._db.is_sqlite else postgresql
        insert = dialect.insert(MediaPart).on_conflict_do_nothing()  # the same bytes, put by another replica meanwhile
        async with self._db.write() as session:
            connection = await session.connection()
            for row in rows:  # a statement a piece: none carries more than PART_BYTES
                await connection.execute(insert, row)

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        """This replica's turn to make clip `key`: one replica at a time holds it (a PostgreSQL advisory lock, held
        outside any transaction, so a long render never idles in one). A crashed holder's connection closes and its
        turn with it."""
        if self._db.is_sqlite:  # one process: its synthesizer already makes each clip once
            yield
            return
        keys = (_TURN_LOCKS, int(key[:8], 16) - 2**31)
        async with self._db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            while not await conn.scalar(sa.select(sa.func.pg_try_advisory_lock(*keys))):
                await asyncio.sleep(TURN_POLL_S)
            try:
                yield
            finally:
                try:
                    await conn.scalar(sa.select(sa.func.pg_advisory_unlock(*keys)))
                except Exception:
                    await conn.invalidate()  # a closed connection lets go of its locks

    async def share_disk(self) -> None:
        """Put what this replica's disk holds and the store lacks (made before the store, or restored from a backup)."""
        async with self._db.read() as session:
            stored = set((await session.exec(select(MediaPart.name).where(MediaPart.part == 0))).all())
        on_disk = await asyncio.to_thread(finished_files, self.media_dir)
        missing = sorted({path.name for path in on_disk} - stored)
        by_stem: dict[str, list[str]] = {}
        for name in missing:  # a clip's files together, its record with its media
            by_stem.setdefault(name.split(".", 1)[0], []).append(name)
        for names in by_stem.values():
            await self.put(*names)
        if missing:
            log.info("media store: put %d files from %s for the other replicas", len(missing), self.media_dir)


@asynccontextmanager
async def serving(db: Database, media_dir: Path) -> AsyncIterator[MediaStore]:
    """Keep `media_dir`'s media in `db` while the block runs (the app's lifetime), first putting what the disk
    already holds, in the background."""
    store = MediaStore(db, media_dir)
    _stores.setdefault(media_dir, []).append(store)
    sharing = asyncio.create_task(_share_disk(store), name="media-store-share-disk")
    try:
        yield store
    finally:
        unfinished = [sharing, *store._fetching.values()]  # a copy cut short leaves no file: it is written atomically
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        _stores[media_dir].remove(store)
        if not _stores[media_dir]:
            del _stores[media_dir]


async def _share_disk(store: MediaStore) -> None:
    try:
        await store.share_disk()
    except Exception:  # the files stay served by this replica; the next start tries again
        log.exception("media store: could not put the files of %s in the database", store.media_dir)


def of(media_dir: Path) -> MediaStore | None:
    """The store behind a media dir, or None where the disk alone holds the media."""
    stores = _stores.get(media_dir)
    return stores[-1] if stores else None


async def local(media_dir: Path, name: str) -> bool:
    """Whether media `name` is on this replica's disk, after copying it from the store when only the store has it."""
    if (media_dir / name).is_file():
        return True
    store = of(media_dir)
    return store is not None and await store.fetch(name)


async def stored(media_dir: Path, name: str) -> bool:
    """Whether the store has `name` (False without a store)."""
    store = of(media_dir)
    return store is not None and await store.stored(name)


async def share(media_dir: Path, *names: str) -> None:
    """Files just written into `media_dir`, for every replica (nothing to do without a store)."""
    store = of(media_dir)
    if store is not None:
        await store.put(*names)


@asynccontextmanager
async def turn(media_dir: Path, key: str) -> AsyncIterator[None]:
    """This replica's turn to render clip `key` (MediaStore.turn); at once without a store."""
    store = of(media_dir)
    if store is None:
        yield
        return
    async with store.turn(key):
        yield


def _first_part(name: str):
    return select(MediaPart.modified_ns).where(MediaPart.name == name, MediaPart.part == 0)


def _pieces(media_dir: Path, names: list[str]) -> list[dict]:
    """The rows of files in the media dir. Runs in a thread."""
    rows = []
    for name in names:
        path = media_dir / name
        modified_ns = path.stat().st_mtime_ns
        data = path.read_bytes()
        for part, start in enumerate(range(0, max(len(data), 1), PART_BYTES)):
            rows.append({"name": name, "part": part, "data": data[start : start + PART_BYTES], "modified_ns": modified_ns})
    return rows


def _materialize(path: Path, pieces: list[bytes], modified_ns: int) -> None:
    """A stored file in the media dir, whole or not at all, dated as its maker dated it. Runs in a thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as out:
        out.writelines(pieces)
    os.utime(path, ns=(modified_ns, modified_ns))


def finished_files(media_dir: Path) -> list[Path]:
    """The media dir's finished files (a dot file is one still being written). Blocking: call it in a thread."""
    if not media_dir.is_dir():
        return []
    return sorted(p for p in media_dir.iterdir() if p.is_file() and not p.name.startswith("."))
