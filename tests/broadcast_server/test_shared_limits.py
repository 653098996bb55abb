"""Rate limits that hold across replicas: replies per screen and failed sign-ins per name and per address are
counted in the database on PostgreSQL, so a screen or a guesser whose requests nginx spreads over two replicas
gets the configured number in all, not once per replica. On SQLite (one process) the same tests run against
the one server, whose counts stay in memory."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, func, select

from announcements.errors import RateLimited
from announcements.models import RateLimit
from broadcast_server.app import create_app
from broadcast_server.keys import DATABASE, SETTINGS
from broadcast_server.ratelimit import RateLimiter, SharedRateLimiter
from tests.conftest import Village
from tests.requests.conftest import VILLAGE, answer_to, reply_body
from tests.wsframes import connected

PASSWORD = "村口大槐树-2026"


@pytest.fixture
async def replicas(village, aiohttp_server) -> list[Village]:
    """Two servers on one PostgreSQL database (what nginx balances over); on SQLite the one server, twice."""
    if village.app[SETTINGS].database_url is None:
        return [village, village]
    other = await aiohttp_server(create_app(village.app[SETTINGS]))
    return [village, Village(server=other, http=village.http, admin=village.admin)]


async def post_reply(replica: Village, token: str, body: dict) -> tuple[int, dict, dict]:
    async with replica.http.post(replica.url + "/api/v1/replies", headers=replica.auth(token), json=body) as resp:
        return resp.status, dict(resp.headers), await resp.json()


@pytest.mark.settings(reply_rate_per_minute=4)
async def test_replies_from_one_screen_spread_over_replicas_are_limited_once(replicas):
    """Four a minute: two accepted on each replica, then the fifth is refused on both (429 with Retry-After, and
    `rate_limited` over the WebSocket) with one wait; a resend of a stored reply is answered and costs nothing,
    and another screen has its own four."""
    a, b = replicas
    gate = await a.screen("gate", VILLAGE)
    first = reply_body()
    answers = [await post_reply(replica, gate["token"], body) for replica, body in
               [(a, first), (b, reply_body()), (a, reply_body())]]
    assert [status for status, _, _ in answers] == [201, 201, 201], answers
    status, _, again = await post_reply(b, gate["token"], first)  # a resend after a lost connection: free
    assert (status, again["ticket"]) == (200, answers[0][2]["ticket"])
    assert (await post_reply(b, gate["token"], reply_body()))[0] == 201  # the fourth

    refused = [await post_reply(replica, gate["token"], reply_body()) for replica in (a, b)]
    for status, headers, problem in refused:
        assert status == 429, problem
        wait = int(headers["Retry-After"])
        assert 1 <= wait <= 15 and f"at most 4 a minute; retry in {wait} s" in problem["detail"], problem
    ws = await connected(b, gate["token"])
    body = reply_body()
    await ws.send_json({"type": "reply", **body})
    error = await answer_to(ws, body["client_msg_id"])
    assert (error["type"], error["code"]) == ("error", "rate_limited") and 1 <= error["retry_after_s"] <= 15, error
    status, _, again = await post_reply(a, gate["token"], first)  # even now a resend gets its ticket
    assert (status, again["ticket"]) == (200, answers[0][2]["ticket"])
    await ws.close()

    market = await b.screen("market", VILLAGE)
    assert [(await post_reply(replica, market["token"], reply_body()))[0] for replica in (a, b, a, b)] == [201] * 4
    _, page = await a.call("GET", "/requests", expect=200)
    assert len(page["items"]) == 8  # gate's four and market's four: nothing refused was stored


async def sign_in(replica: Village, name: str, password: str = "wrong-password") -> tuple[int, dict, dict]:
    body = {"name": name, "password": password}
    async with replica.http.post(replica.url + "/api/v1/session", json=body, headers={"Origin": replica.url}) as resp:
        return resp.status, dict(resp.headers), await resp.json(content_type=None)


async def make_user(village: Village, name: str) -> None:
    body = {"name": name, "display_name": "李主任", "role": "committee", "area": VILLAGE, "password": PASSWORD}
    await village.call("POST", "/users", json=body, expect=201)


@pytest.mark.settings(signin_failures_per_name=2, signin_failures_per_address=1000)
async def test_failed_sign_ins_for_one_name_spread_over_replicas_are_limited_once(replicas):
    """Two failures for `li`, one on each replica, lock `li` out on both (even with the right password), with
    429, Retry-After and `signin_throttled`; `wang` still signs in, and that success clears his earlier failure
    on the other replica."""
    a, b = replicas
    await make_user(a, "li")
    await make_user(a, "wang")
    assert (await sign_in(a, "wang"))[0] == 401
    assert [(await sign_in(replica, "li"))[0] for replica in (a, b)] == [401, 401]
    for replica in (b, a):
        status, headers, problem = await sign_in(replica, "li", PASSWORD)
        assert status == 429 and 0 < int(headers["Retry-After"]) <= 15 * 60, problem
        assert problem["errors"][0]["type"] == "signin_throttled" and "too many failed sign-ins" in problem["detail"]
    assert (await sign_in(b, "wang", PASSWORD))[0] == 200
    assert [(await sign_in(replica, "wang"))[0] for replica in (a, b)] == [401, 401]  # two again, not one


@pytest.mark.settings(signin_failures_per_name=1000, signin_failures_per_address=2)
async def test_failed_sign_ins_from_one_address_spread_over_replicas_are_limited_once(replicas):
    a, b = replicas
    await make_user(a, "li")
    assert [(await sign_in(a, "zhang"))[0], (await sign_in(b, "zhao"))[0]] == [401, 401]
    assert [(await sign_in(replica, "li", PASSWORD))[0] for replica in (a, b)] == [429, 429]


async def stored_buckets(village: Village) -> int:
    async with village.app[DATABASE].read() as session:
        return (await session.exec(select(func.count()).select_from(RateLimit))).one()


@pytest.mark.parametrize("database_settings", ["postgres"], indirect=True)  # SQLite's limits stay in memory
async def test_a_shared_bucket_refills_evenly_says_when_to_retry_and_is_pruned_when_full(village):
    """The database's buckets count as this process's memory does (ten a minute: ten at once, then one every six
    seconds; a refund gives one back), and a bucket full again leaves the table within a minute."""
    db = village.app[DATABASE]
    now = [1_000_000.0]
    shared = SharedRateLimiter(10, what="replies", db=db, clock=lambda: now[0])
    local = RateLimiter(10, what="replies", clock=lambda: now[0])
    for limiter in (shared, local):
        for _ in range(10):
            await limiter.acquire("s")
        with pytest.raises(RateLimited) as refused:
            await limiter.acquire("s")
        assert (refused.value.retry_after_s, str(refused.value)) == (
            6, "too many replies from this screen: at most 10 a minute; retry in 6 s"
        )
        await limiter.acquire("other")
        now[0] += 6.0
        await limiter.acquire("s")
        await limiter.release("s")
        await limiter.acquire("s")
        with pytest.raises(RateLimited, match="retry in 6 s"):
            await limiter.acquire("s")
        now[0] -= 6.0
    assert await stored_buckets(village) == 2

    now[0] += 67.0  # both buckets full again; the next take prunes them
    await shared.acquire("third")
    assert await stored_buckets(village) == 1


async def test_migration_0011_builds_the_table_the_model_describes(village):
    async with village.app[DATABASE].engine.connect() as conn:
        diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    assert [d for d in diffs if "rate_limit" in repr(d)] == []
