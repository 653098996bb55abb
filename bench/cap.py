"""CAP benchmark: from a CAP file dropped into a watched directory to the first and the last of N devices playing it.

    .venv/bin/python bench/cap.py --devices 200     # a quick look, fine on a busy machine (about a minute)
    .venv/bin/python bench/cap.py                   # 1,000 devices: the issue's figure, on an idle machine
    .venv/bin/python bench/cap.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Not a test: it prints a table of figures, the baseline beside each, and exits 0 (1 only when the benchmark itself
could not run). See bench/README.md for what each figure means.

One `village-broadcast serve` (SQLite, or a fresh schema of PostgreSQL with --database-url) with speech on
(eSpeak NG) and one watched CAP directory (`cap_sources`, polled every --interval s). The areas carry division
codes (PATCH /areas/{path} geocodes) and the alerts name their township's code, so each alert reaches every
device. The devices are bench/fanout.py's screens, in its client processes, with one step more: a device that
holds an announcement with its audio sends its `played` receipt at once, as a loudspeaker does once it has
played it (it neither fetches the clip nor waits its length: what is measured is the server's part).

Each run drops one alert (written as `.part`, then renamed, as a real system does) and then POSTs the same notice
as JSON to /api/v1/announcements (the baseline: no CAP), each with a text of its own so that no clip comes from
the cache; from the drop (or the POST) to the first device holding it, the first and the last holding its audio,
and the server having every `played` receipt (its delivery report says played = N). A first alert and a first
post after the server starts are timed too (cold) and kept out of the medians.

Everything is bounded (counts and timeouts), talks only to 127.0.0.1, and is cleaned up on exit (also on Ctrl-C):
the client processes, the server, the schema and the temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

import aiohttp
import sqlalchemy as sa
from fanout import AREAS, ClientProcess, Clients, Pool, ScreenProtocol, Server, Worker, client_frame, fmt, log, median, now_ns, register
from figures import machine, table
from netutil import cancel_on_sigterm, free_port, run_benchmark, run_folder, screens_fit
from prometheus_client.parser import text_string_to_metric_families
from replicas import fresh_schema

from broadcast_server.openfiles import raise_open_file_limit

TOWN = "/bench"  # fanout.register puts the devices in its villages /bench/v0 .. /bench/v99
TOWN_CODE = "330108001"  # a township's code (GB/T 2260 and its extension); its villages' are this and three digits
SENDER = "330108000000@12379.cn"
INSTRUCTION = ("1. 停止集会、停课、停业（除特殊行业外）；2. 处于危险地带的人员立即转移到安全场所；"
               "3. 远离河道、山坡和低洼地带，注意防范山洪、滑坡和泥石流。")


def village_code(i: int) -> str:
    return f"{TOWN_CODE}{i:03d}"


def notice(k: int) -> tuple[str, str]:
    """The headline and description of the k-th warning of a run: the same length each time, a text of its own."""
    return (f"滨江县气象台发布暴雨红色预警信号（第{k}号）",
            f"滨江县气象台发布暴雨红色预警信号：过去3小时试验镇降雨量已达{100 + k}毫米以上，且降雨仍将持续。")


def cap_alert(k: int, identifier: str, sent: datetime) -> bytes:
    """A CAP 1.2 rainstorm red warning (Extreme, Immediate: an emergency) naming the township by its code."""
    headline, description = notice(k)
    when = sent.isoformat(timespec="seconds")
    expires = (sent + timedelta(hours=6)).isoformat(timespec="seconds")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>{SENDER}</sender>
  <sent>{when}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <effective>{when}</effective>
    <expires>{expires}</expires>
    <senderName>滨江县气象台</senderName>
    <headline>{escape(headline)}</headline>
    <description>{escape(description)}</description>
    <instruction>{escape(INSTRUCTION)}</instruction>
    <area>
      <areaDesc>试验镇</areaDesc>
      <geocode><valueName>GB/T 2260</valueName><value>{TOWN_CODE}000</value></geocode>
    </area>
  </info>
</alert>
""".encode()


def json_notice(k: int) -> dict:
    """The announcement cap_alert(k) becomes (announcements/cap/mapping.py), as a clerk would POST it."""
    headline, description = notice(k)
    return {"title": headline, "body": f"{description}\n\n{INSTRUCTION}", "priority": "emergency", "category": "weather",
            "language": "zh", "target": {"areas": [TOWN]}, "speak": True,
            "expires_at": (datetime.now(UTC) + timedelta(hours=6)).isoformat()}


