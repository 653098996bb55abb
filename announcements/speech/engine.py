"""eSpeak NG through pyttsx3: find the library, pick the voice, synthesize one text to samples.

Used only inside the speech worker process: pyttsx3 blocks, keeps process-wide
state and can hang or drop a job silently, so every result is checked here and
the caller (another process) owns retries and timeouts.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import os
import tempfile
import threading
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from . import audio
from .errors import SpeechFailed

VOICES: dict[str, str] = {"zh": "sit/cmn", "en": "gmw/en"}
"""eSpeak NG voice for each announcement language (docs/protocol.md §2.9.1 `language`)."""

RATE_RANGE = (80, 450)
"""Words per minute eSpeak NG accepts."""

FINISH_TIMEOUT_S = 600.0
"""Upper bound on one text; the parent kills a slower worker long before, this only ends an orphan."""

# Seconds one unit takes at 170 words per minute, measured on eSpeak NG 1.52
# (a Mandarin syllable ~0.28 s, a digit read out ~0.3-0.5 s, a Latin letter ~0.055 s).
_SECONDS_AT_170 = {"digit": 0.3, "wide": 0.28, "letter": 0.055}


def voice_for(language: str) -> str:
    """The voice for a language tag ("zh", "zh-CN", "en-GB" ...), or SpeechFailed naming the ones we have."""
    voice = VOICES.get(language.strip().lower().replace("_", "-").split("-")[0])
    if voice is None:
        raise SpeechFailed(
            f"no voice for language {language!r}; speech is available for {', '.join(sorted(VOICES))}"
        )
    return voice


def _library() -> tuple[str, str]:
    """Which eSpeak NG library speech uses, the system's or else the bundled one: ("system"|"bundled", path)."""
    system = ctypes.util.find_library("espeak-ng")
    if system:
        return "system", system
    import espeakng_loader

    return "bundled", espeakng_loader.get_library_path()


def load_espeak() -> str:
    """Make pyttsx3's eSpeak driver find a library, preferring the system's; say which one.

    The driver dlopen()s "libespeak-ng.so.1" by name. Without a system library,
    the bundled one from espeakng-loader (same soname) is loaded first with
    RTLD_GLOBAL, so the driver's dlopen by name finds it already in the process;
    its data directory must match it, hence ESPEAK_DATA_PATH is set to the
    bundled data. Must run before pyttsx3's espeak driver is imported.
    """
    kind, library = _library()
    if kind == "bundled":
        import espeakng_loader

        ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
        os.environ["ESPEAK_DATA_PATH"] = espeakng_loader.get_data_path()
    return f"{kind} {library}"


def espeak_version() -> str:
    """The version of the eSpeak NG the workers load ("1.52.0"), for the cache key: a new eSpeak NG re-synthesizes.

    espeak_Info() needs no initialization, so this only loads the library; SpeechFailed if it cannot be.
    """
    try:
        _, library = _library()
        info = ctypes.CDLL(library).espeak_Info
    except (OSError, AttributeError, ImportError) as exc:
        raise SpeechFailed(f"eSpeak NG could not be loaded: {exc}") from exc
    info.restype = ctypes.c_char_p
    info.argtypes = [ctypes.c_void_p]
    return info(None).decode(errors="replace")


def plausible_duration_s(text: str, rate: int) -> tuple[float, float]:
    """The range of speech lengths that says eSpeak read the whole text: far below means a dropped job."""
    units = {"digit": 0, "wide": 0, "letter": 0}
    for char in text:
        if char.isdigit():
            units["digit"] += 1
        elif char.isalpha():
            units["wide" if unicodedata.east_asian_width(char) in "WF" else "letter"] += 1
    nominal = sum(_SECONDS_AT_170[kind] * n for kind, n in units.items()) * 170 / rate
    return 0.3 * nominal, 4.0 * nominal + 3.0


