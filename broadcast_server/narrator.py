"""The narrator: turns announcements waiting for speech into clips, and sends them out as a new revision.

Synthesis runs in the speech worker processes; here we only pick the jobs (emergencies first), await
them and write the result. The text of an announcement never waits for its audio.
"""

from __future__ import annotations

import asyncio
import logging

from announcements.database import Database
from announcements.models import Announcement
from announcements.speech import SpeechFailed, SpeechSynthesizer
from announcements.voicing import attach_audio, pending_speech, record_speech_failure, spoken_text
from broadcast_server.hub import Hub

log = logging.getLogger(__name__)

IDLE_POLL_S = 5.0  # look again now and then: another replica may have queued speech


def media_url(name: str) -> str:
    return f"/media/{name}"


class Narrator:
    def __init__(self, *, db: Database, hub: Hub, speech: SpeechSynthesizer | None, unavailable_reason: str = ""):
        self._db = db
        self._hub = hub
        self._speech = speech
        self._unavailable = unavailable_reason
        self._wake = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task] = {}
        self._task: asyncio.Task | None = None

    def poke(self) -> None:
        """An announcement may need speech: look now."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                async with self._db.read() as session:
                    waiting = await pending_speech(session=session)
                for announcement in waiting:
                    if announcement.id not in self._in_flight:
                        task = asyncio.create_task(self._voice(announcement), name=f"speech-{announcement.id}")
                        self._in_flight[announcement.id] = task
                        task.add_done_callback(lambda _, key=announcement.id: self._in_flight.pop(key, None))
            except Exception:
                log.exception("could not look for announcements waiting for speech")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=IDLE_POLL_S)
            except TimeoutError:
                pass

    async def _voice(self, announcement: Announcement) -> None:
        text = spoken_text(announcement)
        if self._speech is None:
            reason = self._unavailable or "speech is switched off on this server (speech_enabled = false)"
            await self._record_failure(announcement.id, text, reason)
            return
        try:
            clip = await self._speech.synthesize(text, announcement.language, announcement.repeat)
        except SpeechFailed as exc:
            log.error("speech for announcement %s failed: %s", announcement.id, exc)
            await self._record_failure(announcement.id, text, str(exc))
            return
        except Exception:
            log.exception("speech for announcement %s failed unexpectedly; will retry", announcement.id)
            await asyncio.sleep(IDLE_POLL_S)
            return
        audio = {
            "url": media_url(clip.mp3_name),
            "format": "mp3",
            "duration_s": clip.duration_s,
            "repeat": clip.repeat,
            "alternatives": [{"url": media_url(clip.ogg_name), "format": "ogg"}],
        }
        async with self._db.write() as session:
            attached = await attach_audio(session=session, announcement_id=announcement.id, text=text, audio=audio)
        if attached is not None:
            log.info("audio ready for %s (%.1f s%s)", announcement.id, clip.duration_s, ", cached" if clip.cached else "")
            self._hub.notify()

    async def _record_failure(self, announcement_id: str, text: str, reason: str) -> None:
        async with self._db.write() as session:
            await record_speech_failure(session=session, announcement_id=announcement_id, text=text, reason=reason)

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="narrator")

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
