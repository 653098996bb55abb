"""A screen on a bare TCP socket: the WebSocket handshake by hand, and reading only when the test says so.

aiohttp's client keeps reading into its own buffers; this one reads nothing until asked, so what the
server writes piles up in the kernel and then in the server's transport, as with a screen on a bad
link. The socket asks for a small receive buffer and a small segment size before connecting: on
loopback Linux otherwise lets the server's kernel absorb megabytes (its send buffer is sized from the
segment size) before the server's own write buffer grows; this way about a hundred kilobytes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
import struct
import time
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked frame (RFC 6455 5.2: a client masks everything it sends)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawScreen:
    """One screen's socket; nothing is read from it except inside `frame()` and the calls built on it."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._buffer = b""

    @classmethod
    async def open(cls, base_url: str, *, receive_buffer: int = 4096, segment: int = 536) -> RawScreen:
        url = urlsplit(base_url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        with contextlib.suppress(OSError, AttributeError):  # Linux; elsewhere the test only needs more posts
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, segment)
        sock.setblocking(False)
        raw = cls(sock)
        try:
            await raw._loop.sock_connect(sock, (url.hostname, url.port))
            key = base64.b64encode(os.urandom(16))
            request = (
                f"GET /ws HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            await raw._loop.sock_sendall(sock, request.encode())
            while b"\r\n\r\n" not in raw._buffer:
                await raw._fill(time.monotonic() + 5)
            head, raw._buffer = raw._buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            assert lines[0].startswith("HTTP/1.1 101"), lines
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()
            assert f"sec-websocket-accept: {accept.lower()}" in (line.lower() for line in lines), lines
        except BaseException:
            sock.close()
            raise
        return raw

    async def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("gave up waiting for the server")
        data = await asyncio.wait_for(self._loop.sock_recv(self._sock, 65536), remaining)
        if not data:
            raise ConnectionError("the server closed the TCP connection without a close frame")
        self._buffer += data

    async def _take(self, n: int, deadline: float) -> bytes:
        while len(self._buffer) < n:
            await self._fill(deadline)
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    async def frame(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """The next (opcode, payload) from the server; pings are answered and skipped."""
        deadline = time.monotonic() + timeout
        while True:
            first, second = await self._take(2, deadline)
            assert first & 0x80 and not second & 0x80, "server frames are final and unmasked"
            n = second & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self._take(2, deadline))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self._take(8, deadline))
            opcode, payload = first & 0x0F, await self._take(n, deadline)
            if opcode == PING:
                await self._loop.sock_sendall(self._sock, _client_frame(PONG, payload))
                continue
            return opcode, payload

    async def send_json(self, message: dict) -> None:
        await self._loop.sock_sendall(self._sock, _client_frame(TEXT, json.dumps(message).encode()))

    async def keep_alive(self) -> None:
        """An unsolicited pong (RFC 6455 5.5.3): the server hears from this screen without it reading anything."""
        await self._loop.sock_sendall(self._sock, _client_frame(PONG, b""))

    async def hello(self, token: str, last_seq: int | None = None) -> None:
        await self.send_json({"type": "hello", "token": token, "last_seq": last_seq, "client": {"name": "raw", "version": "0"}})

    async def until(self, kind: str, timeout: float = 5.0) -> list[dict]:
        """Text frames up to and including the first of `kind`."""
        frames = []
        while True:
            opcode, payload = await self.frame(timeout)
            assert opcode == TEXT, (opcode, payload)
            frames.append(json.loads(payload))
            if frames[-1]["type"] == kind:
                return frames

    async def until_closed(self, timeout: float = 10.0) -> tuple[list[dict], int]:
        """Read everything left: the text frames, then the close code (the close is answered)."""
        frames = []
        while True:
            opcode, payload = await self.frame(timeout)
            if opcode == CLOSE:
                with contextlib.suppress(OSError):
                    await self._loop.sock_sendall(self._sock, _client_frame(CLOSE, payload[:2]))
                return frames, struct.unpack("!H", payload[:2])[0]
            assert opcode == TEXT, (opcode, payload)
            frames.append(json.loads(payload))

    def close(self) -> None:
        self._sock.close()
