"""Area paths: the administrative tree (`/`, `/hongqi`, `/hongqi/liujingtun/grid-3`).

An area *covers* itself and every area below it, by whole path segments. A path is an id for
machines (people read the area's name), so it is kept to one spelling: segments of lowercase ASCII
letters, digits, `-` and `_`. There are no case or width variants of a path to confuse a scope
check, and `covers` (Python) and `in_area_subtree` (SQL) compare bytes exactly on every database.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy import func, or_

ROOT = "/"
MAX_DEPTH = 8
SEGMENT_PATTERN = r"[a-z0-9_-]{1,64}"
# The whole rule as one regular expression, for documents (OpenAPI) and forms.
AREA_PATTERN = rf"^/$|^(/{SEGMENT_PATTERN}){{1,{MAX_DEPTH}}}$"
_SEGMENT = re.compile(SEGMENT_PATTERN)


def normalize_area(path: str) -> str:
    """Return the canonical form of an area path, or raise ValueError naming what is wrong."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("an area path starts with '/', for example /hongqi/liujingtun")
    stripped = path.strip("/")
    if not stripped:
        return ROOT
    segments = stripped.split("/")
    if len(segments) > MAX_DEPTH:
        raise ValueError(f"an area path has at most {MAX_DEPTH} levels")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"area path segment {segment!r} may hold only lowercase letters a-z, digits, '_' and '-' (1-64 of them)"
            )
    return "/" + "/".join(segments)


def covers(scope: str, path: str) -> bool:
    """True when `scope` is `path` or one of its ancestors (`/a/b` covers `/a/b/c`, not `/a/bc`)."""
    if scope == ROOT or scope == path:
        return True
    return path.startswith(scope + "/")


def in_area_subtree(column, scope: str):
    """SQL form of `covers(scope, column)`: exact and case-sensitive on SQLite and PostgreSQL alike.

    Not LIKE: SQLite's LIKE ignores ASCII case, so `/a/b` would see `/A/B/x`.
    """
    if scope == ROOT:
        return sa.true()
    prefix = scope + "/"
    return or_(column == scope, func.substr(column, 1, len(prefix)) == prefix)


def lineage(path: str) -> list[str]:
    """The path and all its ancestors, root first: `/a/b` -> ['/', '/a', '/a/b']."""
    if path == ROOT:
        return [ROOT]
    parts = path.strip("/").split("/")
    return [ROOT] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def leaf_name(path: str) -> str:
    """The last segment, used as a default display name for an area created implicitly."""
    return path.rsplit("/", 1)[-1] or "/"
