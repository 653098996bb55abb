"""Background loops that stop between passes, never in the middle of one.

A pass may hold a database write transaction; cancelling it there can leave the SQLite write lock
with a connection nobody uses any more, and every later writer waits for it. So `close()` asks the
loop to stop, wakes it, and waits for the pass in progress to end (cancelling only after a timeout).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

RETRY_AFTER_ERROR_S = 1.0


class BackgroundLoop:
    """Runs `one_pass()` again and again; it returns how many seconds to wait before the next pass."""

    def __init__(self, name: str, one_pass: Callable[[], Awaitable[float]]):
        self._name = name
        self._one_pass = one_pass
        self._due = math.inf  # the loop's clock time of the next pass
        self._changed = asyncio.Event()  # `_due` moved earlier, or the loop is stopping
        self._stopping = False
        self._task: asyncio.Task | None = None

    def poke(self) -> None:
        """Run the next pass now instead of at the end of the wait."""
        self.run_within(0.0)

    def run_within(self, seconds: float) -> None:
        """Run the next pass within `seconds` (sooner if it is due sooner): a new deadline learned without
        a pass now. One asked for during a pass counts for the wait after it."""
        due = asyncio.get_running_loop().time() + max(0.0, seconds)
        if due < self._due:
            self._due = due
            self._changed.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def close(self, timeout_s: float = 10.0) -> None:
        if self._task is None:
            return
        self._stopping = True
        self._changed.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=timeout_s)
        except TimeoutError:
            log.warning("%s did not finish its pass within %.0f s; cancelling it", self._name, timeout_s)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        clock = asyncio.get_running_loop().time
        while not self._stopping:
            self._due = math.inf  # from here a poke means "look again after this pass"
            try:
                delay = await self._one_pass()
            except Exception:
                log.exception("%s: pass failed; retrying in %.0f s", self._name, RETRY_AFTER_ERROR_S)
                delay = RETRY_AFTER_ERROR_S
            self._due = min(self._due, clock() + delay)
            while not self._stopping and (remaining := self._due - clock()) > 0:
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=remaining)
                except TimeoutError:
                    pass