class Engine:
    """One pyttsx3 eSpeak engine for the life of the worker process (eSpeak initializes once per process)."""

    def __init__(self) -> None:
        self.library = load_espeak()
        import pyttsx3  # after load_espeak(): its driver binds the library when first built

        self._tts = pyttsx3.init("espeak")
        from pyttsx3.drivers import _espeak  # the driver's ctypes binding, loaded by init()

        self._espeak = _espeak
        self._errors: list[BaseException] = []
        self._tts.connect("error", self._on_error)
        self._finished = threading.Event()
        self._completed = False
        self._tts.connect("finished-utterance", self._on_finished)
        self._scratch = Path(tempfile.gettempdir()) / f"village-speech-{os.getpid()}.wav"
        # pyttsx3 runs whatever it queued before its first run inside runAndWait(), so eSpeak may still
        # be taking a parameter when the run starts; the driver takes that for speech in progress, cancels
        # it and later the text too. So: wait for eSpeak to be idle, then one empty run, after which
        # pyttsx3 applies commands at once and speak() can wait for eSpeak before each run.
        self._espeak.Synchronize()
        self._tts.runAndWait()
        # Loudness is normalized afterwards, so eSpeak always renders at full scale.
        self._tts.setProperty("volume", 1.0)
        self._rate: int | None = None

    def _on_error(self, exception: BaseException, **_: Any) -> None:
        # pyttsx3 swallows exceptions of queued commands (an unknown voice, ...) and only notifies.
        self._errors.append(exception)

    def _on_finished(self, completed: bool, **_: Any) -> None:
        # In eSpeak's retrieval mode synthesis runs on eSpeak's own thread, and runAndWait() returns
        # after about 10 ms whether or not it is done: a longer text would be lost (pyttsx3's "dropped
        # job"). The driver notifies this, from that thread, once the file is written.
        self._completed = completed
        self._finished.set()

    def speak(self, text: str, *, voice: str, rate: int) -> tuple[np.ndarray, int]:
        """Synthesize `text` to a WAV file and return its samples and rate, or SpeechFailed saying why."""
        self._errors.clear()
        self._finished.clear()
        self._scratch.unlink(missing_ok=True)
        self._tts.setProperty("voice", voice)
        if rate != self._rate:
            self._tts.setProperty("rate", rate)
            self._rate = rate
        # eSpeak takes parameters on its own thread; one still pending when runAndWait() starts would
        # be taken for speech in progress and cancelled with the new text (see __init__).
        self._espeak.Synchronize()
        # The espeak driver print()s a line for every file it saves.
        with contextlib.redirect_stdout(io.StringIO()):
            self._tts.save_to_file(text, str(self._scratch))
            self._tts.runAndWait()
            finished = self._finished.wait(FINISH_TIMEOUT_S)
            # eSpeak's thread is still busy for a moment after that notice: wait until it is idle, for
            # the same reason as above.
            self._espeak.Synchronize()
        if not finished:
            raise SpeechFailed(f"eSpeak NG did not finish the text within {FINISH_TIMEOUT_S:g} s")
        if not self._completed:
            raise SpeechFailed("eSpeak NG stopped before the end of the text")
        if self._errors:
            raise SpeechFailed(f"pyttsx3 reported an error: {self._errors[0]}")
        if self._tts.getProperty("voice") != voice:
            raise SpeechFailed(f"eSpeak NG did not take the voice {voice!r}")
        try:
            if not self._scratch.is_file() or self._scratch.stat().st_size == 0:
                raise SpeechFailed("eSpeak NG produced no audio file for the text")
            samples, sample_rate = sf.read(self._scratch, dtype="float32", always_2d=True)
        finally:
            self._scratch.unlink(missing_ok=True)
        speech = samples.mean(axis=1)
        check(speech, sample_rate, text, rate)
        return speech, sample_rate


def check(speech: np.ndarray, sample_rate: int, text: str, rate: int) -> None:
    """SpeechFailed unless the engine's output is sound, long enough for the text, and not silence."""
    if speech.size == 0:
        raise SpeechFailed("eSpeak NG produced no audio for the text")
    if audio.is_silent(speech):
        raise SpeechFailed("eSpeak NG produced only silence for the text")
    low, high = plausible_duration_s(text, rate)
    length = audio.duration_s(speech, sample_rate)
    if not low <= length <= high:
        raise SpeechFailed(
            f"eSpeak NG produced {length:.1f} s of audio for {len(text)} characters "
            f"where {low:.1f}-{high:.1f} s was expected"
        )
