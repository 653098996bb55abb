"""The server's files are its own user's alone: folders 0700, files 0600.

The database holds villagers' names and phone numbers. New folders and files are created so; ones
an older version (or a wide umask) left open to other users are tightened where they are opened,
and the log says so, so that an upgrade fixes an existing deployment.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """`path` as a folder only this user may use: created so (missing parents too), or tightened.

    A shared folder such as /tmp (sticky bit) is never tightened: that would lock every other user out.
    """
    for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
        missing.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    if path.stat().st_mode & stat.S_ISVTX:
        log.warning("%s is a shared folder (like /tmp) and is left as it is: give the server a folder of its own", path)
    elif _tighten(path, PRIVATE_DIR):
        log.warning("%s was open to other users; now owner only", path)
    return path


def private_file(path: Path) -> None:
    """Create `path` empty and readable by this user only, unless it exists (`private_files` tightens those)."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))


def private_files(paths: Iterable[Path]) -> None:
    """Tighten those of `paths` that exist and are open to other users, in one log line."""
    tightened = [p for p in paths if _tighten(p, PRIVATE_FILE)]
    if tightened:
        shown = ", ".join(str(p) for p in tightened[:3]) + (f" and {len(tightened) - 3} more" if len(tightened) > 3 else "")
        log.warning("%s %s open to other users; now owner only", shown, "was" if len(tightened) == 1 else "were")


def _tighten(path: Path, allowed: int) -> bool:
    """Drop the permission bits beyond `allowed`; True when there were any. A failure is logged, not raised."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if not mode & ~allowed:
            return False
        os.chmod(path, mode & allowed)
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("could not make %s private: %s", path, exc)
        return False
    return True


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file to write that appears at `path` whole or not at all: a temporary file beside it (this user's only,
    as mkstemp makes it), flushed to disk and renamed into place when the block ends; removed on an error."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
