"""The screen's connection to the server (docs/protocol.md §3): hello and resume, store then ack,
replies through the outbox, receipts, live calls, and reconnecting forever.

Built on the websockets asyncio client. `async for ws in connect(...)` retries a failed connection
attempt with the delays of `reconnect_delays`, but once a connection has opened and then ended it
would reconnect at once; so after each connection the loop sleeps a delay from the same jittered,
capped, exponential `Backoff`, which is reset only when a connection got as far as `synced`. A
server that accepts and then drops us is therefore retried ever more slowly, and thousands of
screens cut off by a server restart come back spread out, not all in the same instant.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from announcements.protocol import (
    Ack,
    AnnouncementEvent,
    AnnouncementPayload,
    AreaUpdate,
    ClientInfo,
    CloseCode,
    Contact,
    Error,
    ErrorCode,
    Feedback,
    Hello,
    LiveEvent,
    LiveState,
    Ping,
    Pong,
    ProtocolError,
    Receipt,
    ReceiptState,
    Reply,
    ReplyResult,
    RequestUpdate,
    Retract,
    ScreenKind,
    ServerMessage,
    Synced,
    Welcome,
    describe_validation_error,
    encode,
    parse_server_message,
)
from announcements.quiet_hours import QuietSpan
from screen_client.changes import Changes
from screen_client.display import Display, ScreenView
from screen_client.player import Player
from screen_client.store import Identity, LiveCall, OutboxEntry, Store
from screen_client.urls import ws_url

log = logging.getLogger(__name__)

# Errors after which resending the same reply may succeed; any other error naming a reply refuses it for good.
_TRANSIENT_ERRORS = {ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL}
_PING = encode(Ping(type="ping"))


class ScreenUnauthorized(Exception):
    """The server refused this screen's token (close code 4401): it is wrong or was revoked."""


class ScreenOffline(ConnectionError):
    """The action needs a live, synced connection and there is none right now."""


@dataclass(frozen=True, slots=True)
class Timing:
    """Every interval and timeout of the client, in seconds."""

    ping_interval: float = 20.0  # send `ping` this often; the server's `pong` shows the link is alive
    ping_timeout: float = 20.0  # nothing heard for ping_interval + ping_timeout: the link is dead, reconnect
    welcome_timeout: float = 10.0
    open_timeout: float = 10.0
    close_timeout: float = 5.0
    backoff_initial: float = 1.0  # the first reconnect waits up to this long (random), ...
    backoff_factor: float = 2.0  # ... each failure after that up to this factor longer, ...
    backoff_max: float = 60.0  # ... and never more than this
    replaced_delay: float = 30.0  # closed with 4409 (another connection uses our token): wait 1 to 2 times this
    outbox_interval: float = 2.0  # look for replies to send this often (`village-screen reply` adds them)
    outbox_retry: float = 60.0  # send a reply again when it has had no ticket for this long


