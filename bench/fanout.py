"""Fan-out benchmark: how fast one announcement reaches N connected screens, next to a bare server.

    .venv/bin/python bench/fanout.py                    # 1,000 screens, 5 posts
    .venv/bin/python bench/fanout.py --screens 10000    # the design target
    .venv/bin/python bench/fanout.py --reconnect        # also: kill -9 and restart, time the resume

Not a test: it prints a table of figures with the design targets beside them and exits 0 (1 only
when the benchmark itself could not run). See bench/README.md for what each figure means.

Processes: this one (the orchestrator: registers screens, starts servers, posts, prints), the server
under test (`python -m broadcast_server.cli serve`, then `bench/bare_server.py`), and one or more
client processes holding the screens. A screen is a small asyncio Protocol speaking WebSocket by hand
(upgrade, masked client frames, hello/ack/pong): it stamps each frame with CLOCK_MONOTONIC the moment
its bytes are handed to it, and does no other work on the hot path, so the clients stay much cheaper
than the servers they measure. CLOCK_MONOTONIC is one clock for the whole machine on Linux, so a
stamp taken in a client process is comparable with the stamp taken here just before each POST.

Everything is bounded (counts and timeouts), talks only to 127.0.0.1, and is cleaned up on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from figures import machine, percentile, table
from netutil import HOST, free_port, run_benchmark, screens_fit

from broadcast_server.openfiles import raise_open_file_limit

ROOT = Path(__file__).resolve().parent.parent
BARE_SERVER = Path(__file__).resolve().parent / "bare_server.py"
AREAS = 100  # screens are spread over /bench/v0 .. /bench/v99; every post targets all of them

TITLE = "村民大会通知"
BODY = "明天上午九点在村委会召开村民大会，请各户派代表参加。会议内容：一、通报今年村务收支情况；二、讨论村道修缮方案。"

TARGETS = {
    "p99": 500.0,  # ms, at 10,000 screens
    "ratio": 0.80,
    "solo_p50": 10.0,  # ms
    "kb_per_conn": 20.0,
    "resume_s": 30.0,
}


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# =====================================================================================================
# Client side (runs in the client processes)
# =====================================================================================================

class HandshakeFailed(Exception):
    pass


def _mask(data: bytes) -> bytes:
    """The masking key and the masked payload of a client frame (RFC 6455 5.3)."""
    key = random.getrandbits(32).to_bytes(4, "big")
    n = len(data)
    if n == 0:
        return key
    stream = (key * ((n >> 2) + 1))[:n]
    return key + (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + _mask(payload)


class ScreenState:
    """One benchmark screen across its connections: what it has seen and when it was (re)synced."""

    __slots__ = ("index", "token", "seqs", "max_seq", "base", "proto", "synced_ns", "resumed_ns", "connects", "lost_ns")

    def __init__(self, index: int, token: str):
        self.index = index
        self.token = token
        self.seqs: set[int] = set()
        self.max_seq: int | None = None
        self.base = 0  # len(seqs) at the last mark
        self.proto: ScreenProtocol | None = None
        self.synced_ns = 0
        self.resumed_ns = 0
        self.connects = 0
        self.lost_ns = 0


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class ScreenProtocol(asyncio.Protocol):
    """A WebSocket client with nothing on the hot path but a timestamp, a seq, an append and an ack."""

    def __init__(self, pool: Pool, state: ScreenState, last_seq: int | None):
        self.pool = pool
        self.state = state
        self.last_seq = last_seq
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.synced = False
        self.synced_fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.synced_fut.add_done_callback(_retrieve)  # an abandoned attempt's failure is not an error to log
        self.close_code: int | None = None

    # ---- asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (f"GET /ws HTTP/1.1\r\nHost: {HOST}:{self.pool.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        buf = self.buf + data if self.buf else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            status = buf[: buf.find(b"\r\n")]
            if b" 101 " not in status + b" ":
                self._fail(f"upgrade refused: {status.decode(errors='replace')}")
                return
            self.upgraded = True
            buf = buf[end + 4:]
            hello = {"type": "hello", "token": self.state.token, "last_seq": self.last_seq,
                     "client": {"name": f"bench-{self.state.index}", "version": "bench"}}
            self.transport.write(client_frame(0x1, json.dumps(hello).encode()))
        pos, n = 0, len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            end = pos + head + length
            if end > n:
                break
            payload = buf[pos + head:end]
            pos = end
            opcode = b0 & 0x0F
            if opcode == 0x1 and b0 & 0x80:
                self._on_text(payload, now)
            elif opcode == 0x9:  # ping: answer pong (aiohttp's heartbeat drops silent peers)
                self.transport.write(client_frame(0xA, payload))
            elif opcode == 0x8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.pool.closes[self.close_code] = self.pool.closes.get(self.close_code, 0) + 1
                if not self.transport.is_closing():
                    self.transport.write(client_frame(0x8, payload[:2]))
                    self.transport.close()
                return
            elif opcode != 0xA:
                self.pool.note(f"unexpected frame opcode {opcode} fin {b0 >> 7}")
        self.buf = buf[pos:] if pos < n else b""

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.synced_fut.done():
            self.synced_fut.set_exception(HandshakeFailed(f"connection lost before synced (close {self.close_code}, {exc})"))
        self.pool.on_lost(self)

    # ---- frames

    def _on_text(self, payload: bytes, now: int) -> None:
        state = self.state
        if self.synced:
            i = payload.find(b'"seq":', 0, 64)
            if i < 0:  # pong, reply_result, error: nothing to measure
                if payload.startswith(b'{"type":"error"'):
                    self.pool.note(f"error frame: {payload[:200].decode(errors='replace')}")
                return
            j = payload.find(b",", i + 6, i + 32)
            try:
                seq = int(payload[i + 6:j])
            except ValueError:
                seq = json.loads(payload)["seq"]
            self.pool.frames.append((now, state.index, payload))
            self._saw(seq)
            if self.pool.ack:
                self.transport.write(client_frame(0x1, b'{"type":"ack","seq":%d}' % seq))
            return
        message = json.loads(payload)
        kind = message.get("type")
        if kind in ("announcement", "retract", "request_update"):
            self._saw(message["seq"])
        elif kind == "synced":
            self.synced = True
            state.synced_ns = now
            if not self.synced_fut.done():
                self.synced_fut.set_result(now)
            if self.pool.ack and state.max_seq is not None:
                self.transport.write(client_frame(0x1, b'{"type":"ack","seq":%d}' % state.max_seq))
        elif kind == "error":
            self.pool.note(f"error frame: {message}")

    def _saw(self, seq: int) -> None:
        state = self.state
        if seq not in state.seqs:
            state.seqs.add(seq)
            if len(state.seqs) - state.base == self.pool.need:
                self.pool.done += 1
        if state.max_seq is None or seq > state.max_seq:
            state.max_seq = seq

    def _fail(self, why: str) -> None:
        if not self.synced_fut.done():
            self.synced_fut.set_exception(HandshakeFailed(why))
        self.transport.close()


class Pool:
    """A group of screens in one client process."""

    def __init__(self, tokens: list[str], first_index: int, port: int, ack: bool, tls: bool = False):
        self.states = [ScreenState(first_index + i, t) for i, t in enumerate(tokens)]
        self.port = port
        self.ack = ack
        self.ssl = insecure_tls() if tls else None  # wss:// through nginx (bench/cluster.py), its certificate self-signed
        self.frames: list[tuple[int, int, bytes]] = []
        self.need = 0
        self.done = 0
        self.closes: dict[int, int] = {}
        self.notes: list[str] = []
        self.reconnect = False
        self.reconnect_deadline = 0.0
        self.backoff_initial = 1.0
        self.resumed: set[int] = set()  # screens synced again since the reconnect test was armed
        self.displaced = 0  # resumed connections then closed with 4409 by a stale attempt of the same screen
        self.attempt_timeout = 20.0
        self.replaced_delay = 30.0
        self.tasks: set[asyncio.Task] = set()

    def note(self, text: str) -> None:
        if len(self.notes) < 20:
            self.notes.append(text)

    def connected(self) -> int:
        return sum(1 for s in self.states if self.is_connected(s))

    @staticmethod
    def is_connected(state: ScreenState) -> bool:
        return state.proto is not None and state.proto.synced and not state.proto.transport.is_closing()

    async def open(self, state: ScreenState, last_seq: int | None, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        proto = ScreenProtocol(self, state, last_seq)
        state.proto = proto
        state.connects += 1
        try:
            await asyncio.wait_for(loop.create_connection(lambda: proto, HOST, self.port, ssl=self.ssl), timeout)
            await asyncio.wait_for(asyncio.shield(proto.synced_fut), timeout)
        except BaseException:
            if proto.transport is not None:
                proto.transport.abort()
            if state.proto is proto:
                state.proto = None
            raise

    def on_lost(self, proto: ScreenProtocol) -> None:
        state = proto.state
        if state.proto is not proto:
            return
        state.proto = None
        if self.reconnect and proto.synced:
            if state.index in self.resumed:
                self.resumed.discard(state.index)
                if proto.close_code == 4409:
                    self.displaced += 1
            else:
                state.lost_ns = now_ns()
            first = self.replaced_delay * (1.0 + random.random()) if proto.close_code == 4409 else None
            task = asyncio.get_running_loop().create_task(self._resume(state, first))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _resume(self, state: ScreenState, first_delay: float | None = None) -> None:
        """Reconnect like the screen client does: full-jitter exponential backoff, resume from last seq,
        give up on an attempt not synced within `attempt_timeout` (its open + welcome timeouts), and
        after a 4409 (replaced) wait 1 to 2 times `replaced_delay` first."""
        delay = self.backoff_initial
        if first_delay is not None:
            await asyncio.sleep(first_delay)
        while time.monotonic() < self.reconnect_deadline:
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 60.0)
            try:
                left = self.reconnect_deadline - time.monotonic()
                await self.open(state, state.max_seq, timeout=max(1.0, min(self.attempt_timeout, left)))
            except (OSError, TimeoutError, HandshakeFailed):
                continue
            state.resumed_ns = state.synced_ns
            self.resumed.add(state.index)
            return
        self.note(f"screen {state.index} not resumed before the deadline")

    def mark(self) -> None:
        """Start counting new distinct seqs per screen from here, and forget recorded frames."""
        for s in self.states:
            s.base = len(s.seqs)
        self.frames = []
        self.need = 0
        self.done = 0


def insecure_tls() -> ssl.SSLContext:
    """TLS that takes any certificate: the bench's nginx has a self-signed one, on loopback."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Worker:
    """The command loop of one client process: requests come over a pipe, one at a time."""

    def __init__(self, conn):
        self.conn = conn
        self.pools: dict[str, Pool] = {}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            name, kwargs = await loop.run_in_executor(None, self.conn.recv)
            if name == "quit":
                await self.cmd_close(group=None, timeout=5.0)
                self.conn.send(("ok", None))
                return
            try:
                result = await getattr(self, "cmd_" + name)(**kwargs)
                self.conn.send(("ok", result))
            except Exception:
                self.conn.send(("error", traceback.format_exc()))

    async def cmd_setup(self, group: str, tokens: list[str], first_index: int, port: int, ack: bool, tls: bool = False) -> int:
        self.pools[group] = Pool(tokens, first_index, port, ack, tls)
        return len(tokens)

    async def cmd_connect(self, group: str, concurrency: int, timeout: float, port: int | None = None) -> dict:
        """Connect every screen of the group (hello with last_seq null), at most `concurrency` handshakes at once."""
        pool = self.pools[group]
        if port is not None:
            pool.port = port
        started = time.monotonic()
        deadline = started + timeout
        gate = asyncio.Semaphore(concurrency)
        errors: dict[str, int] = {}

        async def one(state: ScreenState) -> bool:
            async with gate:
                left = deadline - time.monotonic()
                if left <= 0:
                    errors["deadline"] = errors.get("deadline", 0) + 1
                    return False
                try:
                    await pool.open(state, None, timeout=left)
                    return True
                except (OSError, TimeoutError, HandshakeFailed) as exc:
                    key = f"{type(exc).__name__}: {exc}"[:120]
                    errors[key] = errors.get(key, 0) + 1
                    return False

        results = await asyncio.gather(*(one(s) for s in pool.states))
        return {"ok": sum(results), "failed": len(results) - sum(results), "errors": errors,
                "elapsed_s": time.monotonic() - started}

    async def cmd_mark(self, group: str) -> None:
        self.pools[group].mark()

    async def cmd_wait(self, group: str, k: int, timeout: float) -> dict:
        """Wait until every screen has k new distinct seqs since the mark (or the timeout)."""
        pool = self.pools[group]
        pool.need = k
        pool.done = sum(1 for s in pool.states if len(s.seqs) - s.base >= k)
        deadline = time.monotonic() + timeout
        while pool.done < len(pool.states) and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        return {"reached": pool.done, "screens": len(pool.states)}

    async def cmd_collect(self, group: str) -> dict:
        """Receive times since the mark, by announcement id (first receipt per screen only)."""
        pool = self.pools[group]
        by_id: dict[str, dict[int, int]] = {}
        for t, index, payload in pool.frames:
            message = json.loads(payload)
            ident = (message.get("announcement") or {}).get("id") or message.get("announcement_id") or str(message.get("seq"))
            seen = by_id.setdefault(ident, {})
            if index not in seen:
                seen[index] = t
        return {"by_id": {k: list(v.values()) for k, v in by_id.items()}, "frames": len(pool.frames),
                "closes": dict(pool.closes), "notes": pool.notes[:10]}

    async def cmd_arm_reconnect(self, group: str, deadline_s: float, backoff_initial: float, attempt_timeout: float,
                                replaced_delay: float) -> None:
        pool = self.pools[group]
        pool.reconnect = True
        pool.reconnect_deadline = time.monotonic() + deadline_s
        pool.backoff_initial = backoff_initial
        pool.attempt_timeout = attempt_timeout
        pool.replaced_delay = replaced_delay
        pool.resumed = set()
        pool.displaced = 0
        for s in pool.states:
            s.resumed_ns = 0
            s.lost_ns = 0

    async def cmd_wait_resumed(self, group: str, timeout: float) -> dict:
        pool = self.pools[group]
        deadline = time.monotonic() + timeout
        while len(pool.resumed) < len(pool.states) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        pool.reconnect = False
        resumed = [s.resumed_ns for s in pool.states if s.index in pool.resumed]
        return {"resumed": len(resumed), "screens": len(pool.states), "last_ns": max(resumed, default=0),
                "displaced": pool.displaced,
                "first_ns": min(resumed, default=0), "attempts": sum(s.connects for s in pool.states),
                "lost_first_ns": min((s.lost_ns for s in pool.states if s.lost_ns), default=0)}

    async def cmd_lost(self, group: str) -> dict:
        """Since the reconnect test was armed: screens that lost their connection, how many of them are synced
        again, and when the last of those was (for a test where only some screens lose theirs)."""
        pool = self.pools[group]
        lost = [s for s in pool.states if s.lost_ns]
        back = [s.resumed_ns for s in lost if s.index in pool.resumed]
        return {"lost": len(lost), "resumed": len(back), "last_ns": max(back, default=0)}

    async def cmd_seqs(self, group: str) -> list[tuple[bool, bool, list[int]]]:
        """Per screen: is it resumed (synced again since the reconnect test was armed), is it connected and
        synced now, and the seqs it holds."""
        pool = self.pools[group]
        return [(s.index in pool.resumed, pool.is_connected(s), sorted(s.seqs)) for s in pool.states]

    async def cmd_close(self, group: str | None, timeout: float) -> int:
        """Close the group's connections (all groups when None) and wait until they are gone."""
        pools = [self.pools[group]] if group else list(self.pools.values())
        for pool in pools:
            pool.reconnect = False
            for task in list(pool.tasks):
                task.cancel()
            for s in pool.states:
                if s.proto is not None and s.proto.transport is not None:
                    with contextlib.suppress(Exception):
                        if s.proto.upgraded:
                            s.proto.transport.write(client_frame(0x8, (1000).to_bytes(2, "big")))
                        s.proto.transport.close()
        deadline = time.monotonic() + timeout
        while any(s.proto is not None for p in pools for s in p.states) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        left = 0
        for pool in pools:
            for s in pool.states:
                if s.proto is not None:
                    left += 1
                    if s.proto.transport is not None:
                        s.proto.transport.abort()
                    s.proto = None
        return left


