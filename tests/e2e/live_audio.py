"""Sound for live-call tests: a tone as a browser's MediaRecorder would send it, and finding it in what was heard."""

import asyncio
import io

import av
import numpy as np

TONE_HZ = 1000
PIECE_S = 0.25  # MediaRecorder's timeslice in the console


def recorded_tone(seconds: float, fmt: str = "webm", hz: int = TONE_HZ) -> bytes:
    """`seconds` of a tone as Opus in WebM (or Ogg), 48 kHz mono: what Chromium's MediaRecorder makes."""
    buffer = io.BytesIO()
    rate = 48_000
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream("libopus", rate=rate, layout="mono")
        t = np.arange(int(rate * seconds)) / rate
        samples = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        for start in range(0, len(samples), 960):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 960], format="flt", layout="mono")
            frame.rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def pieces(data: bytes, seconds: float) -> list[bytes]:
    """The recording cut into as many pieces as MediaRecorder would send in `seconds`, at arbitrary bytes."""
    count = max(1, round(seconds / PIECE_S))
    size = -(-len(data) // count)
    return [data[i : i + size] for i in range(0, len(data), size)]


async def speak(ws, data: bytes, seconds: float) -> None:
    """Send the recording in real time, a piece every quarter second, as the console does."""
    for piece in pieces(data, seconds):
        await ws.send_bytes(piece)
        await asyncio.sleep(PIECE_S)


def tone_share(samples: np.ndarray, rate: int, hz: int = TONE_HZ, window_s: float = 0.1) -> float:
    """The share of 0.1 s windows whose loudest frequency is the tone's (within 5%): how much of the audio is the tone."""
    size = int(rate * window_s)
    windows = samples[: len(samples) // size * size].reshape(-1, size)
    if not len(windows):
        return 0.0
    spectrum = np.abs(np.fft.rfft(windows * np.hanning(size), axis=1))
    peak_hz = spectrum.argmax(axis=1) * rate / size
    loud = np.sqrt((windows.astype("float64") ** 2).mean(axis=1)) > 0.01
    return float(np.mean(loud & (np.abs(peak_hz - hz) < hz * 0.05)))


def tone_seconds(samples: np.ndarray, rate: int, hz: int = TONE_HZ) -> float:
    return tone_share(samples, rate, hz) * len(samples) / rate


async def keep_talking(ws, seconds: float = 60.0) -> None:
    """Go on sending a tone in real time (a background task): a call with no sound for 5 s ends."""
    tone = recorded_tone(seconds)
    await speak(ws, tone, seconds)
