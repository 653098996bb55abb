"""Villagers' replies and feedback: the hub handlers, the per-screen rate limit, and the reply writer.

Replies from every screen (WebSocket `reply` and `POST /api/v1/replies`) go through one writer
task that stores whatever has queued up meanwhile in one transaction (group commit): one insert per
table for the whole batch, so a burst of replies costs a handful of statements, not a transaction
each. A reply is answered (`reply_result`, or 201/200) only after its transaction committed, so
nothing acknowledged is lost when the process dies.

The same task family records "no follow-up" on resolved requests nobody answered for
`follow_up_days` (and closes them when `close_without_follow_up`).

Additions to the wire contract (optional for clients): the `error` answering a rate-limited
`reply` carries `retry_after_s`; a feedback error carries the ticket as its `ref`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from announcements.database import Database
from announcements.errors import DomainError, RateLimited
from announcements.protocol import Feedback, Rating, Reply, ReplyResult, RequestCategory, RequestStatus, encode
from announcements.request_models import (
    ContactBody,
    ReplyCreate,
    ReplyKey,
    RequestSource,
    ServiceRequest,
)
from announcements.requests.intake import NewRequest, Taken, store_request, store_requests
from announcements.requests.sweep import sweep_no_follow_up
from announcements.requests.text import check_text
from announcements.requests.workflow import record_feedback
from broadcast_server.hub import Connection, Hub
from broadcast_server.ratelimit import rate_limiter
from broadcast_server.settings import Settings

log = logging.getLogger(__name__)

MAX_BATCH = 500
MAX_WAITING = 20_000  # replies queued for the writer; beyond that a client is told to retry shortly


@dataclass
class _Waiting:
    item: NewRequest
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ReplyDesk:
    """Where replies and feedback come in: checked, rate limited, stored in batches, answered."""

    def __init__(self, *, db: Database, hub: Hub, settings: Settings, clock: Callable[[], datetime]):
        self._db = db
        self._hub = hub
        self._settings = settings
        self._clock = clock
        # per screen, shared by the replicas on PostgreSQL: a screen split over them gets the limit once
        self.limiter = rate_limiter(settings.reply_rate_per_minute, what="replies", db=db)
        self._queue: asyncio.Queue[_Waiting | None] = asyncio.Queue(maxsize=MAX_WAITING)
        self._tasks: list[asyncio.Task] = []
        self._sweeping: asyncio.Future | None = None
        self._closing = False
        self.stored = 0  # replies stored by this process (figures for the benchmark and logs)
        self.batches = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._hub.register_handler("reply", self.on_reply)
        self._hub.register_handler("feedback", self.on_feedback)
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="reply-writer"),
            asyncio.create_task(self._sweep_loop(), name="follow-up-sweeper"),
        ]

    async def close(self) -> None:
        """Finish what was taken (never cancel a transaction halfway), then stop."""
        writer, sweeper = self._tasks or (None, None)
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
        if self._sweeping is not None:
            await asyncio.gather(self._sweeping, return_exceptions=True)
        if writer is not None:
            self._closing = True
            try:
                self._queue.put_nowait(None)  # the writer stores what is queued before it, then stops
                await asyncio.wait_for(asyncio.shield(writer), timeout=10)
            except (asyncio.QueueFull, TimeoutError):
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
        while not self._queue.empty():  # answered "try again" rather than left hanging
            waiting = self._queue.get_nowait()
            if waiting is not None and not waiting.future.done():
                waiting.future.set_exception(RateLimited("the server is shutting down; send it again", retry_after_s=5))

    # ------------------------------------------------------------ replies

    def checked(
        self, *, screen_id: str, area: str, reply: Reply | ReplyCreate, source: RequestSource
    ) -> NewRequest:
        """The reply as a request to store, or Invalid naming the field."""
        contact = reply.contact or ContactBody()
        check_text(reply.client_msg_id, field="client_msg_id", required=True)
        check_text(reply.announcement_id, field="announcement_id")
        return NewRequest(
            area=area,
            category=RequestCategory(reply.category),
            text=check_text(reply.text, field="text", max_chars=self._settings.reply_max_chars, required=True),
            screen_id=screen_id,
            client_msg_id=reply.client_msg_id,
            announcement_id=reply.announcement_id or None,
            contact_name=check_text(contact.name, field="contact.name") or None,
            contact_phone=check_text(contact.phone, field="contact.phone") or None,
            source=source,
        )

    async def take(self, item: NewRequest, *, rate_key: str | None = None) -> Taken:
        """Rate limit (by `rate_key`, the screen), store through the writer, return the ticket once committed."""
        if rate_key is not None:
            try:
                await self.limiter.acquire(rate_key)
            except RateLimited:
                stored = await self._stored_before(item)  # a resend of a stored reply is never refused
                if stored is None:
                    raise
                return stored
        if self._closing:
            raise RateLimited("the server is shutting down; send it again", retry_after_s=5)
        waiting = _Waiting(item)
        try:
            self._queue.put_nowait(waiting)
        except asyncio.QueueFull:
            if rate_key is not None:
                await self.limiter.release(rate_key)
            raise RateLimited("the server is busy storing replies; retry in a second", retry_after_s=1) from None
        taken: Taken = await asyncio.shield(waiting.future)
        if not taken.created and rate_key is not None:
            await self.limiter.release(rate_key)  # a resend after a lost connection costs nothing
        return taken

    async def _stored_before(self, item: NewRequest) -> Taken | None:
        if not (item.screen_id and item.client_msg_id):
            return None
        async with self._db.read() as session:
            key = await session.get(ReplyKey, (item.screen_id, item.client_msg_id))
            request = await session.get(ServiceRequest, key.ticket) if key is not None else None
        return Taken(request.ticket, RequestStatus(request.status), created=False) if request is not None else None

    async def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Waiting] = []
            first = await self._queue.get()
            pending = [first]
            while len(pending) < MAX_BATCH and not self._queue.empty():
                pending.append(self._queue.get_nowait())
            for waiting in pending:
                if waiting is None:
                    stopping = True
                else:
                    batch.append(waiting)
            if not batch:
                continue
            try:
                await self._write(batch)
            except Exception as exc:  # the database is gone: tell each caller, keep the loop
                log.exception("could not store %d replies", len(batch))
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)

    async def _write(self, batch: list[_Waiting]) -> None:
        items = [w.item for w in batch]
        now = self._clock()
        deadlines = self._settings.request_deadlines
        try:
            async with self._db.write() as session:
                results: list = await store_requests(session=session, items=items, now=now, deadlines=deadlines)
        except IntegrityError:
            # Another replica stored one of these keys (or drew one of these tickets) meanwhile.
            results = []
            for item in items:
                try:
                    async with self._db.write() as session:
                        results.append(await store_request(session=session, item=item, now=now, deadlines=deadlines))
                except DomainError as exc:
                    results.append(exc)
        self.batches += 1
        for waiting, result in zip(batch, results, strict=True):
            if isinstance(result, Taken) and result.created:
                self.stored += 1
            if waiting.future.done():
                continue
            if isinstance(result, BaseException):
                waiting.future.set_exception(result)
            else:
                waiting.future.set_result(result)

    async def on_reply(self, conn: Connection, message: Reply) -> None:
        """WebSocket `reply` → `reply_result` with the ticket, or an `error` naming what is wrong."""
        item = self.checked(screen_id=conn.screen_id, area=conn.area, reply=message, source=RequestSource.SCREEN)
        taken = await self.take(item, rate_key=conn.screen_id)  # a DomainError: the hub answers it with the ref
        self._hub.send_to(conn, encode(ReplyResult(client_msg_id=message.client_msg_id, ticket=taken.ticket)))

    # ------------------------------------------------------------ feedback

    async def feedback(self, *, screen_id: str, ticket: str, rating: Rating, comment: str | None) -> ServiceRequest:
        """Record the villager's answer; the screen learns the outcome as a `request_update` event."""
        async with self._db.write() as session:
            request = await record_feedback(
                session=session, ticket=ticket, screen_id=screen_id, rating=rating, comment=comment, now=self._clock()
            )
        return request

    async def on_feedback(self, conn: Connection, message: Feedback) -> None:
        await self.feedback(screen_id=conn.screen_id, ticket=message.ticket, rating=Rating(message.rating), comment=message.comment)

    # ------------------------------------------------------------ no follow-up

    async def sweep_once(self) -> int:
        after = timedelta(days=self._settings.follow_up_days)
        async with self._db.write() as session:
            swept = await sweep_no_follow_up(
                session=session, now=self._clock(), after=after, close=self._settings.close_without_follow_up
            )
        if swept:
            log.info("%d resolved requests had no follow-up within %g days", len(swept), self._settings.follow_up_days)
        return len(swept)

    async def _sweep_all(self) -> None:
        while await self.sweep_once():
            pass

    async def _sweep_loop(self) -> None:
        while True:
            self._sweeping = asyncio.ensure_future(self._sweep_all())
            try:
                await asyncio.shield(self._sweeping)  # closing waits for a sweep rather than cutting it
            except Exception:
                log.exception("could not record no-follow-up requests; will retry")
            await asyncio.sleep(self._settings.request_sweep_s)
