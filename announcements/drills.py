"""Drills (演练): how an exercise of an emergency is marked where people meet it.

The marking is applied at the edge, in the title devices are sent (announcements/events.py) and in the words the
loudspeakers say (announcements/voicing.py), so that every device shows and says it, a screen built by others
that ignores the `drill` field included, and nobody under a loudspeaker takes it for a real warning. The stored
title stays the clerk's own. Pure functions, no I/O.
"""

from __future__ import annotations

from announcements.protocol import Language

TITLE_MARK = {Language.ZH: "【演练】", Language.EN: "[DRILL] "}
# Said before and after the notice: someone who hears only its start or only its end still hears that it is a drill.
SPOKEN_OPENING = {Language.ZH: "这是一次演练，不是真实警报。", Language.EN: "This is a drill, not a real emergency. "}
SPOKEN_CLOSING = {Language.ZH: "以上为演练内容，不是真实警报。", Language.EN: " This was a drill, not a real emergency."}
_SENTENCE_END = {Language.ZH: "。", Language.EN: "."}
_ENDS = tuple("。！？.!?")


def _language(language: str) -> Language:
    """The announcement's language; one this side does not know is marked in Chinese, the default."""
    try:
        return Language(language)
    except ValueError:
        return Language.ZH


def marked_title(title: str, language: str) -> str:
    """The title a device shows for a drill: 【演练】 (or [DRILL]) first, once even if the clerk wrote it already."""
    mark = TITLE_MARK[_language(language)]
    return title if title.startswith(mark.strip()) else mark + title


def marked_speech(text: str, language: str) -> str:
    """What the loudspeaker says for a drill: the notice between an opening and a closing that say it is a drill."""
    lang = _language(language)
    text = text.rstrip()
    if not text.endswith(_ENDS):
        text += _SENTENCE_END[lang]
    return f"{SPOKEN_OPENING[lang]}{text}{SPOKEN_CLOSING[lang]}"
