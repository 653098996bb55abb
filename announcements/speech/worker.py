"""The speech worker process, and the asyncio side that starts, feeds, times and kills it.

eSpeak NG (through pyttsx3) blocks, keeps process-wide state and can hang, so it
runs in its own interpreter (`python -m announcements.speech`, a fresh spawn,
see `__main__.py`): one JSON line per job on stdin, one JSON line per reply on
stdout. An asyncio subprocess rather than a process pool, because a pool cannot
kill the one job that hangs: here the event loop only ever awaits a pipe, a job
past its timeout is killed with its process, and a dead worker shows as
end-of-file and is replaced on the next job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import SpeechFailed
from .render import RenderJob

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 30.0
"""Time to start the interpreter, import numpy/soundfile/pyttsx3 and initialize eSpeak NG."""

_WORKER_MODULE = __name__.rpartition(".")[0]
"""The package: its `__main__.py` is the worker process."""
# So the child imports this very package even when it is not installed (a source checkout).
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class AttemptFailed(Exception):
    """One attempt at a clip failed in a way a retry may fix; the message says why, for a human."""


class Worker:
    """One worker process, (re)started on demand; one job at a time."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the process and wait until eSpeak NG is loaded; SpeechFailed if it cannot be."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            _WORKER_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            hello = await self._receive(STARTUP_TIMEOUT_S, "start")
            if not hello["ready"]:
                raise SpeechFailed(hello["reason"])
        except AttemptFailed as exc:
            await self.kill()
            raise SpeechFailed(f"the speech worker could not start: {exc}") from exc
        except BaseException:
            await self.kill()
            raise
        log.info("speech worker %d ready, eSpeak NG: %s", self._process.pid, hello["library"])

    async def run(self, job: RenderJob, timeout_s: float | None = None) -> float:
        """Render one clip in the worker and return its duration; AttemptFailed on any failure.

        `timeout_s` overrides the worker's own for a job known to be long (a recording played five times).

        After a failure the process is killed, so a retry starts from a fresh eSpeak.
        """
        try:
            if not self.running:
                await self.start()
            assert self._process is not None and self._process.stdin is not None
            self._process.stdin.write(json.dumps(asdict(job)).encode() + b"\n")
            await self._process.stdin.drain()
            reply = await self._receive(timeout_s or self._timeout_s, "finish")
            if not reply["ok"]:
                raise AttemptFailed(reply["reason"])
            return float(reply["duration_s"])
        except SpeechFailed as exc:  # from start()
            await self.kill()
            raise AttemptFailed(str(exc)) from exc
        except ConnectionError as exc:
            await self.kill()
            raise AttemptFailed(f"lost the speech worker: {exc}") from exc
        except BaseException:
            await self.kill()
            raise

    async def _receive(self, timeout_s: float, doing: str) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        try:
            async with asyncio.timeout(timeout_s):
                line = await self._process.stdout.readline()
        except TimeoutError:
            raise AttemptFailed(
                f"eSpeak NG did not {doing} within {timeout_s:g} s (the worker was killed)"
            ) from None
        if not line:
            code = await self._process.wait()
            raise AttemptFailed(f"the speech worker exited with code {code}")
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            raise AttemptFailed(f"the speech worker sent a malformed reply: {line[:200]!r}") from None
        return message

    async def kill(self) -> None:
        """Kill the process now (a hung eSpeak does not answer anything gentler)."""
        if self.running:
            assert self._process is not None
            self._process.kill()
            await self._process.wait()

    async def close(self) -> None:
        """Let the process finish on end of input, killing it if it does not."""
        if not self.running:
            return
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.close()
        try:
            async with asyncio.timeout(5):
                await self._process.wait()
        except TimeoutError:
            await self.kill()
