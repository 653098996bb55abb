"""Background loops that stop between passes, never in the middle of one.

A pass may hold a database write transaction; cancelling it there can leave the SQLite write lock
with a connection nobody uses any more, and every later writer waits for it. So `close()` asks the
loop to stop, wakes it, and waits for the pass in progress to end (cancelling only after a timeout).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

RETRY_AFTER_ERROR_S = 1.0


class BackgroundLoop:
    """Runs `one_pass()` again and again; it returns how many seconds to wait before the next pass."""

    def __init__(self, name: str, one_pass: Callable[[], Awaitable[float]]):
        self._name = name
        self._one_pass = one_pass
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None

    def poke(self) -> None:
        """Run the next pass now instead of at the end of the wait."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def close(self, timeout_s: float = 10.0) -> None:
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=timeout_s)
        except TimeoutError:
            log.warning("%s did not finish its pass within %.0f s; cancelling it", self._name, timeout_s)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before the pass: a poke during it means "look again"
            try:
                delay = await self._one_pass()
            except Exception:
                log.exception("%s: pass failed; retrying in %.0f s", self._name, RETRY_AFTER_ERROR_S)
                delay = RETRY_AFTER_ERROR_S
            if self._stopping:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
