"""Audio playback: one play queue in priority order, and the ways of making the sound.

A loudspeaker says one thing at a time. The queue plays the most urgent announcement first; an
emergency interrupts whatever non-emergency is playing, and the interrupted one plays again right
after it. `repeat` is already rendered into the audio file by the server, so each entry plays once.
A retracted announcement leaves the queue, and stops if it is playing. When one plays to the end,
the client is told (it sends the `played` receipt).

A live call (实时喊话) is an entry of the same queue that plays the area's stream until the call ends
(`drop`): it interrupts anything but an emergency (an emergency call interrupts emergencies too), and
what it interrupted plays again after it. The client is told when its sound begins.
"""

from __future__ import annotations

import asyncio
import functools
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
from urllib.parse import urlencode

import aiohttp

from announcements.protocol import AnnouncementPayload, Priority, priority_rank
from announcements.quiet_hours import QuietSpan
from screen_client.store import LiveCall
from screen_client.urls import http_url

log = logging.getLogger(__name__)

PlayedCallback = Callable[[AnnouncementPayload], Awaitable[None]]
StartedCallback = Callable[[], Awaitable[None]]
LiveCallback = Callable[["LiveCall"], Awaitable[None]]

# What `--player auto` looks for, in order. aplay plays WAV only; the others also MP3 and Ogg. mpg123 and ffplay
# also play a live call's stream from its URL; paplay and aplay cannot (a call is then retried and logged, unheard).
AUTO_COMMANDS = (
    "mpg123 -q {file}",
    "ffplay -nodisp -autoexit -loglevel error {file}",
    "paplay {file}",
    "aplay -q {file}",
)
# Where an entry plays, smaller first: an emergency call, an emergency, any other call, then announcements by
# priority. An entry ranked at most _CALL_RANK interrupts one ranked after it.
_EMERGENCY_CALL_RANK, _EMERGENCY_RANK, _CALL_RANK = 0, 1, 2
QUIET_RECHECK_S = 1.0
RESTREAM_DELAY_S = 2.0  # a stream command that stopped during a call (the server dropped it) is run again after this


class PlaybackError(Exception):
    """One announcement could not be played (download or player command failed)."""


Playable = AnnouncementPayload | LiveCall


def _rank(item: Playable) -> int:
    rank = priority_rank(item.priority)
    if isinstance(item, LiveCall):
        return _EMERGENCY_CALL_RANK if rank == Priority.EMERGENCY.rank else _CALL_RANK
    return _EMERGENCY_RANK if rank == Priority.EMERGENCY.rank else _CALL_RANK + rank


def _sound(item: Playable) -> object:
    """What is heard: a new revision with the same sound does not restart it."""
    return item.stream_url if isinstance(item, LiveCall) else item.audio


@dataclass(slots=True)
class _Entry:
    rank: int
    order: int
    item: Playable

    @property
    def key(self) -> tuple[int, int]:
        return (self.rank, self.order)


def _expired(item: Playable) -> bool:
    """An announcement past its end; a call lasts until its `ended`."""
    return isinstance(item, AnnouncementPayload) and item.expires_at is not None and item.expires_at <= datetime.now(UTC)


