"""Access tokens: random secrets shown once, stored only as a hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import covers
from announcements.errors import Forbidden
from announcements.models import Role, Screen, Token

TOKEN_PREFIX = "vb_"


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # The secret has 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's or a signed-in user's role and the area it acts in.

    `token_id` identifies the caller's credential holder for what it writes (idempotency keys, who posted):
    the token's id, or for a user (`kind` user) the user's id, the same in every tab and session.
    """

    token_id: str
    role: Role
    area: str
    name: str
    screen_id: str | None = None
    kind: str = "token"

    def in_scope(self, area: str) -> bool:
        return covers(self.area, area)

    def require_scope(self, area: str) -> None:
        if not self.in_scope(area):
            raise Forbidden(f"area {area} is outside this {self.kind}'s scope {self.area}")

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"a {self.role.value} {self.kind} may not do this (needs: {allowed})")


async def authenticate(*, session: AsyncSession, secret: str) -> Principal | None:
    """The principal of a live token, or None for an unknown or revoked one."""
    digest = hash_secret(secret)
    token = (await session.exec(select(Token).where(Token.secret_hash == digest))).first()
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(token.secret_hash, digest):
        return None
    return Principal(
        token_id=token.id, role=Role(token.role), area=token.area, name=token.name, screen_id=token.screen_id
    )


async def screen_for_secret(*, session: AsyncSession, secret: str) -> Screen | None:
    """The registered, active screen whose live screen token this is (one query: every hello asks it)."""
    digest = hash_secret(secret)
    row = (
        await session.exec(
            select(Token, Screen)
            .join(Screen, Screen.id == Token.screen_id)
            .where(Token.secret_hash == digest, Token.role == Role.SCREEN)
        )
    ).first()
    if row is None:
        return None
    token, screen = row
    if token.revoked_at is not None or screen.revoked_at is not None or not hmac.compare_digest(token.secret_hash, digest):
        return None
    return screen
