"""Quiet hours by area: spans over midnight, inheritance, emergencies never held."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from announcements.quiet_hours import QuietHours

CST = "Asia/Shanghai"


def at(hhmm: str) -> datetime:
    """A moment on 2026-11-25 at Beijing time hh:mm."""
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 11, 25, h, m, tzinfo=ZoneInfo(CST))


@pytest.mark.parametrize(
    "moment, quiet",
    [("21:59", False), ("22:00", True), ("23:30", True), ("03:00", True), ("06:29", True), ("06:30", False), ("12:00", False)],
)
def test_span_over_midnight(moment, quiet):
    """22:00-06:30 is quiet from 22:00 up to, not including, 06:30 local time."""
    hours = QuietHours({"/": "22:00-06:30"}, CST)
    assert hours.for_area("/hongqi").is_quiet(at(moment)) is quiet


def test_nearest_ancestor_wins():
    """A village's own setting overrides the county's; other villages inherit the county's."""
    hours = QuietHours({"/": "22:00-06:30", "/hongqi/liujingtun": "21:00-07:00"}, CST)
    assert hours.for_area("/hongqi/liujingtun/grid-3").to_json()["start"] == "21:00"
    assert hours.for_area("/hongqi/xincun").to_json()["start"] == "22:00"
    assert QuietHours({}, CST).for_area("/hongqi") is None


@pytest.mark.parametrize("priority, held", [("emergency", False), ("high", True), ("normal", True), ("low", True)])
def test_only_emergencies_break_quiet_hours(priority, held):
    """During quiet hours every priority but emergency is held."""
    hours = QuietHours({"/": "22:00-06:30"}, CST)
    assert hours.holds(area="/hongqi", priority=priority, at=at("23:00")) is held


def test_ends_after_gives_the_next_end():
    """A held announcement at 23:00 may play at 06:30 the next morning."""
    span = QuietHours({"/": "22:00-06:30"}, CST).for_area("/")
    end = span.ends_after(at("23:00"))
    assert end.strftime("%H:%M") == "06:30" and (end - at("23:00")).total_seconds() == 7.5 * 3600


@pytest.mark.parametrize("bad", ["22-06", "25:00-06:00", "22:00-22:00", "22:00_06:30"])
def test_bad_spans_are_refused(bad):
    """A malformed span is a configuration error naming it."""
    with pytest.raises(ValueError, match="quiet hours"):
        QuietHours({"/": bad}, CST)
