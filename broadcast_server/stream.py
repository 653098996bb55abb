"""Live MP3 streams for off-the-shelf IP loudspeakers: GET /stream/{area}.mp3.

One station per area, shared by all its listeners: it plays silence, and each announcement for the
area as its audio becomes ready (chime, speech and repeats are in the clip), emergencies first and
interrupting, and outside quiet hours unless an emergency. A live call (broadcast_server/live.py) to
the area or one above it is played as it is spoken, before every clip but an emergency's (unless it
is one itself); the clip it interrupted plays again after it. The station sends whole MP3 frames at
the pace they play, so every listener gets the same bytes and no one encodes anything per listener.

Streams follow `media_public`: when it is off, a listener needs a token whose area covers the
stream's, or lies under it (everything a station plays is for every area under its own: a live call
to a whole township is heard on the township's station by each village's speakers), in the header
or (IP speakers often take only a URL) as `?token=`. Only areas that exist have stations, and
listeners are capped per area and in all, so anonymous callers cannot make the server encode or
send without bound.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import soundfile as sf
from aiohttp import web

from announcements import mediastore
from announcements.areas import covers, normalize_area
from announcements.database import Database
from announcements.models import Area, Role
from announcements.mp3frames import Frame, audio_frames
from announcements.protocol import AnnouncementEvent, Retract, priority_rank
from announcements.quiet_hours import QuietHours
from announcements.targeting import Target
from announcements.voicing import media_name
from broadcast_server.auth import require_principal
from broadcast_server.hub import StoredEvent
from broadcast_server.metrics import Metrics
from broadcast_server.problems import Problem
from broadcast_server.settings import Settings

log = logging.getLogger(__name__)

SILENCE_RATE = 22050  # eSpeak NG's rate: the clips' rate, so the stream never changes sample rate
TICK_S = 0.2
LEAD_S = 0.6  # how far ahead of real time the station sends, so players never run dry
LISTENER_BACKLOG = 64  # chunks; a listener further behind is dropped (its player reconnects)
IDLE_STOP_S = 30.0
LIVE_BACKLOG_S = 0.5  # a live call's sound not yet played; older sound is dropped, so a stall never delays the rest of a call
RETRY_AFTER_S = 30  # a full stream: speakers retry on their own, no sooner than this is useful
# Every role: a speaker's screen token, or staff trying the stream; each only within its own area.
LISTENER_ROLES = (Role.SCREEN, Role.ADMIN, Role.COMMITTEE, Role.WORKER)


@functools.cache
def _silence_frames() -> tuple[Frame, ...]:
    """About 0.2 s of silence, encoded once per process: an MP3 encode blocks the loop for ~10 ms."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(SILENCE_RATE, dtype="float32"), SILENCE_RATE, format="MP3")
    return tuple(audio_frames(buffer.getvalue()))[:8]


@dataclass(eq=False)
class _Listener:
    """One speaker's response: the chunks waiting for it, and the connection it is written to."""

    queue: asyncio.Queue[bytes | None]
    transport: asyncio.Transport | None

    def end(self) -> None:
        """End the response now, even while a write waits on a speaker that stopped reading."""
        self.queue.put_nowait(None)
        if self.transport is not None:
            self.transport.abort()  # close() would wait for the unsent bytes to drain first


@dataclass(order=True)
class _Item:
    rank: int
    seq: int
    announcement_id: str = field(compare=False)
    priority: str = field(compare=False)
    media: str = field(compare=False)


@dataclass(eq=False)
class LiveFeed:
    """A live call as one station plays it: the call's frames as they come, the oldest dropped when it falls behind."""

    call_id: str
    rank: int
    priority: str
    frames: deque[Frame] = field(default_factory=deque)
    ended: bool = False

    def push(self, frames: Iterable[Frame]) -> None:
        self.frames.extend(frames)
        while self.frames and len(self.frames) * self.frames[0].duration_s > LIVE_BACKLOG_S:
            self.frames.popleft()

    @property
    def over(self) -> bool:
        """Ended and played to its last frame."""
        return self.ended and not self.frames