def worker_main(conn) -> None:
    raise_open_file_limit()
    with contextlib.suppress(KeyboardInterrupt):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when we stop
        asyncio.run(Worker(conn).run())


# =====================================================================================================
# Orchestrator side
# =====================================================================================================

class ClientProcess:
    def __init__(self, ctx, index: int):
        self.index = index
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child,), name=f"bench-clients-{index}", daemon=True)
        self.process.start()
        child.close()
        self.lock = asyncio.Lock()

    async def call(self, name: str, wait_s: float, /, **kwargs) -> Any:
        """Run one command in the client process; `wait_s` bounds the wait for its answer."""
        async with self.lock:
            self.conn.send((name, kwargs))
            try:
                await asyncio.wait_for(self._readable(), wait_s)
            except TimeoutError:
                raise TimeoutError(f"client process {self.index}: {name} did not answer within {wait_s:.0f} s") from None
            status, result = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"client process {self.index}: {name} failed:\n{result}")
        return result

    async def _readable(self) -> None:
        """Wait until the answer's first bytes are in the pipe (no thread: Ctrl-C is never stuck behind one)."""
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = self.conn.fileno()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.process.is_alive():
                self.conn.send(("quit", {}))
                if self.conn.poll(10):
                    self.conn.recv()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class Clients:
    """The screens, spread over the client processes; every call goes to all of them at once."""

    def __init__(self, procs: list[ClientProcess]):
        self.procs = procs

    async def all(self, name: str, wait_s: float, /, **kwargs) -> list[Any]:
        return await asyncio.gather(*(p.call(name, wait_s, **kwargs) for p in self.procs))


