"""Batches what screens report (acks, receipts, presence) into one write every `delivery_flush_s`.

Ten thousand screens acking one announcement become one transaction, not ten thousand. What is
buffered here is bookkeeping (figures, cursors); losing the last half second of it in a crash loses
nothing a client was promised: the screen's own `last_seq` drives its replay.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from announcements.database import Database
from announcements.deliveries import Mark, record_cursors, record_marks, record_presence
from announcements.protocol import ReceiptState
from broadcast_server.background import BackgroundLoop
from broadcast_server.metrics import Metrics


class DeliveryRecorder:
    def __init__(self, db: Database, *, clock: Callable[[], datetime], flush_interval_s: float, metrics: Metrics | None = None):
        self._db = db
        self._metrics = metrics or Metrics()
        self._clock = clock
        self._interval = flush_interval_s
        self._marks: list[Mark] = []
        self._cursors: dict[str, int] = {}
        self._seen: dict[str, dict | None] = {}
        self._loop = BackgroundLoop("delivery-recorder", self._flush_pass)

    def mark(self, announcement_id: str, screen_id: str, state: ReceiptState) -> None:
        self._marks.append(Mark(announcement_id, screen_id, state, self._clock()))

    def cursor(self, screen_id: str, seq: int) -> None:
        if seq > self._cursors.get(screen_id, -1):
            self._cursors[screen_id] = seq

    def seen(self, screen_id: str, client: dict | None = None) -> None:
        """Note that a screen was there now (and which client it runs, when it says)."""
        if client is not None or screen_id not in self._seen:
            self._seen[screen_id] = client

    async def flush(self) -> None:
        marks, cursors, seen = self._marks, self._cursors, self._seen
        if not (marks or cursors or seen):
            return
        self._marks, self._cursors, self._seen = [], {}, {}
        try:
            async with self._db.write() as session:
                await record_marks(session=session, marks=marks)
                await record_cursors(session=session, cursors=cursors)
                await record_presence(session=session, seen=seen, at=self._clock())
        except BaseException:
            self._marks[:0] = marks  # keep them for the next attempt
            for screen_id, seq in cursors.items():
                self.cursor(screen_id, seq)
            for screen_id, client in seen.items():
                if self._seen.get(screen_id) is None:  # a client named meanwhile is newer; a plain seen() names none
                    self._seen[screen_id] = client
            raise
        self._metrics.batch_written(marks=len(marks), cursors=len(cursors), presence=len(seen))

    async def _flush_pass(self) -> float:
        await self.flush()
        return self._interval

    async def start(self) -> None:
        self._loop.start()

    async def close(self) -> None:
        await self._loop.close()
        await self.flush()
