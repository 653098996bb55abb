"""Live calls (实时喊话): mouth → loudspeaker latency, and the server's event-loop lag during a call.

    .venv/bin/python bench/live.py                          # 20 bursts, 1,000 screens (2-3 min)
    .venv/bin/python bench/live.py --bursts 40 --screens 2000

Not a test: prints a table and exits 0 (1 when the benchmark itself could not run). See bench/README.md.

The caller speaks a signal with a burst at the start of every second (0.15 s of a tone, cycling over four
pitches, so that a burst heard late is never taken for the next one), as Chromium's MediaRecorder sends it:
Opus in WebM, a piece every 250 ms in real time, each piece holding the sound of its quarter second. A
listener of `/stream/bench.mp3` decodes the MP3 with FFmpeg (PyAV) as the bytes arrive. A burst's latency
runs from just before its piece is sent to the moment the listener has decoded its first frame; nothing is
subtracted. The bare baseline, in the same run, is the call's transcoder alone (broadcast_server/livecoder.py
in this process, fed the same pieces at the same pace, its MP3 decoded by the same listener code): what the
server adds beyond decoding and encoding is the station's pacing (a tick every 0.2 s), the WebSocket, HTTP
and its event loop.

The server runs in a process of its own (the app as `serve` builds it, on SQLite, speech off) with a ticker
on its event loop (bench/speech.py's `loop_lag_during`): how late each 10 ms tick wakes is how long the loop
was blocked, and the CPU its thread used meanwhile tells a busy loop from a process kept waiting; the
interpreter's garbage collections are timed too. The lag is measured with N screens connected
(bench/fanout.py's client process: hello, acks), once with no call and once over a call of the same length
to their common area; the call's latency is measured again in that call.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import av
import numpy as np
from aiohttp import web

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # the other benches, and tests/ for the live-call test helpers
import fanout  # noqa: E402  (the screens' client process and the bulk registration)
from figures import percentile  # noqa: E402
from netutil import HOST, free_port  # noqa: E402
from speech import loop_lag_during  # noqa: E402

from announcements.database import sqlite_url  # noqa: E402
from broadcast_server.app import create_app  # noqa: E402
from broadcast_server.livecoder import LiveTranscoder  # noqa: E402
from broadcast_server.openfiles import raise_open_file_limit  # noqa: E402
from broadcast_server.settings import load_settings  # noqa: E402
from tests.e2e.live_audio import PIECE_S, tone_share  # noqa: E402
from tests.e2e.test_live import ended  # noqa: E402

AREA = "/bench"  # fanout.register puts the screens in /bench/v0 .. /bench/v99: a call to /bench reaches them all
TONES = (600, 900, 1200, 1500)  # Hz, burst k at TONES[k % 4]
BURST_S = 0.15
FIRST_BURST_S = 0.5  # burst k starts at 0.5 + k seconds, at the start of a piece
TAIL_S = 2.0  # silence spoken after the last burst, so it comes out of the transcoder before the call ends
RATE = 48_000  # what MediaRecorder records Opus at
OPUS_FRAME = 960  # 20 ms
TARGET_S = 3.0
STALL_MS = 50.0  # the loop blocked this long is a stall (bench/loop_lag.py's target)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- the caller

class _Sink(io.RawIOBase):
    """Where the muxer writes: the bytes since the last piece was cut."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.data += b
        return len(b)

    def cut(self) -> bytes:
        piece, self.data = bytes(self.data), bytearray()
        return piece


def microphone(bursts: int) -> list[bytes]:
    """The pieces MediaRecorder would send for the signal, made before the clock starts. A WebM cluster per
    Opus packet, so each piece holds its own quarter second (FFmpeg's default holds seconds back per cluster;
    Chromium writes each block as it is encoded)."""
    seconds = FIRST_BURST_S + bursts + TAIL_S
    t = np.arange(int(seconds * RATE)) / RATE
    since = t - FIRST_BURST_S
    tone = np.array(TONES)[np.clip(since, 0, None).astype(int) % len(TONES)]
    sound = np.where((since >= 0) & (since % 1.0 < BURST_S) & (since < bursts), 0.3 * np.sin(2 * np.pi * tone * t), 0.0)
    samples = sound.astype(np.float32)
    sink, pieces = _Sink(), []
    piece_samples = int(PIECE_S * RATE)
    with av.open(sink, "w", format="webm", options={"live": "1", "cluster_time_limit": "20"}) as container:
        stream = container.add_stream("libopus", rate=RATE, layout="mono")
        for start in range(0, len(samples), OPUS_FRAME):
            if start and start // piece_samples != (start - OPUS_FRAME) // piece_samples:
                pieces.append(sink.cut())  # a quarter second recorded: MediaRecorder hands it over
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + OPUS_FRAME], format="flt", layout="mono")
            frame.rate, frame.pts = RATE, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    pieces.append(sink.cut())
    return pieces


