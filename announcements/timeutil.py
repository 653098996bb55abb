"""Time in one place: aware UTC datetimes everywhere, a clock that tests can replace, and the one type
for every time a client sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
from pydantic import AfterValidator, AwareDatetime
from sqlalchemy.types import TypeDecorator

# Times a client may send. Python's datetime ends at years 1 and 9999, so `0001-01-01T00:00:00+01:00`
# overflows when converted to UTC, and 9999-12-31 when a lifetime or a deadline is added to it. A
# thousand years from each end leaves room for any offset and any sane duration.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def within_client_range(value: datetime) -> datetime:
    """`value` (aware) when it lies between EARLIEST and LATEST; ValueError naming the range otherwise."""
    if not EARLIEST <= value <= LATEST:  # comparing aware datetimes never overflows; converting could
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%dT%H:%M:%SZ} and {LATEST:%Y-%m-%dT%H:%M:%SZ}")
    return value


ClientDateTime = Annotated[AwareDatetime, AfterValidator(within_client_range)]
"""An RFC 3339 time with an offset, from a client: the type of every such field and query parameter."""


def within_client_wall_range(value: datetime) -> datetime:
    """As `within_client_range`, for a wall-clock time that may come without an offset (read in a zone given beside it)."""
    if value.tzinfo is not None:
        return within_client_range(value)
    return within_client_range(value.replace(tzinfo=UTC)).replace(tzinfo=None)


ClientWallTime = Annotated[datetime, AfterValidator(within_client_wall_range)]
"""A local time from a client, with or without an offset (a schedule's `dtstart`), within the same range."""


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as naive UTC (SQLite keeps no offset) and returns them aware again."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
