"""Real screen clients (`screen_client.ScreenClient`) running beside the test, against a real server."""

from __future__ import annotations

import asyncio
import io
from contextlib import asynccontextmanager
from pathlib import Path

from screen_client.client import ScreenClient, Timing
from screen_client.display import TerminalDisplay
from screen_client.player import NullPlayer

FAST = Timing(backoff_initial=0.1, backoff_factor=1.5, backoff_max=0.5)


@asynccontextmanager
async def running(url: str, token: str, data_dir: Path, *, client_class: type[ScreenClient] = ScreenClient, **kw):
    """A screen client (of `client_class`) connected to `url` (showing on an in-memory terminal), stopped and closed
    at the end."""
    kw.setdefault("player", NullPlayer())
    kw.setdefault("display", TerminalDisplay(io.StringIO(), color=False))
    client = client_class(url, token, data_dir=data_dir, timing=FAST, **kw)
    task = asyncio.create_task(client.run())
    try:
        yield client
    finally:
        client.stop()
        await asyncio.wait_for(task, 10)
        client.close()


def titles(client: ScreenClient) -> list[str]:
    return [a.title for a in client.announcements()]


def ids(client: ScreenClient) -> set[str]:
    return {a.id for a in client.announcements()}


async def eventually(check, timeout: float = 10.0, interval: float = 0.05):
    """Poll `check()` (sync or async) until it returns something truthy; return that, or fail after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(interval)
