"""Fixtures for the screen client's unit tests: announcement payloads, fast timings, and a stub server.

The stub speaks docs/protocol.md §3 just enough to test the client's protocol handling; the
end-to-end tests run the real server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from announcements.protocol import AnnouncementPayload
from screen_client.changes import Changes
from screen_client.client import ScreenClient, Timing

TOKEN = "screen-secret-token-0123456789"

FAST = Timing(
    ping_interval=0.2,
    ping_timeout=0.3,
    welcome_timeout=1.0,
    open_timeout=1.0,
    close_timeout=0.2,
    backoff_initial=0.05,
    backoff_factor=2.0,
    backoff_max=0.1,
    replaced_delay=0.3,
    outbox_interval=0.05,
    outbox_retry=0.3,
)


def ann(
    id: str = "a1",
    *,
    revision: int = 1,
    priority: str = "normal",
    title: str | None = None,
    audio: bool = True,
    duration_s: float = 1.0,
    published_ago_s: float = 0.0,
    expires_in_s: float = 3600.0,
) -> dict[str, Any]:
    """An `announcement` object as the server sends it."""
    now = datetime.now(UTC)
    return {
        "id": id,
        "revision": revision,
        "title": title or f"title of {id}",
        "body": f"body of {id} rev {revision}",
        "priority": priority,
        "category": "meeting",
        "language": "zh",
        "published_at": (now - timedelta(seconds=published_ago_s)).isoformat(),
        "expires_at": (now + timedelta(seconds=expires_in_s)).isoformat(),
        "audio": (
            {"url": f"/media/{id}-{revision}.mp3", "format": "mp3", "duration_s": duration_s, "repeat": 1} if audio else None
        ),
    }


def payload(id: str = "a1", **kw: Any) -> AnnouncementPayload:
    return AnnouncementPayload.model_validate(ann(id, **kw))


class StubServer:
    """A stand-in for the hub: hello/welcome, replay or reset, synced, live events, pong, reply_result."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.kind = "screen"
        self.history: list[dict[str, Any]] = []  # event frames still held, in seq order
        self.live: dict[str, dict[str, Any]] = {}  # announcement id -> its newest announcement frame
        self.pruned_upto = 0  # events up to this seq are no longer held: older cursors get a reset
        self.head = 0
        self.hellos: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.answer_replies = True
        self.reply_error: str | None = None  # answer replies with this error code instead
        self.answer_pings = True
        self.drop_during_replay = False  # close the next connection after the first replayed event
        self.on_frame: Callable[[dict[str, Any]], None] | None = None
        self.connections: set[ServerConnection] = set()
        self._tickets: dict[str, str] = {}
        self._ticket_numbers = itertools.count(1)
        self._changes = Changes()
        self.port = 0
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await serve(self._handler, "127.0.0.1", self.port, compression=None, ping_interval=None)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        await self._changes.wait_for(predicate, timeout)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("type") == kind]

    def add(self, frame: dict[str, Any]) -> int:
        """Record an event (announcement / retract / request_update) without sending it; returns its seq."""
        self.head += 1
        frame = {**frame, "seq": self.head}
        self.history.append(frame)
        if frame["type"] == "announcement":
            self.live[frame["announcement"]["id"]] = frame
        elif frame["type"] == "retract":
            self.live.pop(frame["announcement_id"], None)
        return self.head

    async def publish(self, frame: dict[str, Any]) -> int:
        """Record an event and send it to every connected screen."""
        seq = self.add(frame)
        for ws in list(self.connections):
            await ws.send(json.dumps(self.history[-1]))
        return seq

    def prune(self) -> None:
        """Forget all history (as after a long time): a returning screen gets its whole state and a reset."""
        self.pruned_upto = self.head
        self.history.clear()

    async def drop(self, code: int | None = None) -> None:
        """End every connection: abruptly (as in a crash) or with a close code."""
        for ws in list(self.connections):
            if code is None:
                ws.transport.abort()
            else:
                await ws.close(code, "stub closing")

    async def _handler(self, ws: ServerConnection) -> None:
        hello = json.loads(await ws.recv())
        self.hellos.append(hello)
        self._changes.notify()
        if hello.get("token") != self.token:
            await ws.send(json.dumps({"type": "error", "code": "unauthorized", "message": "bad token"}))
            await ws.close(4401, "unauthorized")
            return
        last = hello.get("last_seq")
        await ws.send(json.dumps({
            "type": "welcome", "screen_id": "s1", "area": "/hongqi/liujingtun", "kind": self.kind,
            "server_time": datetime.now(UTC).isoformat(), "head_seq": self.head,
        }))
        reset = last is None or last < self.pruned_upto or last > self.head
        replay = sorted(self.live.values(), key=lambda f: f["seq"]) if reset else [f for f in self.history if f["seq"] > last]
        for frame in replay:
            await ws.send(json.dumps(frame))
            if self.drop_during_replay:
                self.drop_during_replay = False
                ws.transport.abort()
                return
        await ws.send(json.dumps({"type": "synced", "head_seq": self.head, "reset": reset}))
        self.connections.add(ws)
        try:
            async for raw in ws:
                message = json.loads(raw)
                self.received.append(message)
                if self.on_frame is not None:
                    self.on_frame(message)
                await self._answer(ws, message)
                self._changes.notify()
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(ws)
            self._changes.notify()

    async def _answer(self, ws: ServerConnection, message: dict[str, Any]) -> None:
        if message["type"] == "ping" and self.answer_pings:
            await ws.send(json.dumps({"type": "pong"}))
        elif message["type"] == "reply" and self.reply_error:
            await ws.send(json.dumps({"type": "error", "code": self.reply_error, "message": "no",
                                      "ref": message["client_msg_id"]}))
        elif message["type"] == "reply" and self.answer_replies:
            ticket = self._tickets.setdefault(message["client_msg_id"], f"T-{next(self._ticket_numbers)}")
            await ws.send(json.dumps({"type": "reply_result", "client_msg_id": message["client_msg_id"], "ticket": ticket}))


@pytest.fixture
async def stub() -> AsyncIterator[StubServer]:
    server = StubServer()
    await server.start()
    yield server
    await server.stop()


class Screens:
    """Makes clients on a test's data directory and runs them; stops and closes them all at the end."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._clients: list[ScreenClient] = []
        self._tasks: list[asyncio.Task[None]] = []

    def make(self, server_url: str, *, token: str = TOKEN, timing: Timing = FAST, **kw: Any) -> ScreenClient:
        client = ScreenClient(server_url, token, data_dir=self.data_dir, timing=timing, client_name="test-screen", **kw)
        self._clients.append(client)
        return client

    def start(self, client: ScreenClient) -> asyncio.Task[None]:
        task = asyncio.create_task(client.run())
        self._tasks.append(task)
        return task

    async def stop(self, client: ScreenClient, task: asyncio.Task[None]) -> None:
        client.stop()
        await asyncio.wait_for(task, 5)

    async def aclose(self) -> None:
        for client in self._clients:
            client.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self._clients:
            client.close()


@pytest.fixture
async def screens(tmp_path: Path) -> AsyncIterator[Screens]:
    manager = Screens(tmp_path / "screen-data")
    yield manager
    await manager.aclose()
