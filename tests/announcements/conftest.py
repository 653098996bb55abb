"""The domain's own tests: a migrated database of the test's backend (SQLite, then PostgreSQL), no server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from announcements.database import Database
from broadcast_server.settings import Settings


async def open_database(settings: Settings) -> Database:
    """The test's database, migrated; a second call is a second replica on the same data."""
    db = Database(settings.db_url, schema=settings.database_schema, sqlite_synchronous=settings.sqlite_synchronous)
    await db.migrate()
    return db


@pytest.fixture
async def db(settings) -> AsyncIterator[Database]:
    db = await open_database(settings)
    yield db
    await db.close()