class Player:
    """The play queue. Subclasses implement `play()` for one announcement and `play_live()` for a call; both must
    stop when cancelled."""

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

    async def play_live(self, call: LiveCall, started: StartedCallback) -> None:
        """Play the call's stream until cancelled; await `started()` once its sound begins."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the player holds (an HTTP session); the queue task is cancelled by its owner."""

    @property
    def playing(self) -> Playable | None:
        return None if self._current is None else self._current.item

    @property
    def queued(self) -> list[Playable]:
        """What waits to be played, in the order it will be."""
        return [e.item for e in sorted(self._queue, key=lambda e: e.key)]

    def enqueue(self, item: Playable) -> None:
        """Queue an announcement's audio or a live call (a newer revision, or a call's `started` again, replaces a
        queued one); an emergency or a call preempts what it outranks."""
        if isinstance(item, AnnouncementPayload) and item.audio is None:
            return
        current = self._current
        if current is not None and current.item.id == item.id and _sound(current.item) == _sound(item):
            current.item = item  # the same sound is playing already
            return
        queued = self._take_queued(item.id)
        order = queued.order if queued is not None else next(self._order)
        entry = _Entry(_rank(item), order, item)
        self._queue.append(entry)
        if current is not None and entry.rank <= _CALL_RANK and entry.rank < current.rank and not self._held(entry):
            log.info("%s %s interrupts %s; it will play again after", item.priority, item.id, current.item.id)
            if all(e.item.id != current.item.id for e in self._queue):
                self._queue.append(current)  # keeps its order: first of its rank again
            self._stop_current()
        self._wake.set()

    def set_quiet_hours(self, span: QuietSpan | None) -> None:
        """The area's quiet hours (from the server's welcome): only emergencies play during them."""
        self._quiet = span
        self._wake.set()

    def _held(self, entry: _Entry) -> bool:
        return entry.rank > _EMERGENCY_RANK and self._quiet is not None and self._quiet.is_quiet(self._clock())

    def drop(self, item_id: str) -> None:
        """The announcement was retracted, or the call ended: take it out of the queue, and stop it if it plays."""
        self._take_queued(item_id)
        if self._current is not None and self._current.item.id == item_id:
            log.info("stopping %s: retracted or ended", item_id)
            self._stop_current()

    def _take_queued(self, item_id: str) -> _Entry | None:
        for entry in self._queue:
            if entry.item.id == item_id:
                self._queue.remove(entry)
                return entry
        return None

    def _stop_current(self) -> None:
        self._current = None
        if self._play_task is not None:
            self._play_task.cancel()

    async def run(self, on_played: PlayedCallback, on_live: LiveCallback | None = None) -> None:
        """Play the queue forever; `on_played` is awaited for each announcement played to the end, `on_live` each
        time a call's sound begins (again after an interruption)."""
        try:
            while True:
                entry = await self._next()
                if _expired(entry.item):
                    log.info("not playing %s: expired while queued", entry.item.id)
                    continue
                self._current = entry
                self._play_task = asyncio.create_task(self._play_one(entry.item, on_live))
                await asyncio.wait({self._play_task})
                finished = self._current is entry and not self._play_task.cancelled() and self._play_task.result()
                self._play_task = None
                if self._current is entry:
                    self._current = None
                if finished and isinstance(entry.item, AnnouncementPayload):
                    await on_played(entry.item)
        finally:
            if self._play_task is not None:
                if not self._play_task.cancelling():  # a stop under way is not cut short: its command is reaped
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

    async def _play_one(self, item: Playable, on_live: LiveCallback | None) -> bool:
        try:
            if isinstance(item, LiveCall):
                await self.play_live(item, functools.partial(on_live or _ignore, item))
            else:
                await self.play(item)
        except (PlaybackError, OSError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not play %s: %s", item.id, exc)
            return False
        except Exception:
            log.exception("player failed on %s", item.id)
            return False
        return True


async def _ignore(call: LiveCall) -> None:
    """No one wants to know when a call begins to sound."""


@dataclass(slots=True)
class PlayRecord:
    """What a NullPlayer would have played: when it started, and when it ended or was interrupted (a call is
    always stopped: by its end or by an emergency)."""

    announcement_id: str  # or a live call's id
    revision: int | None  # None for a live call
    url: str  # the audio's, or the call's stream_url
    started_at: float
    ended_at: float | None = None
    interrupted: bool = False


class NullPlayer(Player):
    """Plays nothing, records everything: for silent screens and for tests.

    With `time_scale` > 0 each announcement "plays" for `duration_s * time_scale` seconds, so that
    preemption can be observed. A live call "plays" until it is stopped.
    """

    def __init__(self, *, time_scale: float = 0.0, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(clock=clock)
        self.time_scale = time_scale
        self.records: list[PlayRecord] = []

    async def play(self, announcement: AnnouncementPayload) -> None:
        assert announcement.audio is not None
        record = PlayRecord(announcement.id, announcement.revision, announcement.audio.url, time.time())
        self.records.append(record)
        await self._last(record, asyncio.sleep(announcement.audio.duration_s * self.time_scale))

    async def play_live(self, call: LiveCall, started: StartedCallback) -> None:
        record = PlayRecord(call.id, None, call.stream_url, time.time())
        self.records.append(record)

        async def stream() -> None:
            await started()
            await asyncio.Event().wait()  # a stream never ends by itself

        await self._last(record, stream())

    @staticmethod
    async def _last(record: PlayRecord, playing: Awaitable[object]) -> None:
        """Await `playing`, noting in the record when it ended and whether it was cut off."""
        try:
            await playing
        except asyncio.CancelledError:
            record.interrupted = True
            raise
        finally:
            record.ended_at = time.time()


class CommandPlayer(Player):
    """Plays each announcement with a command such as `mpg123 -q {file}`, after downloading its audio.

    The audio is fetched from the server (`audio.url`, relative to the server's base URL, with the
    screen's token) into `cache_dir` once; a preempted or retracted playback kills the command.
    A live call is given to the command as the stream's URL instead of a file (mpg123 and ffplay play
    URLs), with the token in its query: a command cannot send a header. It runs until the call ends
    (then it is killed), and is run again if it stops before (the server drops a listener that falls behind).
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
        await self._run(str(path))

    async def play_live(self, call: LiveCall, started: StartedCallback) -> None:
        url = self.stream_address(call.stream_url)
        begun: StartedCallback | None = started
        while True:
            try:
                await self._run(url, begun)
                why = "it ended"
            except PlaybackError as exc:
                why = str(exc).replace(self._token, "…")  # the URL in a command's complaint carries the token
            begun = None
            log.warning("the stream of call %s stopped (%s); playing it again in %.0f s", call.id, why, RESTREAM_DELAY_S)
            await asyncio.sleep(RESTREAM_DELAY_S)

    def stream_address(self, stream_url: str) -> str:
        """The stream's absolute URL with the screen's token in its query."""
        return f"{http_url(self.server_url, stream_url)}?{urlencode({'token': self._token})}"

    async def _run(self, target: str, started: StartedCallback | None = None) -> None:
        """The command on `target` (a file or a URL) until it ends, awaiting `started()` once it runs; killed when
        cancelled. PlaybackError when it fails."""
        argv = [arg.replace("{file}", target) for arg in self.argv]
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            if started is not None:
                await started()
            _, stderr = await process.communicate()
        except BaseException:  # cancelled (preempted, retracted, ended), or `started` failed: no command left behind
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
