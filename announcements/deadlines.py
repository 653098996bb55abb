"""Deadlines of the request log: per category, one for the first response and one for resolution.

The defaults follow 12345 hotline practice (urgent matters 2 hours, water, power and roads 24
hours, general matters 7 days, complex ones 15 days), mapped onto the categories of docs/protocol.md §3.7:

| category     | first response | resolution | why                                                   |
| ------------ | -------------- | ---------- | ----------------------------------------------------- |
| `help`       | 2 h            | 24 h       | a villager asking for help is treated as urgent       |
| `complaint`  | 24 h           | 7 days     | like a water, power or road fault, then general work  |
| `question`   | 24 h           | 7 days     | answering is the resolution; general matter           |
| `other`      | 24 h           | 7 days     | general matter                                        |
| `dispute`    | 24 h           | 15 days    | mediation between villagers: a complex matter         |
| `suggestion` | 7 days         | 15 days    | weighed at a committee meeting: a complex matter      |

A request's deadlines are fixed when it is taken in (`response_due_at`, `resolution_due_at`), so a
later change of the settings does not move the goalposts of requests already in the log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from announcements.protocol import RequestCategory


class Deadline(BaseModel):
    """How long the committee has for one category, in hours."""

    model_config = ConfigDict(extra="forbid")

    response_hours: float = Field(gt=0, le=24 * 365)
    resolution_hours: float = Field(gt=0, le=24 * 365)

    def response_due(self, created_at: datetime) -> datetime:
        return created_at + timedelta(hours=self.response_hours)

    def resolution_due(self, created_at: datetime) -> datetime:
        return created_at + timedelta(hours=self.resolution_hours)


DEFAULT_DEADLINES: dict[str, Deadline] = {
    RequestCategory.HELP: Deadline(response_hours=2, resolution_hours=24),
    RequestCategory.COMPLAINT: Deadline(response_hours=24, resolution_hours=7 * 24),
    RequestCategory.QUESTION: Deadline(response_hours=24, resolution_hours=7 * 24),
    RequestCategory.OTHER: Deadline(response_hours=24, resolution_hours=7 * 24),
    RequestCategory.DISPUTE: Deadline(response_hours=24, resolution_hours=15 * 24),
    RequestCategory.SUGGESTION: Deadline(response_hours=7 * 24, resolution_hours=15 * 24),
}


def default_deadlines() -> dict[str, Deadline]:
    return dict(DEFAULT_DEADLINES)


def merge_deadlines(given: dict[str, Deadline]) -> dict[str, Deadline]:
    """The defaults with the configured categories replaced; an unknown category is an error."""
    unknown = sorted(set(given) - set(RequestCategory))
    if unknown:
        raise ValueError(f"unknown request categories {', '.join(unknown)}; known: {', '.join(RequestCategory)}")
    for category, deadline in given.items():
        if deadline.resolution_hours < deadline.response_hours:
            raise ValueError(f"{category}: resolution_hours must not be shorter than response_hours")
    return {**DEFAULT_DEADLINES, **given}
