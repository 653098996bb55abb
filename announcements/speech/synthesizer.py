"""The asyncio face of speech: announcement text (or a stored recording) in, cached MP3 and Ogg Opus files out.

All blocking work (eSpeak NG, mixing, encoding, writing) happens in worker
processes; the event loop only hashes the inputs, looks for the clip on disk
and awaits a pipe. Clips are named by a hash of everything that shapes them, so
the same announcement is synthesized once, ever, per cache directory; where
replicas share their media (announcements/mediastore.py), once for the whole
deployment: a clip another replica made is copied from the store. What is
said is `spoken(text, language, pronunciations)`: Mandarin with the deployment's words said as listed (读音)
and its numbers in words (normalize.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from announcements import mediastore
from announcements.files import private_dir, private_files

from . import cache, normalize
from .engine import RATE_RANGE, VOICES, espeak_version, voice_for
from .errors import SpeechFailed
from .render import RenderJob
from .worker import AttemptFailed, Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechResult:
    """A clip ready to serve: file names in the cache directory and how long it plays."""

    mp3_name: str
    ogg_name: str
    duration_s: float
    """The whole clip: chime, every repeat and the pauses between."""
    repeat: int
    cached: bool
    """True when this call synthesized nothing (the clip was on disk, already being made, or made by another replica)."""


class SpeechSynthesizer:
    """Turns announcement text into cached speech clips, off the event loop.

    Use as `async with SpeechSynthesizer(dir) as speech:` or call `start()` and
    `close()` (an aiohttp cleanup context does the latter).
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        rate: int = 170,
        volume: float = 1.0,
        chime: Path | None = None,
        pause_s: float = 1.0,
        timeout_s: float = 60.0,
        retries: int = 2,
        workers: int = 1,
    ) -> None:
        """`rate` in words per minute; `volume` scales the normalized loudness (1.0 = the standard level);
        `chime` a sound file played first (None: a built-in two-tone chime); `pause_s` between the chime
        and each repeat; `timeout_s` per attempt before its worker is killed; `retries` after a failed
        attempt; `workers` processes synthesizing in parallel.
        """
        if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
            raise ValueError(f"rate must be {RATE_RANGE[0]}-{RATE_RANGE[1]} words per minute, got {rate}")
        if not 0 < volume <= 1:
            raise ValueError(f"volume must be above 0 and at most 1, got {volume}")
        if pause_s < 0 or timeout_s <= 0 or retries < 0 or workers < 1:
            raise ValueError("pause_s and retries must not be negative, timeout_s and workers must be positive")
        self.cache_dir = Path(cache_dir)
        self._rate = rate
        self._volume = volume
        self._chime = chime.resolve() if chime is not None else None
        self._pause_s = pause_s
        self._retries = retries
        self._timeout_s = timeout_s
        self._workers = [Worker(timeout_s) for _ in range(workers)]
        self._idle: asyncio.Queue[Worker] = asyncio.Queue()
        self._inflight: dict[str, asyncio.Task[tuple[float, bool]]] = {}
        self._chime_id: str | None = None
        self._espeak_version = ""
        self._closed = False

    async def start(self) -> None:
        """Create the cache directory and start the workers; SpeechFailed if speech cannot work here."""
        await asyncio.to_thread(_private_cache_dir, self.cache_dir)
        chime_id = "built-in" if self._chime is None else await asyncio.to_thread(_chime_identity, self._chime)
        self._espeak_version = await asyncio.to_thread(espeak_version)
        try:
            await asyncio.gather(*(worker.start() for worker in self._workers))
        except BaseException:
            await asyncio.gather(*(worker.kill() for worker in self._workers))
            raise
        for worker in self._workers:
            self._idle.put_nowait(worker)
        self._chime_id = chime_id  # from here on, synthesize() is open

    async def close(self) -> None:
        """Abandon clips in progress (nothing half-written stays under a final name) and stop the workers."""
        self._closed = True
        pending = list(self._inflight.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(worker.close() for worker in self._workers))

    async def __aenter__(self) -> SpeechSynthesizer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def synthesize(
        self, text: str, language: str, repeat: int = 1, *, pronunciations: Pronunciations | None = None
    ) -> SpeechResult:
        """The clip for an announcement: from the cache, from a synthesis already under way, or made now.

        `pronunciations` is the deployment's list as it is now: the key holds the spoken text, so a changed
        word re-synthesizes the clips that contain it and no other.
        SpeechFailed (with the reason) when the text cannot be spoken in that language.
        """
        return await self._clip(self._job(text, language, repeat, pronunciations))

    async def render_recording(self, recording: Path, repeat: int = 1) -> SpeechResult:
        """The clip for an announcement with a stored recording (recording.py): chime, the recording `repeat` times
        with the pauses between, cached like speech. SpeechFailed when the recording is not stored."""
        self._require_running()
        if repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {repeat}")
        await mediastore.local(recording.parent, recording.name)  # uploaded on another replica: copied here first
        try:
            seconds = await asyncio.to_thread(lambda: sf.info(recording).duration)
        except (OSError, RuntimeError) as exc:
            raise SpeechFailed(f"the recording {recording.name} cannot be read: {exc}") from exc
        key = cache.cache_key(
            recording=recording.stem, volume=self._volume, repeat=repeat, pause_s=self._pause_s, chime=self._chime_id
        )
        job = self._render_job(key, repeat, text="", voice="", recording=str(recording))
        # encoding takes about a second per minute of clip on a small box: a long recording gets longer
        return await self._clip(job, timeout_s=self._timeout_s + seconds * repeat / 10)

    async def _clip(self, job: RenderJob, timeout_s: float | None = None) -> SpeechResult:
        """From the cache, from a render already under way, or rendered now."""
        duration = cache.lookup(self.cache_dir, job.key)
        if duration is not None:
            return _result(job, duration, cached=True)
        task = self._inflight.get(job.key)
        if task is not None:
            return _result(job, (await asyncio.shield(task))[0], cached=True)
        task = asyncio.create_task(self._make(job, timeout_s))
        self._inflight[job.key] = task
        task.add_done_callback(lambda _: self._inflight.pop(job.key, None))
        duration, rendered = await asyncio.shield(task)
        return _result(job, duration, cached=not rendered)

    async def _make(self, job: RenderJob, timeout_s: float | None) -> tuple[float, bool]:
        """(duration, rendered): the clip copied from the media store when another replica made it, else rendered
        here and put there. One replica at a time renders a clip; the others wait their turn and copy it."""
        copied = await self._copied(job.key)
        if copied is not None:
            return copied, False
        worker = await self._idle.get()
        try:
            async with mediastore.turn(self.cache_dir, job.key):
                copied = await self._copied(job.key)  # made by the replica whose turn came first
                if copied is not None:
                    return copied, False
                duration = await self._render(worker, job, timeout_s)
                await mediastore.share(self.cache_dir, *cache.clip_names(job.key))
                return duration, True
        finally:
            self._idle.put_nowait(worker)

    async def _copied(self, key: str) -> float | None:
        """The duration of a clip in the media store, copied into the cache dir (its record last); else None."""
        names = cache.clip_names(key)
        if not await mediastore.stored(self.cache_dir, names[-1]):
            return None
        for name in names:
            if not await mediastore.local(self.cache_dir, name):
                return None
        log.info("speech %s: made by another replica, copied from the media store", key)
        return cache.lookup(self.cache_dir, key)

    async def preview(self, text: str, language: str, pronunciations: Pronunciations | None = None) -> bytes:
        """The MP3 of a text said once, for the committee to listen to before posting (cached too)."""
        result = await self.synthesize(text, language, repeat=1, pronunciations=pronunciations)
        return await asyncio.to_thread((self.cache_dir / result.mp3_name).read_bytes)

    def _require_running(self) -> None:
        if self._closed or self._chime_id is None:
            raise RuntimeError("the speech synthesizer is not running (start() it first, and not after close())")

    def _job(self, text: str, language: str, repeat: int, pronunciations: Pronunciations | None) -> RenderJob:
        self._require_running()
        voice = voice_for(language)
        words = spoken(text, language, pronunciations)
        if not any(char.isalnum() for char in words):
            raise SpeechFailed("nothing to speak: the text has no letters or digits")
        if repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {repeat}")
        key = cache.cache_key(
            text=words,
            normalizer=normalize.NORMALIZER_VERSION,
            espeak=self._espeak_version,
            voice=voice,
            rate=self._rate,
            volume=self._volume,
            repeat=repeat,
            pause_s=self._pause_s,
            chime=self._chime_id,
        )
        return self._render_job(key, repeat, text=words, voice=voice)

    def _render_job(self, key: str, repeat: int, **what: str) -> RenderJob:
        """A job with this synthesizer's settings; `what` says what it renders (text and voice, or a recording)."""
        return RenderJob(
            key=key,
            cache_dir=str(self.cache_dir),
            rate=self._rate,
            volume=self._volume,
            repeat=repeat,
            pause_s=self._pause_s,
            chime=str(self._chime) if self._chime is not None else None,
            **what,
        )

    async def _render(self, worker: Worker, job: RenderJob, timeout_s: float | None) -> float:
        attempts = self._retries + 1
        began = time.perf_counter()
        reason = ""
        for attempt in range(1, attempts + 1):
            try:
                duration = await worker.run(job, timeout_s)
            except AttemptFailed as exc:
                log.warning("speech %s: attempt %d of %d failed: %s", job.key, attempt, attempts, exc)
                reason = str(exc)
                continue
            log.info("speech %s: %.1f s clip in %.0f ms", job.key, duration, (time.perf_counter() - began) * 1e3)
            return duration
        raise SpeechFailed(f"{reason} after {attempts} attempt{'s' if attempts > 1 else ''}")


