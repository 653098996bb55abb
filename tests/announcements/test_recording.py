"""Recordings (录音广播, PROTOCOL.md 1.1 `recording`): real PyAV decoding of what phones, chat apps and browsers
save, one loudness for every clip, and the refusals. All audio is made here; none is kept in the repository."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from announcements.errors import Invalid, TooLarge
from announcements.speech import SpeechSynthesizer, audio, recording
from announcements.speech.render import RenderJob, render

CHIME_S = 0.8  # the built-in two-tone chime: two 0.4 s tones
# container, codec, sample rate: as an MP3 player, a phone (M4A, AMR), a recorder app (WAV) and a chat app (Ogg) save them
FORMATS = {
    "mp3": ("mp3", "libmp3lame", 44_100),
    "m4a": ("ipod", "aac", 44_100),
    "wav": ("wav", "pcm_s16le", 44_100),
    "ogg": ("ogg", "libopus", 48_000),
    "webm": ("webm", "libopus", 48_000),
    "amr": ("amr", "libopencore_amrnb", 8_000),
}
AMR_ENCODER = "libopencore_amrnb" in av.codecs_available


def tone(seconds: float = 3.0, level: float = 0.3, rate: int = 44_100, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encoded(kind: str, samples: np.ndarray | None = None, **tone_args) -> bytes:
    """A recording as that kind of file (PyAV's encoders: FFmpeg's, as a phone or browser would use)."""
    container_format, codec, rate = FORMATS[kind]
    samples = tone(rate=rate, **tone_args) if samples is None else samples
    out = io.BytesIO()
    with av.open(out, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        to_codec = av.AudioResampler(format=stream.codec_context.codec.audio_formats[0].name, layout="mono", rate=rate)
        step = 160 if kind == "amr" else 1024
        for start in range(0, samples.size, step):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + step], format="flt", layout="mono")
            frame.sample_rate = rate
            for ready in to_codec.resample(frame):
                container.mux(stream.encode(ready))
        container.mux(stream.encode(None))
    return out.getvalue()


def wav(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    out = io.BytesIO()
    sf.write(out, samples, rate, format="WAV", subtype=subtype)
    return out.getvalue()


def refusal(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.errors[0]["type"]


def rendered(stored: recording.Recording, media_dir: Path, repeat: int, pause_s: float = 1.0) -> tuple[np.ndarray, int]:
    """The clip the speech worker renders for a recording (no eSpeak needed), decoded from its MP3."""
    job = RenderJob(key="a" * 32, cache_dir=str(media_dir), text="", voice="", rate=170, volume=1.0, repeat=repeat,
                    pause_s=pause_s, chime=None, recording=str(recording.path(stored.url, media_dir)))
    render(job, engine=None)
    return audio.decode((media_dir / f"{job.key}.mp3").read_bytes())


@pytest.mark.parametrize("level", [0.03, 0.8], ids=["quiet", "loud"])
@pytest.mark.parametrize("kind", [k for k in FORMATS if k != "amr" or AMR_ENCODER])
async def test_each_format_is_decoded_and_played_at_the_target_loudness(kind, level, tmp_path):
    stored = await recording.store(encoded(kind, level=level), tmp_path)
    assert recording.URL.match(stored.url)
    assert stored.duration_s == pytest.approx(3.0, abs=0.1)  # AAC and AMR add a few ms of encoder delay
    kept, rate = audio.decode(recording.path(stored.url, tmp_path).read_bytes())
    assert rate == recording.RATE and audio.loudness_lufs(kept, rate) == pytest.approx(recording.TARGET_LUFS, abs=0.2)

    clip, rate = rendered(stored, tmp_path, repeat=2)
    expected = CHIME_S + 2 * (1.0 + stored.duration_s)  # chime, then pause + recording, twice
    assert audio.duration_s(clip, rate) == pytest.approx(expected, rel=0.05)
    for start in (CHIME_S + 1.0, CHIME_S + 2.0 + stored.duration_s):  # each repeat, inside its edges
        part = clip[round((start + 0.3) * rate) : round((start + stored.duration_s - 0.3) * rate)]
        assert audio.loudness_lufs(part, rate) == pytest.approx(recording.TARGET_LUFS, abs=1.0)


async def test_a_stereo_recording_is_mixed_to_mono_and_stored_once(tmp_path):
    stereo = np.stack([tone(rate=48_000, level=0.2), tone(rate=48_000, level=0.2, freq=660.0)], axis=1)
    data = wav(stereo, 48_000)
    first, again = await recording.store(data, tmp_path), await recording.store(data, tmp_path)
    assert first == again and len(list(tmp_path.glob("*.flac"))) == 1
    assert sf.info(recording.path(first.url, tmp_path)).channels == 1


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 0, 0)).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (lambda: b"", "recording_not_audio"),
        (jpeg, "recording_not_audio"),  # named .mp3 or not: what it is, is read from its content
        (lambda: b"OggS" + bytes(range(256)) * 40, "recording_not_audio"),  # an Ogg page header, then garbage
        (lambda: wav(np.zeros(3 * 8000, np.float32), 8000), "recording_silent"),
        (lambda: wav(np.sign(tone(rate=8000, freq=200.0)), 8000), "recording_clipped"),  # a square wave at full scale
        (lambda: wav(tone(seconds=0.2, rate=8000), 8000), "recording_too_short"),
        (lambda: encoded("mp3")[:600], "recording_too_short"),  # cut off after a few frames: what is left is too short
    ],
    ids=["empty", "jpeg", "garbage", "silence", "clipped", "too-short", "truncated"],
)
async def test_bad_audio_is_refused_with_its_code_and_nothing_is_stored(data, code, tmp_path):
    with pytest.raises(Invalid) as excinfo:
        await recording.store(data(), tmp_path)
    assert refusal(excinfo) == code and excinfo.value.errors[0]["loc"] == ["file"]
    assert list(tmp_path.iterdir()) == []


async def test_eleven_minutes_are_refused_by_the_header_before_decoding(tmp_path):
    """A quiet 8 kHz tone (silence would be refused as silent): 5 MB that would take seconds to decode."""
    data = wav(tone(seconds=660, level=0.05, rate=8000), 8000, subtype="PCM_U8")
    began = time.perf_counter()
    with pytest.raises(Invalid) as excinfo:
        await recording.store(data, tmp_path)
    assert refusal(excinfo) == "recording_too_long" and "10 minutes" in str(excinfo.value)
    assert time.perf_counter() - began < 0.5


async def test_more_than_the_byte_limit_is_refused_unread(tmp_path):
    with pytest.raises(TooLarge) as excinfo:
        await recording.store(b"ID3" + bytes(recording.MAX_BYTES), tmp_path)
    assert refusal(excinfo) == "recording_too_large"


@pytest.mark.parametrize(
    ("head", "audio_like"),
    [(b"ID3\x04", True), (b"\xff\xfb\x90", True), (b"\0\0\0\x1cftypM4A ", True), (b"#!AMR\n", True),
     (b"\x1a\x45\xdf\xa3", True), (b"\xff\xd8\xff\xe0", False), (b"GIF89a", False), (b"", False)],
)
def test_the_first_bytes_tell_audio_from_anything_else(head, audio_like):
    assert recording.looks_like_audio(head) is audio_like


async def test_a_url_not_stored_here_is_unknown(tmp_path):
    stored = await recording.store(encoded("wav"), tmp_path)
    assert await recording.known(stored.url, tmp_path) == stored.url
    for url in (f"/media/{'0' * 64}.flac", "/media/../village.db", stored.url.replace(".flac", ".mp3")):
        with pytest.raises(Invalid) as excinfo:
            await recording.known(url, tmp_path)
        assert refusal(excinfo) == "recording_unknown" and excinfo.value.errors[0]["loc"] == ["recording"]


async def test_the_synthesizer_renders_a_recording_once_per_repeat_and_caches_it(tmp_path):
    stored = await recording.store(encoded("ogg", level=0.1), tmp_path)
    async with SpeechSynthesizer(tmp_path, pause_s=0.5) as speech:
        clip = await speech.render_recording(recording.path(stored.url, tmp_path), repeat=3)
        again = await speech.render_recording(recording.path(stored.url, tmp_path), repeat=3)
        once = await speech.render_recording(recording.path(stored.url, tmp_path), repeat=1)
    assert not clip.cached and again.cached and again.mp3_name == clip.mp3_name and once.mp3_name != clip.mp3_name
    assert clip.duration_s == pytest.approx(CHIME_S + 3 * (0.5 + stored.duration_s), abs=0.05)
    samples, rate = audio.decode((tmp_path / clip.ogg_name).read_bytes())
    assert audio.duration_s(samples, rate) == pytest.approx(clip.duration_s, rel=0.05)
