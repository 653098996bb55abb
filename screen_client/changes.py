"""A signal that something changed, for whoever waits on a state they read (the display, the CLI, the tests).

Every waiter wakes on each change and looks again: `next` is taken before looking, so a change made between
the look and the wait is not missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Changes:
    def __init__(self) -> None:
        self._next = asyncio.Event()

    @property
    def next(self) -> asyncio.Event:
        """Set by the next change: take it, look at the state, then wait on it."""
        return self._next

    def notify(self) -> None:
        """Something changed: wake every waiter."""
        changed, self._next = self._next, asyncio.Event()
        changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until `predicate()` holds, looking again after every change; TimeoutError after `timeout`."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._next
                if predicate():
                    return
                await changed.wait()