class Backoff:
    """Exponential delays with full jitter, capped: screens cut off together do not come back together."""

    def __init__(self, *, initial: float, factor: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        ceiling = min(self.maximum, self.initial * self.factor**self.attempt)
        self.attempt = min(self.attempt + 1, 64)
        return self._rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        self.attempt = 0

    def delays(self) -> Generator[float, None, None]:
        """For websockets' `reconnect_delays`: the same growing delays, shared with the client's own sleeps."""
        while True:
            yield self.next()


def build_reply(
    category: str,
    text: str,
    *,
    announcement_id: str | None = None,
    contact: Contact | Mapping[str, str | None] | None = None,
) -> Reply:
    """A `reply` with a fresh client_msg_id; ValueError naming the field when the input is not acceptable."""
    try:
        return Reply(
            type="reply",
            client_msg_id=uuid.uuid4().hex,
            announcement_id=announcement_id,
            category=category,  # type: ignore[arg-type]  # validated by the model
            text=text,
            contact=None if contact is None else Contact.model_validate(contact),
        )
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None


def default_client_name() -> str:
    return socket.gethostname()


def client_version() -> str:
    try:
        return importlib.metadata.version("village-broadcast")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


class _QuietWebsocketsLogger(logging.LoggerAdapter):
    """websockets' logger without its DEBUG level: there it logs every frame, and `hello` carries the token."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


def _retry_connect(exc: Exception) -> Exception | None:
    """Any failure to connect may pass (server restarting, network down, a proxy's 502): retry.
    Only what cannot change by waiting (a malformed URL) ends the loop."""
    if isinstance(exc, (OSError, TimeoutError, InvalidHandshake)):
        return None
    return exc


def _background(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """A task whose failure is logged when it happens, rather than found (or not) when it is awaited."""
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, ConnectionClosed):  # a closed connection is handled by _serve
        log.error("%s failed", task.get_name(), exc_info=exc)


@dataclass(slots=True)
class _Link:
    """One connection: its socket, what its replay mentioned (announcements and calls), and how far it got."""

    ws: ClientConnection
    last_rx: float = field(default_factory=time.monotonic)
    mentioned: set[str] = field(default_factory=set)
    synced: bool = False
    acked: int | None = None


class ScreenClient:
    """One screen or loudspeaker box: keeps its store in step with the server and speaks the protocol."""

    def __init__(
        self,
        server_url: str,
        token: str,
        *,
        data_dir: Path,
        player: Player | None = None,
        display: Display | None = None,
        client_name: str | None = None,
        version: str | None = None,
        timing: Timing = Timing(),
        rng: random.Random | None = None,
    ) -> None:
        self.server_url = server_url
        self.ws_url = ws_url(server_url)
        self._token = token
        self.store = Store(data_dir)
        self.player = player
        self.display = display
        self.client_name = client_name or default_client_name()
        self.version = version or client_version()
        self.timing = timing
        self._rng = rng or random.Random()
        self._backoff = Backoff(
            initial=timing.backoff_initial, factor=timing.backoff_factor, maximum=timing.backoff_max, rng=self._rng
        )
        self._link: _Link | None = None
        self._changes = Changes()
        self._stopping = asyncio.Event()
        self._receipts: list[Receipt] = []
        self._displayed: set[str] = set()
        # live calls in progress here, from `started` to `ended`; the store keeps them across a restart
        self._calls: dict[str, LiveCall] = {call.id: call for call in self.store.live_calls()}
        self._calls_heard: set[str] = set()  # calls whose `played` receipt is sent (once, however often they resume)
        self._area_name: str | None = None  # from `welcome`, for the display
        self._server_timezone: str | None = None  # the quiet-hours zone from `welcome`, for the display's times
        self.connections = 0  # how many times the server has welcomed this client
        self._handlers: dict[str, Callable[[_Link, Any], Awaitable[None]]] = {
            "welcome": self._on_welcome,
            "announcement": self._on_announcement,
            "retract": self._on_retract,
            "request_update": self._on_request_update,
            "area": self._on_area,
            "live": self._on_live,
            "synced": self._on_synced,
            "reply_result": self._on_reply_result,
            "error": self._on_error,
            "pong": self._on_pong,
        }

    # ------------------------------------------------------------ state, for the display, the CLI and tests

    @property
    def online(self) -> bool:
        """Welcomed by the server on a live connection."""
        return self._link is not None

    @property
    def synced(self) -> bool:
        """Online and caught up: the replay is over, events now arrive live."""
        return self._link is not None and self._link.synced

    @property
    def last_seq(self) -> int | None:
        return self.store.last_seq

    @property
    def identity(self) -> Identity | None:
        return self.store.identity

    def announcements(self) -> list[AnnouncementPayload]:
        """Live announcements: emergency > high > normal > low, then newest first; expired ones left out."""
        return self.store.announcements()

    def request_updates(self) -> list[RequestUpdate]:
        return self.store.request_updates()

    def outbox(self) -> list[OutboxEntry]:
        return self.store.outbox()

    @property
    def live_calls(self) -> list[LiveCall]:
        """The live calls in progress for this device's area (played or held by quiet hours or an emergency)."""
        return list(self._calls.values())

    def view(self) -> ScreenView:
        return ScreenView(
            online=self.online, last_seq=self.store.last_seq, identity=self.store.identity, announcements=self.announcements(),
            area_name=self._area_name, server_timezone=self._server_timezone, live_calls=self.live_calls,
        )

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until `predicate()` holds, re-checking after every change; TimeoutError after `timeout`."""
        await self._changes.wait_for(predicate, timeout)

    # ------------------------------------------------------------ what a villager does

    async def reply(
        self,
        category: str,
        text: str,
        *,
        announcement_id: str | None = None,
        contact: Contact | Mapping[str, str | None] | None = None,
    ) -> str:
        """Take a villager's reply: into the outbox first, then sent if online. Returns its client_msg_id;
        the ticket arrives later (see `outbox()`). ValueError for input the protocol does not accept."""
        reply = build_reply(category, text, announcement_id=announcement_id, contact=contact)
        self.store.add_reply(reply)
        self._changes.notify()
        link = self._link
        if link is not None and link.synced:
            try:
                await self._send_replies(link, [reply])
            except ConnectionClosed:
                log.info("reply %s stays in the outbox until the next connection", reply.client_msg_id)
        return reply.client_msg_id

    async def feedback(self, ticket: str, rating: str, comment: str | None = None) -> None:
        """Send the villager's verdict on a resolved request; ScreenOffline when not connected (nothing is
        queued: feedback has no idempotency key, so it is sent once or not at all)."""
        try:
            message = Feedback(type="feedback", ticket=ticket, rating=rating, comment=comment)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise ValueError(describe_validation_error(exc)) from None
        link = self._link
        if link is None or not link.synced:
            raise ScreenOffline("not connected to the server; try again later")
        try:
            await link.ws.send(encode(message))
        except ConnectionClosed as exc:
            raise ScreenOffline("the connection closed before the feedback was sent") from exc

    # ------------------------------------------------------------ running

    def stop(self) -> None:
        """Make `run()` close the connection cleanly and return."""
        self._stopping.set()

    def close(self) -> None:
        """Close the store (after `run()` has returned)."""
        self.store.close()

    async def run(self) -> None:
        """Connect, resume and serve until `stop()` (also when it was called before). Reconnects forever;
        raises ScreenUnauthorized when the server refuses the token."""
        side: list[asyncio.Task[None]] = []
        if self.player is not None:
            for held in (*self.store.unplayed(), *self._calls.values()):
                self.player.enqueue(held)  # stored but not heard before a restart, or a call still going on
            side.append(_background(self.player.run(self._on_played, self._on_call_sounding), "screen player"))
        if self.display is not None:
            side.append(_background(self._display_loop(self.display), "screen display"))
        main = asyncio.create_task(self._connect_forever(), name="screen-connection")
        stop = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({main, stop}, return_when=asyncio.FIRST_COMPLETED)
            if main.done():
                main.result()
        finally:
            for task in (main, stop, *side):
                task.cancel()
            await asyncio.gather(main, stop, *side, return_exceptions=True)
            if self.player is not None:
                await self.player.aclose()
            self._stopping.clear()
            self._changes.notify()

    async def _connect_forever(self) -> None:
        connector = connect(
            self.ws_url,
            compression=None,  # the server encodes each event once for every screen; no per-connection deflate
            ping_interval=None,  # liveness is the protocol's own ping/pong (see _keepalive)
            open_timeout=self.timing.open_timeout,
            close_timeout=self.timing.close_timeout,
            process_exception=_retry_connect,
            reconnect_delays=self._backoff.delays,
            user_agent_header=f"village-screen/{self.version}",
            logger=_QuietWebsocketsLogger(logging.getLogger("websockets.client"), {}),
        )
        log.info("connecting to %s", self.ws_url)
        # __aiter__ is an async generator (typed as an AsyncIterator): close it, and its connection, on the way out
        async with aclosing(connector.__aiter__()) as connections:  # type: ignore[type-var]
            async for ws in connections:
                code = await self._serve(ws)
                if code == CloseCode.UNAUTHORIZED:
                    raise ScreenUnauthorized(
                        "the server refused this screen's token (close code 4401): it is wrong or was revoked"
                    )
                if code == CloseCode.REPLACED:
                    delay = self.timing.replaced_delay * (1.0 + self._rng.random())
                    log.warning("another connection with this screen's token replaced us (4409); waiting %.0f s", delay)
                else:
                    delay = self._backoff.next()
                    log.info("disconnected (close code %s); reconnecting in %.1f s", code, delay)
                await asyncio.sleep(delay)

    async def _serve(self, ws: ClientConnection) -> int | None:
        """One connection from hello to close; returns the close code the server sent, if any."""
        link = _Link(ws)
        tasks: list[asyncio.Task[None]] = []
        try:
            if not await self._handshake(link):
                return None
            tasks = [_background(self._keepalive(link), "keepalive"), _background(self._pump_outbox(link), "outbox")]
            while True:
                raw = await ws.recv()
                link.last_rx = time.monotonic()
                await self._dispatch(link, raw)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None
        except TimeoutError:
            log.warning("no welcome from the server within %.0f s", self.timing.welcome_timeout)
            return None
        except Exception:
            log.exception("connection failed; reconnecting")
            return None
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._link is link:
                self._link = None
                self._changes.notify()
            await ws.close()

    async def _handshake(self, link: _Link) -> bool:
        """hello → welcome. False when the server's sequence is behind ours (we then start over)."""
        resumed_from = self.store.resume_seq()
        hello = Hello(
            type="hello",
            token=self._token,
            last_seq=resumed_from,
            client=ClientInfo(name=self.client_name, version=self.version),
        )
        log.debug("hello, resuming after seq %s", resumed_from)
        await link.ws.send(encode(hello))
        async with asyncio.timeout(self.timing.welcome_timeout):
            while True:
                message = self._parse(await link.ws.recv())
                if isinstance(message, Welcome):
                    break
                if isinstance(message, Error):
                    log.error("the server refused hello: %s: %s", message.code, message.message)
                elif message is not None:
                    log.warning("ignoring %r before welcome", message.type)
        last_seq = self.store.last_seq
        if last_seq is not None and message.head_seq < last_seq:
            log.warning(
                "the server's newest seq %d is behind ours %d (its database was replaced?): asking for everything again",
                message.head_seq,
                last_seq,
            )
            self.store.forget_seq()
            await link.ws.close(1000, "resync")
            return False
        self.store.begin_replay(
            resumed_from=resumed_from, identity=Identity(screen_id=message.screen_id, area=message.area, kind=message.kind)
        )
        self._area_name = message.area_name
        self._server_timezone = message.quiet_hours.timezone if message.quiet_hours else None
        if self.player is not None:
            self.player.set_quiet_hours(QuietSpan.from_json(message.quiet_hours.model_dump()) if message.quiet_hours else None)
        self._link = link
        self.connections += 1
        self._changes.notify()
        log.info(
            "connected as screen %s (%s, %s); server at seq %d, we have %s",
            message.screen_id,
            message.area,
            message.kind,
            message.head_seq,
            resumed_from,
        )
        return True

    # ------------------------------------------------------------ frames from the server

    @staticmethod
    def _parse(raw: str | bytes) -> ServerMessage | None:
        try:
            return parse_server_message(raw)
        except ProtocolError as exc:
            # A message type added to the protocol after this client was written is expected; anything else is not.
            level = logging.DEBUG if exc.code == ErrorCode.UNKNOWN_TYPE else logging.WARNING
            log.log(level, "ignoring a frame from the server: %s", exc.message)
            return None

    async def _dispatch(self, link: _Link, raw: str | bytes) -> None:
        message = self._parse(raw)
        if message is not None:
            await self._handlers[message.type](link, message)

    async def _on_welcome(self, link: _Link, message: Welcome) -> None:
        log.warning("ignoring a second welcome on the same connection")

    async def _on_announcement(self, link: _Link, message: AnnouncementEvent) -> None:
        announcement = message.announcement
        link.mentioned.add(announcement.id)
        if self.store.apply_announcement(message.seq, announcement):
            log.info(
                "announcement %s rev %d (%s): %s",
                announcement.id, announcement.revision, announcement.priority, announcement.title,
            )
            if self.player is not None and self.store.needs_playing(announcement):
                self.player.enqueue(announcement)
        self._changes.notify()  # even a repeat may move last_seq
        await self._ack(link)

    async def _on_retract(self, link: _Link, message: Retract) -> None:
        link.mentioned.discard(message.announcement_id)
        if self.store.apply_retract(message.seq, message.announcement_id):
            log.info("announcement %s retracted (%s)", message.announcement_id, message.reason)
        self._changes.notify()
        if self.player is not None:
            self.player.drop(message.announcement_id)
        await self._ack(link)

    async def _on_request_update(self, link: _Link, message: RequestUpdate) -> None:
        if self.store.apply_request_update(message):
            log.info("request %s is now %s", message.ticket, message.status)
        self._changes.notify()
        await self._ack(link)

    async def _on_area(self, link: _Link, message: AreaUpdate) -> None:
        """Its area renamed (the display shows the new name); a dwell is the kiosk's, not this client's."""
        self.store.pass_over(message.seq)
        identity = self.store.identity
        mine = message.areas.get(identity.area) if identity else None
        if mine is not None:
            self._area_name = mine.area_name
        self._changes.notify()
        await self._ack(link)

    async def _on_live(self, link: _Link, message: LiveEvent) -> None:
        """A live call begins (play its stream) or ends (stop it). Applied even when its seq is a repeat: a reset
        replay holds the `started` of each call still going on."""
        call = self.store.apply_live(message)
        link.mentioned.add(message.call_id)
        if call is not None:
            if call.id not in self._calls:
                log.info("live call %s (%s) by %s on %s", call.id, call.priority, call.caller_name, call.stream_url)
            self._calls[call.id] = call
            if self.player is not None:
                self.player.enqueue(call)
        elif message.state == LiveState.ENDED:
            self._end_call(message.call_id)
        self._changes.notify()
        await self._ack(link)

    def _end_call(self, call_id: str) -> None:
        if self._calls.pop(call_id, None) is not None:
            log.info("live call %s ended", call_id)
        self._calls_heard.discard(call_id)
        if self.player is not None:
            self.player.drop(call_id)

    async def _on_synced(self, link: _Link, message: Synced) -> None:
        if link.synced:
            log.warning("ignoring a second synced on the same connection")
            return
        if message.reset:  # the server's whole state: a call it does not hold any more ended meanwhile
            for call_id in self._calls.keys() - link.mentioned:
                self._end_call(call_id)
        dropped = self.store.finish_replay(reset=message.reset, mentioned=link.mentioned)
        for announcement_id in dropped:
            if self.player is not None:
                self.player.drop(announcement_id)
        if dropped:
            log.info("reset: dropped %d announcement(s) the server no longer holds for us", len(dropped))
        link.synced = True
        self._backoff.reset()
        self._changes.notify()
        await self._ack(link)
        await self._send_replies(link, [entry.reply for entry in self.store.unanswered()])
        await self._flush_receipts(link)

    async def _on_reply_result(self, link: _Link, message: ReplyResult) -> None:
        if self.store.mark_answered(message.client_msg_id, message.ticket):
            log.info("reply %s has ticket %s", message.client_msg_id, message.ticket)
            self._changes.notify()

    async def _on_error(self, link: _Link, message: Error) -> None:
        log.warning("the server answered with an error: %s: %s (ref %s)", message.code, message.message, message.ref)
        if (
            message.ref is not None
            and message.code not in _TRANSIENT_ERRORS
            and self.store.mark_failed(message.ref, f"{message.code}: {message.message}")
        ):
            self._changes.notify()

    async def _on_pong(self, link: _Link, message: Pong) -> None:
        """Nothing to do: every frame already counts as a sign of life."""

    async def _ack(self, link: _Link) -> None:
        """Cumulative ack of the highest seq stored. During the replay one ack is sent at `synced`."""
        seq = self.store.last_seq
        if link.synced and seq is not None and seq != link.acked:
            await link.ws.send(encode(Ack(type="ack", seq=seq)))
            link.acked = seq

    # ------------------------------------------------------------ what the client sends on its own

    async def _send_replies(self, link: _Link, replies: list[Reply]) -> None:
        for reply in replies:
            await link.ws.send(encode(reply))
        if replies:
            self.store.mark_sent(r.client_msg_id for r in replies)

    async def _keepalive(self, link: _Link) -> None:
        """A `ping` every ping_interval; a link silent for longer than ping_interval + ping_timeout is closed."""
        while True:
            await asyncio.sleep(self.timing.ping_interval)
            silent = time.monotonic() - link.last_rx
            if silent > self.timing.ping_interval + self.timing.ping_timeout:
                log.warning("nothing from the server for %.0f s; reconnecting", silent)
                await link.ws.close(CloseCode.GOING_AWAY, "no pong")
                return
            await link.ws.send(_PING)

    async def _pump_outbox(self, link: _Link) -> None:
        """Send replies that appeared in the outbox (another process) or have waited too long for a ticket."""
        while True:
            await asyncio.sleep(self.timing.outbox_interval)
            if link.synced:
                cutoff = datetime.fromtimestamp(time.time() - self.timing.outbox_retry, UTC)
                await self._send_replies(link, [entry.reply for entry in self.store.unanswered(sent_before=cutoff)])

    async def _send_receipt(self, state: ReceiptState, *, announcement_id: str | None = None, call_id: str | None = None) -> None:
        self._receipts.append(Receipt(type="receipt", announcement_id=announcement_id, call_id=call_id, state=state))
        link = self._link
        if link is not None and link.synced:
            await self._flush_receipts(link)

    async def _flush_receipts(self, link: _Link) -> None:
        """Send the receipts held back while offline (they only feed the delivery figures)."""
        try:
            while self._receipts:
                await link.ws.send(encode(self._receipts[0]))
                self._receipts.pop(0)
        except ConnectionClosed:
            log.debug("%d receipt(s) wait for the next connection", len(self._receipts))

    async def _on_played(self, announcement: AnnouncementPayload) -> None:
        assert announcement.audio is not None
        self.store.mark_played(announcement.id, announcement.audio.url)
        self._changes.notify()
        await self._send_receipt(ReceiptState.PLAYED, announcement_id=announcement.id)

    async def _on_call_sounding(self, call: LiveCall) -> None:
        """The call's stream plays: `played` once per call (a call interrupted by an emergency resumes later)."""
        if call.id in self._calls and call.id not in self._calls_heard:
            self._calls_heard.add(call.id)
            await self._send_receipt(ReceiptState.PLAYED, call_id=call.id)

    async def _display_loop(self, display: Display) -> None:
        """Show the view on every change, and when the next announcement expires; send `displayed` receipts."""
        while True:
            changed = self._changes.next
            view = self.view()
            display.show(view)
            if view.identity is not None and view.identity.kind == ScreenKind.SCREEN:
                for announcement in view.announcements:
                    if announcement.id not in self._displayed:
                        self._displayed.add(announcement.id)
                        await self._send_receipt(ReceiptState.DISPLAYED, announcement_id=announcement.id)
            expiry = self.store.next_expiry()
            timeout = None if expiry is None else (expiry - datetime.now(UTC)).total_seconds() + 0.05
            try:
                async with asyncio.timeout(timeout):
                    await changed.wait()
            except TimeoutError:
                pass