# =====================================================================================================
# Device side (runs in the client processes)
# =====================================================================================================

class PlayingScreen(ScreenProtocol):
    """fanout's screen, which also plays: an announcement frame carrying `audio` gets a `played` receipt at once."""

    def _on_text(self, payload: bytes, now: int) -> None:
        super()._on_text(payload, now)  # records the frame and acks it, as every bench screen does
        if self.synced and b'"type":"announcement"' in payload[:40]:
            self.pool.saw_announcement(self, json.loads(payload)["announcement"], now)


class PlayingPool(Pool):
    """The devices of one client process, and when each first held each announcement, and its audio."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order: list[str] = []  # announcement ids in the order this process first saw them
        self.got: dict[str, dict[int, int]] = {}  # id -> device index -> CLOCK_MONOTONIC ns of its first frame
        self.heard: dict[str, dict[int, int]] = {}  # id -> device index -> ns of the first frame with audio

    async def open(self, state, last_seq, timeout: float) -> None:
        await super().open(state, last_seq, timeout)
        # Pool.open made a plain screen; from `synced` on (announcements come only once every device is), it plays.
        state.proto.__class__ = PlayingScreen

    def saw_announcement(self, screen: PlayingScreen, announcement: dict, now: int) -> None:
        ident, index = announcement["id"], screen.state.index
        if ident not in self.got:
            self.order.append(ident)
            self.got[ident], self.heard[ident] = {}, {}
        self.got[ident].setdefault(index, now)
        if announcement.get("audio") and index not in self.heard[ident]:
            self.heard[ident][index] = now
            receipt = {"type": "receipt", "announcement_id": ident, "state": "played"}
            screen.transport.write(client_frame(0x1, json.dumps(receipt).encode()))


class DeviceWorker(Worker):
    async def cmd_setup(self, group: str, tokens: list[str], first_index: int, port: int, ack: bool, tls: bool = False) -> int:
        self.pools[group] = PlayingPool(tokens, first_index, port, ack, tls)
        return len(tokens)

    async def cmd_played(self, group: str, nth: int, timeout: float) -> dict:
        """Wait until every device here holds the audio of the nth announcement this process saw (or the timeout);
        its id, and when each device got it and its audio."""
        pool = self.pools[group]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(pool.order) > nth and len(pool.heard[pool.order[nth]]) == len(pool.states):
                break
            await asyncio.sleep(0.005)
        if len(pool.order) <= nth:
            return {"id": None, "got": [], "heard": []}
        ident = pool.order[nth]
        return {"id": ident, "got": list(pool.got[ident].values()), "heard": list(pool.heard[ident].values())}


def device_main(conn) -> None:
    raise_open_file_limit()
    with contextlib.suppress(KeyboardInterrupt):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when we stop
        asyncio.run(DeviceWorker(conn).run())


class DeviceProcess(ClientProcess):
    """fanout's client process, running the playing devices (DeviceWorker) instead of fanout's plain screens."""

    def __init__(self, ctx, index: int):  # not super().__init__: that would start fanout's worker
        self.index = index
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=device_main, args=(child,), name=f"bench-devices-{index}", daemon=True)
        self.process.start()
        child.close()
        self.lock = asyncio.Lock()


# =====================================================================================================
# Orchestrator side
# =====================================================================================================

class CapBench:
    def __init__(self, args, server: Server, clients: Clients, admin: str, http: aiohttp.ClientSession, drop_dir: Path):
        self.args = args
        self.server = server
        self.clients = clients
        self.http = http
        self.headers = {"Authorization": f"Bearer {admin}"}
        self.drop_dir = drop_dir
        self.n = args.devices
        self.seen = 0  # announcements the devices have been sent so far: the next one is the devices' nth

    async def api(self, method: str, path: str, expect: int = 200, **kwargs) -> dict | str:
        async with self.http.request(method, self.server.base + path, headers=self.headers, **kwargs) as resp:
            body = await resp.text()
            if resp.status != expect:
                raise RuntimeError(f"{method} {path} answered {resp.status} (expected {expect}): {body[:300]}")
        return json.loads(body) if resp.content_type == "application/json" else body

    async def configure_areas(self) -> None:
        """The township and its villages get their division codes: what an alert's `<geocode>` is matched against."""
        await self.api("PATCH", "/api/v1/areas/" + quote(TOWN, safe=""), json={"geocodes": [TOWN_CODE]})
        for i in range(AREAS):
            await self.api("PATCH", "/api/v1/areas/" + quote(f"{TOWN}/v{i}", safe=""), json={"geocodes": [village_code(i)]})

    async def synthesis(self) -> tuple[float, float]:
        """The speech workers' clips made so far and the seconds they took (village_speech_synthesis_seconds)."""
        total = count = 0.0
        for family in text_string_to_metric_families(await self.api("GET", "/metrics")):
            if family.name == "village_speech_synthesis_seconds":
                for sample in family.samples:
                    if sample.name.endswith("_sum"):
                        total = sample.value
                    elif sample.name.endswith("_count"):
                        count = sample.value
        return count, total

    async def drop(self, k: int) -> tuple[int, float, str]:
        """Write the k-th alert as a .part file, then rename it into place: (monotonic ns and wall time of the rename,
        the alert's identifier)."""
        sent = datetime.now(UTC).replace(microsecond=0)
        identifier = f"bench-{k}-{sent:%Y%m%d%H%M%S}"
        part = self.drop_dir / f"{identifier}.xml.part"
        await asyncio.to_thread(part.write_bytes, cap_alert(k, identifier, sent))
        t0, wall = now_ns(), time.time()
        os.rename(part, self.drop_dir / f"{identifier}.xml")
        return t0, wall, identifier

    async def post(self, k: int) -> tuple[int, float]:
        body = json_notice(k)
        t0, wall = now_ns(), time.time()
        await self.api("POST", "/api/v1/announcements", expect=201, json=body)
        return t0, wall

    async def measure(self, kind: str, k: int) -> dict:
        """One announcement, by CAP drop or by POST, followed until the server has every device's `played` receipt."""
        before = await self.synthesis()
        identifier = None
        if kind == "cap":
            t0, wall0, identifier = await self.drop(k)
        else:
            t0, wall0 = await self.post(k)
        nth, self.seen = self.seen, self.seen + 1
        timeout = self.args.timeout
        results = await self.clients.all("played", timeout + 30, group="main", nth=nth, timeout=timeout)
        ids = {r["id"] for r in results} - {None}
        if len(ids) != 1:
            raise RuntimeError(f"{kind} #{k}: the devices saw {sorted(ids) or 'nothing'} within {timeout:.0f} s" + self.refusals())
        ident = ids.pop()
        got = [t for r in results for t in r["got"]]
        heard = [t for r in results for t in r["heard"]]
        if not heard:
            speech = await self.api("GET", f"/api/v1/announcements/{ident}")
            raise RuntimeError(f"{kind} #{k}: no device got the audio within {timeout:.0f} s (speech_status "
                               f"{speech['speech_status']}: {speech['speech_error']})")
        if identifier is not None:
            await self.check_taken(identifier, ident)
        summary, t_all = await self.wait_played(ident, deadline=time.monotonic() + 30)
        announcement = await self.api("GET", f"/api/v1/announcements/{ident}")
        after = await self.synthesis()
        published = datetime.fromisoformat(announcement["published_at"]).timestamp()
        s = lambda t: (t - t0) / 1e9  # noqa: E731
        return {
            "kind": kind, "k": k, "id": ident,
            "published": published - wall0,
            "first_text": s(min(got)) if got else float("nan"),
            "first_audio": s(min(heard)) if heard else float("nan"),
            "last_audio": s(max(heard)) if len(heard) == self.n else float("nan"),
            "all_played": s(t_all) if summary["played"] >= self.n else float("nan"),
            "played_all_s": summary["played_all_s"] if summary["played_all_s"] is not None else float("nan"),
            "synthesis": (after[1] - before[1]) if after[0] - before[0] == 1 else float("nan"),
            "clip_s": (announcement.get("audio") or {}).get("duration_s", float("nan")),
            "got": len(got), "heard": len(heard), "played": summary["played"], "targeted": summary["targeted"],
        }

    async def check_taken(self, identifier: str, ident: str) -> None:
        """The announcement the devices played is the one the dropped alert made."""
        page = await self.api("GET", "/api/v1/cap/alerts?limit=20")
        alert = next((a for a in page["items"] if a["identifier"] == identifier), None)
        if alert is None or ident not in alert["announcement_ids"]:
            raise RuntimeError(f"the devices played {ident}, not what alert {identifier} made: {alert}" + self.refusals())

    async def wait_played(self, ident: str, deadline: float) -> tuple[dict, int]:
        """Poll the delivery report until it counts every device as played (receipts are written every
        delivery_flush_s): its summary, and when that was seen. Polled only once the devices have sent their
        receipts, so the polling does not slow what is measured."""
        while True:
            t = now_ns()
            summary = (await self.api("GET", f"/api/v1/announcements/{ident}/deliveries?limit=1"))["summary"]
            if summary["played"] >= self.n or time.monotonic() > deadline:
                return summary, t
            await asyncio.sleep(0.02)

    def refusals(self) -> str:
        """What the directory source refused, for an error message (refused/*.reason.txt)."""
        reasons = [p.read_text(errors="replace").strip() for p in sorted((self.drop_dir / "refused").glob("*.reason.txt"))]
        waiting = sorted(p.name for p in self.drop_dir.iterdir() if p.is_file())
        return (f"; refused: {reasons}" if reasons else "") + (f"; still in the folder: {waiting}" if waiting else "")


