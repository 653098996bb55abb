"""Drills (演练): a drill is always an emergency, and its title and its speech say it is a drill; nothing else changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from announcements.drills import SPOKEN_CLOSING, SPOKEN_OPENING, marked_title
from announcements.events import announcement_payload
from announcements.models import Announcement, AnnouncementCreate
from announcements.protocol import Language, Priority
from announcements.voicing import spoken_text


def notice(*, drill: bool, title: str = "山洪转移", body: str = "请沿村东路转移到学校操场", language: str = "zh") -> Announcement:
    return Announcement(
        title=title, body=body, language=language, priority=Priority.EMERGENCY, drill=drill, area="/hongqi",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


def test_a_drill_is_an_emergency_when_no_priority_is_given() -> None:
    """drill true alone posts an emergency; an old-style post stays what it was (normal, not a drill)."""
    drill = AnnouncementCreate.model_validate({"title": "演练", "body": "转移", "drill": True})
    assert (drill.priority, drill.drill) == (Priority.EMERGENCY, True)
    old = AnnouncementCreate.model_validate({"title": "通知", "body": "开会"})
    assert (old.priority, old.drill) == (Priority.NORMAL, False)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"priority": "normal"}, "drill_not_emergency"),
        ({"priority": "high"}, "drill_not_emergency"),
        ({"priority": "emergency", "recording": "/media/" + "a" * 64 + ".flac"}, "drill_recording"),
    ],
    ids=["normal", "high", "recording"],
)
def test_a_drill_that_is_not_an_emergency_or_has_a_recording_is_refused(fields: dict, code: str) -> None:
    """An explicit priority other than emergency, or a recording (which would not say 演练), is refused by code."""
    with pytest.raises(ValidationError) as refused:
        AnnouncementCreate.model_validate({"title": "演练", "body": "转移", "drill": True, **fields})
    assert [e["type"] for e in refused.value.errors()] == [code]


@pytest.mark.parametrize(
    ("title", "language", "shown"),
    [
        ("山洪转移", "zh", "【演练】山洪转移"),
        ("【演练】山洪转移", "zh", "【演练】山洪转移"),  # the clerk wrote it already: once
        ("Flood evacuation", "en", "[DRILL] Flood evacuation"),
    ],
)
def test_the_title_a_device_shows_starts_with_the_marking(title: str, language: str, shown: str) -> None:
    assert marked_title(title, language) == shown


def test_devices_are_sent_the_marked_title_and_the_flag_while_the_stored_title_stays() -> None:
    drill = notice(drill=True)
    sent = announcement_payload(drill)["announcement"]
    assert (sent["title"], sent["drill"], sent["priority"]) == ("【演练】山洪转移", True, "emergency")
    assert drill.title == "山洪转移"
    real = announcement_payload(notice(drill=False))["announcement"]
    assert (real["title"], real["drill"]) == ("山洪转移", False)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_loudspeaker_says_drill_before_and_after_the_notice(language: str) -> None:
    """The words (and so the speech cache key, made from them) differ from the real notice's: marked at both ends."""
    body = "请沿村东路转移到学校操场" if language == "zh" else "Go to the school playground"
    real = spoken_text(notice(drill=False, body=body, language=language))
    drill = spoken_text(notice(drill=True, body=body, language=language))
    opening, closing = SPOKEN_OPENING[Language(language)], SPOKEN_CLOSING[Language(language)]
    assert drill.startswith(opening) and drill.endswith(closing)
    assert real in drill and drill != real
    assert drill[len(opening) : -len(closing)].rstrip(".。") == real  # the notice itself, ended as a sentence
