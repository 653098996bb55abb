"""Replies benchmark: villagers' replies per second sustained from many screens, none lost, none doubled.

    .venv/bin/python bench/replies.py                          # SQLite, then PostgreSQL if one answers
    .venv/bin/python bench/replies.py --db sqlite --rate 800   # one database, another offered rate
    VB_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test .venv/bin/python bench/replies.py --db postgres

Not a test: it prints figures with the design target beside them (500 replies a second into SQLite,
none lost, none doubled) and exits 0; 1 when it could not run, or a reply was lost or doubled.

Processes: this one (prepares the database, starts the server, checks the database afterwards), the
server under test (`python -m broadcast_server.cli serve`, speech off, the per-screen reply limit
off: 500 a second from 1,000 screens is 30 a minute each, above the default of 10), and one client
process holding the screens (aiohttp WebSocket clients).

Two phases per database, on the same connections:
- paced: every screen sends a reply every `screens / rate` seconds (random phase) for `--seconds`;
  2% of replies are sent a second time with the same client_msg_id (a resend after a lost
  connection), which must come back with the same ticket. Figures: replies/s answered, latency.
- flat out: every screen sends its next reply the moment the previous one is answered (1,000 in
  flight), for `--seconds`: the most the server stores per second.
Then the database is read: every acknowledged ticket must be there once (none lost), and there must
be exactly one request per distinct (screen, client_msg_id) (none doubled).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from netutil import HOST, free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from broadcast_server.openfiles import raise_open_file_limit  # noqa: E402

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TARGET_RATE = 500
TEXTS = ["村口路灯坏了，晚上很黑。", "自来水管漏水，请派人看看。", "低保申请需要什么材料？", "建议在小学门口装减速带。",
         "邻居家的狗晚上一直叫。"]
CATEGORIES = ["complaint", "help", "question", "suggestion", "dispute", "other"]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


# =====================================================================================================
# Client process
# =====================================================================================================

class Screen:
    def __init__(self, index: int, token: str):
        self.index = index
        self.token = token
        self.ws = None
        self.waiting: dict[str, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None

    async def connect(self, session, url: str) -> None:
        self.ws = await session.ws_connect(url + "/ws", compress=0, max_msg_size=0)
        await self.ws.send_json({"type": "hello", "token": self.token, "last_seq": None,
                                 "client": {"name": f"bench-{self.index}", "version": "0"}})
        while True:
            frame = json.loads((await self.ws.receive(timeout=60)).data)
            if frame["type"] == "synced":
                break
            if frame["type"] == "error":
                raise RuntimeError(f"screen {self.index}: {frame}")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            frame = json.loads(msg.data)
            key = frame.get("client_msg_id") if frame["type"] == "reply_result" else frame.get("ref")
            future = self.waiting.pop(key, None) if key else None
            if future is not None and not future.done():
                future.set_result(frame)
            elif frame["type"] == "ping":
                await self.ws.send_json({"type": "pong"})

    async def reply(self, msg_id: str) -> tuple[dict, float]:
        future = asyncio.get_running_loop().create_future()
        self.waiting[msg_id] = future
        began = time.perf_counter()
        await self.ws.send_json(
            {"type": "reply", "client_msg_id": msg_id, "category": random.choice(CATEGORIES), "text": random.choice(TEXTS),
             "contact": {"name": "张三", "phone": "13812345678"}}
        )
        frame = await asyncio.wait_for(future, timeout=60)
        return frame, time.perf_counter() - began


async def _phase(screens: list[Screen], *, seconds: float, interval: float | None, resend_share: float) -> dict:
    """Paced when `interval` is given (each screen every `interval` s), flat out otherwise."""
    acked: dict[tuple[int, str], str] = {}
    latencies: list[float] = []
    sent = 0
    errors: list[dict] = []
    resends = mismatched = 0
    stop_at = time.perf_counter() + seconds

    async def run(screen: Screen) -> None:
        nonlocal resends, mismatched, sent
        next_at = time.perf_counter() + (random.random() * interval if interval else 0)
        while True:
            if interval:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += interval
            if time.perf_counter() >= stop_at:
                return
            msg_id = uuid.uuid4().hex
            sent += 1
            frame, took = await screen.reply(msg_id)
            if frame["type"] != "reply_result":
                errors.append(frame)
                continue
            latencies.append(took)
            acked[(screen.index, msg_id)] = frame["ticket"]
            if random.random() < resend_share:
                again, _ = await screen.reply(msg_id)
                resends += 1
                mismatched += again.get("ticket") != frame["ticket"]

    began = time.perf_counter()
    await asyncio.gather(*(run(s) for s in screens))
    elapsed = time.perf_counter() - began
    return {
        "acked": [[i, m, t] for (i, m), t in acked.items()],
        "sent": sent,
        "window": seconds,
        "seconds": elapsed,
        "latencies": latencies,
        "errors": errors[:5],
        "error_count": len(errors),
        "resends": resends,
        "resend_mismatches": mismatched,
    }


async def _client_main(url: str, tokens: list[str], seconds: float, rate: float, out) -> None:
    import aiohttp

    raise_open_file_limit()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        screens = [Screen(i, t) for i, t in enumerate(tokens)]
        began = time.perf_counter()
        for start in range(0, len(screens), 100):
            await asyncio.gather(*(s.connect(session, url) for s in screens[start : start + 100]))
        connected_s = time.perf_counter() - began
        paced = await _phase(screens, seconds=seconds, interval=len(screens) / rate, resend_share=0.02)
        flat = await _phase(screens, seconds=seconds, interval=None, resend_share=0.0)
        for s in screens:
            await s.ws.close()
    out.send({"connected_s": connected_s, "paced": paced, "flat": flat})


def client_process(url: str, tokens: list[str], seconds: float, rate: float, out) -> None:
    try:
        asyncio.run(_client_main(url, tokens, seconds, rate, out))
    except BaseException as exc:  # report, so the orchestrator does not wait forever
        out.send({"failed": repr(exc)})


# =====================================================================================================
# Orchestrator
# =====================================================================================================

async def _prepare(url: str, schema: str | None, screens: int) -> list[str]:
    from announcements.database import Database
    from announcements.models import ScreenCreate
    from announcements.registry import create_screen

    db = Database(url, schema=schema)
    await db.migrate()
    tokens = []
    async with db.write() as session:
        for i in range(screens):
            _, secret = await create_screen(session=session, data=ScreenCreate(name=f"bench-{i}", area=f"/bench/v{i % 50}"))
            tokens.append(secret)
    await db.close()
    return tokens


async def _count(url: str, schema: str | None, acked: list[list]) -> dict:
    """Read the database back: every acknowledged ticket stored, one request per (screen, client_msg_id)."""
    import sqlalchemy as sa

    from announcements.database import Database

    db = Database(url, schema=schema)
    async with db.read() as session:
        requests = (await session.exec(sa.text("SELECT count(*) FROM service_request"))).one()[0]
        keys = (await session.exec(sa.text("SELECT count(*) FROM reply_key"))).one()[0]
        history = (await session.exec(sa.text("SELECT count(*) FROM request_history"))).one()[0]
        stored = {row[0] for row in (await session.exec(sa.text("SELECT ticket FROM service_request"))).all()}
    await db.close()
    tickets = [t for _, _, t in acked]
    return {
        "requests": requests,
        "keys": keys,
        "history": history,
        "acked": len(acked),
        "distinct_tickets": len(set(tickets)),
        "lost": len(set(tickets) - stored),
    }


async def _postgres_schema(url: str, drop: str | None = None) -> str | None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return None
    try:
        if drop:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{drop}" CASCADE')
            return drop
        schema = f"bench_replies_{uuid.uuid4().hex[:10]}"
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        return schema
    finally:
        await conn.close()


def run_one(kind: str, args) -> dict | None:
    data_dir = Path(tempfile.mkdtemp(prefix="vb-bench-replies-"))
    env = {**os.environ, "VB_DATA_DIR": str(data_dir), "VB_REPLY_RATE_PER_MINUTE": "0", "VB_SPEECH_ENABLED": "false",
           "VB_LOG_LEVEL": "WARNING"}
    if kind == "postgres":
        url = os.environ.get("VB_DATABASE_URL", PG_DEFAULT)
        if not url.startswith("postgresql"):
            url = PG_DEFAULT
        schema = asyncio.run(_postgres_schema(url))
        if schema is None:
            print(f"postgres: not reachable at {url.split('@')[-1]}; skipped")
            return None
        env.update(VB_DATABASE_URL=url, VB_DATABASE_SCHEMA=schema)
    else:
        url, schema = f"sqlite+aiosqlite:///{data_dir / 'village.db'}", None
        env.pop("VB_DATABASE_URL", None)
        env.pop("VB_DATABASE_SCHEMA", None)
    tokens = asyncio.run(_prepare(url, schema, args.screens))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "broadcast_server.cli", "serve", "--host", HOST, "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {server.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.2)
        ctx = mp.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        client = ctx.Process(target=client_process, args=(f"http://{HOST}:{port}", tokens, args.seconds, args.rate, send))
        client.start()
        result = receive.recv()
        client.join(timeout=30)
        if "failed" in result:
            raise RuntimeError(f"client failed: {result['failed']}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    acked = result["paced"]["acked"] + result["flat"]["acked"]
    result["db"] = asyncio.run(_count(url, schema, acked))
    if schema:
        asyncio.run(_postgres_schema(url, drop=schema))
    return result


def report(kind: str, result: dict, args) -> bool:
    paced, flat, db = result["paced"], result["flat"], result["db"]
    paced_rate = len(paced["acked"]) / paced["window"]  # replies answered, over the window they were sent in
    flat_rate = len(flat["acked"]) / flat["seconds"]
    lat = [x * 1000 for x in paced["latencies"]]
    flat_lat = [x * 1000 for x in flat["latencies"]]
    lost = db["lost"] or paced["error_count"] or flat["error_count"]
    doubled = db["requests"] - db["acked"]
    ok = not lost and doubled == 0 and db["distinct_tickets"] == db["acked"] and not paced["resend_mismatches"]
    print(f"\n== {kind}: {args.screens} screens connected in {result['connected_s']:.1f} s")
    print(f"  paced   offered {args.rate:>6.0f}/s  sent {paced['sent'] / paced['window']:>6.1f}/s  answered {paced_rate:>6.1f}/s   "
          f"latency p50 {pct(lat, 50):6.1f} ms  p99 {pct(lat, 99):7.1f} ms  (target {TARGET_RATE}/s into SQLite)")
    print(f"          {paced['resends']} resends of a stored client_msg_id: "
          f"{paced['resends'] - paced['resend_mismatches']} got the same ticket")
    print(f"  flat    out ({args.screens} in flight)  {flat_rate:>7.1f} replies/s   "
          f"latency p50 {pct(flat_lat, 50):6.1f} ms  p99 {pct(flat_lat, 99):7.1f} ms")
    print(f"  errors  {paced['error_count'] + flat['error_count']}"
          + (f"  e.g. {paced['errors'][:1] or flat['errors'][:1]}" if paced["error_count"] + flat["error_count"] else ""))
    print(f"  stored  {db['requests']} requests, {db['keys']} reply keys, "
          f"{db['history']} history rows for {db['acked']} acknowledged replies")
    print(f"  lost    {db['lost']} (acknowledged tickets missing from the database)   "
          f"doubled {doubled} (requests beyond one per client_msg_id)")
    print(f"  verdict {'OK' if ok else 'FAILED'}"
          + ("" if kind != "sqlite" else f"; sustained {paced_rate:.0f}/s paced, {flat_rate:.0f}/s flat out vs target {TARGET_RATE}/s"))
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--screens", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=600.0, help="offered replies per second in the paced phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    args = parser.parse_args()
    raise_open_file_limit()
    print(f"replies benchmark: {args.screens} screens, paced at {args.rate:.0f}/s then flat out, {args.seconds:.0f} s each; "
          f"{os.cpu_count()} CPUs; server and client on this machine")
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    status = 0
    for kind in kinds:
        try:
            result = run_one(kind, args)
        except Exception as exc:
            print(f"{kind}: the benchmark could not run: {exc}")
            status = 1
            continue
        if result is not None and not report(kind, result, args):
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