class Pronunciations:
    """A deployment's list of words eSpeak NG says wrong (单县, 乐亭) and what to give it instead: characters that
    sound right, or pinyin with tone digits, which its Mandarin voice reads as the characters (announcements/
    pronunciations.py keeps the list). Words are matched literally, the longest first, so 单县 wins over 单."""

    def __init__(self, say: Mapping[str, str] | None = None) -> None:
        self._say = dict(say or {})
        words = sorted(self._say, key=len, reverse=True)
        self._words = re.compile("|".join(map(re.escape, words))) if words else None

    def spoken_zh(self, text: str) -> str:
        """Chinese text with the listed words replaced and the rest's numbers in words (normalize.py). What replaces
        a word is not normalized: its digits are pinyin tones. Pinyin that would touch a Latin letter or digit is set
        apart by a space, else eSpeak NG reads the run as one English word."""
        if self._words is None:
            return normalize.spoken_zh(text)
        spoken, at = "", 0
        for match in [*self._words.finditer(text), None]:
            before = normalize.spoken_zh(text[at : match.start() if match else len(text)])
            if _ASCII_ALNUM.match(spoken[-1:]) and _ASCII_ALNUM.match(before[:1]):
                before = " " + before
            spoken += before
            if match:
                say = self._say[match.group()]
                spoken += " " + say if _ASCII_ALNUM.match(spoken[-1:]) and _ASCII_ALNUM.match(say) else say
                at = match.end()
        return spoken


