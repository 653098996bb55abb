"""Keyset paging, newest first, for the lists that keep growing (announcements, the request log).

A cursor names the last row of a page by (created_at, key); the next page is what is strictly older.
Unlike offsets, this neither skips nor repeats rows when new ones arrive between pages.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import or_

from announcements.clientinput import text_problem
from announcements.errors import Invalid
from announcements.timeutil import within_client_range

PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200
Row = TypeVar("Row")


class PageQuery(BaseModel):
    """The paging part of a list's query string."""

    limit: int = Field(default=PAGE_LIMIT_DEFAULT, ge=1, le=PAGE_LIMIT_MAX)
    cursor: str | None = Field(default=None, max_length=200)


def encode_cursor(created_at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{key}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """(created_at, key) of a cursor this server gave out; Invalid for anything else (a forged one may
    hold a time at the calendar's edge or a NUL, which would fail in SQL rather than be refused here)."""
    try:
        created, key = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        at = datetime.fromisoformat(created)
        if at.tzinfo is None or not key or text_problem(key):
            raise ValueError(cursor)
        return within_client_range(at), key
    except (ValueError, UnicodeError):
        raise Invalid("cursor is not one this server gave out", errors=[{"loc": ["cursor"], "msg": "invalid cursor"}]) from None


def newest_first(query: Any, *, created: Any, key: Any, cursor: str | None, limit: int) -> Any:
    """The query limited to one page after `cursor`, newest first (one row more, to see if a next page exists)."""
    if cursor:
        at, last_key = decode_cursor(cursor)
        query = query.where(or_(created < at, sa.and_(created == at, key < last_key)))
    return query.order_by(created.desc(), key.desc()).limit(limit + 1)


def split_page(rows: Sequence[Row], *, limit: int, created_of, key_of) -> tuple[list[Row], str | None]:
    """The page's rows and the cursor of the next page (None on the last)."""
    if len(rows) <= limit:
        return list(rows), None
    last = rows[limit - 1]
    return list(rows[:limit]), encode_cursor(created_of(last), key_of(last))
