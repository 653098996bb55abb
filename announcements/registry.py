"""Areas, screens and tokens: who and where the deployment serves."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import covers, leaf_name, lineage
from announcements.errors import Conflict, Invalid, NotFound
from announcements.events import append_disconnect_event
from announcements.kiosk_dwell import tell_screens
from announcements.models import (
    Area,
    AreaCreate,
    AreaUpdate,
    Role,
    Screen,
    ScreenCreate,
    ScreenUpdate,
    Token,
    TokenCreate,
)
from announcements.protocol import CloseCode
from announcements.timeutil import utcnow
from announcements.tokens import Principal, hash_secret, new_secret


async def ensure_area(*, session: AsyncSession, path: str) -> None:
    """Make sure the area and its ancestors exist (named after their last segment until renamed)."""
    for node in lineage(path):
        if await session.get(Area, node) is None:
            session.add(Area(path=node, name=leaf_name(node)))
    await session.flush()


async def create_area(*, session: AsyncSession, data: AreaCreate, principal: Principal) -> Area:
    principal.require_scope(data.path)
    existing = await session.get(Area, data.path)
    if existing is not None and existing.name != leaf_name(existing.path):
        raise Conflict(f"area {data.path} exists already")
    await ensure_area(session=session, path=data.path)
    area = await session.get(Area, data.path)
    area.name = data.name
    session.add(area)
    await session.flush()
    await tell_screens(session=session, path=data.path, with_subtree=False)  # it may have had screens, under its path as name
    return area


async def update_area(*, session: AsyncSession, path: str, data: AreaUpdate, principal: Principal) -> Area:
    """Rename an area (its screens hear the new name) and set the division codes CAP alerts name it by."""
    area = await session.get(Area, path)
    if area is None or not principal.in_scope(path):
        raise NotFound(f"no area {path} in scope")
    if data.name is None and data.geocodes is None:
        raise Invalid("nothing to change: give name or geocodes")
    if data.geocodes is not None:
        await _geocodes_free(session=session, path=path, codes=data.geocodes)
        area.geocodes = data.geocodes
    if data.name is not None:
        area.name = data.name
    session.add(area)
    await session.flush()
    if data.name is not None:
        await tell_screens(session=session, path=path, with_subtree=False)
    return area


async def _geocodes_free(*, session: AsyncSession, path: str, codes: list[str]) -> None:
    """A division code names one area: an alert naming it must not reach two places by a typing slip."""
    if not codes:
        return
    for other in (await session.exec(select(Area).where(Area.path != path))).all():
        taken = sorted(set(codes) & set(other.geocodes or ()))
        if taken:
            msg = f"{', '.join(taken)} is the code of area {other.path} ({other.name}) already"
            raise Conflict(msg, errors=[{"loc": ["geocodes"], "msg": msg, "type": "area_geocode_taken"}])


async def area_names(*, session: AsyncSession) -> dict[str, str]:
    """Every area's name by path: what CSV files and figures show beside (or instead of) a path."""
    return dict((await session.exec(select(Area.path, Area.name))).all())


async def list_areas(*, session: AsyncSession, principal: Principal) -> list[Area]:
    areas = (await session.exec(select(Area).order_by(col(Area.path)))).all()
    return [a for a in areas if principal.in_scope(a.path)]


async def create_token(*, session: AsyncSession, data: TokenCreate) -> tuple[Token, str]:
    """A new token; the secret is returned this once and only its hash is kept."""
    await ensure_area(session=session, path=data.area)
    secret = new_secret()
    token = Token(role=data.role, area=data.area, name=data.name, secret_hash=hash_secret(secret))
    session.add(token)
    await session.flush()
    return token, secret


async def list_tokens(*, session: AsyncSession, principal: Principal) -> list[Token]:
    tokens = (await session.exec(select(Token).where(col(Token.revoked_at).is_(None)).order_by(col(Token.created_at)))).all()
    return [t for t in tokens if principal.in_scope(t.area)]


