"""Batches what screens report (acks, receipts, presence) into one write every `delivery_flush_s`, and keeps this
replica's heartbeat every `presence_beat_s`.

Ten thousand screens acking one announcement become one transaction, not ten thousand. What is
buffered here is bookkeeping (figures, cursors, presence); losing the last half second of it in a crash loses
nothing a client was promised: the screen's own `last_seq` drives its replay, and a killed replica's presence
stops counting once its heartbeat is stale (announcements/deliveries.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime

from announcements.database import Database
from announcements.deliveries import Mark, Seen, heartbeat, leave, record_cursors, record_marks, record_presence
from announcements.protocol import ReceiptState
from broadcast_server.background import BackgroundLoop
from broadcast_server.metrics import Metrics


class DeliveryRecorder:
    def __init__(
        self, db: Database, *, clock: Callable[[], datetime], flush_interval_s: float, replica_id: str, beat_s: float,
        metrics: Metrics | None = None,
    ):
        self._db = db
        self._metrics = metrics or Metrics()
        self._clock = clock
        self._interval = flush_interval_s
        self.replica_id = replica_id  # what this process's screens' rows say they are connected to
        self._beat_s = beat_s
        self._marks: list[Mark] = []
        self._cursors: dict[str, int] = {}
        self._seen: dict[str, Seen] = {}
        self._holding: set[str] = set()  # the screens connected to this process, as the hub said
        # One write at a time, so they commit in the order their batches were taken: a screen's close, taken after
        # its hello, is never overwritten by the hello's write (nor by a heartbeat that saw the screen still here).
        self._writing = asyncio.Lock()
        self._loop = BackgroundLoop("delivery-recorder", self._flush_pass)
        self._beats = BackgroundLoop("replica-heartbeat", self._beat_pass)

    def mark(self, announcement_id: str, screen_id: str, state: ReceiptState) -> None:
        self._marks.append(Mark(announcement_id, screen_id, state, self._clock()))

    def cursor(self, screen_id: str, seq: int) -> None:
        if seq > self._cursors.get(screen_id, -1):
            self._cursors[screen_id] = seq

    def connected(self, screen_id: str, client: dict) -> None:
        """A screen said hello to this process (running `client`)."""
        self._seen[screen_id] = Seen(connected=True, client=client)
        self._holding.add(screen_id)

    def disconnected(self, screen_id: str) -> None:
        """This process holds no connection of the screen any more; a client it named in this batch is still written."""
        self._note(screen_id, Seen(connected=False))
        self._holding.discard(screen_id)

    def _note(self, screen_id: str, state: Seen) -> None:
        """Keep `state` as the screen's last word in the batch, with the client named earlier in it if it names none."""
        earlier = self._seen.get(screen_id)
        if state.client is None and earlier is not None and earlier.client is not None:
            state = dataclasses.replace(state, client=earlier.client)
        self._seen[screen_id] = state

    async def flush(self) -> None:
        async with self._writing:
            marks, cursors, seen = self._marks, self._cursors, self._seen
            if not (marks or cursors or seen):
                return
            self._marks, self._cursors, self._seen = [], {}, {}
            try:
                async with self._db.write() as session:
                    await record_marks(session=session, marks=marks)
                    await record_cursors(session=session, cursors=cursors)
                    await record_presence(session=session, seen=seen, replica_id=self.replica_id, at=self._clock())
            except BaseException:
                self._marks[:0] = marks  # keep them for the next attempt
                for screen_id, seq in cursors.items():
                    self.cursor(screen_id, seq)
                for screen_id, state in seen.items():  # what the hub said meanwhile is newer
                    newer = self._seen.get(screen_id)
                    self._seen[screen_id] = state
                    if newer is not None:
                        self._note(screen_id, newer)
                raise
        self._metrics.batch_written(marks=len(marks), cursors=len(cursors), presence=len(seen))

    async def beat(self) -> None:
        """This replica's heartbeat (announcements/deliveries.py `heartbeat`)."""
        async with self._writing:
            holding = list(self._holding)
            async with self._db.write() as session:
                await heartbeat(session=session, replica_id=self.replica_id, at=self._clock(), holding=holding)

    async def _flush_pass(self) -> float:
        await self.flush()
        return self._interval

    async def _beat_pass(self) -> float:
        await self.beat()
        return self._beat_s

    async def start(self) -> None:
        self._beats.start()  # first: its first pass takes the write lock before the first flush can
        self._loop.start()

    async def close(self) -> None:
        """Write what is buffered; then this replica holds no screen and has no heartbeat any more."""
        await self._beats.close()
        await self._loop.close()
        await self.flush()
        async with self._writing, self._db.write() as session:
            await leave(session=session, replica_id=self.replica_id)
