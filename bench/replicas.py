"""Cross-replica latency: a post on replica A, seen by a screen on A and by a screen on B.

Run: `.venv/bin/python bench/replicas.py [--posts N] [--database-url URL]`. Two `village-broadcast serve`
processes on one PostgreSQL database (a fresh schema, dropped at the end), each reading the event table
only every 30 s: what reaches B sooner came by LISTEN/NOTIFY. The baseline is the same screen setup on A
itself, in the same run. Prints p50/p95/max from the POST being sent to the frame reaching each screen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
from figures import percentile
from netutil import HOST, free_port

from announcements.database import Database
from announcements.models import Role, ScreenCreate, TokenCreate
from announcements.registry import create_screen, create_token
from broadcast_server.wakeup import asyncpg_dsn

VILLAGE = "/bench/village"


@contextlib.asynccontextmanager
async def fresh_schema(url: str) -> AsyncIterator[str]:
    """A new, empty schema in the PostgreSQL database at `url` for one run, dropped with all it holds at the end."""
    schema = f"vbbench_{uuid.uuid4().hex[:10]}"
    admin_db = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await admin_db.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield schema
        finally:
            await admin_db.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin_db.close()


async def seed(url: str, schema: str) -> tuple[str, str, str]:
    """An admin token and two screens' tokens, straight into the database."""
    db = Database(url, schema=schema)
    try:
        await db.migrate()
        async with db.write() as session:
            _, admin = await create_token(session=session, data=TokenCreate(role=Role.ADMIN, area="/", name="bench"))
            _, on_a = await create_screen(session=session, data=ScreenCreate(name="a", area=VILLAGE))
            _, on_b = await create_screen(session=session, data=ScreenCreate(name="b", area=VILLAGE))
        return admin, on_a, on_b
    finally:
        await db.close()


def serve(url: str, schema: str, data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "VB_DATABASE_URL": url, "VB_DATABASE_SCHEMA": schema, "VB_DATA_DIR": str(data_dir),
           "VB_HOST": HOST, "VB_PORT": str(port), "VB_EVENT_POLL_S": "30", "VB_SPEECH_ENABLED": "false",
           "VB_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "broadcast_server.cli", "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"http://{HOST}:{port}"


async def ready(http: aiohttp.ClientSession, base: str) -> None:
    for _ in range(300):
        try:
            async with http.get(base + "/api/v1/openapi.json") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"the server at {base} did not start")


async def screen(http: aiohttp.ClientSession, base: str, token: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(base + "/ws")
    await ws.send_json({"type": "hello", "token": token, "last_seq": None, "client": {"name": "bench", "version": "0"}})
    while (await ws.receive_json())["type"] != "synced":
        pass
    return ws


async def arrival(ws: aiohttp.ClientWebSocketResponse, title: str) -> float:
    while True:
        frame = json.loads((await ws.receive(timeout=30)).data)
        if frame.get("type") == "announcement" and frame["announcement"]["title"] == title:
            await ws.send_json({"type": "ack", "seq": frame["seq"]})
            return time.monotonic()


async def run(url: str, posts: int) -> None:
    async with fresh_schema(url) as schema:
        await measure(url, schema, posts)


async def measure(url: str, schema: str, posts: int) -> None:
    processes = []
    try:
        admin, token_a, token_b = await seed(url, schema)
        with tempfile.TemporaryDirectory() as tmp:
            (a, base_a), (b, base_b) = serve(url, schema, Path(tmp, "a")), serve(url, schema, Path(tmp, "b"))
            processes = [a, b]
            async with aiohttp.ClientSession() as http:
                await ready(http, base_a)
                await ready(http, base_b)
                on_a, on_b = await screen(http, base_a, token_a), await screen(http, base_b, token_b)
                same, other = [], []
                for n in range(posts):
                    title = f"通知 {n}"
                    sent = time.monotonic()
                    waits = asyncio.gather(arrival(on_a, title), arrival(on_b, title))
                    async with http.post(base_a + "/api/v1/announcements", headers={"Authorization": f"Bearer {admin}"},
                                         json={"title": title, "body": "测试", "speak": False}) as resp:
                        assert resp.status == 201, await resp.text()
                    at_a, at_b = await waits
                    same.append((at_a - sent) * 1000)
                    other.append((at_b - sent) * 1000)
                    await asyncio.sleep(0.05)
        print(f"{posts} posts on replica A; ms from the POST sent to the frame at the screen (event_poll_s 30)")
        print(f"{'':28}{'p50':>8}{'p95':>8}{'max':>8}")
        for name, values in (("screen on A (same replica)", same), ("screen on B (NOTIFY)", other)):
            print(f"{name:28}{percentile(values, 50):8.1f}{percentile(values, 95):8.1f}{max(values):8.1f}")
        print(f"B / A at p50: {percentile(other, 50) / percentile(same, 50):.2f}x (target: B within 100 ms p50)")
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=50)
    parser.add_argument("--database-url", default=os.environ.get("VB_TEST_POSTGRES_URL",
                                                                 "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    asyncio.run(run(args.database_url, args.posts))


if __name__ == "__main__":
    main()