async def revoke_token(*, session: AsyncSession, token_id: str, principal: Principal) -> Token:
    token = await session.get(Token, token_id)
    if token is None or token.revoked_at is not None or not principal.in_scope(token.area):
        raise NotFound(f"no token {token_id} in scope")
    token.revoked_at = utcnow()
    session.add(token)
    if token.screen_id is not None:
        await append_disconnect_event(session=session, screen_id=token.screen_id, code=CloseCode.UNAUTHORIZED, reason="token revoked")
    return token


async def create_screen(*, session: AsyncSession, data: ScreenCreate) -> tuple[Screen, str]:
    """Register a device and make its screen token (returned this once)."""
    await ensure_area(session=session, path=data.area)
    screen = Screen(name=data.name, area=data.area, kind=data.kind, tags=list(data.tags))
    session.add(screen)
    await session.flush()
    secret = new_secret()
    session.add(
        Token(role=Role.SCREEN, area=data.area, name=data.name, secret_hash=hash_secret(secret), screen_id=screen.id)
    )
    await session.flush()
    return screen, secret


async def active_screens(*, session: AsyncSession, scope: str = "/") -> Sequence[Screen]:
    screens = (
        await session.exec(select(Screen).where(col(Screen.revoked_at).is_(None)).order_by(col(Screen.area), col(Screen.name)))
    ).all()
    return [s for s in screens if covers(scope, s.area)]


async def tags_in_use(*, session: AsyncSession, scope: str = "/") -> list[str]:
    """The tags the active devices in scope carry, sorted: what a target may usefully name."""
    return sorted({tag for screen in await active_screens(session=session, scope=scope) for tag in screen.tags})


async def get_screen(*, session: AsyncSession, screen_id: str, principal: Principal) -> Screen:
    screen = await session.get(Screen, screen_id)
    if screen is None or screen.revoked_at is not None or not principal.in_scope(screen.area):
        raise NotFound(f"no screen {screen_id} in scope")
    return screen


async def update_screen(*, session: AsyncSession, screen_id: str, data: ScreenUpdate, principal: Principal) -> Screen:
    """Rename, move or re-tag a device; a move takes its token's scope along.

    When its targeting changes (area or tags) a live connection is closed with 1001, wherever it is: the
    hub indexes a connection by the area and tags of its handshake, and a new one indexes it anew (§3.11).
    """
    screen = await get_screen(session=session, screen_id=screen_id, principal=principal)
    retarget = False
    if data.area is not None and data.area != screen.area:
        principal.require_scope(data.area)
        await ensure_area(session=session, path=data.area)
        screen.area = data.area
        retarget = True
    if data.tags is not None and sorted(set(data.tags)) != sorted(screen.tags or []):
        screen.tags = sorted(set(data.tags))
        retarget = True
    if data.name is not None:
        screen.name = data.name
    session.add(screen)
    for token in (await session.exec(select(Token).where(Token.screen_id == screen_id))).all():
        token.area, token.name = screen.area, screen.name
        session.add(token)
    if retarget:
        reason = "screen moved or re-tagged; reconnect"
        await append_disconnect_event(session=session, screen_id=screen.id, code=CloseCode.GOING_AWAY, reason=reason)
    return screen


async def revoke_screen(*, session: AsyncSession, screen_id: str, principal: Principal) -> Screen:
    """Retire a device: the screen leaves the lists and its token stops working."""
    screen = await get_screen(session=session, screen_id=screen_id, principal=principal)
    now = utcnow()
    screen.revoked_at = now
    session.add(screen)
    for token in (await session.exec(select(Token).where(Token.screen_id == screen_id))).all():
        token.revoked_at = token.revoked_at or now
        session.add(token)
    await append_disconnect_event(session=session, screen_id=screen.id, code=CloseCode.UNAUTHORIZED, reason="screen removed")
    return screen


async def has_admin(*, session: AsyncSession) -> bool:
    """Whether anyone can administer this deployment yet (a fresh install has no token at all)."""
    query = select(Token.id).where(Token.role == Role.ADMIN, col(Token.revoked_at).is_(None)).limit(1)
    return (await session.exec(query)).first() is not None
