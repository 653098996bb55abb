"""What the benchmarks share about where they run: loopback ports nobody else holds, a folder for one run, and a
SIGTERM that cleans up as Ctrl-C does."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import tempfile
from pathlib import Path

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
