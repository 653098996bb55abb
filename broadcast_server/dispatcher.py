"""The dispatcher: a background task that publishes scheduled announcements, expires old ones, and turns
each due occurrence of a timed broadcast (announcements/schedules.py) into an announcement.

It sleeps until the queue's next deadline (or until poked by a new post), so a scheduled
announcement goes out at its time. At start it catches up: what should have been published while
the server was down is published, what expired meanwhile is retracted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from announcements.database import Database
from announcements.queue import expire_due, next_deadline, publish_due
from announcements.schedules import create_due_occurrences, next_schedule_deadline
from broadcast_server.background import BackgroundLoop
from broadcast_server.hub import Hub

log = logging.getLogger(__name__)

MAX_SLEEP_S = 30.0  # re-check now and then: another replica may have scheduled something


class Dispatcher:
    def __init__(self, *, db: Database, hub: Hub, clock: Callable[[], datetime]):
        self._db = db
        self._hub = hub
        self._clock = clock
        self._loop = BackgroundLoop("dispatcher", self.run_once)

    def poke(self) -> None:
        """Timed broadcasts changed, or several announcements at once: look at the whole queue now."""
        self._loop.poke()

    def expect(self, *times: datetime | None) -> None:
        """An announcement was posted or revised with these publish and expiry times: be awake by the earliest.
        No pass runs now, so a post's fan-out does not share the loop and the database with one."""
        due = [t for t in times if t is not None]
        if due:
            self._loop.run_within((min(due) - self._clock()).total_seconds())

    async def run_once(self) -> float:
        """Publish and expire what is due; return how long to sleep before the next deadline."""
        now = self._clock()
        async with self._db.write() as session:
            occurrences = await create_due_occurrences(session=session, now=now)
            published = await publish_due(session=session, now=now)
            expired = await expire_due(session=session, now=now)
        if occurrences or published or expired:
            for announcement_id in occurrences:
                log.info("timed broadcast: created %s", announcement_id)
            for announcement in published:
                log.info("published %s (%s): %s", announcement.id, announcement.priority, announcement.title)
            for announcement in expired:
                log.info("expired %s: %s", announcement.id, announcement.title)
        async with self._db.read() as session:
            deadlines = [await next_deadline(session=session), await next_schedule_deadline(session=session)]
        deadline = min((d for d in deadlines if d is not None), default=None)
        if deadline is None:
            return MAX_SLEEP_S
        return min(MAX_SLEEP_S, max(0.0, (deadline - self._clock()).total_seconds()))

    async def start(self) -> None:
        self._loop.start()

    async def close(self) -> None:
        await self._loop.close()
