"""Live MP3 streams for off-the-shelf IP loudspeakers: GET /stream/{area}.mp3.

One station per area, shared by all its listeners: it plays silence, and each announcement for the
area as its audio becomes ready (chime, speech and repeats are in the clip), emergencies first and
interrupting, and outside quiet hours unless an emergency. The station sends whole MP3 frames at
the pace they play, so every listener gets the same bytes and no one encodes anything per listener.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import soundfile as sf
from aiohttp import web

from announcements.areas import normalize_area
from announcements.events import ANNOUNCEMENT, RETRACT
from announcements.models import Priority
from announcements.mp3frames import Frame, audio_frames
from announcements.quiet_hours import QuietHours
from broadcast_server.hub import StoredEvent

log = logging.getLogger(__name__)

SILENCE_RATE = 22050  # eSpeak NG's rate: the clips' rate, so the stream never changes sample rate
TICK_S = 0.2
LEAD_S = 0.6  # how far ahead of real time the station sends, so players never run dry
LISTENER_BACKLOG = 64  # chunks; a listener further behind is dropped (its player reconnects)
IDLE_STOP_S = 30.0


def _silence_frames() -> list[Frame]:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(SILENCE_RATE, dtype="float32"), SILENCE_RATE, format="MP3")
    return list(audio_frames(buffer.getvalue()))


@dataclass(order=True)
class _Item:
    rank: int
    seq: int
    announcement_id: str = field(compare=False)
    priority: str = field(compare=False)
    media: str = field(compare=False)


class Station:
    """The stream of one area: a queue of clips to play, and the listeners that hear it."""

    def __init__(self, area: str, *, load_clip: Callable[[str], list[Frame]], quiet: QuietHours, clock: Callable[[], datetime]):
        self.area = area
        self._load_clip = load_clip
        self._quiet = quiet
        self._clock = clock
        self.listeners: set[asyncio.Queue[bytes | None]] = set()
        self._waiting: list[_Item] = []
        self._silence = _silence_frames()
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

    def _frames(self) -> Iterator[tuple[Frame, _Item | None]]:
        """The endless sequence of frames: the best playable clip, else silence; an emergency preempts."""
        while True:
            item = self._next_playable()
            if item is None:
                for frame in self._silence[:8]:  # ~0.2 s, then look again
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
                if best is not None and best is not item and best.rank < item.rank:
                    interrupted = True  # an emergency arrived: it plays now, this one again after it
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
            if listener.qsize() >= LISTENER_BACKLOG:
                self.listeners.discard(listener)
                listener.put_nowait(None)  # tells the handler to end this response
            else:
                listener.put_nowait(chunk)


class Stations:
    """All live stations, fed by the hub's events; a station runs while it has listeners."""

    def __init__(self, *, media_dir, quiet: QuietHours, clock: Callable[[], datetime]):
        self._media_dir = media_dir
        self._quiet = quiet
        self._clock = clock
        self._stations: dict[str, Station] = {}
        self._load_clip = functools.lru_cache(maxsize=16)(self._read_clip)  # clips are small and immutable

    def _read_clip(self, name: str) -> list[Frame]:
        frames = list(audio_frames((self._media_dir / name).read_bytes()))
        if not frames:
            raise ValueError("no MP3 frames in the file")
        return frames

    def on_event(self, event: StoredEvent) -> None:
        """Hub listener: queue announcements with audio for every station their target covers."""
        if event.type not in (ANNOUNCEMENT, RETRACT) or not self._stations:
            return
        for station in self._stations.values():
            if event.target.tags or not event.target.covers_area(station.area):
                continue
            if event.type == RETRACT:
                station.withdraw(event.announcement_id)
                continue
            announcement = json.loads(event.data)["announcement"]
            audio = announcement.get("audio")
            if audio and audio.get("format") == "mp3":
                station.offer(
                    _Item(Priority(announcement["priority"]).rank, event.seq, announcement["id"],
                          announcement["priority"], audio["url"].rsplit("/", 1)[-1])
                )

    async def listen(self, request: web.Request) -> web.StreamResponse:
        """GET /stream/{area}.mp3: an endless MP3 response."""
        try:
            area = normalize_area("/" + request.match_info["area"])
        except ValueError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        station = self._stations.get(area)
        if station is None:
            station = self._stations[area] = Station(area, load_clip=self._load_clip, quiet=self._quiet, clock=self._clock)
            station.task = asyncio.create_task(station.run(), name=f"stream{area}")
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        station.listeners.add(queue)
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg", "Cache-Control": "no-cache, no-store", "icy-name": area})
        try:
            await response.prepare(request)
            while (chunk := await queue.get()) is not None:
                await response.write(chunk)
        except ConnectionError:
            pass  # the speaker went away
        finally:
            station.listeners.discard(queue)
            if not station.listeners:
                asyncio.get_running_loop().call_later(IDLE_STOP_S, self._stop_if_idle, area)
        return response

    def _stop_if_idle(self, area: str) -> None:
        station = self._stations.get(area)
        if station is not None and not station.listeners:
            del self._stations[area]
            if station.task is not None:
                station.task.cancel()

    async def close(self) -> None:
        for station in self._stations.values():
            for listener in station.listeners:
                listener.put_nowait(None)
            if station.task is not None:
                station.task.cancel()
        await asyncio.gather(*(s.task for s in self._stations.values() if s.task), return_exceptions=True)
        self._stations.clear()