# ----------------------------------------------------------------------------------------------------- report

ROWS = (  # figure key, its name; times in seconds from the drop (CAP) or from just before the POST (baseline)
    ("published", "taken in: the announcement's published_at, s"),
    ("first_text", "first device has the announcement, s"),
    ("first_audio", "first device has its audio, s"),
    ("last_audio", "last device has its audio, s"),
    ("all_played", "server has every `played` receipt, s"),
    ("played_all_s", "  server's own: published_at → last played_at, s"),
    ("synthesis", "synthesis alone (the clip), s"),
    ("clip_s", "clip length (not waited for), s"),
)


def report(args, runs: list[dict], cold: list[dict], setup: dict) -> str:
    n = args.devices
    cap = [r for r in runs if r["kind"] == "cap"]
    base = [r for r in runs if r["kind"] == "json"]

    def worst(values: list[float]) -> float:
        real = [v for v in values if v == v]
        return float("nan") if len(real) < len(values) else max(real, default=float("nan"))

    rows: list[tuple[str, ...]] = []
    for key, name in ROWS:
        c, b = [r[key] for r in cap], [r[key] for r in base]
        mc, mb = median(c), median(b)
        ratio = f"{mc / mb:.2f}x" if mb >= 0.05 and mc == mc else "n/a"  # a baseline of about 0 s divides nothing
        cold_cap, cold_base = (r[key] for r in cold)
        rows.append((name, fmt(mc, 2), fmt(worst(c), 2), fmt(mb, 2), fmt(worst(b), 2), fmt(mc - mb, 2), ratio,
                     f"{fmt(cold_cap, 2)} / {fmt(cold_base, 2)}"))
    played = lambda rs: f"{sum(r['played'] for r in rs):,}/{n * len(rs):,}"  # noqa: E731
    rows.append(("devices that played (server's count, all runs)", played(cap), "", played(base), "", "", "", played(cold)))

    headers = ("figure", "CAP p50", "CAP max", "JSON p50", "JSON max", "CAP−JSON", "CAP/JSON", "cold CAP / JSON")
    out = [
        f"CAP benchmark: {n:,} devices, runs: {args.runs}, {setup['database']}; CAP directory polled every {args.interval:g} s; "
        "speech on (eSpeak NG)",
        *machine(setup, f"registration {setup['register_s']:.1f} s"),
        "  CAP: from the alert file renamed into the watched folder; JSON: from just before POST /api/v1/announcements of the same",
        "  notice (the baseline, no CAP). A device plays an announcement once it holds it with its audio, and sends its",
        "  `played` receipt at once: it does not fetch the clip or wait its length, so these are the server's part.",
        "",
        *table(headers, rows),
        "",
        "per run (CAP | JSON), s: last device has its audio / server has every played receipt",
        *(f"  #{i + 1}: {fmt(c['last_audio'], 2)} / {fmt(c['all_played'], 2)} | {fmt(b['last_audio'], 2)} / {fmt(b['all_played'], 2)}"
          for i, (c, b) in enumerate(zip(cap, base, strict=True))),
        "(a dropped file, whole, is taken at the folder's next poll (--interval): that is most of what CAP adds;",
        " receipts are written every delivery_flush_s, 0.5 s)",
    ]
    if n != 1000:
        out.append("(the issue's figure is for 1,000 devices: run without --devices on an idle machine)")
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------------- main

