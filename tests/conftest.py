"""Shared fixtures: every app test runs twice, on SQLite and on PostgreSQL.

PostgreSQL comes from VB_TEST_POSTGRES_URL (default: the local server on 127.0.0.1:5432, database
`test`). Each test gets its own schema, dropped afterwards. Where no PostgreSQL answers, those tests
are skipped with the reason, unless VB_TEST_REQUIRE_POSTGRES=1 (CI), where they fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy.engine import make_url

from announcements.database import Database
from announcements.models import Role, TokenCreate
from announcements.registry import create_token
from broadcast_server.app import create_app
from broadcast_server.settings import Settings, load_settings
from tests.clock import SettableClock
from tests.outage import DatabaseOutage
from tests.serverprocess import ServerProcess

SHARED_POSTGRES_URL = os.environ.get("VB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("VB_TEST_REQUIRE_POSTGRES") == "1"
# Under pytest-xdist each worker has a database of its own (`test_gw0`, ...), made from the shared one's server on
# first use: advisory locks and NOTIFY channels are per database, so parallel tests never wait on or wake each other.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def _worker_url(url: str) -> str:
    shared = make_url(url)
    return shared.set(database=f"{shared.database}_{WORKER}").render_as_string(hide_password=False) if WORKER else url


POSTGRES_URL = _worker_url(SHARED_POSTGRES_URL)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _create_worker_database() -> None:
    """This worker's database, if the shared one's server answers and it is not there yet (an old run's is reused)."""
    name = make_url(POSTGRES_URL).database
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(SHARED_POSTGRES_URL), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return  # the PostgreSQL tests say why when they run
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # another run made it meanwhile
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _postgres_problem() -> str | None:
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL.split('@')[-1]}: {exc}"
    await conn.close()
    return None


@pytest.fixture(params=["sqlite", "postgres"])
async def database_settings(request, tmp_path) -> AsyncIterator[dict]:
    """Settings fields for one backend: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield {"data_dir": tmp_path}
        return
    problem = await _postgres_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"vbtest_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield {"data_dir": tmp_path, "database_url": POSTGRES_URL, "database_schema": schema}
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
def speech_enabled() -> bool:
    """Speech worker processes are started only by tests that override this fixture to True."""
    return False


def pytest_configure(config):
    if WORKER:
        asyncio.run(_create_worker_database())
    config.addinivalue_line("markers", "settings(**values): the settings a test is about (every other one: its shipped default)")


@pytest.fixture
def setting_overrides(request) -> dict:
    """What the test's `@pytest.mark.settings(...)` sets (or a test parametrizes); the rest are shipped defaults."""
    marker = request.node.get_closest_marker("settings")
    return dict(marker.kwargs) if marker else {}


def app_settings(database_fields: dict, *, speech_enabled: bool = False, **overrides) -> Settings:
    """The shipped defaults, except: the test's database, loopback, speech only where a test turns it on
    (its worker processes are slow to start), and what the test is about."""
    return load_settings(None, **database_fields, speech_enabled=speech_enabled, host="127.0.0.1", **overrides)


@pytest.fixture
def settings(database_settings, speech_enabled, setting_overrides) -> Settings:
    return app_settings(database_settings, speech_enabled=speech_enabled, **setting_overrides)


async def make_token(settings: Settings, role: Role, area: str = "/", name: str = "test") -> str:
    """A token straight into the database, as `village-broadcast token create` makes one."""
    db = Database(settings.db_url, schema=settings.database_schema, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        await db.migrate()
        async with db.write() as session:
            _, secret = await create_token(session=session, data=TokenCreate(role=role, area=area, name=name))
        return secret
    finally:
        await db.close()


@dataclass
class Village:
    """A running server on loopback and an HTTP client that speaks for a token."""

    server: TestServer
    http: ClientSession
    admin: str

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def app(self):
        return self.server.app

    def auth(self, token: str | None = None) -> dict:
        return {"Authorization": f"Bearer {token or self.admin}"}

    async def call(self, method: str, path: str, *, token: str | None = None, expect: int | None = None, **kw):
        async with self.http.request(method, self.url + "/api/v1" + path, headers=self.auth(token), **kw) as resp:
            body = await resp.json(content_type=None) if resp.status != 204 else None
            if expect is not None:
                assert resp.status == expect, (resp.status, body)
            return resp.status, body

    async def screen(self, name: str, area: str, *, kind: str = "screen", tags: list[str] | None = None) -> dict:
        _, body = await self.call(
            "POST", "/screens", json={"name": name, "area": area, "kind": kind, "tags": tags or []}, expect=201
        )
        return body

    async def token(self, role: str, area: str) -> str:
        _, body = await self.call("POST", "/tokens", json={"role": role, "area": area, "name": f"{role}@{area}"}, expect=201)
        return body["token"]

    async def post(self, token: str | None = None, **fields) -> dict:
        body = {"title": "村民大会通知", "body": "明天上午九点在村委会召开村民大会。", **fields}
        _, answer = await self.call("POST", "/announcements", json=body, token=token, expect=201)
        return answer


@pytest.fixture
def clock() -> SettableClock:
    """The server's clock: the real time until a test sets `clock.at` or moves it by `clock.shift`."""
    return SettableClock()


@pytest.fixture
async def village(settings, clock, aiohttp_server) -> AsyncIterator[Village]:
    admin = await make_token(settings, Role.ADMIN, "/", "root")
    server = await aiohttp_server(create_app(settings, clock=clock))
    async with ClientSession() as http:
        yield Village(server=server, http=http, admin=admin)


@pytest.fixture
async def outage(database_settings):
    """The test's database, made unreachable and reachable again at the test's word (tests/outage.py)."""
    cut = DatabaseOutage(database_settings)
    yield cut
    await cut.close()


@pytest.fixture
def server_process(settings, tmp_path):
    server = ServerProcess(settings, tmp_path / "server.log")
    yield server
    server.stop()
