"""A live call's sound, from the browser's microphone to the stations' MP3 frames, as it arrives.

The console sends what MediaRecorder makes (Opus in WebM, or in Ogg), a piece every quarter second. A
worker thread demuxes and decodes it with FFmpeg's libraries (PyAV) from a pipe that blocks until the
next piece comes, resamples it to the stations' rate (mono 22,050 Hz, as every clip) and encodes MP3
frames, handed back to the event loop as they are made. The probe is kept small: FFmpeg's default
reads 5 MB before the first frame, minutes of a voice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable

import av

from announcements.mp3frames import Frame, audio_frames
from announcements.speech.recording import RATE

log = logging.getLogger(__name__)

MP3_BITRATE = 48_000  # a voice at 22 kHz: what the loudspeakers' clips use
PROBE_BYTES = "4096"  # enough for the WebM or Ogg header and the first packets


class _Pipe:
    """A file the decoder reads while the event loop writes: `read` waits for bytes, b"" once closed."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._ready = threading.Condition()
        self._closed = False

    def write(self, data: bytes) -> None:
        with self._ready:
            self._chunks.append(data)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()

    def read(self, size: int = -1) -> bytes:
        with self._ready:
            self._ready.wait_for(lambda: self._chunks or self._closed)
            if not self._chunks:
                return b""
            chunk = self._chunks.popleft()
            if 0 <= size < len(chunk):
                self._chunks.appendleft(chunk[size:])
                chunk = chunk[:size]
            return chunk


def container_format(head: bytes) -> str | None:
    """FFmpeg's demuxer for what a browser records: WebM (EBML) or Ogg; None for anything else."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"OggS"):
        return "ogg"
    return None


class LiveTranscoder:
    """Feed it the microphone's bytes (`feed`), end it (`close`); `on_frames` gets MP3 frames on the loop.

    `done` resolves when the thread has finished: to None, or to the reason the sound could not be decoded.
    """

    def __init__(self, fmt: str, on_frames: Callable[[list[Frame]], None]):
        self._loop = asyncio.get_running_loop()
        self._pipe = _Pipe()
        self._format = fmt
        self._on_frames = on_frames
        self.done: asyncio.Future[str | None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, name="live-transcoder", daemon=True)
        self._thread.start()

    def feed(self, data: bytes) -> None:
        self._pipe.write(data)

    def close(self) -> None:
        self._pipe.close()

    def _run(self) -> None:
        problem: str | None = None
        try:
            self._transcode()
        except (av.FFmpegError, ValueError, EOFError) as exc:
            problem = f"the microphone's sound cannot be decoded: {exc}"
        except Exception as exc:  # a thread's exception would otherwise vanish: the call must still end cleanly
            log.exception("live transcoder failed")
            problem = f"the live sound failed: {exc}"
        self._loop.call_soon_threadsafe(_settle, self.done, problem)

    def _transcode(self) -> None:
        options = {"probesize": PROBE_BYTES, "analyzeduration": "0", "fflags": "nobuffer"}
        with av.open(self._pipe, mode="r", format=self._format, options=options) as source:
            if not source.streams.audio:
                raise ValueError("no sound in what the microphone sent")
            encoder = av.CodecContext.create("libmp3lame", "w")
            encoder.sample_rate = RATE
            encoder.layout = "mono"
            encoder.format = "s16p"
            encoder.bit_rate = MP3_BITRATE
            resampler = av.AudioResampler(format="s16p", layout="mono", rate=RATE)
            for frame in source.decode(source.streams.audio[0]):
                frame.pts = None  # browsers' timestamps jump; the encoder counts samples itself
                self._encode(encoder, resampler.resample(frame))
            self._encode(encoder, resampler.resample(None))
            self._emit(encoder.encode(None))

    def _encode(self, encoder: av.CodecContext, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            frame.pts = None
            self._emit(encoder.encode(frame))

    def _emit(self, packets: list[av.Packet]) -> None:
        data = b"".join(bytes(p) for p in packets)
        if data:
            frames = list(audio_frames(data))
            if frames:
                self._loop.call_soon_threadsafe(self._on_frames, frames)


def _settle(future: asyncio.Future, problem: str | None) -> None:
    if not future.done():
        future.set_result(problem)
