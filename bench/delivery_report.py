"""Delivery report benchmark: how long the proof of delivery of one emergency sent to N devices takes to load.

    .venv/bin/python bench/delivery_report.py                      # 10,000 devices on SQLite
    .venv/bin/python bench/delivery_report.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Not a test: it prints the time each answer takes (median and slowest of `--repeat` requests, and its size) and
exits 0 (1 only when the benchmark itself could not run). The devices are rows, not connections: what is
measured is the server reading and answering the report, as the console and the CSV export ask for it. Most
devices played the emergency at spread-out times, the rest did not (they come first in the report).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web
from figures import percentile
from netutil import HOST, free_port

from announcements.database import Database
from announcements.deliveries import Mark, record_marks
from announcements.models import Announcement, AnnouncementStatus, Area, Role, Screen, TokenCreate
from announcements.protocol import Priority, ReceiptState, ScreenKind
from announcements.registry import create_token
from announcements.timeutil import utcnow
from broadcast_server.app import create_app
from broadcast_server.settings import load_settings

AREAS = 100


async def seed(db: Database, devices: int, played_share: float) -> tuple[str, str]:
    """N devices over AREAS villages, one live emergency to all of them gone out two minutes ago, and their marks."""
    now = utcnow()
    async with db.write() as session:
        session.add_all(Area(path=f"/bench/v{i}", name=f"第{i}村") for i in range(AREAS))
        session.add(Area(path="/bench", name="试验镇"))
        screens = [
            Screen(name=f"设备{i}", area=f"/bench/v{i % AREAS}", kind=ScreenKind.SPEAKER if i % 3 else ScreenKind.SCREEN)
            for i in range(devices)
        ]
        session.add_all(screens)
        _, admin = await create_token(session=session, data=TokenCreate(role=Role.ADMIN, area="/", name="bench"))
        emergency = Announcement(
            title="山洪预警", body="河水上涨，请立即转移。", priority=Priority.EMERGENCY, area="/", target={"areas": ["/bench"]},
            status=AnnouncementStatus.LIVE, published_at=now - timedelta(minutes=2), expires_at=now + timedelta(hours=6),
            targeted=devices,
        )
        session.add(emergency)
        await session.flush()
        marks = []
        for screen in screens:
            marks.append(Mark(emergency.id, screen.id, ReceiptState.RECEIVED, now - timedelta(seconds=110)))
            if random.random() < played_share:
                marks.append(Mark(emergency.id, screen.id, ReceiptState.PLAYED, now - timedelta(seconds=random.uniform(1, 100))))
        await record_marks(session=session, marks=marks)
        return emergency.id, admin


async def measure(http: aiohttp.ClientSession, url: str, headers: dict, repeat: int) -> tuple[float, float, int]:
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        async with http.get(url, headers=headers) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url} answered {resp.status}: {body[:200]!r}")
        times.append((time.perf_counter() - start) * 1000)
        size = len(body)
    return percentile(times, 50), max(times), size


async def _postgres(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="vb-bench-report-"))
    schema = f"bench_{uuid.uuid4().hex[:8]}" if args.database_url else None
    settings = load_settings(
        None, data_dir=data_dir, database_url=args.database_url, database_schema=schema, speech_enabled=False,
        log_level="WARNING", host=HOST,
    )
    if schema:
        await _postgres(args.database_url, f'CREATE SCHEMA "{schema}"')
    db = Database(settings.db_url, schema=schema, sqlite_synchronous=settings.sqlite_synchronous)
    runner = None
    try:
        await db.migrate()
        emergency_id, admin = await seed(db, args.devices, args.played)
        await db.close()
        port = free_port()
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        await web.TCPSite(runner, HOST, port).start()
        base = f"http://{HOST}:{port}/api/v1"
        headers = {"Authorization": f"Bearer {admin}"}
        report = f"{base}/announcements/{emergency_id}/deliveries"
        print(f"{args.devices} devices, {args.played:.0%} played; {'PostgreSQL' if args.database_url else 'SQLite'}; "
              f"{args.repeat} requests each")
        print(f"{'answer':<48} {'p50 ms':>8} {'max ms':>8} {'bytes':>10}")
        async with aiohttp.ClientSession() as http:
            for name, url in (
                ("report, first page (1,000 devices)", report),
                (f"report, all {args.devices} devices", f"{report}?limit={args.devices}"),
                ("CSV of every device", f"{report}.csv"),
                ("overdue list (deadline 60 s)", f"{base}/deliveries/overdue"),
            ):
                p50, slowest, size = await measure(http, url, headers, args.repeat)
                print(f"{name:<48} {p50:>8.1f} {slowest:>8.1f} {size:>10,}")
        return 0
    finally:
        if runner is not None:
            await runner.cleanup()
        if schema:
            await _postgres(args.database_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--played", type=float, default=0.9, help="share of the devices that played it (default 0.9)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="PostgreSQL (a schema is made and dropped); default SQLite")
    try:
        sys.exit(asyncio.run(main(parser.parse_args())))
    except Exception as exc:  # the benchmark could not run
        print(f"benchmark failed: {exc!r}", file=sys.stderr)
        sys.exit(1)
