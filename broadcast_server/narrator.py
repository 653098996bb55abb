"""The narrator: turns announcements waiting for speech into clips, and sends them out as a new revision.

Synthesis runs in the speech worker processes; here we only pick the jobs (emergencies first), await
them and write the result. The text of an announcement never waits for its audio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from announcements.database import Database
from announcements.models import Announcement
from announcements.pronunciations import current_pronunciations
from announcements.protocol import Audio, AudioAlternative, AudioSource
from announcements.speech import SpeechFailed, SpeechResult, SpeechSynthesizer, recording
from announcements.voicing import attach_audio, media_url, pending_speech, record_speech_failure, spoken_text
from broadcast_server.background import BackgroundLoop
from broadcast_server.hub import Hub
from broadcast_server.metrics import Metrics, timed

log = logging.getLogger(__name__)

T = TypeVar("T")
IDLE_POLL_S = 5.0  # look again now and then: another replica may have queued speech


def clip_audio(clip: SpeechResult, source: AudioSource = AudioSource.SPEECH) -> Audio:
    """The `audio` screens are sent for a clip: the MP3, with the Ogg Opus as the alternative for slow links;
    `source` says whether it speaks the text or plays a recording."""
    return Audio(
        source=source,
        url=media_url(clip.mp3_name),
        format="mp3",
        duration_s=clip.duration_s,
        repeat=clip.repeat,
        alternatives=[AudioAlternative(url=media_url(clip.ogg_name), format="ogg")],
    )


class Narrator:
    def __init__(
        self, *, db: Database, hub: Hub, speech: SpeechSynthesizer | None, unavailable_reason: str = "", metrics: Metrics | None = None
    ):
        self._db = db
        self._metrics = metrics or Metrics()
        self._hub = hub
        self._speech = speech
        self._unavailable = unavailable_reason
        self._in_flight: dict[str, asyncio.Task] = {}
        self._writes: set[asyncio.Task] = set()
        self._loop = BackgroundLoop("narrator", self._look_for_work)

    def poke(self) -> None:
        """An announcement may need speech: look now."""
        self._loop.poke()

    async def _look_for_work(self) -> float:
        async with self._db.read() as session:
            waiting = await pending_speech(session=session)
        for announcement in waiting:
            if announcement.id not in self._in_flight:
                task = asyncio.create_task(self._voice(announcement), name=f"speech-{announcement.id}")
                self._in_flight[announcement.id] = task
                task.add_done_callback(lambda _, key=announcement.id: self._in_flight.pop(key, None))
        return IDLE_POLL_S

    async def _write(self, write: Coroutine[Any, Any, T]) -> T:
        """Run a write to its end even if the job is cancelled meanwhile (a cut transaction keeps the lock)."""
        task = asyncio.create_task(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def _voice(self, announcement: Announcement) -> None:
        text = spoken_text(announcement)
        if self._speech is None:
            reason = self._unavailable or "speech is switched off on this server (speech_enabled = false)"
            await self._record_failure(announcement.id, text, reason)
            return
        try:
            clip = await timed(self._metrics.synthesis_seconds, self._clip(announcement, text, self._speech))
        except SpeechFailed as exc:
            log.error("speech for announcement %s failed: %s", announcement.id, exc)
            await self._record_failure(announcement.id, text, str(exc))
            return
        except Exception:
            log.exception("speech for announcement %s failed unexpectedly; will retry", announcement.id)
            await asyncio.sleep(IDLE_POLL_S)
            return
        source = AudioSource.RECORDING if announcement.recording else AudioSource.SPEECH
        attached = await self._write(self._attach(announcement.id, text, clip_audio(clip, source)))
        if attached:
            log.info("audio ready for %s (%.1f s%s)", announcement.id, clip.duration_s, ", cached" if clip.cached else "")

    async def _clip(self, announcement: Announcement, text: str, speech: SpeechSynthesizer) -> SpeechResult:
        """The recording the announcement carries, else its text said aloud."""
        if announcement.recording:
            stored = recording.path(announcement.recording, speech.cache_dir)  # POST /media stores it in the media dir
            if stored is None:
                raise SpeechFailed(f"{announcement.recording!r} is not a stored recording")
            return await speech.render_recording(stored, announcement.repeat)
        async with self._db.read() as session:  # the list as it is now, the same on every replica
            pronunciations = await current_pronunciations(session=session)
        return await speech.synthesize(text, announcement.language, announcement.repeat, pronunciations=pronunciations)

    async def _attach(self, announcement_id: str, text: str, audio: Audio) -> bool:
        async with self._db.write() as session:
            return await attach_audio(session=session, announcement_id=announcement_id, text=text, audio=audio) is not None

    async def _record_failure(self, announcement_id: str, text: str, reason: str) -> None:
        async def record() -> None:
            async with self._db.write() as session:
                await record_speech_failure(session=session, announcement_id=announcement_id, text=text, reason=reason)

        await self._write(record())

    async def start(self) -> None:
        self._loop.start()

    async def close(self) -> None:
        await self._loop.close()
        jobs = list(self._in_flight.values())
        for job in jobs:
            job.cancel()  # a job waiting for its clip stops; one writing finishes the write first
        await asyncio.gather(*jobs, return_exceptions=True)
        await asyncio.gather(*self._writes, return_exceptions=True)
