"""The screen hub: WebSocket connections, targeting from an in-memory index, replay and live fan-out.

Every frame a screen gets comes from the event table. The pump reads new events in `seq` order,
encodes each once, and writes the same bytes straight to the transport of every connection it
targets: no task and no queue per screen, the transport's write buffer is the send queue. A screen
whose buffer grows past `send_buffer_bytes` is disconnected with 1013 (it resumes by `seq`) instead
of holding memory or slowing the others. Every other frame a screen gets (the handshake, answers
and errors) goes the same way, so all of them keep one order. See docs/protocol.md §3.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractStreamWriter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.database import Database
from announcements.deliveries import Presence, read_presence, sent_to
from announcements.errors import DomainError, Invalid, NotFound
from announcements.events import (
    ANNOUNCEMENT,
    AREA,
    DISCONNECT,
    LIVE,
    RETRACT,
    EventMessage,
    calls_in_progress,
    event_message,
    events_after,
    head_seq,
    latest_live_events,
)
from announcements.models import Event, Screen
from announcements.protocol import (
    Ack,
    ClientMessage,
    CloseCode,
    ErrorCode,
    Feedback,
    Hello,
    LiveState,
    Ping,
    Pong,
    ProtocolError,
    Receipt,
    ReceiptState,
    Reply,
    Synced,
    Welcome,
    encode,
    error_frame,
    parse_client_message,
)
from announcements.quiet_hours import QuietHours
from announcements.targeting import Target
from broadcast_server.background import BackgroundLoop
from broadcast_server.directory import ScreenDirectory
from broadcast_server.frames import text_frame
from broadcast_server.metrics import Metrics
from broadcast_server.ratelimit import RateLimiter
from broadcast_server.recorder import DeliveryRecorder
from broadcast_server.settings import Settings
from broadcast_server.wakeup import EventWakeup

log = logging.getLogger(__name__)

_CATCH_UP_BATCH = 500
CATCH_UP_WAIT_S = 5.0
# How long one step of a fan-out may hold the event loop before the rest of it (acks, requests, the live
# stream's sound, other sockets) has a turn. Writing one event to 10,000 screens takes about 100 ms on a
# small machine; in one go it stalled everything else that long and more (bench/loop_lag.py: loop lag
# p99 166 ms, max 430 ms), in steps of this length p99 62 ms, max 72-86 ms. The price: the acks of the
# screens served first are handled between the steps, so the last screen is served later (bench/fanout.py
# at 10,000: 360-376 ms against 185 ms in one go, the bare server 171-210 ms).
FANOUT_STEP_S = 0.005
_CLOCK_EVERY = 64  # screens written between two looks at the clock


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the hub keeps it: what it is routed by, the message it carries, and that message's frame.

    The message stays a typed object for the hub's listeners (the loudspeaker streams); only the
    frame, encoded once, is written, the same bytes to every recipient.
    """

    seq: int
    type: str
    target: Target
    announcement_id: str | None
    message: EventMessage
    frame: bytes

    @property
    def receivable(self) -> bool:
        """A screen's ack of it counts as `received` in proof of delivery: an announcement, or a live call's start."""
        return self.type == ANNOUNCEMENT or (self.type == LIVE and self.message.state == LiveState.STARTED)

    @classmethod
    def from_row(cls, row: Event) -> StoredEvent:
        message = event_message(row)
        return cls(
            seq=row.seq,
            type=row.type,
            target=Target.from_json(row.target),
            announcement_id=row.announcement_id,
            message=message,
            frame=text_frame(encode(message)),
        )


