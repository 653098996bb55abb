"""A minimal broadcast server: the baseline the fan-out benchmark compares the real hub with.

It speaks just enough of docs/protocol.md §3 for the benchmark's screens (hello, then welcome and
synced) and does nothing else: no database, no tokens, no targeting, no per-connection queue. On
`POST /api/v1/announcements` it builds one frame shaped like the real server's announcement frame,
encodes it once, and hands the same bytes to every open connection, then answers `{"id", "seq"}`.
Compression is off (as on the real hub), and there is no heartbeat.

    python bench/bare_server.py --port 8099 [--mode loop|tasks]

How the frame reaches the connections (`--mode`):

- `raw` (the default, the fastest): the whole WebSocket frame (header and payload) is built once and
  written with `transport.write` to every connection's transport in one loop. This is what a
  minimal server can do at best, and what the real hub does since it builds each event's frame once.
- `loop`: `for ws in conns: await ws.send_frame(frame, TEXT)`. With compression off, `send_frame`
  only awaits when a socket's buffer is full, so this is one synchronous pass too, but aiohttp builds
  the frame header per connection.
- `tasks`: one task per connection calling `send_frame`. At 10,000 screens creating the tasks took
  ~70 ms before the first write, and the last screen was reached no sooner than with `loop`.

`bench/fanout.py --bare-mode` picks one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

from aiohttp import WSMsgType, web

from broadcast_server.frames import text_frame
from broadcast_server.openfiles import raise_open_file_limit

CONNS = web.AppKey("conns", dict)  # WebSocketResponse -> its transport
STATE = web.AppKey("state", dict)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    state = request.app[STATE]
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    try:
        msg = await ws.receive(timeout=state["hello_timeout_s"])
    except TimeoutError:
        await ws.close(code=4408, message=b"no hello in time")
        return ws
    try:
        hello = json.loads(msg.data) if msg.type == WSMsgType.TEXT else None
    except ValueError:
        hello = None
    if not isinstance(hello, dict) or hello.get("type") != "hello" or not hello.get("token"):
        await ws.close(code=4400, message=b"expected a hello frame")
        return ws
    head = state["seq"]
    now = datetime.now(UTC).isoformat()
    await ws.send_str(json.dumps({"type": "welcome", "screen_id": str(hello["token"])[-12:], "area": "/bench",
                                  "kind": "screen", "server_time": now, "head_seq": head}))
    await ws.send_str(json.dumps({"type": "synced", "head_seq": head, "reset": hello.get("last_seq") is None}))
    conns = request.app[CONNS]
    conns[ws] = request.transport
    try:
        async for _msg in ws:  # acks, pings: read and ignored
            pass
    finally:
        conns.pop(ws, None)
    return ws


def announcement_frame(seq: int, body: dict) -> tuple[str, bytes]:
    """The same shape (and so about the same size) as the real server's announcement frame."""
    now = datetime.now(UTC).replace(microsecond=0)
    ident = uuid.uuid4().hex
    payload = {
        "id": ident, "revision": 1, "title": body.get("title", ""), "body": body.get("body", ""),
        "priority": body.get("priority", "normal"), "category": body.get("category"),
        "language": body.get("language", "zh"), "published_at": now.isoformat().replace("+00:00", "Z"),
        "expires_at": (now + timedelta(hours=24)).isoformat().replace("+00:00", "Z"), "audio": None,
    }
    frame = json.dumps({"type": "announcement", "seq": seq, "announcement": payload}, ensure_ascii=False, separators=(",", ":"))
    return ident, frame.encode()


async def _send(ws: web.WebSocketResponse, frame: bytes) -> None:
    try:
        await ws.send_frame(frame, WSMsgType.TEXT)
    except (ConnectionError, RuntimeError):
        pass


async def post_announcement(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await request.json()
    state["seq"] += 1
    ident, frame = announcement_frame(state["seq"], body)
    conns = list(request.app[CONNS].items())
    started = time.perf_counter()
    if state["mode"] == "raw":
        whole = text_frame(frame)
        for _ws, transport in conns:
            if not transport.is_closing():
                transport.write(whole)
    elif state["mode"] == "tasks":
        loop = asyncio.get_running_loop()
        for ws, _transport in conns:
            loop.create_task(_send(ws, frame))
    else:
        for ws, _transport in conns:
            try:
                await ws.send_frame(frame, WSMsgType.TEXT)
            except (ConnectionError, RuntimeError):
                pass
    send_ms = (time.perf_counter() - started) * 1000  # the loop only: the writes are in the kernel by now
    return web.json_response({"id": ident, "seq": state["seq"], "sent_to": len(conns), "send_ms": send_ms}, status=201)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"connections": len(request.app[CONNS])})


def create_app(*, mode: str = "raw", hello_timeout_s: float = 60.0) -> web.Application:
    app = web.Application()
    app[CONNS] = {}
    app[STATE] = {"seq": 0, "mode": mode, "hello_timeout_s": hello_timeout_s}
    app.router.add_get("/ws", websocket)
    app.router.add_post("/api/v1/announcements", post_announcement)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--mode", choices=["raw", "loop", "tasks"], default="raw")
    parser.add_argument("--hello-timeout", type=float, default=60.0)
    parser.add_argument("--backlog", type=int, default=128, help="listen backlog (aiohttp's default is 128)")
    args = parser.parse_args()
    raise_open_file_limit()
    logging.basicConfig(level=logging.WARNING)
    web.run_app(create_app(mode=args.mode, hello_timeout_s=args.hello_timeout), host=args.host, port=args.port,
                backlog=args.backlog, print=None, access_log=None)


if __name__ == "__main__":
    main()
