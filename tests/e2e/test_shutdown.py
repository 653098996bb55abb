"""SIGTERM ends the server within seconds whatever is connected: screens, stream listeners, half-open sockets.

aiohttp waits for open handlers before it exits (up to its shutdown timeout, a minute and more), so
every endless handler has to be ended when shutdown begins.
"""

import asyncio
import socket
import subprocess
import time

import aiohttp
import pytest

from tests.e2e.screens import running
from tests.e2e.test_crash import add_screen, start_with_admin
from tests.e2e.test_stream import Listener

EXIT_WITHIN_S = 5


@pytest.fixture
def database_settings(tmp_path) -> dict:
    """SQLite only: this is about connections, not storage (test_crash stops a server on both databases)."""
    return {"data_dir": tmp_path}


async def test_sigterm_with_screen_streams_and_half_open_socket_exits_promptly(settings, server_process, tmp_path):
    """A screen, two stream listeners and a socket stuck mid-headers: the process still exits within 5 s."""
    async with await start_with_admin(settings, server_process) as http:
        screen = await add_screen(http, server_process, "/hongqi/liujingtun")
    async with running(server_process.url, screen["token"], tmp_path / "gate") as client, aiohttp.ClientSession() as http:
        await client.wait_for(lambda: client.synced)
        with socket.create_connection(("127.0.0.1", server_process.port)) as half_open:
            half_open.sendall(b"GET /api/v1/areas HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthori")
            # Connected after the half-open socket and answered: the server has accepted that one too.
            listeners = [await Listener.open(http, server_process.url, area) for area in ("/hongqi/liujingtun", "/hongqi")]
            for listener in listeners:
                await listener.hears_more()

            began = time.monotonic()
            server_process.process.terminate()
            try:
                await asyncio.to_thread(server_process.process.wait, EXIT_WITHIN_S)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"the server did not exit within {EXIT_WITHIN_S} s of SIGTERM") from None
        assert server_process.process.returncode == 0, server_process.process.returncode
        assert time.monotonic() - began < EXIT_WITHIN_S
        await asyncio.wait_for(asyncio.gather(*(listener.task for listener in listeners)), 5)  # their streams ended
        await client.wait_for(lambda: not client.online)
    assert "Traceback" not in (tmp_path / "server.log").read_text()
