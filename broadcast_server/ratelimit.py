"""A token bucket per key (a screen): what one device may send in a minute, with a burst of the same size.

Used for villagers' replies and for delivery receipts, so one misbehaving device can neither fill
the request log nor make the server write figures as fast as it can send.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from announcements.errors import RateLimited


class RateLimiter:
    """`per_minute` of `what` per key, refilled evenly; 0 means no limit."""

    def __init__(self, per_minute: int, *, what: str, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self._what = what
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._last_prune = clock()

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.per_minute), now))
        return min(float(self.per_minute), tokens + (now - at) * self.per_minute / 60.0)

    def take(self, key: str) -> None:
        """Use one; RateLimited saying in how many seconds one is available again."""
        if self.per_minute <= 0:
            return
        now = self._clock()
        self._prune(now)
        tokens = self._level(key, now)
        if tokens < 1.0:
            retry = max(1, math.ceil((1.0 - tokens) * 60.0 / self.per_minute))
            raise RateLimited(
                f"too many {self._what} from this screen: at most {self.per_minute} a minute; retry in {retry} s",
                retry_after_s=retry,
            )
        self._buckets[key] = (tokens - 1.0, now)

    def refund(self, key: str) -> None:
        """Give one back (what was sent was a resend of something already stored)."""
        if self.per_minute <= 0 or key not in self._buckets:
            return
        now = self._clock()
        self._buckets[key] = (min(float(self.per_minute), self._level(key, now) + 1.0), now)

    def _prune(self, now: float) -> None:
        if now - self._last_prune < 60.0:
            return
        self._last_prune = now
        full_after = 60.0  # an idle minute refills any bucket: forget it
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
