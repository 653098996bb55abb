"""Recording pipeline benchmark: a 60 s voice message from a phone, from upload to the loudspeakers' clips.

Run: `.venv/bin/python bench/recording.py [--seconds 60] [--repeat 3]`. The upload is a voice-like signal
(a pitch that glides, syllables of about 0.2 s, pauses) encoded as a phone saves it (AAC in M4A, and MP3).
Stages, each the best of `--repeat` runs:

- store: `recording.store`, what POST /media does (decode with PyAV, check, mix to mono at 22,050 Hz,
  BS.1770 loudness to -19 LUFS, FLAC);
- render: `SpeechSynthesizer.render_recording`, what the speech worker does before the clip is sent
  (chime, the recording, MP3 and Ogg Opus), in its worker process;

beside the bare baseline of the same run: decoding the upload with PyAV and nothing else (the least any
server must do to read it), and the two encodes of the rendered length done directly.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from announcements.speech import SpeechSynthesizer, recording

RATE = 44_100


def voice(seconds: float) -> np.ndarray:
    """Speech-like mono audio: a gliding pitch with harmonics, cut into syllables with short pauses."""
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    syllables = (np.sin(2 * np.pi * 2.5 * t) > -0.3) & (np.sin(2 * np.pi * 0.25 * t) > -0.8)
    return (0.2 * tone * syllables).astype(np.float32)


def encoded(samples: np.ndarray, fmt: str, codec: str) -> bytes:
    """The samples as a phone would save them (AAC in M4A, or MP3), encoded with PyAV."""
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=RATE, layout="mono")
        frame_size = 1024
        for start in range(0, len(samples), frame_size):
            chunk = samples[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.rate, frame.pts = RATE, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def bare_decode(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return sum(frame.samples for frame in container.decode(audio=0))


def bare_encodes(samples: np.ndarray) -> None:
    """The MP3 and Ogg Opus of the same length, straight from the samples (no chime, no loudness, no worker)."""
    for fmt in ("MP3", "OGG"):
        sf.write(io.BytesIO(), samples, 22_050 if fmt == "MP3" else 48_000, format=fmt, **({"subtype": "OPUS"} if fmt == "OGG" else {}))


async def best_of(repeat: int, run: Callable[[], Awaitable[object]]) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        await run()
        runs.append(time.perf_counter() - began)
    return min(runs)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the voice message")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each stage; the best counts")
    args = parser.parse_args()
    samples = voice(args.seconds)
    uploads = {"M4A (AAC)": encoded(samples, "mp4", "aac"), "MP3": encoded(samples, "mp3", "libmp3lame")}
    with tempfile.TemporaryDirectory() as tmp:
        media, clips = Path(tmp) / "uploads", Path(tmp) / "clips"  # apart, so each render can start from nothing
        media.mkdir()
        async with SpeechSynthesizer(clips, workers=1) as speech:
            print(f"a {args.seconds:g} s voice message, best of {args.repeat} runs per stage")
            print(f"{'upload':12}{'bytes':>10}{'store s':>9}{'render s':>10}{'total s':>9}{'bare s':>8}{'ratio':>7}")
            for name, data in uploads.items():
                kept = await recording.store(data, media)
                stored = recording.path(kept.url, media)
                store_s = await best_of(args.repeat, lambda data=data: recording.store(data, media))

                async def render(stored=stored) -> None:
                    for cached in clips.glob("*.*"):  # the render is cached by content: time a real one each run
                        cached.unlink()
                    await speech.render_recording(stored)

                render_s = await best_of(args.repeat, render)
                bare_s = await best_of(args.repeat, lambda data=data: asyncio.to_thread(bare_decode, data))
                bare_s += await best_of(args.repeat, lambda: asyncio.to_thread(bare_encodes, samples))
                total = store_s + render_s
                print(f"{name:12}{len(data):10,}{store_s:9.2f}{render_s:10.2f}{total:9.2f}{bare_s:8.2f}{total / bare_s:7.1f}x")
            print("bare: PyAV decoding the upload plus the MP3 and Ogg Opus encodes of the same length, nothing else")


if __name__ == "__main__":
    asyncio.run(main())
