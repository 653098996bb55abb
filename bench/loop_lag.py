"""Event-loop lag of the server through a post to every screen, and while 20 announcements are synthesized at once.

    .venv/bin/python bench/loop_lag.py --screens 10000      # the district target: 10,000 screens
    .venv/bin/python bench/loop_lag.py                      # 1,000 screens, 5 text posts, 20 spoken
    .venv/bin/python bench/loop_lag.py --text-posts 0 --announcements 40 --workers 2

The server runs in this process (so a ticker on its own event loop sees every stall), with the garbage
collector set as `village-broadcast serve` sets it; the screens are held by a client process from
bench/fanout.py and ack what they get. First the text posts go out one at a time, each waited for on every
screen (the fan-out and the acks that follow); then the spoken announcements are posted at once. The targets:
loop lag p99 under 20 ms and never over 50 ms (speech runs in worker processes). Not a test: prints figures.
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
from broadcast_server.heap import settle_heap  # noqa: E402
from broadcast_server.openfiles import raise_open_file_limit  # noqa: E402
from broadcast_server.settings import load_settings  # noqa: E402

TICK_S = 0.010
LAG_TARGET_MS = 50.0  # the longest the loop may be blocked
LAG_P99_TARGET_MS = 20.0
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


def verdict(lags: list[float]) -> str:
    p99, worst = fanout.pct(lags, 99), max(lags)
    met = p99 < LAG_P99_TARGET_MS and worst < LAG_TARGET_MS
    return f"target p99 < {LAG_P99_TARGET_MS:.0f} ms and max < {LAG_TARGET_MS:.0f} ms: {'met' if met else 'NOT met'}"


async def text_posts(args, http, base: str, clients, monitor: LagMonitor) -> tuple[list[float], list[float]]:
    """Post `--text-posts` notices to every screen one after another, each waited for on all of them; the loop's
    lag meanwhile and the milliseconds until the last screen had each."""
    await clients.all("mark", 10, group="s")
    monitor.start()
    last_ms = []
    for i in range(args.text_posts):
        began = time.monotonic()
        body = {"title": f"村民大会通知 {i}", "body": TEXTS[0], "speak": False}
        async with http.post(f"{base}/api/v1/announcements", json=body) as resp:
            assert resp.status == 201, await resp.text()
        reached = await clients.all("wait", args.timeout_s, group="s", k=i + 1, timeout=args.timeout_s - 5)
        last_ms.append((time.monotonic() - began) * 1000)
        assert sum(r["reached"] for r in reached) == args.screens, f"post {i + 1} reached {reached}"
        await asyncio.sleep(1.0)  # the acks that follow the post are part of its load
    return await monitor.stop(), last_ms


async def spoken_posts(args, http, base: str, clients, monitor: LagMonitor) -> tuple[list[float], float, float, int]:
    """Post `--announcements` spoken notices at once and wait until every screen has the text and the audio of each."""
    await clients.all("mark", 10, group="s")
    monitor.start()
    began = time.monotonic()

    async def post(i: int) -> None:
        body = {"title": f"通知 {i}", "body": f"{TEXTS[i % len(TEXTS)]}（第{i}号）", "speak": True}
        async with http.post(f"{base}/api/v1/announcements", json=body) as resp:
            assert resp.status == 201, await resp.text()

    await asyncio.gather(*(post(i) for i in range(args.announcements)))
    posted = time.monotonic() - began
    # Each announcement reaches each screen twice: its text at once, its audio as revision 2.
    reached = await clients.all("wait", args.timeout_s, group="s", k=2 * args.announcements, timeout=args.timeout_s - 5)
    done = time.monotonic() - began
    return await monitor.stop(), posted, done, sum(r["reached"] for r in reached)


async def run(args) -> int:
    raise_open_file_limit()
    with tempfile.TemporaryDirectory(prefix="vb-loop-lag-") as tmp:
        data_dir = Path(tmp)
        print(f"registering {args.screens} screens ...", flush=True)
        admin, tokens = await fanout.register(sqlite_url(data_dir), args.screens)
        port = free_port()
        settings = load_settings(
            None, data_dir=data_dir, host=HOST, port=port, speech_enabled=True,
            speech_workers=args.workers, hello_timeout_s=max(60, args.screens / 100), log_level="WARNING",
        )
        app = create_app(settings)
        app.on_startup.append(settle_heap)  # as `serve` does, last
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, HOST, port).start()
        procs = [fanout.ClientProcess(mp.get_context("spawn"), 0)]
        clients = fanout.Clients(procs)
        monitor = LagMonitor()
        base = f"http://{HOST}:{port}"
        try:
            await clients.all("setup", 60, group="s", tokens=tokens, first_index=0, port=port, ack=True)
            connected = await clients.all("connect", 300, group="s", concurrency=200, timeout=290)
            print(f"connected: {sum(c['ok'] for c in connected)} of {args.screens}", flush=True)
            monitor.start()
            await asyncio.sleep(args.idle_s)
            idle = await monitor.stop()
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as http:
                text_lags, last_ms = await text_posts(args, http, base, clients, monitor) if args.text_posts else ([0.0], [])
                if args.announcements:
                    busy, posted, done, everyone = await spoken_posts(args, http, base, clients, monitor)
        finally:
            for proc in procs:
                proc.stop()
            await runner.cleanup()

    print()
    print(f"loop lag: {args.screens} screens connected")
    print(f"  {'idle':<28}{summary(idle)}")
    if args.text_posts:
        print(f"  {f'{args.text_posts} text posts, one by one':<28}{summary(text_lags)}; {verdict(text_lags)}")
        print("    post -> last screen: " + ", ".join(f"{ms:.0f} ms" for ms in last_ms))
    if args.announcements:
        print(f"  {f'{args.announcements} spoken at once':<28}{summary(busy)}; {verdict(busy)}")
        print(f"    the worst stall ended {monitor.worst_at_s:.2f} s after the posts began; all posted (201) in "
              f"{posted * 1000:.0f} ms; text and audio on {everyone} of {args.screens} screens after {done:.1f} s")
        print(f"    from {posted + 1:.1f} s on (synthesis and audio revisions, the text fan-out over) "
              f"{summary(monitor.after(posted + 1))}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=1000)
    parser.add_argument("--text-posts", type=int, default=5, help="notices without speech, posted one at a time")
    parser.add_argument("--announcements", type=int, default=20, help="spoken notices, posted at once")
    parser.add_argument("--workers", type=int, default=1, help="speech worker processes")
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument("--timeout-s", type=float, default=300.0)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
