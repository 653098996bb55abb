"""The one exception the speech package raises to its callers."""


class SpeechFailed(Exception):
    """An announcement could not be turned into audio; the message says why, for a human."""
