"""The media cache on disk: content-hash names, atomic writes, and the record that makes a clip final.

The files are the cache, so it survives restarts and is shared by every process
on the same directory. A clip `<key>` is `<key>.mp3` and `<key>.ogg`, made final
by `<key>.json` (its duration), written last: a crash at any point leaves either
no record (the clip is synthesized again) or a complete clip. Where replicas share
their media (announcements/mediastore.py), this directory is one replica's cache of it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from announcements.files import atomic_file

FORMAT_VERSION = 1
"""Part of every key: bump it when the rendering changes (chime, loudness, codecs) to re-synthesize."""

MEDIA_FORMATS = ("mp3", "ogg")


def cache_key(**inputs: object) -> str:
    """A stable hash of everything that shapes the clip; the file stem of its media."""
    canonical = json.dumps({"format": FORMAT_VERSION, **inputs}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all, readable by this user only (the server serves media itself)."""
    with atomic_file(path) as f:
        f.write(data)


def keep_by_content(media_dir: Path, data: bytes, extension: str) -> str:
    """Keep an upload (a picture, a recording) in `media_dir` under the sha256 of its bytes, once: the same bytes
    again get the same name. Returns the url `GET /media` serves it at."""
    name = f"{hashlib.sha256(data).hexdigest()}.{extension}"
    path = media_dir / name
    if not path.is_file():
        media_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    return f"/media/{name}"


def clip_names(key: str) -> list[str]:
    """The files of clip `key`, its record last: the order to copy them in (the record makes the clip final)."""
    return [*(f"{key}.{fmt}" for fmt in MEDIA_FORMATS), f"{key}.json"]


def commit(cache_dir: Path, key: str, duration_s: float) -> None:
    """Record a clip whose media files are all written as final."""
    write_atomic(cache_dir / f"{key}.json", json.dumps({"duration_s": duration_s}).encode())


def lookup(cache_dir: Path, key: str) -> float | None:
    """The duration of a final clip, or None when it is not (completely) in the cache."""
    try:
        duration = float(json.loads((cache_dir / f"{key}.json").read_bytes())["duration_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all((cache_dir / f"{key}.{fmt}").is_file() for fmt in MEDIA_FORMATS):
        return None
    return duration
