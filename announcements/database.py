"""The database: an async engine, read and write sessions, and migrations applied at start.

SQLite (the embedded default) runs in WAL mode with one writer: write sessions take the write lock
up front (`BEGIN IMMEDIATE`) and queue behind an in-process lock, so a burst of writers never meets
"database is locked". On PostgreSQL, event rows take a transaction-level advisory lock so that
`seq` order is commit order and no reader ever skips an event committed late.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.files import private_dir, private_file, private_files

if TYPE_CHECKING:
    from announcements.models import Event

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_ID = 0x5642_4D49  # "VBMI": one replica migrates at a time on PostgreSQL
EVENTS_CHANNEL = "vb_events"  # PostgreSQL NOTIFY: "events were committed; read the table" (broadcast_server/wakeup.py)
_EVENTS_APPENDED = "vb_events_appended"  # session.info keys
_EVENTS_CHANNEL_KEY = "vb_events_channel"


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'village.db'}"


class Database:
    """One engine per process; sessions are short and never span a network wait."""

    def __init__(self, url: str, *, schema: str | None = None, sqlite_synchronous: str = "FULL", echo: bool = False):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.events_channel = f"{EVENTS_CHANNEL}_{schema}" if schema else EVENTS_CHANNEL
        self._write_lock = asyncio.Lock()
        self._on_events: list[Callable[[list[Event]], None]] = []
        self._synchronous = sqlite_synchronous
        self.engine: AsyncEngine = self._make_engine(url, schema=schema, echo=echo)

    def _make_engine(self, url: str, *, schema: str | None, echo: bool) -> AsyncEngine:
        if self.is_sqlite:
            path = sa.engine.make_url(url).database
            if path and path != ":memory:":
                _private_database(Path(path))
            engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
            sa_event.listen(engine.sync_engine, "connect", self._sqlite_on_connect)
            sa_event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
            return engine
        connect_args = {"server_settings": {"search_path": schema}} if schema else {}
        return create_async_engine(
            url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=connect_args
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reading; anything it writes is rolled back."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends without an exception; if it appended events, whoever
        asked (`on_events_committed`) is handed them once it has committed."""
        if self.is_sqlite:
            async with self._write_lock:
                async with AsyncSession(self._immediate_engine, expire_on_commit=False, info=self._session_info()) as session:
                    async with session.begin():
                        yield session
                    committed = _committed_events(session)
        else:
            async with AsyncSession(self.engine, expire_on_commit=False, info=self._session_info()) as session:
                async with session.begin():
                    yield session
                committed = _committed_events(session)
        if committed:
            for callback in self._on_events:
                callback(committed)

    def _session_info(self) -> dict:
        return {_EVENTS_CHANNEL_KEY: None if self.is_sqlite else self.events_channel}

    def on_events_committed(self, callback: Callable[[list[Event]], None]) -> None:
        """Hand `callback` the events every transaction of this process appended, once it has committed (the
        hub's wake-up: it fans them out without reading them back)."""
        self._on_events.append(callback)

    @property
    def _immediate_engine(self) -> AsyncEngine:
        return self.engine.execution_options(sqlite_begin="IMMEDIATE")

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (run at every start; a no-op when current)."""
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                await conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            try:
                await conn.run_sync(_upgrade_to_head)
                await conn.commit()
            finally:
                if not self.is_sqlite:
                    await conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                    await conn.commit()

    async def close(self) -> None:
        await self.engine.dispose()

    def _sqlite_on_connect(self, dbapi_conn, _record) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (pysqlite's own BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged write survives a power cut too. NORMAL: it survives a crash or a kill
        # of the process, and commits skip an fsync each.
        cursor.execute(f"PRAGMA synchronous={self._synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def _private_database(path: Path) -> None:
    """The database, its folder and its -wal, -shm and -journal files readable by this user only.

    The file is made before SQLite first opens it because SQLite gives the -wal and -shm files it
    creates the database file's mode.
    """
    private_dir(path.parent)
    private_file(path)
    private_files(path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm", "-journal"))


def _upgrade_to_head(sync_conn) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = sync_conn
    command.upgrade(config, "head")


def _sqlite_on_begin(conn) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def is_postgres(session: AsyncSession) -> bool:
    """Whether the session talks to PostgreSQL: where replicas share the database and SQL differs from SQLite's."""
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def skip_locked(query, *, session: AsyncSession):
    """The query as a claim: on PostgreSQL it locks its rows and skips those another replica holds, so no
    two replicas work on the same row; SQLite has one writer and nothing to skip."""
    return query.with_for_update(skip_locked=True) if is_postgres(session) else query


async def lock_event_order(session: AsyncSession) -> None:
    """Make `seq` allocation and commit happen in one order (PostgreSQL; SQLite has one writer)."""
    if is_postgres(session):
        connection = await session.connection()
        await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": 0x5642_4556})


async def note_events(session: AsyncSession, event: Event) -> None:
    """`event` was appended in `session`'s transaction: its Database hands it on in this process after the commit, and
    on PostgreSQL every other replica hears of it too (NOTIFY is delivered at commit, and not at all on a rollback)."""
    appended = session.info.setdefault(_EVENTS_APPENDED, [])
    appended.append(event)
    channel = session.info.get(_EVENTS_CHANNEL_KEY)
    if channel and len(appended) == 1:
        await session.exec(sa.select(sa.func.pg_notify(channel, "")))


def _committed_events(session: AsyncSession) -> list[Event]:
    """The events the session's committed transaction appended, as they were appended (each flushed for its seq, so
    in seq order): one a rolled-back savepoint took back is no longer in the session."""
    return [event for event in session.info.pop(_EVENTS_APPENDED, []) if sa.inspect(event).persistent]