class Connection:
    """One WebSocket, a screen's from its hello on: its place in the index and its bounded send buffer.

    Every frame is written straight to the socket's transport by `_write`: the same bytes for every
    recipient, no task and no encoding per screen. The transport's write buffer is the send queue; a
    screen whose buffer grows past `max_buffer` bytes is too slow and is disconnected by the hub.
    """

    __slots__ = (
        "screen_id", "area", "tags", "kind", "ws", "transport", "writer", "held", "held_bytes", "max_buffer", "streaming",
        "pending", "acked", "last_sent", "closed",
    )

    def __init__(self, *, ws: web.WebSocketResponse, transport: asyncio.Transport, writer: AbstractStreamWriter, max_buffer: int):
        self.ws = ws
        self.transport = transport
        self.writer = writer  # the response's writer: how the handshake waits for the screen to read
        self.held: list[bytes] = []  # live frames that arrive while the handshake replays
        self.held_bytes = 0
        self.max_buffer = max_buffer
        self.streaming = False
        self.pending: dict[int, str] = {}  # seq -> announcement id, sent but not yet acked
        self.acked = 0
        self.last_sent = 0  # the newest seq handed to this screen (replayed or live)
        self.closed = False

    def identify(self, screen: Screen) -> None:
        """The hello named this screen: index the connection as it from now on."""
        self.screen_id = screen.id
        self.area = screen.area
        self.tags = frozenset(screen.tags or ())
        self.kind = screen.kind

    def wants(self, event: StoredEvent) -> bool:
        return event.type != DISCONNECT and event.target.matches(screen_id=self.screen_id, area=self.area, tags=self.tags)

    def send(self, frame: bytes) -> bool:
        """Write (or, during the handshake, hold) a frame; False when the screen is too far behind."""
        if self.closed:
            return True
        if not self.streaming:
            self.held.append(frame)
            self.held_bytes += len(frame)
            return self.held_bytes <= self.max_buffer
        return self._write(frame, self.max_buffer)

    async def send_paced(self, frame: bytes) -> None:
        """A handshake frame: written whatever the buffer holds, then waiting while the transport is full.

        A replay may be longer than the send buffer; dropping the screen for it would only repeat at
        its next resume, so the handshake waits for the screen to read instead.
        """
        if not self.closed:
            self._write(frame, math.inf)
            await self.writer.drain()

    def _write(self, frame: bytes, limit: float) -> bool:
        """The one write to the socket: nothing once it is closing; nothing, and False, past `limit` bytes unsent."""
        if self.transport.is_closing():
            self.closed = True
            return True
        if self.transport.get_write_buffer_size() > limit:
            return False
        self.transport.write(frame)
        return True

    def start_streaming(self) -> bool:
        """The replay is over: write what was held meanwhile, and from now on write at once."""
        self.streaming = True
        held, self.held, self.held_bytes = self.held, [], 0
        return all(self.send(frame) for frame in held)

    async def close(self, code: int, message: str) -> None:
        self.closed = True
        self.held.clear()
        await self.ws.close(code=code, message=message.encode())


MessageHandler = Callable[[Connection, ClientMessage], Awaitable[None]]


