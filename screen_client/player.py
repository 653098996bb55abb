"""Audio playback: one play queue in priority order, and the ways of making the sound.

A loudspeaker says one thing at a time. The queue plays the most urgent announcement first; an
emergency interrupts whatever non-emergency is playing, and the interrupted one plays again right
after it. `repeat` is already rendered into the audio file by the server, so each entry plays once.
A retracted announcement leaves the queue, and stops if it is playing. When one plays to the end,
the client is told (it sends the `played` receipt).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import re
import shlex
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from announcements.protocol import AnnouncementPayload, Priority, priority_rank
from announcements.quiet_hours import QuietSpan
from screen_client.urls import http_url

log = logging.getLogger(__name__)

PlayedCallback = Callable[[AnnouncementPayload], Awaitable[None]]

# What `--player auto` looks for, in order. aplay plays WAV only; the others also MP3 and Ogg.
AUTO_COMMANDS = (
    "mpg123 -q {file}",
    "ffplay -nodisp -autoexit -loglevel error {file}",
    "paplay {file}",
    "aplay -q {file}",
)
_EMERGENCY_RANK = Priority.EMERGENCY.rank
QUIET_RECHECK_S = 1.0


class PlaybackError(Exception):
    """One announcement could not be played (download or player command failed)."""


@dataclass(slots=True)
class _Entry:
    rank: int
    order: int
    announcement: AnnouncementPayload

    @property
    def key(self) -> tuple[int, int]:
        return (self.rank, self.order)


def _expired(announcement: AnnouncementPayload) -> bool:
    return announcement.expires_at is not None and announcement.expires_at <= datetime.now(UTC)


class Player:
    """The play queue. Subclasses implement `play()` for one announcement; it must stop when cancelled."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._quiet: QuietSpan | None = None
        self._queue: list[_Entry] = []
        self._current: _Entry | None = None
        self._play_task: asyncio.Task[bool] | None = None
        self._wake = asyncio.Event()
        self._order = itertools.count()

    async def play(self, announcement: AnnouncementPayload) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the player holds (an HTTP session); the queue task is cancelled by its owner."""

    @property
    def playing(self) -> AnnouncementPayload | None:
        return None if self._current is None else self._current.announcement

    @property
    def queued(self) -> list[AnnouncementPayload]:
        """What waits to be played, in the order it will be."""
        return [e.announcement for e in sorted(self._queue, key=lambda e: e.key)]

    def enqueue(self, announcement: AnnouncementPayload) -> None:
        """Queue an announcement's audio (a newer revision replaces a queued one); an emergency preempts."""
        if announcement.audio is None:
            return
        current = self._current
        if (
            current is not None
            and current.announcement.id == announcement.id
            and current.announcement.audio == announcement.audio
        ):
            current.announcement = announcement  # the same sound is playing already
            return
        queued = self._take_queued(announcement.id)
        order = queued.order if queued is not None else next(self._order)
        entry = _Entry(priority_rank(announcement.priority), order, announcement)
        self._queue.append(entry)
        if current is not None and entry.rank == _EMERGENCY_RANK and current.rank > _EMERGENCY_RANK:
            log.info("emergency %s interrupts %s; it will play again after", announcement.id, current.announcement.id)
            if all(e.announcement.id != current.announcement.id for e in self._queue):
                self._queue.append(current)  # keeps its order: first of its priority again
            self._stop_current()
        self._wake.set()

    def set_quiet_hours(self, span: QuietSpan | None) -> None:
        """The area's quiet hours (from the server's welcome): only emergencies play during them."""
        self._quiet = span
        self._wake.set()

    def _held(self, entry: _Entry) -> bool:
        return entry.rank != _EMERGENCY_RANK and self._quiet is not None and self._quiet.is_quiet(self._clock())

    def drop(self, announcement_id: str) -> None:
        """The announcement was retracted: take it out of the queue, and stop it if it is playing."""
        self._take_queued(announcement_id)
        if self._current is not None and self._current.announcement.id == announcement_id:
            log.info("stopping %s: retracted", announcement_id)
            self._stop_current()

    def _take_queued(self, announcement_id: str) -> _Entry | None:
        for entry in self._queue:
            if entry.announcement.id == announcement_id:
                self._queue.remove(entry)
                return entry
        return None

    def _stop_current(self) -> None:
        self._current = None
        if self._play_task is not None:
            self._play_task.cancel()

    async def run(self, on_played: PlayedCallback) -> None:
        """Play the queue forever; `on_played` is awaited for each announcement played to the end."""
        try:
            while True:
                entry = await self._next()
                if _expired(entry.announcement):
                    log.info("not playing %s: expired while queued", entry.announcement.id)
                    continue
                self._current = entry
                self._play_task = asyncio.create_task(self._play_one(entry.announcement))
                await asyncio.wait({self._play_task})
                finished = self._current is entry and not self._play_task.cancelled() and self._play_task.result()
                self._play_task = None
                if self._current is entry:
                    self._current = None
                if finished:
                    await on_played(entry.announcement)
        finally:
            if self._play_task is not None:
                self._play_task.cancel()
                await asyncio.gather(self._play_task, return_exceptions=True)
                self._play_task = None
            self._current = None

    async def _next(self) -> _Entry:
        """The most urgent entry that may play now; during quiet hours the rest wait for their end."""
        while True:
            playable = [e for e in self._queue if not self._held(e)]
            if playable:
                entry = min(playable, key=lambda e: e.key)
                self._queue.remove(entry)
                return entry
            self._wake.clear()
            try:
                # Held entries are looked at again every few seconds (the clock, not an event, ends quiet hours).
                await asyncio.wait_for(self._wake.wait(), timeout=QUIET_RECHECK_S if self._queue else None)
            except TimeoutError:
                pass

    async def _play_one(self, announcement: AnnouncementPayload) -> bool:
        try:
            await self.play(announcement)
        except (PlaybackError, OSError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not play %s: %s", announcement.id, exc)
            return False
        except Exception:
            log.exception("player failed on %s", announcement.id)
            return False
        return True


@dataclass(slots=True)
class PlayRecord:
    """What a NullPlayer would have played: when it started, and when it ended or was interrupted."""

    announcement_id: str
    revision: int
    url: str
    started_at: float
    ended_at: float | None = None
    interrupted: bool = False


class NullPlayer(Player):
    """Plays nothing, records everything: for silent screens and for tests.

    With `time_scale` > 0 each announcement "plays" for `duration_s * time_scale` seconds, so that
    preemption can be observed.
    """

    def __init__(self, *, time_scale: float = 0.0, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(clock=clock)
        self.time_scale = time_scale
        self.records: list[PlayRecord] = []

    async def play(self, announcement: AnnouncementPayload) -> None:
        assert announcement.audio is not None
        record = PlayRecord(announcement.id, announcement.revision, announcement.audio.url, time.time())
        self.records.append(record)
        try:
            await asyncio.sleep(announcement.audio.duration_s * self.time_scale)
        except asyncio.CancelledError:
            record.interrupted = True
            raise
        finally:
            record.ended_at = time.time()


class CommandPlayer(Player):
    """Plays each announcement with a command such as `mpg123 -q {file}`, after downloading its audio.

    The audio is fetched from the server (`audio.url`, relative to the server's base URL, with the
    screen's token) into `cache_dir` once; a preempted or retracted playback kills the command.
    """

    def __init__(
        self,
        template: str,
        *,
        server_url: str,
        token: str,
        cache_dir: Path,
        download_timeout: float = 60.0,
        download_attempts: int = 3,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.argv = shlex.split(template)
        if not self.argv:
            raise ValueError("player command is empty")
        if not any("{file}" in arg for arg in self.argv):
            self.argv.append("{file}")
        self.server_url = server_url
        self.cache_dir = cache_dir
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=download_timeout)
        self._attempts = download_attempts
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def play(self, announcement: AnnouncementPayload) -> None:
        assert announcement.audio is not None
        path = await self.fetch(announcement.audio.url, announcement.audio.format)
        argv = [arg.replace("{file}", str(path)) for arg in self.argv]
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            _, stderr = await process.communicate()
        except asyncio.CancelledError:
            await _terminate(process)
            raise
        if process.returncode != 0:
            tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise PlaybackError(f"{argv[0]} exited with {process.returncode}: {tail[0]}")

    async def fetch(self, url: str, audio_format: str) -> Path:
        """The audio file in the cache, downloaded first if needed (names come from the URL's hash)."""
        suffix = re.sub(r"[^a-z0-9]", "", audio_format.lower())[:8] or "bin"
        path = self.cache_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.{suffix}"
        if path.exists() and path.stat().st_size > 0:
            return path
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        absolute = http_url(self.server_url, url)
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._download(absolute, path)
                return path
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                if attempt >= self._attempts:
                    raise PlaybackError(f"download of {absolute} failed: {exc!r}") from exc
                await asyncio.sleep(attempt)

    async def _download(self, url: str, path: Path) -> None:
        assert self._session is not None
        partial = path.with_name(path.name + ".part")
        async with self._session.get(url, headers={"Authorization": f"Bearer {self._token}"}) as response:
            if response.status != 200:
                raise PlaybackError(f"GET {url} answered {response.status}")
            with partial.open("wb") as out:
                async for chunk in response.content.iter_chunked(64 * 1024):
                    out.write(chunk)
        os.replace(partial, path)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    """Stop a player command now: SIGTERM, then SIGKILL if it lingers."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=2.0)
    except TimeoutError:
        process.kill()
        await process.wait()


def make_player(spec: str, *, server_url: str, token: str, cache_dir: Path) -> Player:
    """`null`, `auto` (the first of mpg123/ffplay/paplay/aplay found on PATH, else null), or a command."""
    if spec == "null":
        return NullPlayer()
    if spec == "auto":
        for template in AUTO_COMMANDS:
            if shutil.which(template.split()[0]):
                log.info("playing audio with %s", template.split()[0])
                return CommandPlayer(template, server_url=server_url, token=token, cache_dir=cache_dir)
        log.warning("no audio player found on PATH (mpg123, ffplay, paplay, aplay): this screen stays silent")
        return NullPlayer()
    argv = shlex.split(spec)
    if not argv or shutil.which(argv[0]) is None:
        raise ValueError(f"player command not found: {spec!r}")
    return CommandPlayer(spec, server_url=server_url, token=token, cache_dir=cache_dir)
