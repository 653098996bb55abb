"""Other replicas' events at once: PostgreSQL LISTEN on the channel every transaction that appends events
NOTIFYs at its commit (announcements/database.py `note_events`).

The event table stays the truth and the notification only says "read it now": a missed one costs at most the
hub's poll (`event_poll_s`), which keeps running. The listening connection is its own, outside the pool; when it
drops, it is opened again with a growing pause, and the hub reads the table once on every (re)connection for
what was committed while nobody listened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
import sqlalchemy as sa

log = logging.getLogger(__name__)

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
CHECK_EVERY_S = 30.0  # a connection cut without a word (a dead network) is found by a query this often
APPLICATION_NAME = "village-broadcast listener"  # how pg_stat_activity names it


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL (postgresql+asyncpg://...) as asyncpg takes it."""
    return sa.engine.make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class EventWakeup:
    """Calls `wake()` whenever any replica commits events, and once each time the listener (re)connects."""

    def __init__(self, *, database_url: str, channel: str, wake: Callable[[], None]):
        self._dsn = asyncpg_dsn(database_url)
        self._channel = channel
        self._wake = wake
        self._task: asyncio.Task | None = None
        self.listening = asyncio.Event()  # set while a LISTEN is in place

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-wakeup")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        pause = RETRY_FIRST_S
        while True:
            try:
                await self._listen()
                pause = RETRY_FIRST_S
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("not hearing other replicas' events (%s: %s); polling until it is back, next try in %.0f s",
                            type(exc).__name__, exc, pause)
            self.listening.clear()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)

    async def _listen(self) -> None:
        connection = await asyncpg.connect(self._dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME})
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(self._channel, lambda *_: self._wake())
            self.listening.set()
            self._wake()  # what was committed while nobody listened
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), CHECK_EVERY_S)
                if not lost.is_set():
                    await connection.fetchval("SELECT 1", timeout=10)
            log.warning("the connection listening for other replicas' events closed; opening it again")
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)
