"""A database out of reach, for real, and SQLite's write lock held by another connection: for tests of
what the server does when storage fails (shared by the request-log and recorder tests)."""

from __future__ import annotations

import asyncio
import sqlite3
from types import SimpleNamespace

from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url

from announcements.database import Database


class SqliteWriteLock:
    """SQLite: another connection holds the database's write lock (`BEGIN IMMEDIATE`), as another
    process writing would; every writer waits at the start of its transaction."""

    def __init__(self, settings):
        self._path = settings.data_dir / "village.db"
        self._conn: sqlite3.Connection | None = None

    def hold(self) -> SqliteWriteLock:
        self._conn = sqlite3.connect(self._path, isolation_level=None, timeout=30, check_same_thread=False)
        self._conn.execute("BEGIN IMMEDIATE")
        return self

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute("ROLLBACK")
            self._conn.close()
            self._conn = None


class DatabaseOutage:
    """The database out of reach for a while, for real.

    PostgreSQL: the server's connections go through a TCP hop the test cuts (open connections are
    dropped, new ones refused) and mends. SQLite: another connection holds the write lock past the
    writers' busy timeout, which is shortened from 30 s to 0.2 s so the test need not wait it out.
    """

    BUSY_TIMEOUT_MS = 200

    def __init__(self, database_settings: dict):
        self._fields = dict(database_settings)
        self.on_postgres = "database_url" in self._fields
        self._target = None
        self._listener: asyncio.AbstractServer | None = None
        self._port: int | None = None
        self._streams: set[asyncio.StreamWriter] = set()
        self._lock: SqliteWriteLock | None = None

    async def start(self) -> dict:
        """The settings fields to give the server (its PostgreSQL URL goes through the hop)."""
        if self.on_postgres:
            url = make_url(self._fields["database_url"])
            self._target = (url.host, url.port or 5432)
            await self._listen()
            self._fields["database_url"] = url.set(host="127.0.0.1", port=self._port).render_as_string(hide_password=False)
        return self._fields

    async def attach(self, db: Database) -> None:
        """SQLite: the shortened busy timeout on this engine's connections (new ones; the pool is emptied)."""
        if db.is_sqlite:
            def short_busy_timeout(dbapi_conn, _record):
                cursor = dbapi_conn.cursor()
                cursor.execute(f"PRAGMA busy_timeout={self.BUSY_TIMEOUT_MS}")
                cursor.close()

            sa_event.listen(db.engine.sync_engine, "connect", short_busy_timeout)
            await db.engine.dispose()

    async def cut(self) -> None:
        if self.on_postgres:
            self._listener.close()
            for stream in list(self._streams):
                stream.transport.abort()
            await self._listener.wait_closed()
        else:
            self._lock = SqliteWriteLock(SimpleNamespace(data_dir=self._fields["data_dir"])).hold()

    async def mend(self) -> None:
        if self.on_postgres:
            await self._listen()
        elif self._lock is not None:
            self._lock.release()
            self._lock = None

    async def close(self) -> None:
        if self.on_postgres and self._listener is not None:
            self._listener.close()
            for stream in list(self._streams):
                stream.transport.abort()
        elif self._lock is not None:
            self._lock.release()

    async def _listen(self) -> None:
        self._listener = await asyncio.start_server(self._relay, "127.0.0.1", self._port or 0)
        self._port = self._listener.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._streams |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._streams -= {writer, up_writer}
