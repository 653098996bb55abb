"""What the benchmarks share about where they run: loopback ports nobody else holds, a folder for one run, an
open-file limit that holds the screens, and a run that cleans up on Ctrl-C or SIGTERM and says why it failed."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from broadcast_server.openfiles import raise_open_file_limit

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on HOST right now, for a server the benchmark is about to start."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def cancel_on_sigterm() -> None:
    """SIGTERM cancels the running task, as Ctrl-C does, so its clean-up (servers, clients, folders) runs."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)


def run_folder(stack: contextlib.AsyncExitStack, prefix: str, *, keep: bool) -> Path:
    """A temporary folder for one run, removed when `stack` closes, or kept (and its path printed) with --keep."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    stack.callback(lambda: print(f"kept {workdir}", flush=True) if keep else shutil.rmtree(workdir, ignore_errors=True))
    return workdir


def screens_fit(screens: int, client_procs: int = 1) -> bool:
    """Whether the open-file limit (raised to the hard one) holds `screens` sockets in one process and each client
    process's share of them; if not, says so."""
    hard = raise_open_file_limit()
    if screens // client_procs + 2 + 64 > hard or screens + 64 > hard:
        print(f"error: the open-file hard limit is {hard}; {screens} screens need more (ulimit -Hn)", file=sys.stderr)
        return False
    return True


def run_benchmark(main_async: Callable[..., Awaitable[int]], args) -> int:
    """`main_async(args)`'s exit code; 130 when interrupted (its clean-up has run), 1 with the reason when it failed."""
    try:
        return asyncio.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
