"""Recordings on notices (录音广播, PROTOCOL.md 1.1 `recording`): the cadre's own voice instead of synthesized speech.

An upload (MP3, M4A/AAC, WAV, Ogg/Opus, WebM/Opus as browsers record, AMR as phones save voice messages) is
decoded with FFmpeg's libraries through PyAV in a worker thread (a 10-minute file would stall every screen's
connection on the event loop), checked, mixed to mono at the synthesizer's rate, brought to one loudness and
stored as FLAC under the hash of its bytes. The speech worker renders it later like a text (render.py): chime,
repeats, pauses, MP3 and Ogg Opus. Where replicas share their media (mediastore.py), it is put in the store too,
and any replica may play it. Every refusal is a DomainError whose code the console words
(`error.code.<code>`).
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from announcements import mediastore
from announcements.errors import Invalid, TooLarge
from announcements.voicing import media_name

from .cache import keep_by_content

if TYPE_CHECKING:
    import numpy as np

# FFmpeg (PyAV), NumPy, libsndfile and the loudness meter (SciPy) are loaded by the first recording decoded, not
# by importing this module: the queue and every shell command name recordings (`path`, `known`) and start in a
# second less without them.

MAX_BYTES = 50 * 1024 * 1024  # ten minutes of a 128 kbit/s MP3 is 9.6 MB; a WAV from a recorder app is larger
MAX_SECONDS = 600.0
MIN_SECONDS = 0.5  # BS.1770 measures 0.4 s blocks: anything shorter has no loudness to bring to the target
RATE = 22_050  # eSpeak NG's own rate, so recordings and speech are rendered alike; a voice needs no more than 11 kHz
TARGET_LUFS = -19.0
"""Integrated loudness of every recording: where eSpeak NG's speech lands after its own normalization
(-18 dBFS RMS under a -1 dBFS peak ceiling measures -19 to -20 LUFS), so a recorded notice and a
synthesized one play at the same level on the same loudspeaker."""
CLIPPED_LEVEL = 0.99  # a sample this close to full scale was cut off by the recorder
CLIPPED_SHARE = 0.01  # a clean recording has hardly any such samples; a clipped one has them in every loud word
FORMATS = "MP3, M4A/AAC, WAV, Ogg/Opus, WebM, AMR"
URL = re.compile(r"^/media/([0-9a-f]{64})\.flac$")

# The first bytes of the containers accepted: a file that starts otherwise is not taken for audio.
_MAGIC = (b"ID3", b"RIFF", b"OggS", b"#!AMR", b"\x1a\x45\xdf\xa3", b"fLaC")


@dataclass(frozen=True)
class Recording:
    """A stored recording: the url a notice's `recording` gives, and how long it plays once."""

    url: str
    duration_s: float


def looks_like_audio(head: bytes) -> bool:
    """Whether a file's first bytes are one of the accepted containers (an MPEG or ADTS frame, an MP4 box too)."""
    mpeg_sync = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    return head.startswith(_MAGIC) or mpeg_sync or head[4:8] == b"ftyp"


def _refused(code: str, msg: str, loc: list | None = None) -> Invalid:
    return Invalid(msg, errors=[{"loc": loc or ["file"], "msg": msg, "type": code}])


def not_audio(msg: str = f"the file is not a recording that can be played ({FORMATS})") -> Invalid:
    return _refused("recording_not_audio", msg)


def too_large() -> TooLarge:
    msg = f"the recording is larger than {MAX_BYTES // (1024 * 1024)} MB; send a shorter or more compressed one"
    return TooLarge(msg, errors=[{"loc": ["file"], "msg": msg, "type": "recording_too_large"}])


def _too_long() -> Invalid:
    return _refused("recording_too_long", f"the recording is longer than {MAX_SECONDS / 60:g} minutes")


def _decode(data: bytes) -> tuple[np.ndarray, float]:
    """The audio as mono float32 at RATE, and the share of its original samples at full scale."""
    import av
    import numpy as np

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, EOFError):
        raise not_audio() from None
    with container:
        if not container.streams.audio:
            raise not_audio()
        if container.duration is not None and container.duration / av.time_base > MAX_SECONDS + 1:
            raise _too_long()  # known from the header: nothing decoded
        as_float = av.AudioResampler(format="fltp")  # every channel, original rate: for counting clipped samples
        to_mono = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts: list[np.ndarray] = []
        length = clipped = total = 0
        try:
            for frame in container.decode(container.streams.audio[0]):
                for plain in as_float.resample(frame):
                    channels = plain.to_ndarray()
                    clipped += int(np.count_nonzero(np.abs(channels) >= CLIPPED_LEVEL))
                    total += channels.size
                for mono in to_mono.resample(frame):
                    parts.append(mono.to_ndarray()[0])
                    length += parts[-1].size
                if length > (MAX_SECONDS + 1) * RATE:
                    raise _too_long()  # a header without a duration: stopped at the limit
            parts += [mono.to_ndarray()[0] for mono in to_mono.resample(None)]
        except (av.FFmpegError, ValueError):
            raise not_audio("the recording is damaged and cannot be decoded") from None
    samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return samples, clipped / total if total else 0.0


def _store(data: bytes, media_dir: Path) -> Recording:
    import soundfile as sf

    from . import audio

    samples, clipped_share = _decode(data)
    if samples.size < MIN_SECONDS * RATE:
        raise _refused("recording_too_short", f"the recording is shorter than {MIN_SECONDS:g} s")
    if clipped_share > CLIPPED_SHARE:
        msg = "the recording is distorted (too loud when it was made): record it again further from the microphone"
        raise _refused("recording_clipped", msg)
    if audio.is_silent(samples):
        raise _refused("recording_silent", "the recording is silent: check the microphone and record it again")
    kept = io.BytesIO()  # FLAC: lossless (it is encoded again for every clip) and about half the size of WAV
    sf.write(kept, audio.normalize_loudness(samples, RATE, lufs=TARGET_LUFS), RATE, format="FLAC", subtype="PCM_16")
    return Recording(url=keep_by_content(media_dir, kept.getvalue(), "flac"), duration_s=round(audio.duration_s(samples, RATE), 2))


async def store(data: bytes, media_dir: Path) -> Recording:
    """Check, normalize and store an uploaded recording; `Invalid` (422) or `TooLarge` (413) saying why not."""
    if len(data) > MAX_BYTES:
        raise too_large()
    if not data:
        raise not_audio("the file is empty")
    kept = await asyncio.to_thread(_store, data, media_dir)
    await mediastore.share(media_dir, media_name(kept.url))
    return kept


def path(url: str, media_dir: Path) -> Path | None:
    """The stored file a recording url names, or None when the url is not one POST /media answers for audio."""
    match = URL.match(url)
    return media_dir / f"{match[1]}.flac" if match else None


async def known(url: str, media_dir: Path) -> str:
    """A new notice's `recording`: the url itself when this server stored it, else `Invalid` (recording_unknown)."""
    stored = path(url, media_dir)
    if stored is None or not await mediastore.local(media_dir, stored.name):
        raise _refused("recording_unknown", f"{url!r} is not a recording stored with POST /media", ["recording"])
    return url
