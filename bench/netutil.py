"""Loopback helpers the benchmarks share: they talk only to this machine, on ports nobody else holds."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on HOST right now, for a server the benchmark is about to start."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]
