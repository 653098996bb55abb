"""People's accounts: a name and a password (argon2id) instead of a pasted token, and the sessions they sign in to.

A user has a role and an area exactly as a token does, and a session resolves to the same `Principal`,
so every authorization check applies unchanged. Passwords are hashed with argon2-cffi's defaults
(argon2id, memory-hard); a session's secret is random, so only its SHA-256 is kept (as for tokens).
Hashing and checking a password take tens of milliseconds of CPU: they run off the event loop, and
never inside a write transaction (on SQLite that would hold every other writer for as long).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.errors import Conflict, Invalid, NotFound
from announcements.models import Role, User, UserCreate, UserSession, UserUpdate
from announcements.registry import ensure_area
from announcements.tokens import Principal, hash_secret, new_secret

_hasher = PasswordHasher()


@functools.cache
def _nobody_hash() -> str:
    """Checked when the name is unknown, so a wrong name costs as long as a wrong password (no telling names
    apart); made on first use, not at import, so a shell command that signs no one in starts without it."""
    return _hasher.hash("no such user")

# The root principal the command line acts as: whoever may run it may already read the database.
COMMAND_LINE = Principal(token_id="command-line", role=Role.ADMIN, area="/", name="command line")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def password_matches(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def user_principal(user: User) -> Principal:
    return Principal(token_id=user.id, role=Role(user.role), area=user.area, name=user.display_name, kind="user")


# ---------------------------------------------------------------- accounts

async def create_user(*, session: AsyncSession, data: UserCreate, password_hash: str, principal: Principal) -> User:
    """A new user from `data`, whose password the caller hashed (`hash_password`) before the transaction."""
    principal.require_scope(data.area)
    if (await session.exec(select(User.id).where(User.name == data.name))).first() is not None:
        raise Conflict(f"a user named {data.name} exists already", errors=[{"loc": ["name"], "msg": "taken", "type": "name_taken"}])
    await ensure_area(session=session, path=data.area)
    user = User(
        name=data.name, display_name=data.display_name, role=data.role, area=data.area, password_hash=password_hash
    )
    session.add(user)
    await session.flush()
    return user


async def list_users(*, session: AsyncSession, principal: Principal) -> Sequence[User]:
    users = (await session.exec(select(User).order_by(col(User.area), col(User.name)))).all()
    return [u for u in users if principal.in_scope(u.area)]


async def get_user(*, session: AsyncSession, principal: Principal, user_id: str | None = None, name: str | None = None) -> User:
    """The user by id or name, in the caller's scope (else NotFound, as for anything outside it)."""
    query = select(User).where(User.id == user_id) if user_id is not None else select(User).where(User.name == name)
    user = (await session.exec(query)).first()
    if user is None or not principal.in_scope(user.area):
        raise NotFound(f"no user {user_id or name} in scope")
    return user


def _oneself(principal: Principal, user: User) -> bool:
    return principal.kind == "user" and principal.token_id == user.id


async def disable_user(*, session: AsyncSession, user: User, principal: Principal, now: datetime) -> User:
    """Disable a user; its sessions end at once. Disabling oneself is refused (it would lock the admin out)."""
    if _oneself(principal, user):
        raise Conflict("you cannot disable your own account", errors=[{"loc": [], "msg": "yourself", "type": "disable_self"}])
    user.disabled_at = user.disabled_at or now
    session.add(user)
    await end_sessions(session=session, user_id=user.id)
    return user