class Station:
    """The stream of one area: a queue of clips to play, and the listeners that hear it."""

    def __init__(self, area: str, *, load_clip: Callable[[str], list[Frame]], quiet: QuietHours, clock: Callable[[], datetime]):
        self.area = area
        self._load_clip = load_clip
        self._quiet = quiet
        self._clock = clock
        self.listeners: set[_Listener] = set()
        self.live: LiveFeed | None = None
        self._waiting: list[_Item] = []
        self._wake = asyncio.Event()
        self.task: asyncio.Task | None = None

    def offer(self, item: _Item) -> None:
        self._waiting = [i for i in self._waiting if i.announcement_id != item.announcement_id]
        self._waiting.append(item)
        self._waiting.sort()
        self._wake.set()

    def withdraw(self, announcement_id: str) -> None:
        self._waiting = [i for i in self._waiting if i.announcement_id != announcement_id]
        self._wake.set()

    def _next_playable(self) -> _Item | None:
        now = self._clock()
        for item in self._waiting:
            if not self._quiet.holds(area=self.area, priority=item.priority, at=now):
                return item
        return None

    def _live_now(self) -> LiveFeed | None:
        """The live call to play now, if any: not in quiet hours (unless it is an emergency), not over an emergency."""
        feed = self.live
        if feed is not None and feed.over:
            feed = self.live = None
        if feed is None or self._quiet.holds(area=self.area, priority=feed.priority, at=self._clock()):
            return None
        best = self._next_playable()
        return None if best is not None and best.rank < feed.rank else feed

    def _frames(self) -> Iterator[tuple[Frame, _Item | None]]:
        """The endless sequence of frames: a live call, else the best playable clip, else silence; an emergency
        preempts a clip or a call, and a call preempts a clip."""
        while True:
            feed = self._live_now()
            if feed is not None:  # the call's sound as it comes; a moment of silence while the next piece is on its way
                yield (feed.frames.popleft() if feed.frames else _silence_frames()[0]), None
                continue
            item = self._next_playable()
            if item is None:
                for frame in _silence_frames():  # ~0.2 s, then look again
                    yield frame, None
                continue
            try:
                frames = self._load_clip(item.media)
            except (OSError, ValueError) as exc:
                log.error("stream %s: cannot play %s: %s", self.area, item.media, exc)
                self.withdraw(item.announcement_id)
                continue
            interrupted = False
            for frame in frames:
                best = self._next_playable()
                if (best is not None and best is not item and best.rank < item.rank) or self._live_now() is not None:
                    interrupted = True  # an emergency or a live call arrived: it plays now, this one again after it
                    break
                yield frame, item
            if not interrupted:
                self.withdraw(item.announcement_id)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent_s = 0.0
        frames = self._frames()
        while True:
            chunk = bytearray()
            while sent_s < loop.time() - started + LEAD_S:
                frame, _ = next(frames)
                chunk += frame.data
                sent_s += frame.duration_s
            if chunk:
                self._broadcast(bytes(chunk))
            await asyncio.sleep(TICK_S)

    def _broadcast(self, chunk: bytes) -> None:
        for listener in list(self.listeners):
            if listener.queue.qsize() >= LISTENER_BACKLOG:
                self.listeners.discard(listener)
                listener.end()  # its player reconnects
            else:
                listener.queue.put_nowait(chunk)


