"""Audio as numpy arrays: the chime, pauses, loudness, resampling, encoding and measuring.

Everything here is a pure function of mono float32 samples in [-1, 1] (plus
`soundfile` for the codecs), knows nothing of eSpeak or processes, and is tested
alone. The worker builds each announcement's clip from these pieces; the checks
on the engine's output and the tests measure clips with them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf

SPEECH_RMS_DBFS = -18.0
"""Loudness every announcement's speech is brought to, so loudspeakers need no retuning per clip."""
PEAK_DBFS = -1.0
"""Ceiling for any sample, leaving headroom for the codecs' overshoot."""
CHIME_PEAK_DBFS = -6.0
"""The chime sits below the speech's peaks: it calls attention without startling."""
SILENCE_RMS_DBFS = -50.0
"""Below this a clip is silence (eSpeak's dropped jobs are digital zeros; speech is near -20 dBFS)."""
OPUS_RATE = 48_000
"""libsndfile's Opus encoder takes 8, 12, 16, 24 or 48 kHz; 48 kHz is Opus's own rate."""

# file extension -> (libsndfile format, subtype, sample rate the codec needs or None for any)
_CODECS: dict[str, tuple[str, str, int | None]] = {
    "mp3": ("MP3", "MPEG_LAYER_III", None),
    "ogg": ("OGG", "OPUS", OPUS_RATE),
}


def amplitude(dbfs: float) -> float:
    """Linear amplitude of a level in dB relative to full scale."""
    return float(10 ** (dbfs / 20))


def rms(samples: np.ndarray) -> float:
    """Root mean square level (0.0 for an empty clip)."""
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def is_silent(samples: np.ndarray, floor_dbfs: float = SILENCE_RMS_DBFS) -> bool:
    """True when a clip is empty or quieter than the floor: a synthesis that said nothing."""
    return rms(samples) < amplitude(floor_dbfs)


def duration_s(samples: np.ndarray, rate: int) -> float:
    """Length of a clip in seconds."""
    return samples.shape[0] / rate