_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")


def spoken(text: str, language: str, pronunciations: Pronunciations | None = None) -> str:
    """What the loudspeaker says for `text`: Mandarin with the listed words as listed and its numbers and symbols in
    words (normalize.py), English as written, since eSpeak NG's English voice reads digits, times and % well.

    SpeechFailed for a language without a voice.
    """
    text = text.strip()
    if voice_for(language) != VOICES["zh"]:
        return text
    return (pronunciations or Pronunciations()).spoken_zh(text)


def _result(job: RenderJob, duration_s: float, *, cached: bool) -> SpeechResult:
    return SpeechResult(
        mp3_name=f"{job.key}.mp3", ogg_name=f"{job.key}.ogg", duration_s=duration_s, repeat=job.repeat, cached=cached
    )


def _private_cache_dir(cache_dir: Path) -> None:
    """The cache folder and the clips in it readable by this user only (clips of older versions were not)."""
    private_files(entry for entry in private_dir(cache_dir).iterdir() if entry.is_file())


def _chime_identity(path: Path) -> str:
    """The chime's part of the cache key: its content, so replacing the file re-synthesizes."""
    try:
        data = path.read_bytes()
        sf.info(io.BytesIO(data))
    except (OSError, RuntimeError) as exc:
        raise SpeechFailed(f"the chime {path} is not a sound file that can be read: {exc}") from exc
    return hashlib.sha256(data).hexdigest()