class Stations:
    """All live stations, fed by the hub's events; a station runs while it has listeners."""

    def __init__(
        self, *, db: Database, settings: Settings, quiet: QuietHours, clock: Callable[[], datetime], metrics: Metrics | None = None
    ):
        self._db = db
        self._metrics = metrics or Metrics()
        self._settings = settings
        self._media_dir = settings.media_dir
        self._quiet = quiet
        self._clock = clock
        self._stations: dict[str, Station] = {}
        self._calls: dict[str, tuple[Target, int, str]] = {}  # live calls in progress: their areas, rank and priority
        self._closing = False
        self._fetching: dict[str, asyncio.Task] = {}  # announcement id -> its clip being copied from the media store
        self._load_clip = functools.lru_cache(maxsize=16)(self._read_clip)  # clips are small and immutable

    def _read_clip(self, name: str) -> list[Frame]:
        frames = list(audio_frames((self._media_dir / name).read_bytes()))
        if not frames:
            raise ValueError("no MP3 frames in the file")
        return frames

    def on_event(self, event: StoredEvent) -> None:
        """Hub listener: queue announcements with audio for every station their target covers."""
        message = event.message
        if not isinstance(message, AnnouncementEvent | Retract) or not self._stations:
            return
        announcement_id = message.announcement_id if isinstance(message, Retract) else message.announcement.id
        fetching = self._fetching.pop(announcement_id, None)
        if fetching is not None:
            fetching.cancel()  # a newer revision, or a retract, of what was still being copied here
        item = _playable(message) if isinstance(message, AnnouncementEvent) else None
        if item is not None and not (self._media_dir / item.media).is_file():
            # made on another replica: copied from the media store (announcements/mediastore.py) before it is queued
            self._fetching[item.announcement_id] = asyncio.get_running_loop().create_task(
                self._offer_when_local(event.target, message, item)
            )
            return
        self._offer(event.target, message, item)

    def _offer(self, target: Target, message: AnnouncementEvent | Retract, item: _Item | None) -> None:
        for station in self._stations.values():
            if target.tags or not target.covers_area(station.area):
                continue
            if isinstance(message, Retract):
                station.withdraw(message.announcement_id)
            elif item is not None:
                station.offer(item)

    async def _offer_when_local(self, target: Target, message: AnnouncementEvent, item: _Item) -> None:
        try:
            found = await mediastore.local(self._media_dir, item.media)
        except Exception:  # the database away: this clip is not streamed here, and nothing else is held up
            log.exception("stream: cannot copy %s from the media store", item.media)
            found = False
        del self._fetching[item.announcement_id]  # still this task's: a newer event would have cancelled it
        if found:
            self._offer(target, message, item)
        else:
            log.error("stream: the clip %s of %s is on no replica's disk nor in the media store", item.media, item.announcement_id)

    def call_started(self, call_id: str, areas: Iterable[str], priority: str) -> None:
        """A live call to these areas begins: every station under them plays it (those made meanwhile too)."""
        self._calls[call_id] = (Target(areas=tuple(areas)), priority_rank(priority), priority)
        for station in self._stations.values():
            self._tune(station, call_id)

    def call_sound(self, call_id: str, frames: list[Frame]) -> None:
        for station in self._stations.values():
            if station.live is not None and station.live.call_id == call_id:
                station.live.push(frames)

    def call_ended(self, call_id: str) -> None:
        """The call is over: its stations play what they hold of it, then their schedule again."""
        self._calls.pop(call_id, None)
        for station in self._stations.values():
            if station.live is not None and station.live.call_id == call_id:
                station.live.ended = True

    def _tune(self, station: Station, call_id: str) -> None:
        target, rank, priority = self._calls[call_id]
        if target.covers_area(station.area) and (station.live is None or station.live.over):
            station.live = LiveFeed(call_id, rank, priority)

    async def listen(self, request: web.Request) -> web.StreamResponse:
        """GET /stream/{area}.mp3: an endless MP3 response.

        Checked in this order so that nothing leaks: the path's form (404), the token (401) and its
        scope (403) when streams are not public, then whether the area exists (404), then the caps
        (503). Only then is a station made.
        """
        try:
            area = normalize_area("/" + request.match_info["area"])
        except ValueError as exc:
            raise Problem(404, f"no stream here: {exc}") from None
        if not self._settings.media_public:
            caller = await require_principal(request, *LISTENER_ROLES, query_parameter="token")
            if not covers(area, caller.area):  # a station above the caller's area plays only what is meant for it too
                caller.require_scope(area)
        if area not in self._stations and not await self._area_exists(area):
            raise Problem(404, f"no area {area}")
        station, listener = self._admit(area, request.transport)
        self._metrics.stream_listeners.inc()
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg", "Cache-Control": "no-cache, no-store", "icy-name": area})
        try:
            await response.prepare(request)
            while (chunk := await listener.queue.get()) is not None:
                await response.write(chunk)
        except ConnectionError:
            pass  # the speaker went away, or was ended
        finally:
            self._metrics.stream_listeners.dec()
            station.listeners.discard(listener)
            if not station.listeners:
                asyncio.get_running_loop().call_later(IDLE_STOP_S, self._stop_if_idle, area)
        return response

    async def _area_exists(self, area: str) -> bool:
        async with self._db.read() as session:
            return await session.get(Area, area) is not None

    def _admit(self, area: str, transport: asyncio.Transport | None) -> tuple[Station, _Listener]:
        """Add a listener to the area's station (made if need be), or refuse with 503 naming the cap.

        No await in here: the count checked is the count the listener joins.
        """
        if self._closing:  # a listener still being checked when shutdown began must not hold it up
            raise _unavailable("the server is shutting down")
        station = self._stations.get(area)
        per_area = self._settings.stream_max_listeners_per_area
        if station is not None and len(station.listeners) >= per_area:
            raise _unavailable(f"the stream of {area} has its maximum of {per_area} listeners (stream_max_listeners_per_area)")
        total = self._settings.stream_max_listeners
        if sum(len(s.listeners) for s in self._stations.values()) >= total:
            raise _unavailable(f"this server has its maximum of {total} stream listeners (stream_max_listeners)")
        if station is None:
            station = self._stations[area] = Station(area, load_clip=self._load_clip, quiet=self._quiet, clock=self._clock)
            for call_id in self._calls:
                self._tune(station, call_id)
            station.task = asyncio.create_task(station.run(), name=f"stream{area}")
        listener = _Listener(asyncio.Queue(), transport)
        station.listeners.add(listener)
        return station, listener

    def _stop_if_idle(self, area: str) -> None:
        station = self._stations.get(area)
        if station is not None and not station.listeners:
            del self._stations[area]
            if station.task is not None:
                station.task.cancel()

    def end_listeners(self) -> None:
        """Shutdown: end every listener now and admit no more, so the server need not wait for them."""
        self._closing = True
        for station in self._stations.values():
            for listener in station.listeners:
                listener.end()
            station.listeners.clear()

    async def close(self) -> None:
        self.end_listeners()
        for fetching in self._fetching.values():
            fetching.cancel()
        for station in self._stations.values():
            if station.task is not None:
                station.task.cancel()
        await asyncio.gather(*(s.task for s in self._stations.values() if s.task), return_exceptions=True)
        self._stations.clear()


def _playable(event: AnnouncementEvent) -> _Item | None:
    """The clip a station plays for this revision: its MP3, if it has one."""
    announcement = event.announcement
    audio = announcement.audio
    name = media_name(audio.url) if audio is not None and audio.format == "mp3" else None
    if name is None:
        return None
    return _Item(priority_rank(announcement.priority), event.seq, announcement.id, announcement.priority, name)


def _unavailable(reason: str) -> Problem:
    return Problem(503, f"{reason}; try again later", headers={"Retry-After": str(RETRY_AFTER_S)})
