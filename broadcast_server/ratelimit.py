"""Rate limits per key: a bucket of `limit` that refills evenly over `period_s`; a limit of 0 means none.

A full bucket allows `limit` at once, then one more every `period_s / limit` (a token bucket). Each
key's bucket is kept as one number, the time it is full again (`full_at`, the "theoretical arrival
time" of GCRA): taking one moves it `period_s / limit` later, and taking is refused while that would
put it more than `period_s` ahead of now. A key whose `full_at` has passed holds a full bucket, so
its entry is forgotten.

Two stores of the same buckets:

- `RateLimiter`: this process's memory. A SQLite deployment is one process, so that is all of it.
  Delivery receipts (the hub) are limited this way on every deployment: their limit only bounds the
  writes one screen puts on the process it is connected to, and a screen is connected to one replica.
- `SharedRateLimiter`: the `rate_limit` table on PostgreSQL, so that every replica takes from one
  bucket per key (villagers' replies per screen, failed sign-ins per name and per address): one
  `INSERT ... ON CONFLICT DO UPDATE` per take (about one round trip), atomic under concurrent replicas;
  buckets full again are deleted once a minute by each replica. The table is unlogged: a crash of
  PostgreSQL empties it (every bucket full), which costs a limit nothing it protects. Times are each
  replica's wall clock: a skew between replicas (NTP keeps it to milliseconds) shifts a bucket by as much.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import sqlalchemy as sa

from announcements.database import Database
from announcements.errors import RateLimited

Refusal = Callable[[int], RateLimited]  # the error for "wait this many whole seconds"
_SLACK_S = 1e-6  # float sums of intervals: a bucket "full in 1e-12 s" is full
_MAX_KEYS = 100_000  # an address sweep: forget the oldest keys, not the memory
_PRUNE_EVERY_S = 60.0


class _Bucket:
    """What both stores share: the rule, and the error saying how long to wait."""

    def __init__(self, limit: int, *, what: str, period_s: float, refusal: Refusal | None):
        self.limit = limit
        self.period_s = period_s
        self._what = what
        self._interval = period_s / limit if limit > 0 else 0.0
        self._refusal = refusal or self._per_minute_refusal

    def _per_minute_refusal(self, retry: int) -> RateLimited:
        return RateLimited(
            f"too many {self._what} from this screen: at most {self.limit} a minute; retry in {retry} s",
            retry_after_s=retry,
        )

    def _refused(self, wait_s: float) -> RateLimited:
        return self._refusal(max(1, math.ceil(wait_s - _SLACK_S)))


class RateLimiter(_Bucket):
    """The buckets in this process's memory. `take`/`refund` for callers that cannot wait (the hub's receipts);
    `acquire`/`release`/`forget` are the interface `SharedRateLimiter` has too."""

    def __init__(
        self, limit: int, *, what: str, period_s: float = 60.0, refusal: Refusal | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(limit, what=what, period_s=period_s, refusal=refusal)
        self._clock = clock
        self._full_at: dict[str, float] = {}
        self._last_prune = clock()

    def take(self, key: str) -> None:
        """Use one; RateLimited saying in how many seconds one is available again."""
        if self.limit <= 0:
            return
        now = self._clock()
        self._prune(now)
        full_at = max(self._full_at.get(key, now), now) + self._interval
        wait_s = full_at - now - self.period_s
        if wait_s > _SLACK_S:
            raise self._refused(wait_s)
        self._full_at[key] = full_at

    def refund(self, key: str) -> None:
        """Give one back (what was sent was a resend of something already stored)."""
        if key in self._full_at:
            self._full_at[key] -= self._interval

    async def acquire(self, key: str) -> None:
        self.take(key)

    async def release(self, key: str) -> None:
        self.refund(key)

    async def forget(self, key: str) -> None:
        """A full bucket again (a successful sign-in clears its name's failures)."""
        self._full_at.pop(key, None)

    def _prune(self, now: float) -> None:
        if len(self._full_at) > _MAX_KEYS:
            self._full_at = dict(list(self._full_at.items())[_MAX_KEYS // 2:])
        if now - self._last_prune < _PRUNE_EVERY_S:
            return
        self._last_prune = now
        self._full_at = {key: full_at for key, full_at in self._full_at.items() if full_at > now}


# One statement per take. The CTE reads the table as it was before the upsert, so `held` gives the
# refused caller its wait without a second round trip.
_TAKE = sa.text("""
WITH taken AS (
    INSERT INTO rate_limit AS b (key, full_at) VALUES (:key, :now + :interval)
    ON CONFLICT (key) DO UPDATE SET full_at = GREATEST(b.full_at, :now) + :interval
    WHERE GREATEST(b.full_at, :now) + :interval <= :latest
    RETURNING full_at
)
SELECT (SELECT full_at FROM taken) AS taken, (SELECT full_at FROM rate_limit WHERE key = :key) AS held
""").bindparams(
    sa.bindparam("key", type_=sa.String), *(sa.bindparam(name, type_=sa.Float) for name in ("now", "interval", "latest"))
)
_RELEASE = sa.text("UPDATE rate_limit SET full_at = full_at - :interval WHERE key = :key").bindparams(
    sa.bindparam("key", type_=sa.String), sa.bindparam("interval", type_=sa.Float)
)
_FORGET = sa.text("DELETE FROM rate_limit WHERE key = :key").bindparams(sa.bindparam("key", type_=sa.String))
_PRUNE = sa.text("DELETE FROM rate_limit WHERE full_at <= :now").bindparams(sa.bindparam("now", type_=sa.Float))


class SharedRateLimiter(_Bucket):
    """The buckets in the database (PostgreSQL), shared by every replica; keys are prefixed with `what`."""

    def __init__(
        self, limit: int, *, what: str, db: Database, period_s: float = 60.0, refusal: Refusal | None = None,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(limit, what=what, period_s=period_s, refusal=refusal)
        self._engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")  # one statement: no BEGIN/COMMIT
        self._clock = clock
        self._last_prune = 0.0

    async def _run(self, statement: sa.TextClause, **params) -> sa.Row | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(statement, params)
            return result.first() if result.returns_rows else None

    async def acquire(self, key: str) -> None:
        """Use one; RateLimited saying in how many seconds one is available again."""
        if self.limit <= 0:
            return
        now = self._clock()
        if now - self._last_prune >= _PRUNE_EVERY_S:
            self._last_prune = now
            await self._run(_PRUNE, now=now)
        row = await self._run(
            _TAKE, key=f"{self._what}:{key}", now=now, interval=self._interval, latest=now + self.period_s + _SLACK_S
        )
        if row.taken is None:
            # refused: `held` is the bucket as the upsert found it (None if pruned meanwhile: retry at once)
            raise self._refused((row.held or now) + self._interval - now - self.period_s)

    async def release(self, key: str) -> None:
        if self.limit > 0:
            await self._run(_RELEASE, key=f"{self._what}:{key}", interval=self._interval)

    async def forget(self, key: str) -> None:
        if self.limit > 0:
            await self._run(_FORGET, key=f"{self._what}:{key}")


def rate_limiter(
    limit: int, *, what: str, db: Database, period_s: float = 60.0, refusal: Refusal | None = None
) -> RateLimiter | SharedRateLimiter:
    """Shared by the replicas on PostgreSQL; in this process's memory on SQLite (one process)."""
    if db.is_sqlite:
        return RateLimiter(limit, what=what, period_s=period_s, refusal=refusal)
    return SharedRateLimiter(limit, what=what, db=db, period_s=period_s, refusal=refusal)
