"""Live calls to the loudspeakers (实时喊话, PROTOCOL.md 1.1 "Live calls"): GET /api/v1/live, a WebSocket.

A committee member or admin sends `{"type": "start", "areas": [...], "priority": "high"}`, then the
microphone as MediaRecorder makes it (binary frames: Opus in WebM or Ogg), then `{"type": "stop"}`. The
server answers `started` with the call id, and `ended` (with a `code` saying why: `Ending`) before it closes; a refusal is an
`error` with a code (`busy` says who is talking, and where). While the call goes on, the sound is decoded
and put on the areas' stations (`/stream/{area}.mp3`) within about a second, and the areas' devices are
told (`live` events) to play their station, interrupting anything but an emergency.

One call per area at a time, an area counting as busy when a call covers it or any area under it. A call
ends when the caller stops it, when an admin stops it (`DELETE /api/v1/live/calls/{call_id}`), when the
browser goes away or sends no sound for 5 s, or after 10 minutes (the longest recording kept).
Everything said is kept as the call's announcement (announcements/live_calls.py), so the committee has
a record of it. In a cluster, this and the streams are served by one replica (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, Field, ValidationError

from announcements import live_calls
from announcements.areas import covers, normalize_area
from announcements.database import Database
from announcements.errors import DomainError, Forbidden, NotFound
from announcements.models import Role, new_id
from announcements.protocol import AudioSource, ErrorCode, Priority, describe_validation_error
from announcements.speech import SpeechFailed, SpeechSynthesizer, recording
from announcements.tokens import Principal
from broadcast_server.auth import require_principal
from broadcast_server.background import BackgroundLoop
from broadcast_server.livecoder import LiveTranscoder, container_format
from broadcast_server.narrator import clip_audio
from broadcast_server.sessions import require_same_origin
from broadcast_server.settings import Settings
from broadcast_server.stream import Stations

log = logging.getLogger(__name__)

CALLER_ROLES = (Role.ADMIN, Role.COMMITTEE)
SILENT_END_S = 5.0  # no sound for this long: the microphone, the page or the phone's signal is gone, the call ends
MAX_CALL_S = recording.MAX_SECONDS  # every call is kept as a record, and a recording is at most this long
RENEW_S = live_calls.LEASE_S / 4
MAX_PIECE_BYTES = 1024 * 1024  # MediaRecorder sends a few kB a quarter second; a megabyte is not a voice
MAX_AREAS = 50


@dataclass(frozen=True)
class Ending:
    """Why a call ended, as the caller is told: `code` for the console to word, `reason` for people reading logs."""

    code: str
    reason: str | None = None
    by: str | None = None  # who stopped it, when someone did


CALLER_STOPPED = Ending("caller")  # the caller's own 结束喊话: no reason to give
LOST = Ending("lost", "the connection was lost")
SILENT = Ending("silent", f"no sound for {SILENT_END_S:g} s")
TOO_LONG = Ending("too_long", f"a call lasts at most {MAX_CALL_S / 60:g} minutes")
BAD_SOUND = Ending("bad_sound", "the sound is not Opus in WebM or Ogg, as a browser records it")
TOO_LARGE = Ending("too_large", "the call's recording reached its size limit")
SHUTDOWN = Ending("shutdown", "the server is shutting down")


class StartCall(BaseModel):
    type: Literal["start"]
    areas: list[str] = Field(min_length=1, max_length=MAX_AREAS)
    priority: Priority = Priority.HIGH


@dataclass(eq=False)
class Call:
    """A call in progress on this replica: who talks where, the socket it comes in on, and what was said so far."""

    id: str
    caller: Principal
    areas: tuple[str, ...]
    priority: str
    started: float
    ws: web.WebSocketResponse
    transcoder: LiveTranscoder | None = None
    said: bytearray = field(default_factory=bytearray)
    ending: Ending | None = None  # set by whoever ends it from outside (an admin, shutdown)

    @property
    def seconds(self) -> float:
        return asyncio.get_running_loop().time() - self.started

    def within(self, principal: Principal) -> bool:
        """Every area of the call is in the principal's scope: it may see the call, and an admin stop it."""
        return all(principal.in_scope(area) for area in self.areas)

    def overlaps(self, areas: tuple[str, ...]) -> bool:
        return any(covers(mine, other) or covers(other, mine) for mine in self.areas for other in areas)


def _is_stop(text: str) -> bool:
    try:
        return StopCall.model_validate_json(text) is not None
    except ValidationError:
        return False


class StopCall(BaseModel):
    type: Literal["stop"]


class CallRefused(Exception):
    """A `start` that cannot be carried out: the `error` the console is sent, then the socket closes."""

    def __init__(self, code: str, message: str, **extra: object):
        super().__init__(message)
        self.frame = {"type": "error", "code": code, "message": message, **extra}