def burst_piece(k: int) -> int:
    return round((FIRST_BURST_S + k) / PIECE_S)


async def talk(send: Callable[[bytes], Awaitable[None]], pieces: list[bytes]) -> list[float]:
    """Send each piece when its quarter second is over, on a fixed schedule (no drift); when each was sent."""
    began, sent = time.monotonic(), []
    for n, piece in enumerate(pieces):
        await asyncio.sleep(max(0.0, began + (n + 1) * PIECE_S - time.monotonic()))
        sent.append(time.monotonic())
        await send(piece)
    return sent


# ----------------------------------------------------------------------------------------------- the listener

@dataclass
class Ear:
    """An MP3 decoder fed bytes as they arrive: when each burst's first frame is decoded, and at what point
    of the stream (seconds of audio from its first byte)."""

    codec: av.CodecContext = field(default_factory=lambda: av.CodecContext.create("mp3float", "r"))
    heard: list[tuple[float, int, float]] = field(default_factory=list)  # (monotonic time, Hz, stream position s)
    decode_ms: list[float] = field(default_factory=list)  # per chunk received
    first_byte: float | None = None
    position_s: float = 0.0
    _last: int | None = None

    def hear(self, data: bytes) -> None:
        began = time.monotonic()
        if self.first_byte is None:
            self.first_byte = began
        for packet in self.codec.parse(data):
            for frame in self.codec.decode(packet):
                samples = frame.to_ndarray()[0]
                length_s = frame.samples / frame.sample_rate
                tone = next((hz for hz in TONES if tone_share(samples, frame.sample_rate, hz, window_s=length_s) > 0.5), None)
                if tone is not None and tone != self._last:
                    self.heard.append((time.monotonic(), tone, self.position_s))
                self._last = tone
                self.position_s += length_s
        self.decode_ms.append((time.monotonic() - began) * 1000)

    def latencies(self, sent: list[float], bursts: int) -> dict[str, list[float]]:
        """Seconds from each burst's piece sent to its first frame decoded, and to when a player that started at
        the stream's first byte (and never ran dry) plays it."""
        said = [sent[burst_piece(k)] for k in range(bursts)]
        decoded, played, last = [], [], -1
        for at, hz, position in self.heard:
            # the latest burst of this pitch already said, after the last one heard (the stream keeps their order)
            k = max((k for k in range(last + 1, bursts) if TONES[k % len(TONES)] == hz and said[k] <= at), default=None)
            if k is not None:
                last = k
                decoded.append(at - said[k])
                played.append(self.first_byte + position - said[k])
        return {"decoded": decoded, "played": played}


async def listen(http: aiohttp.ClientSession, base: str, ear: Ear) -> None:
    async with http.get(f"{base}/stream{AREA}.mp3") as resp:
        if resp.status != 200:
            raise RuntimeError(f"the stream answered {resp.status}")
        async for chunk in resp.content.iter_any():
            ear.hear(chunk)


