"""How long a kiosk shows each notice before the next: a setting per area, inherited by the areas below."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import lineage
from announcements.errors import NotFound
from announcements.models import Area
from announcements.tokens import Principal


async def name_and_dwell(*, session: AsyncSession, area: str) -> tuple[str | None, int | None]:
    """What a screen's welcome says of its area, in one read of the area and its ancestors: its name (None if
    not on record), and the dwell of the area or its nearest ancestor that sets one (None: the kiosk's default)."""
    nodes = lineage(area)
    rows = (await session.exec(select(Area.path, Area.name, Area.kiosk_dwell_s).where(col(Area.path).in_(nodes)))).all()
    name = next((n for path, n, _ in rows if path == area), None)
    dwell = {path: seconds for path, _, seconds in rows if seconds is not None}
    return name, next((dwell[node] for node in reversed(nodes) if node in dwell), None)


async def inherited_dwells(*, session: AsyncSession, paths: Iterable[str]) -> dict[str, int | None]:
    """For each area, the dwell it has when it sets none: its nearest ancestor's (None: the kiosk's default), so
    the console can show it even where that ancestor is outside the reader's scope."""
    rows = (await session.exec(select(Area.path, Area.kiosk_dwell_s).where(col(Area.kiosk_dwell_s).is_not(None)))).all()
    dwell: dict[str, int | None] = dict(rows)
    return {path: next((dwell[node] for node in reversed(lineage(path)[:-1]) if node in dwell), None) for path in paths}


async def set_kiosk_dwell(*, session: AsyncSession, path: str, seconds: int | None, principal: Principal) -> Area:
    area = await session.get(Area, path)
    if area is None or not principal.in_scope(path):
        raise NotFound(f"no area {path} in scope")
    area.kiosk_dwell_s = seconds
    session.add(area)
    await session.flush()
    return area