async def update_user(
    *, session: AsyncSession, user: User, data: UserUpdate, password_hash: str | None, principal: Principal, now: datetime
) -> User:
    """PATCH /users/{name}: each field given is changed; a new password (hashed before the transaction) or a
    disabled account ends the user's sessions at once. A new area must be inside the admin's own scope. Changing
    one's own role or area is refused: an admin could demote or confine themselves and lock everyone out."""
    moved = (data.role is not None and data.role != user.role) or (data.area is not None and data.area != user.area)
    if moved and _oneself(principal, user):
        raise Conflict("you cannot change your own role or area", errors=[{"loc": [], "msg": "yourself", "type": "change_self"}])
    if data.area is not None:
        principal.require_scope(data.area)
        await ensure_area(session=session, path=data.area)
        user.area = data.area
    if data.display_name is not None:
        user.display_name = data.display_name
    if data.role is not None:
        user.role = data.role
    if data.disabled:
        await disable_user(session=session, user=user, principal=principal, now=now)
    elif data.disabled is False:
        user.disabled_at = None
    if password_hash is not None:
        await set_password(session=session, user=user, password_hash=password_hash)
    session.add(user)
    return user


async def set_password(*, session: AsyncSession, user: User, password_hash: str, keep_session: str | None = None) -> None:
    """A new password (hashed before the transaction); every session of the user ends except `keep_session`."""
    user.password_hash = password_hash
    session.add(user)
    await end_sessions(session=session, user_id=user.id, except_secret=keep_session)


async def own_account(*, session: AsyncSession, principal: Principal, current_password: str) -> User:
    """The signed-in user, once their current password is given right (before they may set another)."""
    if principal.kind != "user":
        raise Conflict("a token has no password", errors=[{"loc": [], "msg": "a token", "type": "not_a_user"}])
    user = await session.get(User, principal.token_id)
    if user is None or not await password_matches(user.password_hash, current_password):
        raise Invalid("the current password is wrong", errors=[{"loc": ["current_password"], "msg": "wrong", "type": "wrong_password"}])
    return user


async def has_admin_user(*, session: AsyncSession) -> bool:
    """Whether an enabled admin user exists (a fresh install has none: the command line makes the first)."""
    query = select(User.id).where(User.role == Role.ADMIN, col(User.disabled_at).is_(None)).limit(1)
    return (await session.exec(query)).first() is not None


# ---------------------------------------------------------------- signing in and sessions

async def check_password(*, session: AsyncSession, name: str, password: str) -> User | None:
    """The enabled user with this name and password, or None (the same for any wrong part, in the same time)."""
    user = (await session.exec(select(User).where(User.name == name))).first()
    matches = await password_matches(user.password_hash if user is not None else _nobody_hash(), password)
    return user if matches and user is not None and user.disabled_at is None else None


async def start_session(*, session: AsyncSession, user: User, now: datetime, lifetime: timedelta) -> tuple[UserSession, str]:
    """A new session for `user`; its secret (for the cookie) is returned this once."""
    secret = new_secret()
    row = UserSession(secret_hash=hash_secret(secret), user_id=user.id, created_at=now, expires_at=now + lifetime)
    session.add(row)
    await session.flush()
    return row, secret


async def session_principal(*, session: AsyncSession, secret: str, now: datetime) -> Principal | None:
    """The principal of a live session (not expired, its user enabled), or None."""
    row = (
        await session.exec(
            select(UserSession, User).join(User, User.id == UserSession.user_id).where(UserSession.secret_hash == hash_secret(secret))
        )
    ).first()
    if row is None:
        return None
    user_session, user = row
    if user_session.expires_at <= now or user.disabled_at is not None:
        return None
    return user_principal(user)


async def end_session(*, session: AsyncSession, secret: str) -> None:
    await session.exec(delete(UserSession).where(UserSession.secret_hash == hash_secret(secret)))


async def end_sessions(*, session: AsyncSession, user_id: str, except_secret: str | None = None) -> None:
    query = delete(UserSession).where(UserSession.user_id == user_id)
    if except_secret is not None:
        query = query.where(UserSession.secret_hash != hash_secret(except_secret))
    await session.exec(query)


async def drop_expired_sessions(*, session: AsyncSession, now: datetime) -> None:
    """Forget sessions past their end (done at each sign-in, so the table never grows without bound)."""
    await session.exec(delete(UserSession).where(col(UserSession.expires_at) <= now))
