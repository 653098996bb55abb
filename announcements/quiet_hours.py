"""Quiet hours: times of day when loudspeakers stay silent except for emergencies.

Configured per area ("22:00-06:30"); an area without its own setting takes its nearest ancestor's.
A held announcement plays when the quiet hours end, if it is still live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from announcements.areas import lineage, normalize_area
from announcements.protocol import Priority

_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class QuietSpan:
    """A daily span in local time; it may run past midnight (22:00-06:30)."""

    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, zone: ZoneInfo) -> QuietSpan:
        match = _SPAN.match(text.strip())
        if not match:
            raise ValueError(f"quiet hours {text!r} must look like 22:00-06:30")
        h1, m1, h2, m2 = map(int, match.groups())
        if (h1, m1) == (h2, m2):
            raise ValueError(f"quiet hours {text!r} start and end at the same time")
        return cls(time(h1, m1), time(h2, m2), zone)

    def is_quiet(self, at: datetime) -> bool:
        local = at.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, at: datetime) -> datetime:
        """The next end of quiet hours after `at` (when a held announcement may play)."""
        local = at.astimezone(self.zone)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end

    @classmethod
    def from_json(cls, data: dict) -> QuietSpan:
        return cls.parse(f"{data['start']}-{data['end']}", ZoneInfo(data["timezone"]))

    def to_json(self) -> dict:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M"), "timezone": self.zone.key}


class QuietHours:
    """The configured spans by area, looked up by the nearest configured ancestor."""

    def __init__(self, spans: dict[str, str], timezone: str):
        zone = ZoneInfo(timezone)
        self._spans = {normalize_area(area): QuietSpan.parse(text, zone) for area, text in spans.items() if text}

    def for_area(self, area: str) -> QuietSpan | None:
        for node in reversed(lineage(area)):
            if node in self._spans:
                return self._spans[node]
        return None

    def holds(self, *, area: str, priority: str, at: datetime) -> bool:
        """True when an announcement of this priority must wait in this area now."""
        span = self.for_area(area)
        return priority != Priority.EMERGENCY and span is not None and span.is_quiet(at)
