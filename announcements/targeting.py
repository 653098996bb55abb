"""Which screens an event is for.

A target names areas, tags and screens. A screen is targeted when its id is listed, or when
it sits in an area covered by one of the areas and (if tags are given) carries one of the tags.
Tags without areas narrow the poster's own area. An empty target means the poster's area.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col

from announcements.areas import covers, in_area_subtree
from announcements.models import Screen


@dataclass(frozen=True, slots=True)
class Target:
    areas: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    screens: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict | None) -> Target:
        data = data or {}
        return cls(
            areas=tuple(data.get("areas") or ()),
            tags=tuple(data.get("tags") or ()),
            screens=tuple(data.get("screens") or ()),
        )

    def to_json(self) -> dict:
        return {"areas": list(self.areas), "tags": list(self.tags), "screens": list(self.screens)}

    def with_default_area(self, area: str) -> Target:
        """Fill in the poster's area where the target names no area of its own."""
        if self.areas or (self.screens and not self.tags):
            return self
        return Target(areas=(area,), tags=self.tags, screens=self.screens)

    def covers_area(self, area: str) -> bool:
        return any(covers(a, area) for a in self.areas)

    def matches(self, *, screen_id: str, area: str, tags: Iterable[str]) -> bool:
        """True when this target reaches the screen described."""
        if screen_id in self.screens:
            return True
        if not self.covers_area(area):
            return False
        return not self.tags or not set(self.tags).isdisjoint(tags)


def reach_condition(target: Target) -> sa.ColumnElement[bool]:
    """SQL on `Screen` for the active devices `target` reaches: exactly those when it names no tags, else a superset
    that `Target.matches` narrows row by row (tags are a JSON list, searched differently by SQLite and PostgreSQL)."""
    reached = [in_area_subtree(col(Screen.area), area) for area in target.areas]
    if target.screens:
        reached.append(col(Screen.id).in_(target.screens))
    return sa.and_(col(Screen.revoked_at).is_(None), sa.or_(sa.false(), *reached))
