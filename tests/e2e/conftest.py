"""The server as a separate process, for tests that kill it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from broadcast_server.settings import Settings

SERVE = [sys.executable, "-m", "broadcast_server.cli", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`village-broadcast serve` on loopback, started, killed and restarted by the test."""

    def __init__(self, settings: Settings, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self.env = {  # the server's environment; a test may add VB_* settings before start()
            **os.environ,
            "VB_HOST": "127.0.0.1",
            "VB_PORT": str(self.port),
            "VB_DATA_DIR": str(settings.data_dir),
            "VB_DELIVERY_FLUSH_S": "0.1",
            "VB_EVENT_POLL_S": "0.5",
            "VB_SPEECH_ENABLED": "true" if settings.speech_enabled else "false",
        }
        if settings.database_url:
            self.env["VB_DATABASE_URL"] = settings.database_url
        if settings.database_schema:
            self.env["VB_DATABASE_SCHEMA"] = settings.database_schema
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

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def server_process(settings, tmp_path):
    server = ServerProcess(settings, tmp_path / "server.log")
    yield server
    server.stop()