def _die_with_parent() -> None:
    """Child servers get SIGTERM if the benchmark dies without cleaning up."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (bench/figures.py); NaN when there is nothing to rank."""
    return percentile(values, p) if values else float("nan")


def median(values: list[float]) -> float:
    return pct(values, 50)


class Server:
    """The server under test as a child process (ours, or the bare baseline).

    Ours keeps its SQLite database in `workdir`/data unless `env` says otherwise (bench/cluster.py: replicas on
    PostgreSQL, each named, with a data dir of its own, `data_dir`)."""

    def __init__(self, kind: str, workdir: Path, port: int, hello_timeout_s: float, *, name: str | None = None,
                 data_dir: Path | None = None, env: dict[str, str] | None = None):
        self.kind = kind
        self.name = name or kind
        self.workdir = workdir
        self.data_dir = data_dir or workdir / "data"
        self.env = env or {}
        self.port = port
        self.hello_timeout_s = hello_timeout_s
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / f"{self.name}-server.log"
        self.starts = 0
        self.bare_mode = "raw"

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VB_")}
        env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        if self.kind == "ours":
            env.update(VB_HELLO_TIMEOUT_S=str(self.hello_timeout_s), VB_LOG_LEVEL="WARNING", **self.env)
            cmd = [sys.executable, "-m", "broadcast_server.cli", "serve", "--data-dir", str(self.data_dir),
                   "--host", HOST, "--port", str(self.port)]
        else:
            cmd = [sys.executable, str(BARE_SERVER), "--host", HOST, "--port", str(self.port),
                   "--hello-timeout", str(self.hello_timeout_s), "--mode", self.bare_mode]
        self.starts += 1
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        log.close()

    async def wait_ready(self, http, admin: str, timeout: float = 60.0) -> float:
        """Seconds from now until the server answers HTTP."""
        import aiohttp

        started = time.monotonic()
        path = "/api/v1/announcements?limit=1" if self.kind == "ours" else "/healthz"
        headers = {"Authorization": f"Bearer {admin}"}
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {self.process.returncode}; log:\n{self.log_tail()}")
            try:
                async with http.get(self.base + path, headers=headers, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{self.name} server not ready in {timeout:.0f} s; log:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def rss_kb(self) -> int:
        return rss_kb(self.process.pid)

    async def wait_idle(self, limit_s: float, window_s: float = 0.5, busy: float = 0.05) -> float:
        """Seconds until the server uses under `busy` of a CPU over `window_s` (at most `limit_s`)."""
        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            before = cpu_seconds(self.process.pid)
            await asyncio.sleep(window_s)
            if cpu_seconds(self.process.pid) - before < busy * window_s:
                return max(0.0, time.monotonic() - started - window_s)  # the quiet window itself is not busy time
        return time.monotonic() - started

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


async def register(database_url: str, screens: int, schema: str | None = None) -> tuple[str, list[str]]:
    """An admin token and `screens` screen tokens, written in one transaction (the database migrated first).

    The same rows `announcements.registry.create_screen` writes (a Screen, and a screen Token holding
    only the secret's hash), added in bulk: calling it 10,000 times flushes twice per screen (~35 s).
    """
    from announcements.database import Database
    from announcements.models import Role, Screen, Token, TokenCreate
    from announcements.protocol import ScreenKind
    from announcements.registry import create_token, ensure_area
    from announcements.tokens import hash_secret, new_secret

    db = Database(database_url, schema=schema)
    try:
        await db.migrate()
        async with db.write() as session:
            _, admin = await create_token(session=session, data=TokenCreate(role=Role.ADMIN, area="/", name="bench"))
            for a in range(AREAS):
                await ensure_area(session=session, path=f"/bench/v{a}")
            rows = [Screen(name=f"bench-{i}", area=f"/bench/v{i % AREAS}", kind=ScreenKind.SCREEN, tags=[]) for i in range(screens)]
            session.add_all(rows)
            await session.flush()
            secrets = [new_secret() for _ in rows]
            session.add_all(Token(role=Role.SCREEN, area=s.area, name=s.name, secret_hash=hash_secret(secret), screen_id=s.id)
                            for s, secret in zip(rows, secrets, strict=True))
            await session.flush()
        return admin, secrets
    finally:
        await db.close()


async def post(http, server: Server, admin: str, n: int, answers: list | None = None) -> tuple[int, str]:
    """POST one announcement; returns (CLOCK_MONOTONIC ns just before sending, announcement id)."""
    body = {"title": f"{TITLE} {n}", "body": BODY, "speak": False}
    headers = {"Authorization": f"Bearer {admin}"}
    t0 = now_ns()
    async with http.post(server.base + "/api/v1/announcements", json=body, headers=headers) as r:
        answer = await r.json(content_type=None)
        if r.status != 201:
            raise RuntimeError(f"POST to {server.kind} answered {r.status}: {answer}")
    if answers is not None:
        answers.append(answer)
    return t0, answer["id"]


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args, workdir: Path, clients: Clients, admin: str, http):
        self.args = args
        self.workdir = workdir
        self.clients = clients
        self.admin = admin
        self.http = http
        self.n = args.screens

    async def connect(self, server: Server, group: str) -> dict:
        timeout = max(60.0, self.n / 50)
        results = await self.clients.all("connect", timeout + 30, group=group, concurrency=self.args.connect_concurrency,
                                         timeout=timeout, port=server.port)
        errors: dict[str, int] = {}
        for r in results:
            for k, v in r["errors"].items():
                errors[k] = errors.get(k, 0) + v
        return {"ok": sum(r["ok"] for r in results), "failed": sum(r["failed"] for r in results), "errors": errors,
                "elapsed_s": max(r["elapsed_s"] for r in results)}

    async def settle_rss(self, server: Server, seconds: float) -> int:
        """RSS once it stops moving (delivery flushes, GC) or after `seconds`."""
        await asyncio.sleep(min(1.0, seconds))
        last = server.rss_kb()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            current = server.rss_kb()
            if abs(current - last) <= max(64, last // 500):
                return current
            last = current
        return last

    async def fanout_posts(self, server: Server, group: str, posts: int) -> dict:
        await self.clients.all("mark", 30, group=group)
        sent: list[tuple[int, str]] = []
        reached: list[int] = []
        answers: list[dict] = []
        busy: list[float] = []
        for i in range(posts):
            sent.append(await post(self.http, server, self.admin, i + 1, answers))
            done = await self.clients.all("wait", self.args.post_timeout + 30, group=group, k=i + 1, timeout=self.args.post_timeout)
            reached.append(sum(d["reached"] for d in done))
            busy.append(await server.wait_idle(limit_s=30))  # acks and their bookkeeping, after the last screen
            if i + 1 < posts:
                await asyncio.sleep(self.args.spacing)
        collected = await self.clients.all("collect", 120, group=group)
        result = self.latencies(sent, collected)
        result["reached"] = reached
        result["busy_s"] = busy
        result["send_ms"] = [a["send_ms"] for a in answers if "send_ms" in a]  # the bare server times its send loop
        return result

    def latencies(self, sent: list[tuple[int, str]], collected: list[dict]) -> dict:
        """Latency of every (screen, post) pair from the client processes' receive times."""
        times: dict[str, list[int]] = {}
        for c in collected:
            for ident, ts in c["by_id"].items():
                times.setdefault(ident, []).extend(ts)
        all_ms: list[float] = []
        per_post = []
        for t0, ident in sent:
            ms = [(t - t0) / 1e6 for t in times.get(ident, [])]
            all_ms.extend(ms)
            last = max(ms, default=float("nan"))
            per_post.append({"received": len(ms), "last_ms": last, "first_ms": min(ms, default=float("nan")),
                             "p50_ms": median(ms), "throughput": len(ms) / (last / 1000) if ms else 0.0})
        closes: dict[int, int] = {}
        for c in collected:
            for k, v in c["closes"].items():
                closes[k] = closes.get(k, 0) + v
        notes = [n for c in collected for n in c["notes"]]
        return {"all_ms": all_ms, "per_post": per_post, "closes": closes, "notes": notes}

    async def solo(self, server: Server) -> dict:
        """One screen alone: post, wait for it, again; latency of each."""
        r = await self.clients.procs[0].call("connect", 60, group="solo", concurrency=1, timeout=30, port=server.port)
        if r["ok"] != 1:
            raise RuntimeError(f"solo screen could not connect to {server.kind}: {r}")
        proc = self.clients.procs[0]
        await proc.call("mark", 10, group="solo")
        sent = []
        for i in range(self.args.solo_posts):
            sent.append(await post(self.http, server, self.admin, 1000 + i))
            await proc.call("wait", 40, group="solo", k=i + 1, timeout=10)
            await asyncio.sleep(0.02)
        collected = [await proc.call("collect", 30, group="solo")]
        await proc.call("close", 30, group="solo", timeout=10)
        result = self.latencies(sent, collected)
        return {"p50_ms": median(result["all_ms"]), "p99_ms": pct(result["all_ms"], 99),
                "max_ms": max(result["all_ms"], default=float("nan")), "received": len(result["all_ms"])}

    async def warm_up(self, server: Server) -> None:
        """One screen connects and leaves, so first-use costs are not counted as per-connection memory."""
        proc = self.clients.procs[0]
        r = await proc.call("connect", 60, group="solo", concurrency=1, timeout=30, port=server.port)
        if r["ok"] != 1:
            raise RuntimeError(f"warm-up screen could not connect to {server.kind}: {r}")
        await proc.call("close", 30, group="solo", timeout=10)

    async def reconnect(self, server: Server) -> dict:
        """kill -9 the server with N screens connected, restart it, time until all N are resumed.

        One announcement is posted just before the kill (so some screens are killed before they have
        it: they must get it by replay) and one as soon as the new server answers (while the screens
        are still coming back: they get it by replay or live). Then every screen must hold every seq.
        """
        args = self.args
        await self.clients.all("mark", 30, group="main")
        await self.clients.all("arm_reconnect", 30, group="main", deadline_s=args.reconnect_timeout,
                               backoff_initial=args.reconnect_backoff, attempt_timeout=args.attempt_timeout,
                               replaced_delay=args.replaced_delay)
        t_before, id_before = await post(self.http, server, self.admin, 9001)
        t_kill = now_ns()
        server.kill()
        t_restart = now_ns()
        server.start()
        await server.wait_ready(self.http, self.admin, timeout=60)
        t_ready = now_ns()
        t_after, id_after = await post(self.http, server, self.admin, 9002)
        resumed = await self.clients.all("wait_resumed", args.reconnect_timeout + 30, group="main", timeout=args.reconnect_timeout)
        t_all = max(r["last_ns"] for r in resumed)
        done = await self.clients.all("wait", args.post_timeout + 30, group="main", k=2, timeout=args.post_timeout)
        held = [pair for per_proc in await self.clients.all("seqs", 120, group="main") for pair in per_proc]
        union = set().union(*(set(s) for _, _, s in held)) if held else set()
        resumed_seqs = [set(s) for ok, _, s in held if ok]
        missing = sum(len(union - s) for s in resumed_seqs)  # a screen not resumed has not missed anything yet
        collected = await self.clients.all("collect", 120, group="main")
        closes: dict[int, int] = {}
        for c in collected:
            for code, count in c["closes"].items():
                closes[code] = closes.get(code, 0) + count
        before_kill = sum(1 for c in collected for t in c["by_id"].get(id_before, []) if t <= t_kill)
        return {
            "resumed": sum(r["resumed"] for r in resumed),
            "attempts": sum(r["attempts"] for r in resumed) - self.n,  # connects made during the resume
            "kill_to_all_s": (t_all - t_kill) / 1e9 if t_all else float("nan"),
            "ready_to_all_s": (t_all - t_ready) / 1e9 if t_all else float("nan"),
            "restart_to_ready_s": (t_ready - t_restart) / 1e9,  # from starting the new process, as bench/README.md says
            "had_last_before_kill": before_kill,
            "with_both_new": sum(d["reached"] for d in done),
            "checked": len(resumed_seqs),
            "events": len(union),
            "missing": missing,
            "displaced": sum(r["displaced"] for r in resumed),
            "closes": closes,
        }

    async def run_server(self, kind: str) -> dict:
        args = self.args
        port = free_port()
        server = Server(kind, self.workdir, port, hello_timeout_s=max(60.0, self.n / 100))
        server.bare_mode = args.bare_mode
        out: dict[str, Any] = {"kind": kind}
        try:
            server.start()
            await server.wait_ready(self.http, self.admin)
            await self.warm_up(server)
            await server.wait_idle(limit_s=30)
            rss0 = await self.settle_rss(server, 5)
            log(f"{kind}: ready, RSS {rss0 / 1024:.1f} MB; connecting {self.n} screens")
            c = await self.connect(server, "main")
            out["connect"] = c
            if c["failed"]:
                log(f"{kind}: {c['failed']} screens failed to connect: {c['errors']}")
            out["idle_after_connect_s"] = await server.wait_idle(limit_s=60)
            rss1 = await self.settle_rss(server, max(5.0, self.n / 1000))
            out["rss0_kb"], out["rss1_kb"] = rss0, rss1
            out["kb_per_conn"] = (rss1 - rss0) / max(1, c["ok"])
            log(f"{kind}: {c['ok']} connected in {c['elapsed_s']:.1f} s, RSS {rss1 / 1024:.1f} MB; posting {args.posts}")
            out["fanout"] = await self.fanout_posts(server, "main", args.posts)
            for i, p in enumerate(out["fanout"]["per_post"]):
                log(f"{kind}: post {i + 1}: {p['received']}/{self.n} screens, first {p['first_ms']:.1f} ms, "
                    f"p50 {p['p50_ms']:.1f} ms, last {p['last_ms']:.1f} ms")
            if kind == "ours" and args.reconnect:
                log(f"{kind}: kill -9 and restart with {c['ok']} screens connected")
                out["reconnect"] = await self.reconnect(server)
                log(f"{kind}: reconnect: {out['reconnect']}")
            left = await self.clients.all("close", 120, group="main", timeout=60)
            if sum(left):
                log(f"{kind}: {sum(left)} connections did not close in time (aborted)")
            await server.wait_idle(limit_s=60)
            out["solo"] = await self.solo(server)
            log(f"{kind}: one screen: p50 {out['solo']['p50_ms']:.2f} ms over {out['solo']['received']} posts")
        finally:
            server.stop()
        return out


# ----------------------------------------------------------------------------------------------------- report

def fmt(value: float, digits: int = 1) -> str:
    if value != value:  # nan
        return "n/a"
    return f"{value:,.{digits}f}"


def report(args, results: dict[str, dict], setup: dict) -> str:
    ours, bare = results["ours"], results["bare"]
    n = args.screens

    def summary(r):
        ms = r["fanout"]["all_ms"]
        per = r["fanout"]["per_post"]
        return {
            "p50": median(ms), "p99": pct(ms, 99), "max": max(ms, default=float("nan")),
            "last_med": median([p["last_ms"] for p in per]), "last_worst": max((p["last_ms"] for p in per), default=float("nan")),
            "thr_med": median([p["throughput"] for p in per]),
            "first_med": median([p["first_ms"] for p in per]),
            "busy_med": median(r["fanout"]["busy_s"]),
            "received": len(ms),
        }

    so, sb = summary(ours), summary(bare)
    ratio = so["thr_med"] / sb["thr_med"] if sb["thr_med"] else float("nan")
    verdict = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    rows: list[tuple[str, str, str, str, str]] = []

    def row(name, a, b, target="", status=""):
        rows.append((name, a, b, target, status))

    expected = n * args.posts
    row("screens connected", f"{ours['connect']['ok']:,}/{n:,}", f"{bare['connect']['ok']:,}/{n:,}")
    row("connect all (hello→synced), s", fmt(ours["connect"]["elapsed_s"], 2), fmt(bare["connect"]["elapsed_s"], 2))
    row(f"frames received ({args.posts} posts)", f"{so['received']:,}/{expected:,}", f"{sb['received']:,}/{expected:,}", "all",
        verdict(so["received"] == expected))
    row("server busy after connecting, s", fmt(ours["idle_after_connect_s"]), fmt(bare["idle_after_connect_s"]))
    row("post→first screen, ms (median of posts)", fmt(so["first_med"]), fmt(sb["first_med"]))
    row("post→screen p50, ms", fmt(so["p50"]), fmt(sb["p50"]))
    p99_target = f"< {TARGETS['p99']:.0f}" + ("" if n == 10000 else " (at 10,000)")
    row("post→screen p99, ms", fmt(so["p99"]), fmt(sb["p99"]), p99_target, verdict(so["p99"] < TARGETS["p99"]))
    row("post→screen max, ms", fmt(so["max"]), fmt(sb["max"]))
    row("post→last screen, ms (median of posts)", fmt(so["last_med"]), fmt(sb["last_med"]))
    row("post→last screen, ms (worst post)", fmt(so["last_worst"]), fmt(sb["last_worst"]))
    row("throughput, screens/s (median of posts)", fmt(so["thr_med"], 0), fmt(sb["thr_med"], 0))
    row("server busy after each post (acks), s (median)", fmt(so["busy_med"]), fmt(sb["busy_med"]))
    send_ms = bare["fanout"].get("send_ms") or []
    if send_ms:
        row("bare server's own send loop, ms (median)", "", fmt(median(send_ms)))
    at_target = "" if n == 10000 else " (at 10,000)"
    row("throughput ours / bare", f"{ratio:.0%}" if ratio == ratio else "n/a", "100%", f">= {TARGETS['ratio']:.0%}{at_target}",
        verdict(ratio >= TARGETS["ratio"]))
    row("server RSS before → after N idle, MB", f"{ours['rss0_kb'] / 1024:.1f} → {ours['rss1_kb'] / 1024:.1f}",
        f"{bare['rss0_kb'] / 1024:.1f} → {bare['rss1_kb'] / 1024:.1f}")
    row("memory per idle connection, KB", fmt(ours["kb_per_conn"]), fmt(bare["kb_per_conn"]), f"< {TARGETS['kb_per_conn']:.0f}",
        verdict(ours["kb_per_conn"] < TARGETS["kb_per_conn"]))
    row(f"one screen: post→screen p50, ms ({args.solo_posts} posts)", fmt(ours["solo"]["p50_ms"], 2), fmt(bare["solo"]["p50_ms"], 2),
        f"< {TARGETS['solo_p50']:.0f}", verdict(ours["solo"]["p50_ms"] < TARGETS["solo_p50"]))
    row("one screen: post→screen p99 / max, ms", f"{fmt(ours['solo']['p99_ms'], 2)} / {fmt(ours['solo']['max_ms'], 2)}",
        f"{fmt(bare['solo']['p99_ms'], 2)} / {fmt(bare['solo']['max_ms'], 2)}")
    rc = ours.get("reconnect")
    if rc:
        row("restart: kill -9 → all N resumed, s", fmt(rc["kill_to_all_s"], 2), "", f"< {TARGETS['resume_s']:.0f}",
            verdict(rc["resumed"] == n and rc["kill_to_all_s"] < TARGETS["resume_s"]))
        row("restart: new process → its first HTTP answer, s", fmt(rc["restart_to_ready_s"], 2), "")
        row("restart: that first HTTP answer → all resumed, s", fmt(rc["ready_to_all_s"], 2), "")
        row("restart: screens resumed", f"{rc['resumed']:,}/{n:,}", "", "all", verdict(rc["resumed"] == n))
        row("restart: connection attempts to resume", f"{rc['attempts']:,}", "")
        row("restart: resumed screens then closed 4409 by a stale attempt", f"{rc['displaced']:,}", "", "0", verdict(rc["displaced"] == 0))
        row("restart: screens with the post sent just before the kill", f"{rc['had_last_before_kill']:,} before, "
            f"{rc['with_both_new']:,} after", "", "all after", verdict(rc["with_both_new"] == n))
        row("restart: events missed by the resumed screens", f"{rc['missing']:,} of {rc['events'] * rc['checked']:,}", "", "0",
            verdict(rc["missing"] == 0))

    out = [
        f"Fan-out benchmark: {n:,} screens, {args.posts} posts {args.spacing:g} s apart, "
        f"{args.client_procs} client process(es), acks {'on' if args.ack else 'off'}",
        *machine(setup, f"aiohttp {setup['aiohttp']}",
                 f"bare server: bench/bare_server.py --mode {args.bare_mode}; registration {setup['register_s']:.1f} s"),
        "",
        *table(("figure", "ours", "bare", "target", ""), rows, left=(0, 3, 4)),
        "",
        "per post, ours: " + "  ".join(f"#{i + 1} last {fmt(p['last_ms'])} ms" for i, p in enumerate(ours["fanout"]["per_post"])),
        "per post, bare: " + "  ".join(f"#{i + 1} last {fmt(p['last_ms'])} ms" for i, p in enumerate(bare["fanout"]["per_post"])),
    ]
    for r in (ours, bare):
        if r["fanout"]["closes"] or r["fanout"]["notes"]:
            out.append(f"{r['kind']}: close codes seen {r['fanout']['closes']}, notes {r['fanout']['notes'][:3]}")
    if rc and rc["closes"]:
        out.append(f"ours, restart: close codes the screens received {rc['closes']}")
    if n != 10000:
        out.append("(the p99 and throughput-ratio targets are stated for 10,000 screens: run with --screens 10000)")
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------------- main

async def main_async(args) -> int:
    import aiohttp

    from announcements.database import sqlite_url

    main_task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)  # clean up as for Ctrl-C

    load_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="vb-fanout-"))
    ctx = mp.get_context("spawn")
    procs: list[ClientProcess] = []
    try:
        t = time.monotonic()
        (workdir / "data").mkdir()
        admin, tokens = await register(sqlite_url(workdir / "data"), args.screens + 1)
        setup = {"register_s": time.monotonic() - t, "aiohttp": aiohttp.__version__, "load_start": load_start}
        log(f"registered {args.screens + 1} screens in {setup['register_s']:.1f} s under {workdir}")
        main_tokens, solo_token = tokens[: args.screens], tokens[args.screens]
        procs = [ClientProcess(ctx, i) for i in range(args.client_procs)]
        clients = Clients(procs)
        for i, p in enumerate(procs):
            share = main_tokens[i:: args.client_procs]
            await p.call("setup", 60, group="main", tokens=share, first_index=i * len(main_tokens), port=0, ack=args.ack)
        await procs[0].call("setup", 60, group="solo", tokens=[solo_token], first_index=10 ** 9, port=0, ack=args.ack)

        results = {}
        connector = aiohttp.TCPConnector(limit=4)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
            bench = Bench(args, workdir, clients, admin, http)
            for kind in (["bare", "ours"] if args.bare_first else ["ours", "bare"]):
                log(f"--- {kind} server")
                results[kind] = await bench.run_server(kind)
                for p in procs:  # a fresh start for the next server's screens (same tokens, new seqs)
                    await p.call("setup", 60, group="main", tokens=main_tokens[p.index:: args.client_procs],
                                 first_index=p.index * len(main_tokens), port=0, ack=args.ack)
                await procs[0].call("setup", 60, group="solo", tokens=[solo_token], first_index=10 ** 9, port=0, ack=args.ack)
        print(report(args, results, setup), flush=True)
        return 0
    finally:
        for p in procs:
            p.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Fan-out benchmark: our hub next to a bare aiohttp broadcast, same screens, same run.")
    p.add_argument("--screens", type=int, default=1000, help="screens connected at once (default 1000)")
    p.add_argument("--posts", type=int, default=5, help="announcements posted in a row for the fan-out figures (default 5)")
    p.add_argument("--spacing", type=float, default=2.0, help="seconds between those posts, after the last screen has one (default 2)")
    p.add_argument("--solo-posts", type=int, default=50, help="posts for the one-screen latency (default 50)")
    p.add_argument("--client-procs", type=int, default=2, help="client processes holding the screens (default 2)")
    p.add_argument("--connect-concurrency", type=int, default=100, help="handshakes in flight per client process (default 100)")
    p.add_argument("--no-ack", dest="ack", action="store_false", help="screens do not ack (real screens do)")
    p.add_argument("--post-timeout", type=float, default=30.0, help="seconds to wait for one post to reach every screen")
    p.add_argument("--reconnect", action="store_true", help="also kill -9 and restart our server and time the resume")
    p.add_argument("--reconnect-timeout", type=float, default=120.0, help="seconds allowed for all screens to resume")
    p.add_argument("--reconnect-backoff", type=float, default=1.0,
                   help="first reconnect delay is uniform in [0, this] s, doubling per failure (the screen client's default)")
    p.add_argument("--attempt-timeout", type=float, default=20.0,
                   help="a resume attempt not synced within this many seconds is abandoned and retried "
                        "(the screen client's open_timeout + welcome_timeout)")
    p.add_argument("--replaced-delay", type=float, default=30.0,
                   help="after a 4409 (replaced) close, wait 1 to 2 times this before reconnecting (the screen client's default)")
    p.add_argument("--bare-mode", choices=["raw", "loop", "tasks"], default="raw",
                   help="how the bare server writes: the frame built once and written to every transport (raw, the "
                        "default and fastest), ws.send_frame in one loop, or a task per connection")
    p.add_argument("--bare-first", action="store_true", help="run the bare server before ours")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs, database)")
    args = p.parse_args(argv)
    if not 1 <= args.screens <= 50000:
        p.error("--screens must be 1..50000")
    if not 1 <= args.posts <= 100 or not 1 <= args.solo_posts <= 1000:
        p.error("--posts must be 1..100 and --solo-posts 1..1000")
    if not 1 <= args.client_procs <= 8:
        p.error("--client-procs must be 1..8")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not screens_fit(args.screens, args.client_procs):
        return 1
    return run_benchmark(main_async, args)


if __name__ == "__main__":
    sys.exit(main())
