"""The speech worker process (`python -m announcements.speech`), started and fed by `worker.Worker`.

Protocol: one JSON line on stdout when ready (or not: eSpeak NG could not be
loaded), then for each `RenderJob` read as a JSON line from stdin, one reply
line. End of stdin ends the process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import Any

from .engine import Engine
from .errors import SpeechFailed
from .render import RenderJob, render


def main() -> None:
    """Load eSpeak NG, say ready, then render jobs from stdin until it closes."""
    # The parent owns this process's life; Ctrl-C in a terminal is for the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Speech is background work: on a small box the server's event loop gets the CPU first.
    os.nice(10)
    # Replies get the real stdout; anything else printed (pyttsx3, eSpeak) goes to stderr.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message).encode() + b"\n")
        replies.flush()

    try:
        engine = Engine()
    except Exception as exc:
        reply({"ready": False, "reason": f"eSpeak NG could not be loaded: {exc}"})
        return
    reply({"ready": True, "library": engine.library})
    for line in sys.stdin.buffer:
        job = RenderJob(**json.loads(line))
        try:
            reply({"ok": True, "duration_s": render(job, engine)})
        except SpeechFailed as exc:
            reply({"ok": False, "reason": str(exc)})
        except Exception as exc:
            traceback.print_exc()
            reply({"ok": False, "reason": f"the speech worker failed: {exc!r}"})


if __name__ == "__main__":
    main()