class LiveCalls:
    """The calls this replica carries, and the lease keeping (and ending) calls in the database."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        stations: Stations,
        speech: Callable[[], SpeechSynthesizer | None],
        clock: Callable[[], datetime],
    ):
        self._db = db
        self._settings = settings
        self._stations = stations
        self._speech = speech
        self._clock = clock
        self.calls: dict[str, Call] = {}
        self._records: set[asyncio.Task] = set()
        self._leases = BackgroundLoop("live-calls", self._keep_leases)

    async def start(self) -> None:
        self._leases.start()

    async def end_calls(self) -> None:
        """Shutdown: end every call (its devices are told), so the server need not wait for the callers."""
        for call in list(self.calls.values()):
            await self.stop(call.id, SHUTDOWN)

    async def close(self) -> None:
        """After the handlers: the recordings being kept are finished, and the leases left alone."""
        await asyncio.gather(*self._records, return_exceptions=True)
        await self._leases.close()

    async def _keep_leases(self) -> float:
        now = self._clock()
        if self.calls:
            async with self._db.write() as session:
                await live_calls.renew(session=session, call_ids=list(self.calls), now=now)
        async with self._db.read() as session:  # an idle server only reads
            lost = await live_calls.lapsed(session=session, now=now, besides=list(self.calls))
        for call_id in lost:
            log.warning("live call %s lost its server; ending it", call_id)
            async with self._db.write() as session:
                await live_calls.end_call(session=session, call_id=call_id, now=now, problem="the call was cut off")
        return RENEW_S

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """GET /api/v1/live: one call, from `start` to its end."""
        # A console signed in with a token cannot give a WebSocket a header: `?token=` (redacted from the log) then.
        caller = await require_principal(request, *CALLER_ROLES, query_parameter="token")
        if caller.kind == "user":  # signed in by the session cookie, which another site's page would carry too
            require_same_origin(request, even_to_read=True)
        # No heartbeat: the sound itself comes every quarter second, and its absence ends the call (SILENT_END_S).
        ws = web.WebSocketResponse(max_msg_size=MAX_PIECE_BYTES)
        await ws.prepare(request)
        try:
            call = await self._begin(ws, caller)
        except CallRefused as refusal:
            await ws.send_json(refusal.frame)
            await ws.close()
            return ws
        ending = LOST
        try:
            ending = await self._carry(call)
        finally:  # also when the handler is cancelled: the devices must hear that the call is over
            await asyncio.shield(self._finish(call, call.ending or ending))
        return ws

    async def _begin(self, ws: web.WebSocketResponse, caller: Principal) -> Call:
        try:
            message = await ws.receive(timeout=SILENT_END_S)
        except TimeoutError:
            raise CallRefused(ErrorCode.INVALID, f"no start within {SILENT_END_S:g} s") from None
        if message.type != WSMsgType.TEXT:
            raise CallRefused(ErrorCode.INVALID, 'the first message must be {"type": "start", "areas": [...]}')
        try:
            start = StartCall.model_validate_json(message.data)
        except ValidationError as exc:
            raise CallRefused(ErrorCode.INVALID, describe_validation_error(exc)) from None
        areas = self._checked_areas(start.areas, caller)
        async with self._db.read() as session:
            names = await live_calls.area_names(session=session, areas=areas)
        if names is None:
            raise CallRefused(ErrorCode.NOT_FOUND, "one of the areas does not exist", areas=list(areas))
        busy = next((c for c in self.calls.values() if c.overlaps(areas)), None)
        if busy is not None:
            raise CallRefused(
                ErrorCode.BUSY, f"{busy.caller.name} is talking to {', '.join(busy.areas)}",
                caller_name=busy.caller.name, areas=list(busy.areas), call_id=busy.id,
            )
        call = Call(id=new_id(), caller=caller, areas=areas, priority=start.priority, started=asyncio.get_running_loop().time(), ws=ws)
        self.calls[call.id] = call  # before the first await: a second caller now finds this area busy
        try:
            async with self._db.write() as session:
                await live_calls.start_call(
                    session=session, call_id=call.id, caller=caller, areas={a: names[a] for a in areas},
                    priority=start.priority, now=self._clock(),
                )
        except BaseException:
            del self.calls[call.id]
            raise
        self._stations.call_started(call.id, areas, start.priority)
        await ws.send_json({"type": "started", "call_id": call.id, "areas": [{"path": a, "name": names[a]} for a in areas]})
        log.info("live call %s by %s to %s", call.id, caller.token_id, ", ".join(areas))
        return call

    def _checked_areas(self, given: list[str], caller: Principal) -> tuple[str, ...]:
        areas: list[str] = []
        for text in given:
            try:
                area = normalize_area(text)
            except ValueError as exc:
                raise CallRefused(ErrorCode.INVALID, f"areas: {exc}") from None
            if not caller.in_scope(area):
                raise CallRefused(ErrorCode.FORBIDDEN, f"area {area} is outside your scope {caller.area}", areas=[area])
            if area not in areas:
                areas.append(area)
        return tuple(areas)

    async def _carry(self, call: Call) -> Ending:
        """Pass the microphone's sound on until the call ends, and say why it ended."""
        loop = asyncio.get_running_loop()
        while True:
            left = call.started + MAX_CALL_S - loop.time()
            if left <= 0:
                return TOO_LONG
            try:
                message = await call.ws.receive(timeout=min(SILENT_END_S, left))
            except TimeoutError:
                return SILENT if left > SILENT_END_S else TOO_LONG
            except ConnectionError:  # the phone lost its signal: aiohttp ends the read with the reset
                return LOST
            if message.type == WSMsgType.BINARY:
                refused = self._hear(call, message.data)
                if refused is not None:
                    return refused
            elif message.type == WSMsgType.TEXT:
                if _is_stop(message.data):
                    return CALLER_STOPPED
                await call.ws.send_json({"type": "error", "code": ErrorCode.INVALID, "message": 'expected sound or {"type": "stop"}'})
            else:
                return LOST

    def _hear(self, call: Call, piece: bytes) -> Ending | None:
        if call.transcoder is None:
            fmt = container_format(piece)
            if fmt is None:
                return BAD_SOUND
            call.transcoder = LiveTranscoder(fmt, lambda frames: self._stations.call_sound(call.id, frames))
        if len(call.said) + len(piece) > recording.MAX_BYTES:
            return TOO_LARGE
        call.said += piece
        call.transcoder.feed(piece)
        return None

    async def _finish(self, call: Call, ending: Ending) -> None:
        """Stop the stations and the devices at once; keep the recording afterwards, beside the next call."""
        self.calls.pop(call.id, None)
        self._stations.call_ended(call.id)
        problem = None
        if call.transcoder is not None:
            call.transcoder.close()
            problem = await call.transcoder.done
        async with self._db.write() as session:
            await live_calls.end_call(session=session, call_id=call.id, now=self._clock())
        log.info("live call %s ended: %s", call.id, ending.reason or "the caller stopped it")
        task = asyncio.create_task(self._keep(call, problem))
        self._records.add(task)
        task.add_done_callback(self._records.discard)
        await _say_ended(call, ending)  # last: closing waits for the caller's browser to answer

    async def _keep(self, call: Call, problem: str | None) -> None:
        """The call's record: what was said, brought to the clips' loudness, as the announcement's audio."""
        audio = url = None
        if problem is None and not call.said:
            problem = "nothing was said"
        if problem is None:
            try:
                kept = await recording.store(bytes(call.said), self._settings.media_dir)
                url = kept.url
                speech = self._speech()
                if speech is None:
                    problem = "speech is unavailable on this server: the recording is kept, but no clip is made of it"
                else:
                    stored = recording.path(kept.url, self._settings.media_dir)
                    audio = clip_audio(await speech.render_recording(stored), source=AudioSource.LIVE)
            except (DomainError, SpeechFailed) as exc:
                problem = str(exc)
        async with self._db.write() as session:
            await live_calls.keep_recording(session=session, call_id=call.id, audio=audio, recording=url, problem=problem)

    async def stop(self, call_id: str, ending: Ending) -> None:
        """End a call from outside (an admin, shutdown): its handler finishes it as it would any other end."""
        call = self.calls.get(call_id)
        if call is None:
            raise NotFound(f"no live call {call_id} in progress")
        call.ending = ending
        await _say_ended(call, ending)  # its handler's read then ends, and it finishes the call

    def in_scope(self, principal: Principal) -> list[Call]:
        return [c for c in self.calls.values() if c.within(principal)]

    async def stop_by(self, call_id: str, admin: Principal) -> None:
        call = self.calls.get(call_id)
        if call is None or not call.within(admin):
            raise NotFound(f"no live call {call_id} in progress in your scope")
        if admin.role != Role.ADMIN and admin.token_id != call.caller.token_id:
            raise Forbidden("only an admin, or the caller, may stop a call")
        await self.stop(call_id, Ending("stopped", f"stopped by {admin.name}", by=admin.name))


async def _say_ended(call: Call, ending: Ending) -> None:
    """Tell the caller the call is over, and why, then close its socket (once: later calls do nothing)."""
    if call.ws.closed:
        return
    try:
        await call.ws.send_json({"type": "ended", "call_id": call.id, "code": ending.code, "reason": ending.reason, "by": ending.by})
        await call.ws.close()
    except ConnectionError:
        pass  # the caller is gone: the devices are told all the same, which is what matters
