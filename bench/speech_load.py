"""Event-loop lag of the server while 20 announcements are synthesized at once, 1,000 screens connected.

    .venv/bin/python bench/speech_load.py                  # 1,000 screens, 20 announcements
    .venv/bin/python bench/speech_load.py --screens 2000 --announcements 40

The server runs in this process (so a ticker on its own event loop sees every stall); the screens
are held by a client process from bench/fanout.py and ack what they get. The design target: the loop
is never blocked for more than 50 ms (speech runs in worker processes). Not a test: prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fanout  # noqa: E402  (the screen clients and the bulk registration)
from netutil import HOST, free_port  # noqa: E402

from announcements.database import sqlite_url  # noqa: E402
from broadcast_server.app import create_app  # noqa: E402
from broadcast_server.openfiles import raise_open_file_limit  # noqa: E402
from broadcast_server.settings import load_settings  # noqa: E402

TICK_S = 0.010
LAG_TARGET_MS = 50.0
TEXTS = [
    "请各位村民注意，明天上午九点在村委会召开村民大会，讨论村道修缮方案。",
    "今天下午两点到五点停水检修，请提前储水。",
    "秋季防火期间，严禁在山林焚烧秸秆，违者依法处理。",
    "本周六上午在卫生室为六十岁以上老人免费体检，请带身份证。",
    "近期有暴雨，请住在河边的村民注意安全，随时准备转移。",
]


class LagMonitor:
    """A ticker on the event loop: how late each 10 ms tick wakes up is how long the loop was blocked."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self.times_s: list[float] = []  # when each tick woke, in seconds after start()
        self.worst_at_s = 0.0  # when the longest stall ended
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self.lags_ms, self.times_s = [], []
        self._task = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            expected = loop.time() + TICK_S
            await asyncio.sleep(TICK_S)
            lag = max(0.0, (loop.time() - expected) * 1000)
            if not self.lags_ms or lag > max(self.lags_ms):
                self.worst_at_s = loop.time() - began
            self.lags_ms.append(lag)
            self.times_s.append(loop.time() - began)

    def after(self, seconds: float) -> list[float]:
        return [lag for lag, at in zip(self.lags_ms, self.times_s, strict=True) if at > seconds] or [0.0]

    async def stop(self) -> list[float]:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.lags_ms


def summary(lags: list[float]) -> str:
    return f"p50 {fanout.pct(lags, 50):6.1f} ms   p99 {fanout.pct(lags, 99):6.1f} ms   max {max(lags):6.1f} ms   ({len(lags)} ticks)"


async def run(args) -> int:
    raise_open_file_limit()
    with tempfile.TemporaryDirectory(prefix="vb-speech-load-") as tmp:
        data_dir = Path(tmp)
        print(f"registering {args.screens} screens ...", flush=True)
        admin, tokens = await fanout.register(sqlite_url(data_dir), args.screens)
        port = free_port()
        settings = load_settings(
            None, data_dir=data_dir, host=HOST, port=port, speech_enabled=True,
            speech_workers=args.workers, hello_timeout_s=60, log_level="WARNING",
        )
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        await web.TCPSite(runner, HOST, port).start()
        procs = [fanout.ClientProcess(mp.get_context("spawn"), 0)]
        clients = fanout.Clients(procs)
        monitor = LagMonitor()
        try:
            await clients.all("setup", 60, group="s", tokens=tokens, first_index=0, port=port, ack=True)
            connected = await clients.all("connect", 180, group="s", concurrency=200, timeout=170)
            print(f"connected: {sum(c['ok'] for c in connected)} of {args.screens}", flush=True)

            monitor.start()
            await asyncio.sleep(args.idle_s)
            idle = await monitor.stop()

            await clients.all("mark", 10, group="s")
            monitor.start()
            began = time.monotonic()
            headers = {"Authorization": f"Bearer {admin}"}
            async with aiohttp.ClientSession(headers=headers) as http:
                async def post(i: int) -> None:
                    body = {"title": f"通知 {i}", "body": f"{TEXTS[i % len(TEXTS)]}（第{i}号）", "speak": True}
                    async with http.post(f"http://{HOST}:{port}/api/v1/announcements", json=body) as resp:
                        assert resp.status == 201, await resp.text()

                await asyncio.gather(*(post(i) for i in range(args.announcements)))
                posted = time.monotonic() - began
                # Each announcement reaches each screen twice: its text at once, its audio as revision 2.
                reached = await clients.all("wait", args.timeout_s, group="s", k=2 * args.announcements, timeout=args.timeout_s - 5)
            done = time.monotonic() - began
            busy = await monitor.stop()
        finally:
            for proc in procs:
                proc.stop()
            await runner.cleanup()

    everyone = sum(r["reached"] for r in reached)
    print()
    print(f"speech load: {args.screens} screens connected, {args.announcements} announcements posted at once, "
          f"{args.workers} speech worker(s)")
    print(f"  all posted (201) in {posted * 1000:.0f} ms; text and audio on {everyone} of {args.screens} screens after {done:.1f} s")
    print(f"  loop lag, idle        {summary(idle)}")
    print(f"  loop lag, synthesizing {summary(busy)}; the worst stall ended {monitor.worst_at_s:.2f} s after the posts began")
    print(f"  loop lag from {posted + 1:.1f} s on (synthesis and audio revisions, the text fan-out over) "
          f"{summary(monitor.after(posted + 1))}")
    print(f"  target: never blocked more than {LAG_TARGET_MS:.0f} ms -> max {max(busy):.1f} ms "
          f"({'met' if max(busy) <= LAG_TARGET_MS else 'NOT met'})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=1000)
    parser.add_argument("--announcements", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="speech worker processes")
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument("--timeout-s", type=float, default=300.0)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
