"""Speech for announcements: text (or a recording) to a chime-led, repeated, loudness-normalized MP3 and Ogg Opus clip.

eSpeak NG (through pyttsx3) runs in worker processes, never on the event loop;
clips are cached on disk under content-hash names (see docs/protocol.md §4).
"""

from .errors import SpeechFailed
from .synthesizer import SpeechResult, SpeechSynthesizer

__all__ = ["SpeechFailed", "SpeechResult", "SpeechSynthesizer"]