async def until_heard(ear: Ear, bursts: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(ear.heard) < bursts and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


# ----------------------------------------------------------------------------------------------- the server

@dataclass
class Lag:
    """What the probe in the server saw over a window (bench/speech.py's ticker): how late each 10 ms tick
    woke and the CPU the loop's thread used meanwhile, in ms; and the longest garbage collection."""

    began: float  # this process's monotonic clock when the window opened
    ms: list[float]
    cpu_ms: list[float]
    gc_ms: float

    def worst(self) -> tuple[float, float, float]:
        """The longest stall, when it ended (this process's monotonic clock), and the loop thread's CPU in it:
        far less CPU than lateness means the process was kept waiting (for a core, or for the GIL), not busy."""
        i = max(range(len(self.ms)), key=self.ms.__getitem__)
        return self.ms[i], self.began + sum(10.0 + lag for lag in self.ms[: i + 1]) / 1000, self.cpu_ms[i]

    def over(self, limit_ms: float) -> int:
        return sum(1 for lag in self.ms if lag > limit_ms)


class Collections:
    """How long the interpreter's garbage collections take: a full one, in a server holding thousands of
    connections, blocks the loop for all of it."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self._began = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.ms.append((time.perf_counter() - self._began) * 1000)


def serve_probed(conn, data_dir: str, port: int) -> None:
    """The server under test in its own process, with a lag probe on its loop; started, stopped over `conn`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark decides when it stops
    raise_open_file_limit()
    asyncio.run(_serve_probed(conn, Path(data_dir), port))


async def _serve_probed(conn, data_dir: Path, port: int) -> None:
    settings = load_settings(None, data_dir=data_dir, host=HOST, port=port, speech_enabled=False, hello_timeout_s=60,
                             log_level="WARNING")
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    collections = Collections()
    loop = asyncio.get_running_loop()
    conn.send("listening")
    try:
        while await loop.run_in_executor(None, conn.recv) == "start":  # then "stop", or "quit"
            collections.ms.clear()
            lags, cpu, _ = await loop_lag_during(loop.run_in_executor(None, conn.recv))
            conn.send(([lag * 1000 for lag in lags], [c * 1000 for c in cpu], max(collections.ms, default=0.0)))
    finally:
        await runner.cleanup()


class ProbedServer(fanout.Server):
    """fanout.Server's bookkeeping (its port, `wait_idle`), the process being `serve_probed` instead of `serve`."""

    def __init__(self, data_dir: Path):
        super().__init__("ours", data_dir, free_port(), hello_timeout_s=60)
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve_probed, args=(child, str(data_dir), self.port), daemon=True)

    async def start(self, timeout: float = 180) -> None:
        """Until it listens (its database open): imports alone take seconds on a busy machine."""
        self.process.start()
        if not await asyncio.to_thread(self.conn.poll, timeout):
            raise RuntimeError(f"the server did not listen within {timeout:.0f} s (exit code {self.process.exitcode})")
        self.conn.recv()

    async def lag_during(self, work: Awaitable) -> tuple[Lag, object]:
        """The server loop's lag while `work` runs, and what `work` returned."""
        began = time.monotonic()
        self.conn.send("start")
        try:
            result = await work
        finally:
            self.conn.send("stop")
        return Lag(began, *await asyncio.to_thread(self.conn.recv)), result

    def stop(self) -> None:
        if self.process.is_alive():
            self.conn.send("quit")
            self.process.join(30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10)


# ----------------------------------------------------------------------------------------------- the runs

async def bare(pieces: list[bytes], bursts: int) -> dict[str, list[float]]:
    """The transcoder alone, in this process, its MP3 frames decoded as they come."""
    ear = Ear()
    coder = LiveTranscoder("matroska", lambda frames: ear.hear(b"".join(f.data for f in frames)))

    async def feed(piece: bytes) -> None:
        coder.feed(piece)

    sent = await talk(feed, pieces)
    await until_heard(ear, bursts, timeout=5)
    coder.close()
    await coder.done
    return ear.latencies(sent, bursts)


async def call(http: aiohttp.ClientSession, base: str, admin: str, pieces: list[bytes], bursts: int) -> dict[str, list[float]]:
    """A listener on the area's stream, a call to the area speaking the pieces, then stop."""
    ear = Ear()
    listening = asyncio.create_task(listen(http, base, ear))
    try:
        while ear.first_byte is None and not listening.done():  # the station plays before the call starts
            await asyncio.sleep(0.01)
        if listening.done():
            await listening  # its failure
        async with http.ws_connect(f"{base}/api/v1/live", headers={"Authorization": f"Bearer {admin}"}) as ws:
            await ws.send_json({"type": "start", "areas": [AREA], "priority": "high"})
            started = await ws.receive_json(timeout=10)
            if started["type"] != "started":
                raise RuntimeError(f"the call was refused: {started}")
            began = time.monotonic()
            sent = await talk(ws.send_bytes, pieces)
            await until_heard(ear, bursts, timeout=5)
            await ws.send_json({"type": "stop"})
            if (await ended(ws))["reason"] is not None:
                raise RuntimeError("the call ended before its stop")
            over = time.monotonic()
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
    figures = ear.latencies(sent, bursts)
    figures["decode_ms"] = ear.decode_ms
    figures["call"] = (began, over)
    return figures


async def run(args) -> int:
    raise_open_file_limit()
    load = os.getloadavg()[0]
    pieces = microphone(args.bursts)
    with tempfile.TemporaryDirectory(prefix="vb-live-") as tmp:
        log(f"registering {args.screens} screens")
        admin, tokens = await fanout.register(sqlite_url(Path(tmp)), args.screens)
        server = ProbedServer(Path(tmp))
        procs = [fanout.ClientProcess(mp.get_context("spawn"), 0)]
        clients = fanout.Clients(procs)
        try:
            async with aiohttp.ClientSession() as http:
                await server.start()
                log(f"bare: the transcoder alone, {args.bursts} bursts")
                alone = await bare(pieces, args.bursts)
                log("ours: a call, no screens")
                ours = await call(http, server.base, admin, pieces, args.bursts)
                await clients.all("setup", 60, group="s", tokens=tokens, first_index=0, port=server.port, ack=True)
                connected = sum(c["ok"] for c in await clients.all("connect", 240, group="s", concurrency=200, timeout=230))
                await server.wait_idle(limit_s=60)  # the handshakes' bookkeeping done
                log(f"{connected} screens connected; the loop idle, then during a call")
                seconds = len(pieces) * PIECE_S + 3  # the call, its start and end, and the recording kept after it
                idle, _ = await server.lag_during(asyncio.sleep(seconds))
                busy, crowded = await server.lag_during(_then_wait(call(http, server.base, admin, pieces, args.bursts), seconds))
        finally:
            for proc in procs:
                proc.stop()
            server.stop()
    print(report(args, load, connected, alone, ours, crowded, idle, busy))
    return 0


