"""`village-broadcast serve` as a separate process: for tests that kill it, or that need the real command."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from broadcast_server.settings import Settings

SERVE = [sys.executable, "-m", "broadcast_server.cli", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env_value(value) -> str:
    """A setting as pydantic-settings reads it from the environment (JSON for anything but a plain string)."""
    return value if isinstance(value, str) else json.dumps(value)


class ServerProcess:
    """`village-broadcast serve` on loopback, started, killed and restarted by the test."""

    def __init__(self, settings: Settings, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        # The server's environment: the settings the test set (the rest stay shipped defaults), on this
        # port; a test may add VB_* settings before start().
        given = settings.model_dump(mode="json", include=settings.model_fields_set)
        self.env = {
            **os.environ,
            **{f"VB_{name.upper()}": _env_value(value) for name, value in given.items()},
            "VB_HOST": "127.0.0.1",
            "VB_PORT": str(self.port),
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        log = open(self._log_path, "ab")
        self.process = subprocess.Popen(SERVE, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self._log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not listen within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing; what was committed must survive."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, as systemd stops the unit; the exit code once the server has shut down."""
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


