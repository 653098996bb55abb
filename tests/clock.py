"""The one clock tests hand the server and the screen client instead of the wall clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from announcements.timeutil import utcnow


class SettableClock:
    """The real time until a test sets `at` (a fixed instant), moved forward by `shift` (a session expiring,
    a request going overdue, quiet hours beginning)."""

    def __init__(self, at: datetime | None = None):
        self.at = at
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return (self.at or utcnow()) + self.shift
