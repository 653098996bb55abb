"""Area paths: the administrative tree (`/`, `/hongqi`, `/hongqi/liujingtun/grid-3`).

An area *covers* itself and every area below it, by whole path segments.
"""

from __future__ import annotations

import re

ROOT = "/"
_SEGMENT = re.compile(r"^[\w-]{1,64}$")
MAX_DEPTH = 8


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
        if not _SEGMENT.match(segment):
            raise ValueError(
                f"area path segment {segment!r} may hold only letters, digits, '_' and '-' (1-64 of them)"
            )
    return "/" + "/".join(segments)


def covers(scope: str, path: str) -> bool:
    """True when `scope` is `path` or one of its ancestors (`/a/b` covers `/a/b/c`, not `/a/bc`)."""
    if scope == ROOT or scope == path:
        return True
    return path.startswith(scope + "/")


def lineage(path: str) -> list[str]:
    """The path and all its ancestors, root first: `/a/b` -> ['/', '/a', '/a/b']."""
    if path == ROOT:
        return [ROOT]
    parts = path.strip("/").split("/")
    return [ROOT] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def leaf_name(path: str) -> str:
    """The last segment, used as a default display name for an area created implicitly."""
    return path.rsplit("/", 1)[-1] or "/"
