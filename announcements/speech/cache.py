"""The media cache on disk: content-hash names, atomic writes, and the record that makes a clip final.

The files are the cache, so it survives restarts and is shared by every process
on the same directory. A clip `<key>` is `<key>.mp3` and `<key>.ogg`, made final
by `<key>.json` (its duration), written last: a crash at any point leaves either
no record (the clip is synthesized again) or a complete clip.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

FORMAT_VERSION = 1
"""Part of every key: bump it when the rendering changes (chime, loudness, codecs) to re-synthesize."""

MEDIA_FORMATS = ("mp3", "ogg")


def cache_key(**inputs: object) -> str:
    """A stable hash of everything that shapes the clip; the file stem of its media."""
    canonical = json.dumps({"format": FORMAT_VERSION, **inputs}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it into place.

    mkstemp makes the file readable by this user only, and it stays so: the server serves media itself.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