def two_tone_chime(
    rate: int,
    *,
    tones: Sequence[float] = (880.0, 659.25),
    tone_s: float = 0.4,
    peak_dbfs: float = CHIME_PEAK_DBFS,
) -> np.ndarray:
    """A "ding-dong": each tone struck and decaying, faded to zero at both ends so nothing clicks."""
    if not tones or tone_s <= 0:
        raise ValueError("a chime needs at least one tone and a positive tone length")
    n = round(tone_s * rate)
    t = np.arange(n) / rate
    envelope = np.exp(-4.0 * t / tone_s)
    fade = min(n // 2, round(0.005 * rate))
    envelope[:fade] *= np.linspace(0.0, 1.0, fade, endpoint=False)
    envelope[n - fade :] *= np.linspace(1.0, 0.0, fade)
    chime = np.concatenate([np.sin(2 * np.pi * f * t) * envelope for f in tones])
    return (chime * (amplitude(peak_dbfs) / np.max(np.abs(chime)))).astype(np.float32)


def load_chime(path: Path, rate: int, *, peak_dbfs: float = CHIME_PEAK_DBFS) -> np.ndarray:
    """A configured chime file, as mono at `rate`, brought to the same peak as the built-in one."""
    data, file_rate = sf.read(path, dtype="float32", always_2d=True)
    chime = resample(data.mean(axis=1), file_rate, rate)
    peak = float(np.max(np.abs(chime), initial=0.0))
    return chime if peak == 0.0 else (chime * (amplitude(peak_dbfs) / peak)).astype(np.float32)


def trim_silence(
    samples: np.ndarray, rate: int, *, threshold_dbfs: float = -45.0, margin_s: float = 0.05
) -> np.ndarray:
    """Cut eSpeak's leading and trailing quiet (keeping a short margin) so pauses are exactly as set."""
    loud = np.flatnonzero(np.abs(samples) > amplitude(threshold_dbfs))
    if loud.size == 0:
        return samples[:0]
    margin = round(margin_s * rate)
    return samples[max(0, loud[0] - margin) : loud[-1] + 1 + margin]


def join_with_pauses(segments: Sequence[np.ndarray], pause_s: float, rate: int) -> np.ndarray:
    """Segments one after another with `pause_s` of silence between them (none before or after)."""
    if pause_s < 0:
        raise ValueError(f"pause must not be negative, got {pause_s}")
    if not segments:
        return np.zeros(0, dtype=np.float32)
    gap = np.zeros(round(pause_s * rate), dtype=np.float32)
    parts: list[np.ndarray] = [segments[0]]
    for segment in segments[1:]:
        parts += [gap, segment]
    return np.concatenate(parts).astype(np.float32)


def normalize(
    samples: np.ndarray, *, rms_dbfs: float = SPEECH_RMS_DBFS, peak_dbfs: float = PEAK_DBFS
) -> np.ndarray:
    """Scale to the RMS target, but never past the peak ceiling; silence stays silence."""
    level = rms(samples)
    return _scaled(samples, amplitude(rms_dbfs) / level if level else 1.0, peak_dbfs)


def loudness_lufs(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness (ITU-R BS.1770, gated) in LUFS; -inf for silence. Needs at least 0.4 s of samples."""
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))


def normalize_loudness(samples: np.ndarray, rate: int, *, lufs: float, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scale to an integrated loudness target (a recording: its level varies more than RMS shows), never past the peak
    ceiling: a recording with sharp peaks plays a little quieter rather than distorted."""
    measured = loudness_lufs(samples, rate)
    return _scaled(samples, amplitude(lufs - measured) if math.isfinite(measured) else 1.0, peak_dbfs)


def _scaled(samples: np.ndarray, gain: float, peak_dbfs: float) -> np.ndarray:
    """`samples` times `gain`, or less where that would put a sample above the peak ceiling."""
    if peak_dbfs > 0:
        raise ValueError(f"peak ceiling must be at or below full scale, got {peak_dbfs} dBFS")
    peak = float(np.max(np.abs(samples), initial=0.0))
    if peak == 0.0:
        return samples.astype(np.float32)
    return (samples * min(gain, amplitude(peak_dbfs) / peak)).astype(np.float32)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited resampling by zero-padding or truncating the spectrum (numpy only, whole clip).

    The clip is padded with silence to a length whose FFT is fast (a prime factor of
    a few hundred thousand samples would make it a hundred times slower), then cut back.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} and {dst_rate}")
    if src_rate == dst_rate or samples.size == 0:
        return samples.astype(np.float32)
    common = math.gcd(src_rate, dst_rate)
    src_step, dst_step = src_rate // common, dst_rate // common
    blocks = _smooth_at_least(-(-samples.size // src_step))
    spectrum = np.fft.rfft(samples, blocks * src_step)
    n_out = blocks * dst_step
    resized = np.zeros(n_out // 2 + 1, dtype=spectrum.dtype)
    keep = min(resized.size, spectrum.size)
    resized[:keep] = spectrum[:keep]
    out = np.fft.irfft(resized, n_out) * (dst_step / src_step)
    return out[: round(samples.size * dst_rate / src_rate)].astype(np.float32)


def _smooth_at_least(n: int) -> int:
    """The smallest number >= n with no prime factor above 5 (FFT lengths numpy transforms fastest)."""
    while True:
        rest = n
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return n
        n += 1


def encode(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    """Encode to "mp3" or "ogg" (Ogg Opus, resampled to 48 kHz) through libsndfile."""
    try:
        container, subtype, codec_rate = _CODECS[fmt]
    except KeyError:
        raise ValueError(f"unknown audio format {fmt!r}, expected one of {sorted(_CODECS)}") from None
    if codec_rate is not None:
        samples, rate = resample(samples, rate, codec_rate), codec_rate
    out = io.BytesIO()
    sf.write(out, np.clip(samples, -1.0, 1.0), rate, format=container, subtype=subtype)
    return out.getvalue()


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Decode an encoded clip (any format libsndfile reads) to mono samples and its sample rate."""
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return samples.mean(axis=1), rate
