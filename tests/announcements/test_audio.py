"""The pure audio functions of announcements.speech.audio, without eSpeak or processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from announcements.speech import audio

RATE = 22_050


def sine(freq: float, seconds: float, level: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


def test_chime_is_two_tones_of_the_set_length() -> None:
    """The chime lasts tone_s per tone and its two halves ring at the two tones."""
    chime = audio.two_tone_chime(RATE, tones=(880.0, 660.0), tone_s=0.4)
    assert chime.size == 2 * round(0.4 * RATE)
    first, second = np.split(chime, 2)
    assert dominant_frequency(first, RATE) == pytest.approx(880, abs=5)
    assert dominant_frequency(second, RATE) == pytest.approx(660, abs=5)


def test_chime_peaks_at_its_level_and_starts_and_ends_at_zero() -> None:
    """The chime reaches its peak level exactly and fades in and out, so it never clicks."""
    chime = audio.two_tone_chime(RATE, peak_dbfs=-6.0)
    assert np.max(np.abs(chime)) == pytest.approx(audio.amplitude(-6.0), rel=1e-4)
    assert abs(chime[0]) < 1e-3 and abs(chime[-1]) < 1e-3


def test_configured_chime_file_is_mono_at_the_speech_rate(tmp_path: Path) -> None:
    """A stereo 44.1 kHz chime file comes back mono, resampled, at the chime's peak level."""
    stereo = np.stack([sine(440, 0.5, rate=44_100)] * 2, axis=1)
    sf.write(tmp_path / "chime.wav", stereo, 44_100)
    chime = audio.load_chime(tmp_path / "chime.wav", RATE)
    assert chime.ndim == 1 and chime.size == round(0.5 * RATE)
    assert np.max(np.abs(chime)) == pytest.approx(audio.amplitude(audio.CHIME_PEAK_DBFS), rel=1e-2)


def test_pauses_go_between_segments_only() -> None:
    """join_with_pauses puts exactly pause_s of silence between segments and none at the ends."""
    a, b, c = np.ones(100, np.float32), np.full(50, 0.5, np.float32), np.full(10, -1, np.float32)
    joined = audio.join_with_pauses([a, b, c], 0.01, 1000)
    assert joined.size == 100 + 10 + 50 + 10 + 10
    assert np.all(joined[:100] == 1) and np.all(joined[100:110] == 0)
    assert np.all(joined[110:160] == 0.5) and np.all(joined[160:170] == 0) and np.all(joined[170:] == -1)


def test_trim_keeps_a_margin_around_the_sound() -> None:
    """trim_silence cuts leading and trailing quiet down to the margin, and silence to nothing."""
    tone = sine(440, 1.0)
    padded = np.concatenate([np.zeros(RATE), tone, np.zeros(RATE)])
    trimmed = audio.trim_silence(padded, RATE, margin_s=0.05)
    assert trimmed.size == pytest.approx(tone.size + 2 * round(0.05 * RATE), abs=3)
    assert audio.trim_silence(np.zeros(RATE, np.float32), RATE).size == 0


def test_normalize_brings_quiet_speech_to_the_rms_target() -> None:
    """A quiet tone is raised to the RMS target (its peak stays under the ceiling)."""
    out = audio.normalize(sine(440, 1.0, level=0.01), rms_dbfs=-18.0)
    assert 20 * np.log10(audio.rms(out)) == pytest.approx(-18.0, abs=0.01)
    assert np.max(np.abs(out)) <= audio.amplitude(audio.PEAK_DBFS)


def test_normalize_never_exceeds_the_peak_ceiling() -> None:
    """A click in a quiet clip limits the gain: the peak lands on the ceiling, not above."""
    clicky = sine(440, 1.0, level=0.01)
    clicky[RATE // 2] = 0.9
    out = audio.normalize(clicky, rms_dbfs=-10.0, peak_dbfs=-1.0)
    assert np.max(np.abs(out)) == pytest.approx(audio.amplitude(-1.0), rel=1e-5)
    assert audio.rms(out) < audio.amplitude(-10.0)


def test_normalize_leaves_silence_silent() -> None:
    """Silence has no level to scale: it comes back as zeros, with no division by zero."""
    out = audio.normalize(np.zeros(100, np.float32))
    assert not np.any(out)


@pytest.mark.parametrize(
    ("samples", "silent"),
    [
        (np.zeros(RATE, np.float32), True),
        (np.zeros(0, np.float32), True),
        (np.random.default_rng(1).normal(0, 1e-4, RATE).astype(np.float32), True),
        (sine(440, 1.0, level=0.1), False),
    ],
    ids=["zeros", "empty", "faint-noise", "speech-level-tone"],
)
def test_silence_detection(samples: np.ndarray, silent: bool) -> None:
    """is_silent is true for nothing, zeros and noise far below speech, false at speech level."""
    assert audio.is_silent(samples) is silent


@pytest.mark.parametrize(("src", "dst"), [(22_050, 48_000), (48_000, 16_000), (16_000, 16_000)])
def test_resample_keeps_duration_and_pitch(src: int, dst: int) -> None:
    """Resampling changes the sample count by the rate ratio and keeps the tone's frequency and level."""
    out = audio.resample(sine(440, 1.0, rate=src), src, dst)
    assert out.size == dst
    assert dominant_frequency(out, dst) == pytest.approx(440, abs=2)
    assert audio.rms(out) == pytest.approx(audio.rms(sine(440, 1.0)), rel=0.02)


@pytest.mark.parametrize(("fmt", "rate"), [("mp3", RATE), ("ogg", audio.OPUS_RATE)])
def test_encode_decode_round_trip(fmt: str, rate: int) -> None:
    """An encoded clip decodes back to the same length (Opus at 48 kHz) and is not silent."""
    decoded, decoded_rate = audio.decode(audio.encode(sine(440, 2.0, level=0.3), RATE, fmt))
    assert decoded_rate == rate
    assert audio.duration_s(decoded, decoded_rate) == pytest.approx(2.0, abs=0.03)
    assert not audio.is_silent(decoded)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: audio.join_with_pauses([np.ones(3)], -1.0, RATE), "pause must not be negative"),
        (lambda: audio.resample(np.ones(3), 0, RATE), "sample rates must be positive"),
        (lambda: audio.encode(np.ones(3), RATE, "flac"), "unknown audio format"),
        (lambda: audio.normalize(np.ones(3), peak_dbfs=3.0), "at or below full scale"),
        (lambda: audio.two_tone_chime(RATE, tones=()), "at least one tone"),
        (lambda: audio.two_tone_chime(RATE, tone_s=0.0), "positive tone length"),
    ],
    ids=["negative-pause", "zero-rate", "unknown-format", "peak-above-full-scale", "no-tones", "zero-tone"],
)
def test_bad_arguments_are_refused(call, message: str) -> None:
    """Arguments that cannot make sense raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        call()
