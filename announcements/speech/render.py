"""One announcement's clip, start to finish, inside the worker: speech or a recording, chime, repeats, loudness, files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import audio, cache
from .engine import Engine


@dataclass(frozen=True)
class RenderJob:
    """Everything the worker needs for one clip; plain values, sent to the worker as JSON."""

    key: str
    cache_dir: str
    text: str
    voice: str
    rate: int
    volume: float
    repeat: int
    pause_s: float
    chime: str | None  # a sound file, or None for the built-in two-tone chime
    recording: str | None = None  # a stored recording (recording.py), played instead of speaking `text`


def render(job: RenderJob, engine: Engine) -> float:
    """Synthesize (or read the recording), assemble and write the clip's media and record; return its duration in seconds."""
    if job.recording:  # already brought to its loudness when it was stored
        speech, rate = audio.decode(Path(job.recording).read_bytes())
    else:
        speech, rate = engine.speak(job.text, voice=job.voice, rate=job.rate)
        speech = audio.normalize(audio.trim_silence(speech, rate))
    chime = audio.load_chime(Path(job.chime), rate) if job.chime else audio.two_tone_chime(rate)
    # `volume` scales the normalized clip: eSpeak's own volume would be normalized away.
    clip = audio.join_with_pauses([chime, *[speech] * job.repeat], job.pause_s, rate) * job.volume
    cache_dir = Path(job.cache_dir)
    for fmt in cache.MEDIA_FORMATS:
        cache.write_atomic(cache_dir / f"{job.key}.{fmt}", audio.encode(clip, rate, fmt))
    duration = round(audio.duration_s(clip, rate), 3)
    cache.commit(cache_dir, job.key, duration)
    return duration
