"""How long a kiosk shows each notice before the next: a setting per area, inherited by the areas below; and what
a screen is told of its area (its name and that dwell), at hello and whenever either changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import in_area_subtree, lineage
from announcements.errors import NotFound
from announcements.events import AREA, append_event
from announcements.models import Area
from announcements.protocol import AreaInfo
from announcements.targeting import Target
from announcements.tokens import Principal


def _nearest(dwell: Mapping[str, int], nodes: list[str]) -> int | None:
    """The dwell of the deepest of `nodes` (a lineage, root first) that sets one; None: the kiosk's default."""
    return next((dwell[node] for node in reversed(nodes) if node in dwell), None)


async def area_infos(*, session: AsyncSession, areas: Iterable[str]) -> dict[str, AreaInfo]:
    """For each area, in one read of the areas and their ancestors: its name (None if not on record), and the
    dwell of the area or its nearest ancestor that sets one (None: the kiosk's default)."""
    areas = list(areas)
    nodes = {node for area in areas for node in lineage(area)}
    rows = (await session.exec(select(Area.path, Area.name, Area.kiosk_dwell_s).where(col(Area.path).in_(nodes)))).all()
    names = {path: name for path, name, _ in rows}
    dwell = {path: seconds for path, _, seconds in rows if seconds is not None}
    return {
        area: AreaInfo(area_name=names.get(area), kiosk_dwell_s=_nearest(dwell, lineage(area))) for area in areas
    }


async def name_and_dwell(*, session: AsyncSession, area: str) -> tuple[str | None, int | None]:
    """What a screen's welcome says of its area."""
    info = (await area_infos(session=session, areas=[area]))[area]
    return info.area_name, info.kiosk_dwell_s


async def tell_screens(*, session: AsyncSession, path: str, with_subtree: bool) -> None:
    """An `area` event in the caller's transaction, so connected screens under `path` show its new name or dwell
    at once rather than at their next hello: `path` alone after a rename (names are not inherited), every area
    under it after a new dwell (they inherit it)."""
    areas = [path]
    if with_subtree:
        areas = list((await session.exec(select(Area.path).where(in_area_subtree(col(Area.path), path)))).all())
    infos = await area_infos(session=session, areas=areas)
    payload = {"areas": {area: info.model_dump() for area, info in infos.items()}}
    await append_event(session=session, type=AREA, target=Target(areas=(path,)), payload=payload)


async def inherited_dwells(*, session: AsyncSession, paths: Iterable[str]) -> dict[str, int | None]:
    """For each area, the dwell it has when it sets none: its nearest ancestor's (None: the kiosk's default), so
    the console can show it even where that ancestor is outside the reader's scope."""
    rows = (await session.exec(select(Area.path, Area.kiosk_dwell_s).where(col(Area.kiosk_dwell_s).is_not(None)))).all()
    dwell = dict(rows)
    return {path: _nearest(dwell, lineage(path)[:-1]) for path in paths}


async def set_kiosk_dwell(*, session: AsyncSession, path: str, seconds: int | None, principal: Principal) -> Area:
    area = await session.get(Area, path)
    if area is None or not principal.in_scope(path):
        raise NotFound(f"no area {path} in scope")
    area.kiosk_dwell_s = seconds
    session.add(area)
    await session.flush()
    await tell_screens(session=session, path=path, with_subtree=True)
    return area