class Hub:
    def __init__(
        self, *, db: Database, settings: Settings, recorder: DeliveryRecorder, clock: Callable[[], datetime], quiet: QuietHours,
        metrics: Metrics | None = None,
    ):
        self._db = db
        self._metrics = metrics or Metrics()
        self._quiet = quiet
        self._settings = settings
        self._recorder = recorder
        self._clock = clock
        self.receipt_limiter = RateLimiter(settings.receipt_rate_per_minute, what="receipts")
        self.connections: dict[str, Connection] = {}
        self._by_area: dict[str, set[Connection]] = {}
        self._recent: deque[StoredEvent] = deque(maxlen=settings.replay_memory_events)
        self._live: dict[str, StoredEvent] = {}
        self._calls: dict[str, list[StoredEvent]] = {}  # live calls in progress: their `started` events, one per area
        self.head_seq = 0
        self._pump = BackgroundLoop("hub-pump", self._pump_pass)
        self._catch_ups_wanted = 0  # handshakes that asked the pump to read the table once more
        self._catch_ups_done = 0  # ... and how many of those asks the finished passes covered
        self._caught_up = asyncio.Condition()
        self._handed: list[Event] = []  # events this process committed, for the pump to fan out without reading them back
        self._step_began = 0.0  # when the pump last let the rest of the loop run
        self._listeners: list[Callable[[StoredEvent], None]] = []
        self.directory = ScreenDirectory(db)  # hellos answered from memory (broadcast_server/directory.py)
        self._closing: set[asyncio.Task] = set()  # sockets being closed beside the fan-out
        # other replicas' events at once (PostgreSQL); with SQLite there is one replica and the commit hook is enough
        self.wakeup = None if db.is_sqlite else EventWakeup(database_url=db.url, channel=db.events_channel, wake=self.notify)
        self._handlers: dict[str, MessageHandler] = {
            "ack": self._on_ack,
            "receipt": self._on_receipt,
            "ping": self._on_ping,
            "hello": self._on_second_hello,
        }

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._db.on_events_committed(self.committed)  # every transaction that appends events wakes the pump
        await self.directory.load()
        async with self._db.read() as session:
            self.head_seq = await head_seq(session=session)
            recent = (
                await session.exec(select(Event).order_by(col(Event.seq).desc()).limit(self._recent.maxlen or 0))
            ).all()
            live = await latest_live_events(session=session)
            calls = await calls_in_progress(session=session)
        self._recent.extend(StoredEvent.from_row(row) for row in reversed(recent))
        self._live = {row.announcement_id: StoredEvent.from_row(row) for row in live}
        for row in calls:
            self._note_call(StoredEvent.from_row(row))
        self._pump.start()
        if self.wakeup is not None:
            self.wakeup.start()

    async def close_connections(self) -> None:
        """Say goodbye (1001) to every screen, so their handlers end and shutdown need not wait for them."""
        connections = list(self.connections.values())
        for conn in connections:
            self._unregister(conn)
        await asyncio.gather(*(conn.close(CloseCode.GOING_AWAY, "server shutting down") for conn in connections), return_exceptions=True)

    async def close(self) -> None:
        if self.wakeup is not None:
            await self.wakeup.close()
        await self._pump.close()
        await self.close_connections()

    def register_handler(self, message_type: str, handler: MessageHandler) -> None:
        """Let another package (the request log) handle a client message type."""
        self._handlers[message_type] = handler

    def add_listener(self, listener: Callable[[StoredEvent], None]) -> None:
        """Let another part of the server (the loudspeaker streams) see every event as it is sent."""
        self._listeners.append(listener)

    def notify(self) -> None:
        """New events were committed: fan them out now rather than at the next poll."""
        self._pump.poke()

    def committed(self, events: list[Event]) -> None:
        """This process committed these events: the pump fans them out before it reads the table, saving a post's
        screens a round trip to the database (events by another process are found by that read, as before)."""
        self._handed.extend(events)
        self._pump.poke()

    def is_online(self, screen_id: str) -> bool:
        """Connected to this process; `presence` also knows the other replicas' screens."""
        return screen_id in self.connections

    async def presence(self, *, session: AsyncSession) -> Presence:
        """Who is online now: the screens connected here, and those connected to a replica with a fresh heartbeat."""
        return await read_presence(
            session=session, here=self.is_online, replica_id=self._recorder.replica_id, now=self._clock(),
            beat_s=self._settings.presence_beat_s,
        )

    # ------------------------------------------------------------ fan-out

    async def _pump_pass(self) -> float:
        wanted = self._catch_ups_wanted
        self._step_began = time.perf_counter()
        await self._catch_up()
        async with self._caught_up:
            self._catch_ups_done = wanted
            self._caught_up.notify_all()
        return self._settings.event_poll_s  # the fallback when another replica's NOTIFY is missed

    async def _read_to_the_end(self) -> None:
        """Wait for a pump pass that began after this call, so the hub knows every event committed before it.

        Many handshakes at once share one pass. Should the database not answer, go on with what is known.
        """
        self._catch_ups_wanted += 1
        wanted = self._catch_ups_wanted
        self._pump.poke()
        async with self._caught_up:
            try:
                await asyncio.wait_for(self._caught_up.wait_for(lambda: self._catch_ups_done >= wanted), CATCH_UP_WAIT_S)
            except TimeoutError:
                log.warning("the event table could not be read within %.0f s; replaying what is known", CATCH_UP_WAIT_S)

    async def _catch_up(self) -> None:
        await self._dispatch_handed()
        while True:
            async with self._db.read() as session:
                rows = await events_after(session=session, after=self.head_seq, limit=_CATCH_UP_BATCH)
            for row in rows:
                await self._dispatch(StoredEvent.from_row(row))
            if len(rows) < _CATCH_UP_BATCH:
                return

    async def _dispatch_handed(self) -> None:
        """Fan out the events handed over by this process's commits while they follow the head without a gap; from a
        gap on (another process's event in between, a seq a rollback skipped), the table is read instead."""
        handed, self._handed = sorted(self._handed, key=lambda event: event.seq), []
        for row in handed:
            if row.seq == self.head_seq + 1:
                await self._dispatch(StoredEvent.from_row(row))
            elif row.seq > self.head_seq:
                return

    async def _dispatch(self, event: StoredEvent) -> None:
        """Hand one event to everyone it targets, a step of FANOUT_STEP_S at a time, so the loop never stalls on a big
        fan-out.

        The head, the replay memory and the recipients are settled before the first pause: a screen
        that says hello meanwhile gets this event in its replay, not twice.
        """
        self._metrics.events_pumped.inc()
        self._recent.append(event)
        self.head_seq = event.seq
        if event.type == DISCONNECT:  # an order to the replicas: whichever holds the screen closes it
            self.directory.forget(event.message.screen_id)  # its tokens, area or tags changed
            conn = self.connections.get(event.message.screen_id)
            if conn is not None:
                self._close_soon(conn, event.message.code, event.message.reason)
            return
        if event.type == ANNOUNCEMENT:
            self._live[event.announcement_id] = event
        elif event.type == RETRACT:
            self._live.pop(event.announcement_id, None)
        elif event.type == LIVE:
            self._note_call(event)
        elif event.type == AREA:
            self.directory.on_area_update(event.message)  # what the next hellos' welcomes say
        writing = time.perf_counter()
        recipients = list(self._recipients(event.target))
        for listener in self._listeners:
            listener(event)
        spent = 0.0  # the fan-out's own time, not the pauses: their work is others'
        for written, conn in enumerate(recipients, start=1):
            self._deliver(conn, event)
            if written % _CLOCK_EVERY == 0 and self._step_is_over():
                spent += time.perf_counter() - writing
                await self._next_step()
                writing = time.perf_counter()
        self._metrics.fanout_seconds.observe(spent + time.perf_counter() - writing)
        if self._step_is_over():  # the pump goes on to the next event: many small ones add up to a step too
            await self._next_step()

    def _step_is_over(self) -> bool:
        """Whether the pump has held the loop FANOUT_STEP_S since it last let the rest run."""
        return time.perf_counter() - self._step_began > FANOUT_STEP_S

    async def _next_step(self) -> None:
        await asyncio.sleep(0)  # everything else that is ready runs now
        self._step_began = time.perf_counter()

    def _note_call(self, event: StoredEvent) -> None:
        """Keep a call's `started` events while it goes on, for the screens that say hello meanwhile."""
        if event.message.state == LiveState.STARTED:
            self._calls.setdefault(event.message.call_id, []).append(event)
        else:
            self._calls.pop(event.message.call_id, None)

    def _in_progress(self, event: StoredEvent) -> bool:
        """False for the `started` of a call that has ended: a replay holds only calls still going on."""
        return event.type != LIVE or event.message.state != LiveState.STARTED or event.message.call_id in self._calls

    def _recipients(self, target: Target) -> Iterable[Connection]:
        """Targeting from the in-memory index: areas first, then tags; listed screens by id."""
        chosen: set[Connection] = set()
        tags = set(target.tags)
        for area, conns in self._by_area.items():
            if target.covers_area(area):
                chosen.update(conns if not tags else (c for c in conns if not tags.isdisjoint(c.tags)))
        for screen_id in target.screens:
            conn = self.connections.get(screen_id)
            if conn is not None:
                chosen.add(conn)
        return chosen

    def _deliver(self, conn: Connection, event: StoredEvent) -> None:
        conn.last_sent = event.seq
        if event.receivable:
            conn.pending[event.seq] = event.announcement_id
        if not conn.send(event.frame):
            self._drop_slow(conn)

    def _drop_slow(self, conn: Connection) -> None:
        log.warning("screen %s is more than %d bytes behind; disconnecting it to resume by seq", conn.screen_id, conn.max_buffer)
        self._metrics.slow_disconnects.inc()
        self._close_soon(conn, CloseCode.SLOW_CONSUMER, "too far behind; resume from last_seq")

    def _close_soon(self, conn: Connection, code: int, reason: str) -> None:
        """Take the screen out of the index now and close its socket beside the fan-out, which must not wait for
        the screen's side of the closing handshake."""
        self._unregister(conn)
        closing = asyncio.get_running_loop().create_task(conn.close(code, reason))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    def send_to(self, conn: Connection, text: str) -> None:
        """A direct answer (pong, error, reply_result) in order with the event stream."""
        if not conn.send(text_frame(text)):
            self._drop_slow(conn)

    # ------------------------------------------------------------ connections

    def _register(self, conn: Connection) -> None:
        self.connections[conn.screen_id] = conn
        self._by_area.setdefault(conn.area, set()).add(conn)

    def _unregister(self, conn: Connection) -> None:
        if self.connections.get(conn.screen_id) is conn:
            del self.connections[conn.screen_id]
        peers = self._by_area.get(conn.area)
        if peers is not None:
            peers.discard(conn)
            if not peers:
                del self._by_area[conn.area]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """GET /ws: hello, welcome, replay, synced, then live events and client messages."""
        ws = web.WebSocketResponse(
            heartbeat=self._settings.heartbeat_s,
            compress=False,  # one encoding per event for all; compression costs ~100 KB per connection
            max_msg_size=self._settings.max_frame_bytes,
        )
        await ws.prepare(request)
        conn = Connection(ws=ws, transport=request.transport, writer=request.writer, max_buffer=self._settings.send_buffer_bytes)
        if not await self._handshake(conn):
            return ws
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.send_to(conn, error_frame(ErrorCode.INVALID, "binary frames are not accepted; send JSON text"))
        finally:
            conn.closed = True
            self._left(conn)
        return ws

    def _left(self, conn: Connection) -> None:
        """A screen's connection is over: out of the index, and unless a newer one of it is here, its row says it left
        this replica (a connection replaced by a newer one is not the screen leaving)."""
        self._unregister(conn)
        if conn.screen_id not in self.connections:
            self._recorder.disconnected(conn.screen_id)

    async def _handshake(self, conn: Connection) -> bool:
        """Hello, then welcome, the replay and synced; True once the connection is live, False if it was refused or went away."""
        try:
            msg = await conn.ws.receive(timeout=self._settings.hello_timeout_s)
        except TimeoutError:
            await conn.close(CloseCode.HELLO_TIMEOUT, "no hello in time")
            return False
        if msg.type != WSMsgType.TEXT:
            await conn.close(CloseCode.BAD_HELLO, "expected a hello frame")
            return False
        try:
            hello = parse_client_message(msg.data)
            if not isinstance(hello, Hello):
                raise ProtocolError(ErrorCode.INVALID, f"the first frame must be a hello, not {hello.type!r}")
        except ProtocolError as exc:
            await self._refuse(conn, exc.frame(), CloseCode.BAD_HELLO, "invalid hello")
            return False

        # The replay then holds everything committed before this hello, and the directory has applied every
        # revocation committed before it: a screen revoked a moment ago is refused here, not admitted from memory.
        await self._read_to_the_end()
        screen, area_name, kiosk_dwell_s = await self.directory.lookup(hello.token)
        if screen is None:
            unauthorized = error_frame(ErrorCode.UNAUTHORIZED, "the token is unknown, revoked, or not a screen token")
            await self._refuse(conn, unauthorized, CloseCode.UNAUTHORIZED, "unauthorized")
            return False
        if conn.transport.is_closing():
            return False  # the client gave up on this attempt meanwhile: it must not replace a newer connection
        previous = self.connections.get(screen.id)
        if previous is not None:
            self._unregister(previous)
            asyncio.get_running_loop().create_task(previous.close(CloseCode.REPLACED, "replaced by a newer connection"))

        conn.identify(screen)
        self._register(conn)  # from here on live events wait in the outbox
        self._metrics.hellos.inc()
        upto = self.head_seq
        self._recorder.connected(screen.id, hello.client.model_dump())
        try:
            replay, reset = await self._replay_for(conn, hello.last_seq, upto)
            quiet = self._quiet.for_area(screen.area)
            welcome = Welcome(
                screen_id=screen.id,
                area=screen.area,
                area_name=area_name,
                kind=screen.kind,
                server_time=self._clock(),
                head_seq=upto,
                quiet_hours=quiet.to_json() if quiet else None,
                kiosk_dwell_s=kiosk_dwell_s,
            )
            await conn.send_paced(text_frame(encode(welcome)))
            for event in replay:
                if event.receivable:
                    conn.pending[event.seq] = event.announcement_id
                conn.last_sent = max(conn.last_sent, event.seq)  # live events may already wait in the outbox
                await conn.send_paced(event.frame)
            await conn.send_paced(text_frame(encode(Synced(head_seq=upto, reset=reset))))
        except ConnectionError:
            conn.closed = True
        if conn.closed:  # the socket went away, or a newer connection replaced this one, meanwhile
            self._left(conn)
            return False
        if not replay and not reset:
            self._recorder.cursor(screen.id, upto)  # it had everything meant for it up to the head
        if not conn.start_streaming():
            self._drop_slow(conn)
            self._left(conn)
            return False
        return True

    async def _refuse(self, conn: Connection, error: str, code: CloseCode, reason: str) -> None:
        """Tell a socket why its hello is refused, then close it."""
        await conn.send_paced(text_frame(error))
        await conn.close(code, reason)

    async def _replay_for(self, conn: Connection, last_seq: int | None, upto: int) -> tuple[list[StoredEvent], bool]:
        """What the screen missed: events after `last_seq`, or its whole current state (reset)."""
        if last_seq is None or last_seq > upto:
            calls = (e for started in self._calls.values() for e in started)
            state = sorted((e for e in (*self._live.values(), *calls) if conn.wants(e)), key=lambda e: e.seq)
            return state, True
        if last_seq == upto or (self._recent and self._recent[0].seq <= last_seq + 1):
            return [e for e in self._recent if last_seq < e.seq <= upto and conn.wants(e) and self._in_progress(e)], False
        missed: list[StoredEvent] = []
        after = last_seq
        while after < upto:
            async with self._db.read() as session:
                rows = await events_after(session=session, after=after, upto=upto, limit=1000)
            if not rows:
                break
            missed.extend(e for e in map(StoredEvent.from_row, rows) if conn.wants(e) and self._in_progress(e))
            after = rows[-1].seq
        return missed, False

    # ------------------------------------------------------------ client messages

    async def _on_text(self, conn: Connection, text: str) -> None:
        """Handle one client frame; whatever cannot be accepted is answered here, once, with an `error`.

        Handlers raise domain errors (or ProtocolError for what only the wire knows); each becomes
        its error code here, naming the message it refuses (`_ref`).
        """
        message: ClientMessage | None = None
        try:
            message = parse_client_message(text)
            handler = self._handlers.get(message.type)
            if handler is None:
                raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"message type {message.type!r} is not handled by this server")
            await handler(conn, message)
        except ProtocolError as exc:
            self.send_to(conn, exc.frame())
        except DomainError as exc:
            self.send_to(conn, ProtocolError.of(exc, _ref(message)).frame())
        except Exception:
            log.exception("error handling a frame from screen %s", conn.screen_id)
            self.send_to(conn, error_frame(ErrorCode.INTERNAL, "the server failed to handle this frame; it has been logged"))

    async def _on_ack(self, conn: Connection, message: Ack) -> None:
        if message.seq > self.head_seq:
            raise Invalid(f"seq: {message.seq} is beyond the newest event {self.head_seq}")
        if message.seq <= conn.acked:
            return
        conn.acked = message.seq
        for seq in [s for s in conn.pending if s <= message.seq]:
            self._recorder.mark(conn.pending.pop(seq), conn.screen_id, ReceiptState.RECEIVED)
        # Having acked all it was sent, the screen is as far as the head: later events were not for it.
        caught_up = message.seq >= conn.last_sent
        self._recorder.cursor(conn.screen_id, self.head_seq if caught_up else message.seq)

    async def _on_receipt(self, conn: Connection, message: Receipt) -> None:
        """Count a receipt only for what this screen was sent, and only as many a minute as a screen needs."""
        self.receipt_limiter.take(conn.screen_id)
        if not await self._was_sent(conn, message.subject):
            raise NotFound(f"no announcement or call {message.subject} was sent to this screen")
        self._recorder.mark(message.subject, conn.screen_id, message.state)

    async def _was_sent(self, conn: Connection, announcement_id: str) -> bool:
        """From memory while the announcement is live; from the database once it has ended."""
        event = self._live.get(announcement_id)
        if event is not None:
            return conn.wants(event)
        async with self._db.read() as session:
            return bool(await sent_to(session=session, pairs={(announcement_id, conn.screen_id)}))

    async def _on_ping(self, conn: Connection, message: Ping) -> None:
        self.send_to(conn, encode(Pong()))

    async def _on_second_hello(self, conn: Connection, message: Hello) -> None:
        raise Invalid("hello was already received on this connection")


def _ref(message: ClientMessage | None) -> str | None:
    """What an error about this message names, so the screen knows which of its messages was refused."""
    match message:
        case Reply(client_msg_id=ref) | Feedback(ticket=ref):
            return ref
        case Receipt():
            return message.subject
    return None
