"""Speech for announcements: text (or a recording) to a chime-led, repeated, loudness-normalized MP3 and Ogg Opus clip.

eSpeak NG (through pyttsx3) runs in worker processes, never on the event loop;
clips are cached on disk under content-hash names (see docs/protocol.md §4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import SpeechFailed

if TYPE_CHECKING:
    from .synthesizer import SpeechResult, SpeechSynthesizer

__all__ = ["SpeechFailed", "SpeechResult", "SpeechSynthesizer"]


def __getattr__(name: str):
    """The synthesizer (eSpeak NG, the encoders, the loudness meter) is loaded when it is first asked for, so that a
    module naming a clip or a recording (`speech.cache`, `speech.recording`) does not load it (PEP 562)."""
    if name in ("SpeechResult", "SpeechSynthesizer"):
        from . import synthesizer

        return getattr(synthesizer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