async def main_async(args) -> int:
    from announcements.database import sqlite_url

    cancel_on_sigterm()
    load_start = os.getloadavg()[0]
    # Cleaned up in reverse: the client processes, the server, then the schema, then the folder.
    async with contextlib.AsyncExitStack() as stack:
        workdir = run_folder(stack, "vb-cap-", keep=args.keep)
        drop_dir = workdir / "cap-in"
        drop_dir.mkdir()
        env = {"VB_CAP_SOURCES": json.dumps([{"name": "bench", "kind": "directory", "path": str(drop_dir), "interval_s": args.interval}]),
               "VB_SPEECH_ENABLED": "true"}
        if args.database_url:
            try:
                schema = await stack.enter_async_context(fresh_schema(args.database_url))
            except OSError as exc:
                url = sa.engine.make_url(args.database_url).render_as_string(hide_password=True)
                raise RuntimeError(f"PostgreSQL at {url} could not be reached ({exc})") from None
            database_url = args.database_url
            env.update(VB_DATABASE_URL=args.database_url, VB_DATABASE_SCHEMA=schema)
        else:
            schema = None
            (workdir / "data").mkdir()
            database_url = sqlite_url(workdir / "data")
        t = time.monotonic()
        admin, tokens = await register(database_url, args.devices, schema)
        setup = {"register_s": time.monotonic() - t, "load_start": load_start, "database": "PostgreSQL" if schema else "SQLite"}
        log(f"registered {args.devices} devices in {setup['register_s']:.1f} s; work folder {workdir}")

        server = Server("ours", workdir, free_port(), max(60.0, args.devices / 100), env=env)
        stack.callback(server.stop)
        server.start()
        ctx = mp.get_context("spawn")
        procs = []
        for i in range(args.client_procs):
            procs.append(DeviceProcess(ctx, i))
            stack.callback(procs[-1].stop)
        clients = Clients(procs)
        for p in procs:
            await p.call("setup", 60, group="main", tokens=tokens[p.index:: len(procs)], first_index=p.index * len(tokens), port=0,
                         ack=True)

        http = await stack.enter_async_context(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)))
        await server.wait_ready(http, admin)
        bench = CapBench(args, server, clients, admin, http, drop_dir)
        await bench.configure_areas()
        timeout = max(60.0, args.devices / 50)
        connected = await clients.all("connect", timeout + 30, group="main", concurrency=100, timeout=timeout, port=server.port)
        if sum(c["ok"] for c in connected) != args.devices:
            errors = [c["errors"] for c in connected]
            raise RuntimeError(f"only {sum(c['ok'] for c in connected)} of {args.devices} devices connected: {errors}")
        log(f"{args.devices} devices connected in {max(c['elapsed_s'] for c in connected):.1f} s")
        await server.wait_idle(limit_s=60)

        cold, runs = [], []
        for i in range(args.runs + 1):
            for kind in ("cap", "json"):
                result = await bench.measure(kind, 2 * i + (kind == "json"))
                (runs if i else cold).append(result)
                log(f"{'cold' if not i else f'run {i}'} {kind}: first {fmt(result['first_text'], 2)} s, audio first "
                    f"{fmt(result['first_audio'], 2)} s, last {fmt(result['last_audio'], 2)} s, all played "
                    f"{fmt(result['all_played'], 2)} s (synthesis {fmt(result['synthesis'], 2)} s)")
                await server.wait_idle(limit_s=30)
        print(report(args, runs, cold, setup), flush=True)
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=1000, help="devices connected, all reached by each alert (default 1000)")
    p.add_argument("--runs", type=int, default=3, help="alerts dropped, each followed by its JSON baseline (default 3)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between polls of the CAP directory (default 0.5)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed for one announcement to be played by every device")
    p.add_argument("--client-procs", type=int, default=1, help="client processes holding the devices (default 1)")
    p.add_argument("--database-url", default=None,
                   help="PostgreSQL to run on (a fresh schema is made in it and dropped at the end); default SQLite")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (server log, database, CAP folder)")
    args = p.parse_args(argv)
    if not 1 <= args.devices <= 20000:
        p.error("--devices must be 1..20000")
    if not 1 <= args.runs <= 50:
        p.error("--runs must be 1..50")
    if not 1 <= args.client_procs <= min(8, args.devices):
        p.error("--client-procs must be 1..8, and at most --devices")
    if not 0 < args.interval <= 60:
        p.error("--interval must be in (0, 60]")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not screens_fit(args.devices):
        return 1
    return run_benchmark(main_async, args)


if __name__ == "__main__":
    sys.exit(main())
