"""The screens a hello may come from, held in memory, so a storm of hellos costs no query (issue 13, §2).

After a restart or a network cut, thousands of screens say hello within seconds; each used to cost a read
of its token, its screen and its area. The directory reads every live screen token once at start, and
answers a hello from memory. It stays current by the events that change what a hello is answered:

- a token revoked, a screen removed, moved or re-tagged each append a `disconnect` event for the screen
  (announcements/registry.py): its entries are forgotten, and its next hello reads the database again;
- an area renamed or given a new kiosk dwell appends an `area` event with each affected area's values.

Events reach every replica, so every replica's directory follows. A token this directory does not hold (a
screen registered since it loaded, or one unknown) is looked up in the database as before, and kept if found.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from announcements.database import Database
from announcements.kiosk_dwell import area_infos, name_and_dwell
from announcements.models import Role, Screen, Token
from announcements.protocol import AreaUpdate
from announcements.tokens import hash_secret, screen_for_secret

Lookup = tuple[Screen | None, str | None, int | None]


@dataclass(slots=True)
class _Entry:
    screen: Screen
    area_name: str | None
    kiosk_dwell_s: int | None


class ScreenDirectory:
    """Screen tokens (by the hash of their secret) to the screen and what its welcome says of its area."""

    def __init__(self, db: Database):
        self._db = db
        self._by_hash: dict[str, _Entry] = {}
        self._hashes_of: dict[str, set[str]] = {}  # screen id -> its token hashes held here

    async def load(self) -> None:
        """Every live screen token of every active screen, and the areas they are in: two queries in all."""
        async with self._db.read() as session:
            rows = (
                await session.exec(
                    select(Token.secret_hash, Screen)
                    .join(Screen, Screen.id == Token.screen_id)
                    .where(Token.role == Role.SCREEN, Token.revoked_at.is_(None), Screen.revoked_at.is_(None))
                )
            ).all()
            infos = await area_infos(session=session, areas=sorted({screen.area for _, screen in rows}))
        for digest, screen in rows:
            info = infos[screen.area]
            self._keep(digest, _Entry(screen, info.area_name, info.kiosk_dwell_s))

    async def lookup(self, secret: str) -> Lookup:
        """The active screen whose live token this is, with its area's name and kiosk dwell; (None, None, None)."""
        digest = hash_secret(secret)
        entry = self._by_hash.get(digest)
        if entry is not None:
            return entry.screen, entry.area_name, entry.kiosk_dwell_s
        async with self._db.read() as session:
            screen = await screen_for_secret(session=session, secret=secret)
            if screen is None:
                return None, None, None
            name, dwell = await name_and_dwell(session=session, area=screen.area)
        self._keep(digest, _Entry(screen, name, dwell))
        return screen, name, dwell

    def forget(self, screen_id: str) -> None:
        """The screen's tokens, area or tags changed (a `disconnect` event): ask the database at its next hello."""
        for digest in self._hashes_of.pop(screen_id, ()):
            self._by_hash.pop(digest, None)

    def on_area_update(self, update: AreaUpdate) -> None:
        """Areas renamed or given a new dwell: the welcome says their values as they now are."""
        for entry in self._by_hash.values():
            info = update.areas.get(entry.screen.area)
            if info is not None:
                entry.area_name, entry.kiosk_dwell_s = info.area_name, info.kiosk_dwell_s

    def _keep(self, digest: str, entry: _Entry) -> None:
        self._by_hash[digest] = entry
        self._hashes_of.setdefault(entry.screen.id, set()).add(digest)

