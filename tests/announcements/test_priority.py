"""The priority order of docs/protocol.md §7.1 is one rule: `priority_rank`, and the SQL that sorts stored rows.

(The screen client's store and the kiosk are held to it in tests/screen_client/test_store.py and tests/web/test_kiosk.py.)
"""

from datetime import timedelta

from sqlmodel import col, select

from announcements.database import Database
from announcements.models import Announcement, priority_order
from announcements.protocol import Priority, priority_rank
from announcements.timeutil import utcnow
from broadcast_server.settings import load_settings

# What a database written by a newer server might hold: priorities this one does not know among its own.
STORED = ["low", "siren", "emergency", "normal", "", "high", "Emergency"]


def test_priorities_rank_most_urgent_first_and_an_unknown_one_with_normal():
    """emergency < high < normal < low, as listed in the enum; a priority this side does not know ranks as `normal`."""
    assert [priority_rank(p) for p in Priority] == [0, 1, 2, 3] == [p.rank for p in Priority]
    assert priority_rank("siren") == priority_rank("") == priority_rank("Emergency") == Priority.NORMAL.rank


async def test_sql_priority_order_is_the_python_rule(database_settings):
    """`priority_order()` sorts stored rows as `priority_rank` sorts their priorities, on SQLite and PostgreSQL."""
    settings = load_settings(None, **database_settings)
    db = Database(settings.db_url, schema=settings.database_schema)
    now = utcnow()
    try:
        await db.migrate()
        async with db.write() as session:
            session.add_all(
                Announcement(id=f"{i:032x}", title="t", body="b", priority=priority, area="/", expires_at=now + timedelta(hours=1))
                for i, priority in enumerate(STORED)
            )
        async with db.read() as session:
            found = (await session.exec(select(Announcement.priority).order_by(priority_order(), col(Announcement.id)))).all()
    finally:
        await db.close()
    assert list(found) == sorted(STORED, key=priority_rank)  # a stable sort: the ids' order within one rank