async def _then_wait(work: Awaitable, seconds: float):
    """`work`'s result, no sooner than `seconds` from now (so two lag windows are as long)."""
    began = time.monotonic()
    result = await work
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - began)))
    return result


def report(args, load: float, connected: int, alone: dict, ours: dict, crowded: dict, idle: Lag, busy: Lag) -> str:
    def cells(values: list[float], digits: int = 2) -> str:
        if not values:
            return f"{'n/a':>8}{'n/a':>8}{'n/a':>8}"
        return "".join(f"{v:8.{digits}f}" for v in (percentile(values, 50), percentile(values, 95), max(values)))

    n = args.bursts
    verdict = lambda values: "met" if values and percentile(values, 95) < TARGET_S and len(values) == n else "MISSED"  # noqa: E731
    rows = [
        ("mouth→listener, s: ours, stream decoded", cells(ours["decoded"]), f"{len(ours['decoded'])}/{n}", verdict(ours["decoded"])),
        (f"  the same, {connected:,} screens connected", cells(crowded["decoded"]), f"{len(crowded['decoded'])}/{n}",
         verdict(crowded["decoded"])),
        ("  a player from the stream's first byte", cells(ours["played"]), f"{len(ours['played'])}/{n}", ""),
        ("  bare: the transcoder alone, decoded", cells(alone["decoded"]), f"{len(alone['decoded'])}/{n}", ""),
        ("listener's decoding and detection per chunk, ms", cells(ours["decode_ms"]), f"{len(ours['decode_ms'])} chunks", ""),
        (f"server loop lag, ms: {connected:,} screens, no call", cells(idle.ms, digits=1),
         f"{len(idle.ms)} ticks, {idle.over(STALL_MS)} over {STALL_MS:g} ms", ""),
        (f"  {connected:,} screens, a call", cells(busy.ms, digits=1),
         f"{len(busy.ms)} ticks, {busy.over(STALL_MS)} over {STALL_MS:g} ms", ""),
    ]
    worst_ms, worst_at, worst_cpu = busy.worst()
    began, over = crowded["call"]
    width = max(len(r[0]) for r in rows)
    lines = [
        f"Live calls: {n} bursts of {BURST_S:g} s, one a second, Opus in WebM pieces every {PIECE_S * 1000:.0f} ms; "
        f"{os.cpu_count()} CPUs, load average before the run {load:.2f}"
        + ("  (something else was running: figures are noisier)" if load > (os.cpu_count() or 2) / 2 else ""),
        "",
        f"{'':{width}}{'p50':>8}{'p95':>8}{'max':>8}  {'count':<12}target p95 < {TARGET_S:g} s, every burst",
        *(f"{name:{width}}{values}  {count:<12}{status}" for name, values, count, status in rows),
        "",
        "From a burst's piece sent to its first frame decoded; a player that starts at the stream's first byte plays",
        "it later by the station's lead (it sends 0.6 s ahead), and a loudspeaker adds its own buffer to that.",
        f"The longest stall during the call: {worst_ms:.0f} ms, ending {worst_at - began:+.1f} s from its `started` "
        f"(`ended` came at {over - began:+.1f} s),",
        f"{worst_cpu:.0f} ms of it CPU on the server loop's thread (the rest, the process waiting for a core or the GIL).",
        f"The server's longest garbage collection: {busy.gc_ms:.0f} ms during the call, {idle.gc_ms:.0f} ms with no call.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=20, help="bursts spoken, one a second (default 20)")
    parser.add_argument("--screens", type=int, default=1000, help="screens connected for the loop-lag figures (default 1000)")
    args = parser.parse_args()
    if not 1 <= args.bursts <= 600 or not 1 <= args.screens <= 20000:
        parser.error("--bursts must be 1..600 and --screens 1..20000")
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    except (RuntimeError, TimeoutError, aiohttp.ClientError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
