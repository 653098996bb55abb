"""The open-file limit: each screen holds a socket, and a common soft limit of 1024 would cap the screens at that.

A module of its own, importing nothing of the server, so that the benchmarks (and their bare baseline
server) lift the limit the same way `village-broadcast serve` does without loading the application.
"""

from __future__ import annotations

import resource


def raise_open_file_limit() -> int:
    """Lift the soft limit on open files to the hard one; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard
