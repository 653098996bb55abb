"""A screen speaking the protocol frame by frame over wss:// through nginx, keeping what a test checks.

Like the reference clients: hello with the last seq it stored, store then ack, and after a close hello again a
moment later. Optionally, as a screen in a village does, a `displayed` receipt for each announcement and a
villager's reply to some; each is sent again on the next connection until the server has taken it. A reply is
taken once its `reply_result` names a ticket. A receipt has no answer of its own, but the server handles a
connection's frames in order, so the `pong` to a `ping` sent after some receipts says it has taken them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp


@dataclass
class Screen:
    http: aiohttp.ClientSession
    url: str
    token: str
    reconnect_after_s: float = 1.0
    receipts: bool = False  # a `displayed` receipt for every announcement
    replying: Callable[[dict], str | None] | None = None  # the villager's reply to an announcement, if any
    screen_id: str | None = None  # from `welcome`
    last_seq: int | None = None
    seen: list[str] = field(default_factory=list)  # announcement ids in the order they arrived
    seqs: list[int] = field(default_factory=list)  # the seq of each of them
    closes: list[int | None] = field(default_factory=list)
    resets: list[bool] = field(default_factory=list)  # `synced.reset` of each connection
    synced: bool = False
    errors: list[dict] = field(default_factory=list)
    replies: dict[str, dict] = field(default_factory=dict)  # client_msg_id -> the reply frame
    tickets: dict[str, str] = field(default_factory=dict)  # client_msg_id -> the ticket its reply_result named
    unconfirmed: dict[str, None] = field(default_factory=dict)  # receipts (announcement ids) not yet taken in
    confirmed: set[str] = field(default_factory=set)
    task: asyncio.Task | None = None
    _sent: set[str] = field(default_factory=set, init=False)  # replies and receipts sent on this connection
    _pings: deque[list[str]] = field(default_factory=deque, init=False)  # receipts before each unanswered ping

    def start(self) -> Screen:
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            self._sent.clear()
            self._pings.clear()
            try:
                async with self.http.ws_connect(self.url.replace("https://", "wss://") + "/ws", heartbeat=None) as ws:
                    await ws.send_json({"type": "hello", "token": self.token, "last_seq": self.last_seq,
                                        "client": {"name": "behind-nginx", "version": "0"}})
                    message = await ws.receive()
                    while message.type == aiohttp.WSMsgType.TEXT:
                        await self._on(ws, json.loads(message.data))
                        message = await ws.receive()
                    # The code of the server's close frame. (aiohttp's close_code turns 1006 when its answering
                    # close frame finds the connection already shut, as it is once the replica has exited.)
                    self.closes.append(message.data if message.type == aiohttp.WSMsgType.CLOSE else ws.close_code)
            except aiohttp.ClientError:  # nginx answering 502 while no replica is up
                self.closes.append(None)
            self.synced = False
            await asyncio.sleep(self.reconnect_after_s)

    async def _on(self, ws: aiohttp.ClientWebSocketResponse, frame: dict) -> None:
        kind = frame["type"]
        if kind == "welcome":
            self.screen_id = frame["screen_id"]
        elif kind == "announcement":
            announcement = frame["announcement"]
            self.seen.append(announcement["id"])
            self.seqs.append(frame["seq"])
            if self.receipts:
                self.unconfirmed[announcement["id"]] = None
            text = self.replying(announcement) if self.replying else None
            if text is not None:
                client_msg_id = str(uuid.uuid4())
                self.replies[client_msg_id] = {"type": "reply", "client_msg_id": client_msg_id,
                                               "announcement_id": announcement["id"], "category": "question", "text": text}
        elif kind == "synced":
            self.resets.append(frame["reset"])
            self.synced = True
        elif kind == "reply_result":
            self.tickets[frame["client_msg_id"]] = frame["ticket"]
        elif kind == "pong":
            for announcement_id in self._pings.popleft():
                self.unconfirmed.pop(announcement_id, None)
                self.confirmed.add(announcement_id)
        elif kind == "error":
            self.errors.append(frame)
        if "seq" in frame:
            self.last_seq = frame["seq"]
            await self._send(ws, {"type": "ack", "seq": frame["seq"]})  # stored first (above), then acked
        if self.synced:
            await self._send_owed(ws)

    async def _send_owed(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """What the server has not taken yet and this connection has not sent: replies without a ticket, then
        receipts with a ping after them."""
        for client_msg_id, reply in self.replies.items():
            if client_msg_id not in self.tickets and client_msg_id not in self._sent:
                self._sent.add(client_msg_id)
                await self._send(ws, reply)
        receipts = [announcement_id for announcement_id in self.unconfirmed if announcement_id not in self._sent]
        if receipts:
            self._sent.update(receipts)
            self._pings.append(receipts)
            for announcement_id in receipts:
                await self._send(ws, {"type": "receipt", "announcement_id": announcement_id, "state": "displayed"})
            await self._send(ws, {"type": "ping"})

    @staticmethod
    async def _send(ws: aiohttp.ClientWebSocketResponse, frame: dict) -> None:
        with contextlib.suppress(aiohttp.ClientConnectionError):  # the replica may be going away
            await ws.send_json(frame)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
