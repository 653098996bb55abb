"""A full disk is 507 with Retry-After and one plain log line naming what is full, never a generic 500.

The errors are real ones: SQLite's own SQLITE_FULL (its page limit reached), PostgreSQL's SQLSTATE
53100 raised by the server and carried through asyncpg and SQLAlchemy, and OSError ENOSPC/EDQUOT.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os

import asyncpg
import pytest
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine

from broadcast_server.keys import DATABASE, SETTINGS
from broadcast_server.problems import problem_middleware
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, _asyncpg_dsn, _postgres_problem

# What PostgreSQL says when its disk is full (SQLSTATE 53100), raised by the server itself.
PG_DISK_FULL = """RAISE EXCEPTION 'could not extend file "base/16384/2619": No space left on device' USING ERRCODE = 'disk_full'"""


async def _sqlite_full_error(tmp_path) -> Exception:
    """What SQLAlchemy raises when SQLite cannot grow the database: SQLITE_FULL, "database or disk is full"."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'tiny.db'}")
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x BLOB)")
            await conn.exec_driver_sql("PRAGMA max_page_count = 2")
            await conn.exec_driver_sql("INSERT INTO t VALUES (randomblob(100000))")
    except sa.exc.OperationalError as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError("SQLite did not report a full database")


async def _postgres_full_error() -> Exception:
    problem = await _postgres_problem()
    if problem and REQUIRE_POSTGRES:
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)
    engine = create_async_engine(POSTGRES_URL)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"DO $$ BEGIN {PG_DISK_FULL}; END $$")
    except sa.exc.DBAPIError as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError("PostgreSQL did not raise")


MEDIA_TMP = "/var/lib/village-broadcast/media/.x.mp3.tmp"


def _oserror(code: int, filename: str | None = MEDIA_TMP) -> OSError:
    return OSError(code, os.strerror(code), filename)


async def _answer(aiohttp_client, error: Exception):
    async def handler(request):
        raise error

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_post("/", handler)
    client = await aiohttp_client(app)
    async with client.post("/") as resp:
        return resp.status, resp.headers, await resp.json(content_type="application/problem+json")


async def _full_disk_error(kind: str, tmp_path) -> Exception:
    if kind == "sqlite":
        return await _sqlite_full_error(tmp_path)
    if kind == "postgres":
        return await _postgres_full_error()
    return _oserror(errno.ENOSPC if kind == "ENOSPC" else errno.EDQUOT, None if kind == "EDQUOT, no file" else MEDIA_TMP)


@pytest.mark.parametrize(
    "kind, names",
    [
        ("ENOSPC", MEDIA_TMP),
        ("EDQUOT", MEDIA_TMP),
        ("EDQUOT, no file", "a disk this server writes to (Disk quota exceeded)"),
        ("sqlite", "SQLite database (database or disk is full)"),
        ("postgres", 'PostgreSQL server\'s disk (could not extend file "base/16384/2619"'),
    ],
)
async def test_each_kind_of_full_disk_is_507_with_one_plain_log_line(aiohttp_client, tmp_path, caplog, kind, names):
    """507, Retry-After, a detail saying the disk is full and nothing was saved; one ERROR line naming what is full, no stack."""
    error = await _full_disk_error(kind, tmp_path)
    caplog.set_level(logging.INFO, logger="broadcast_server.problems")
    status, headers, problem = await _answer(aiohttp_client, error)
    assert status == 507 and problem["status"] == 507 and int(headers["Retry-After"]) > 0
    assert "disk is full" in problem["detail"] and "nothing was saved" in problem["detail"]
    records = [r for r in caplog.records if r.name == "broadcast_server.problems"]
    assert len(records) == 1 and records[0].levelno == logging.ERROR and records[0].exc_info is None
    said = records[0].getMessage()
    assert said.startswith("disk full: ") and names in said and "POST /" in said, said


@pytest.mark.parametrize("error", [RuntimeError("boom"), _oserror(errno.EACCES), _oserror(errno.EIO)])
async def test_other_errors_are_still_a_logged_500(aiohttp_client, caplog, error):
    """Only a full disk is 507: anything else unexpected stays a 500 whose stack is logged."""
    status, _, problem = await _answer(aiohttp_client, error)
    assert status == 500 and "disk" not in problem["detail"]
    assert any(r.exc_info for r in caplog.records if r.name == "broadcast_server.problems")


@contextlib.asynccontextmanager
async def full_database(village):
    """Inside, the database cannot grow: SQLite at its page limit, PostgreSQL out of disk for new announcements."""
    db = village.app[DATABASE]
    if db.is_sqlite:
        def at_its_limit(conn, _record):
            conn.execute("PRAGMA max_page_count = 1")  # SQLite keeps it at the current size, no lower

        sa.event.listen(db.engine.sync_engine, "connect", at_its_limit)
        await db.engine.dispose()  # the pooled connections make way for ones with the limit
        try:
            yield
        finally:
            sa.event.remove(db.engine.sync_engine, "connect", at_its_limit)
            await db.engine.dispose()
        return
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), server_settings={"search_path": village.app[SETTINGS].database_schema})
    try:
        await conn.execute(
            f"CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {PG_DISK_FULL}; END $$;"
            " CREATE TRIGGER disk_full BEFORE INSERT ON announcement FOR EACH ROW EXECUTE FUNCTION disk_full()"
        )
        yield
    finally:
        await conn.execute("DROP TRIGGER IF EXISTS disk_full ON announcement; DROP FUNCTION IF EXISTS disk_full()")
        await conn.close()


async def test_posting_on_a_full_database_is_507_nothing_is_saved_and_it_recovers(village, caplog):
    """Through the real route: 507 with Retry-After; the announcement is not there afterwards; once there is room, posting works."""
    body = {"title": "停水通知", "body": "明天上午停水，请提前储水。" * 300, "speak": False}
    async with full_database(village):
        async with village.http.post(village.url + "/api/v1/announcements", json=body, headers=village.auth()) as resp:
            problem = await resp.json(content_type="application/problem+json")
            assert resp.status == 507 and int(resp.headers["Retry-After"]) > 0, problem
    assert "disk is full" in problem["detail"] and "nothing was saved" in problem["detail"]
    assert any("disk full" in r.getMessage() for r in caplog.records if r.name == "broadcast_server.problems")
    _, listed = await village.call("GET", "/announcements", expect=200)
    assert listed["items"] == []
    await village.call("POST", "/announcements", json=body, expect=201)
