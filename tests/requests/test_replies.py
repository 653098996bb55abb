"""Villagers' replies over the WebSocket and POST /api/v1/replies: tickets, idempotency, limits."""

import asyncio
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

import asyncpg
import pytest
from aiohttp import ClientSession
from sqlmodel import select

from announcements.models import Role
from announcements.protocol import RequestCategory
from announcements.request_models import ReplyKey, RequestHistory
from announcements.requests.intake import NewRequest
from broadcast_server import replies
from broadcast_server.app import create_app
from broadcast_server.keys import DATABASE, REPLIES, SETTINGS
from broadcast_server.ratelimit import RateLimiter
from tests.conftest import Village, _asyncpg_dsn, app_settings, make_token
from tests.e2e.screens import eventually
from tests.outage import SqliteWriteLock
from tests.requests.conftest import TICKET, VILLAGE, alive, answer_to, http_reply, reply_body, ws_reply
from tests.wsframes import connect, connected, until


async def test_reply_over_websocket_gets_a_ticket_and_lands_in_the_log(village, gate):
    """A reply frame gets reply_result with a readable ticket; the request keeps the screen's area and the announcement."""
    announcement = await village.post(target={"areas": [VILLAGE]})
    answer = await ws_reply(
        gate["ws"], category="help", text="我家老人摔倒了，需要帮忙。", announcement_id=announcement["id"],
        contact={"name": "张三", "phone": "13812345678"},
    )
    assert answer["type"] == "reply_result" and TICKET.match(answer["ticket"])
    _, detail = await village.call("GET", f"/requests/{answer['ticket']}", expect=200)
    assert detail["area"] == VILLAGE and detail["screen_id"] == gate["id"] and detail["source"] == "screen"
    assert detail["category"] == "help" and detail["text"] == "我家老人摔倒了，需要帮忙。"
    assert detail["announcement_id"] == announcement["id"] and detail["status"] == "received"
    assert detail["contact"] == {"name": "张三", "phone": "13812345678"}
    assert [(h["actor"], h["action"], h["to_status"]) for h in detail["history"]] == [("villager", "received", "received")]


async def test_same_client_msg_id_gives_one_ticket_over_http_and_websocket(village, gate):
    """POST /replies is 201 then 200 with the same ticket; the WebSocket resend too; another screen's same id is its own."""
    body = reply_body(category="question", text="低保怎么申请？")
    status, first = await village.call("POST", "/replies", token=gate["token"], json=body)
    assert status == 201 and TICKET.match(first["ticket"]) and first["status"] == "received"
    status, again = await village.call("POST", "/replies", token=gate["token"], json=body)
    assert status == 200 and again["ticket"] == first["ticket"]
    assert (await ws_reply(gate["ws"], **body))["ticket"] == first["ticket"]
    assert (await ws_reply(gate["ws"], **body))["ticket"] == first["ticket"]
    _, page = await village.call("GET", "/requests", expect=200)
    assert [r["ticket"] for r in page["items"]] == [first["ticket"]]
    other = await village.screen("market", VILLAGE)
    assert (await http_reply(village, other["token"], **body))["ticket"] != first["ticket"]


async def test_a_resend_on_a_new_connection_gets_the_same_ticket(village, gate):
    """A reply resent on a new connection (the old one dropped) gets the same ticket."""
    body = reply_body()
    first = await ws_reply(gate["ws"], **body)
    await gate["ws"].close()
    ws = await connect(village, gate["token"], last_seq=gate["head"])
    await until(ws, "synced")
    assert (await ws_reply(ws, **body))["ticket"] == first["ticket"]
    await ws.close()


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"category": "praise"}, "category"),
        ({"category": ...}, "category"),
        ({"text": ""}, "text"),
        ({"text": "   "}, "blank"),
        ({"text": "长" * 1001}, "text"),
        ({"text": "a\x00b"}, ("text: ", "U+0000")),
        ({"text": "bell\x07"}, ("text: ", "U+0007")),
        ({"contact": {"phone": "1" * 31}}, "phone"),
        ({"contact": {"phone": "138\x00"}}, ("contact.phone: ", "U+0000")),
        ({"contact": {"name": "李\x1b"}}, ("contact.name: ", "U+001B")),
        ({"contact": "13812345678"}, "contact"),
        ({"announcement_id": "no-such-announcement"}, "announcement_id"),
        ({"announcement_id": "a\x00"}, ("announcement_id: ", "U+0000")),
        ({"client_msg_id": 42}, "client_msg_id"),
        ({"client_msg_id": "id\x00"}, ("client_msg_id: ", "U+0000")),
        ({"client_msg_id": " "}, ("client_msg_id: ", "blank")),
    ],
)
async def test_invalid_reply_is_refused_naming_the_field(village, gate, fields, words):
    """A bad reply gets error `invalid` naming the field over the WebSocket (which stays open) and 422 over HTTP.
    Characters no database can hold are refused here, on both databases, before they reach one."""
    words = (words,) if isinstance(words, str) else words
    await gate["ws"].send_json({"type": "reply", **reply_body(**fields)})
    error = (await until(gate["ws"], "error"))[-1]
    assert error["code"] == "invalid" and all(w in error["message"] for w in words), error
    await alive(gate["ws"])
    status, problem = await village.call("POST", "/replies", token=gate["token"], json=reply_body(**fields))
    assert status == 422 and all(w in problem["detail"] for w in words), problem
    _, page = await village.call("GET", "/requests", expect=200)
    assert page["items"] == []


@pytest.mark.settings(request_deadlines={"help": {"response_hours": 1, "resolution_hours": 8}})
async def test_a_reply_is_given_the_deadlines_the_village_set(village, gate):
    """Deadlines come from the settings when the reply is taken in (help: answer within 1 h, resolve within 8 h
    here), the unchanged categories keep theirs."""
    for category, response_hours, resolution_hours in [("help", 1, 8), ("complaint", 24, 7 * 24)]:
        taken = await ws_reply(gate["ws"], category=category)
        _, detail = await village.call("GET", f"/requests/{taken['ticket']}", expect=200)
        created = datetime.fromisoformat(detail["created_at"])
        due = (datetime.fromisoformat(detail["response_due_at"]), datetime.fromisoformat(detail["resolution_due_at"]))
        assert due == (created + timedelta(hours=response_hours), created + timedelta(hours=resolution_hours)), category


@pytest.mark.settings(reply_max_chars=200)
async def test_a_village_that_wants_shorter_replies_gets_them(village, gate):
    """`reply_max_chars` below the protocol's 1,000: a longer reply is refused naming the text and the limit."""
    answer = await ws_reply(gate["ws"], text="长" * 201)
    assert answer["type"] == "error" and "text: at most 200 characters (got 201)" in answer["message"], answer
    assert (await ws_reply(gate["ws"], text="长" * 200))["type"] == "reply_result"


async def test_reply_names_only_an_announcement_sent_to_that_screen(village, gate):
    """Another area's, another tag's or an unpublished announcement is refused like an unknown one; nothing is stored."""
    others = [
        await village.post(target={"areas": ["/hongqi/xincun"]}),
        await village.post(target={"areas": [VILLAGE], "tags": ["market"]}),
        await village.post(publish_at="2999-01-01T00:00:00+08:00"),
    ]
    for other in others:
        error = await ws_reply(gate["ws"], announcement_id=other["id"])
        assert error["code"] == "invalid" and "was sent to this screen" in error["message"], error
        await alive(gate["ws"])
        status, problem = await village.call("POST", "/replies", token=gate["token"], json=reply_body(announcement_id=other["id"]))
        assert status == 422 and problem["errors"][0]["loc"] == ["announcement_id"], problem
    _, page = await village.call("GET", "/requests", expect=200)
    assert page["items"] == []
    own = await village.post(target={"areas": ["/hongqi"]})
    assert (await ws_reply(gate["ws"], announcement_id=own["id"]))["type"] == "reply_result"


async def test_only_screen_tokens_post_replies(village):
    """POST /replies is for screens: admin, committee and worker tokens get 403."""
    for role in ("committee", "worker"):
        token = await village.token(role, VILLAGE)
        assert (await village.call("POST", "/replies", token=token, json=reply_body()))[0] == 403
    assert (await village.call("POST", "/replies", json=reply_body()))[0] == 403


async def test_rate_limit_says_when_to_retry_spares_resends_and_is_per_screen(village, gate):
    """Past the per-screen limit: error rate_limited with retry_after_s (WS), 429 with Retry-After (HTTP);
    a resend of a stored reply still gets its ticket; another screen is not limited."""
    village.app[REPLIES].limiter = RateLimiter(3, what="replies")
    stored = [await ws_reply(gate["ws"]) for _ in range(2)]
    first_body = reply_body()
    await http_reply(village, gate["token"], **first_body)
    refused = await ws_reply(gate["ws"])
    assert refused["type"] == "error" and refused["code"] == "rate_limited"
    assert refused["retry_after_s"] >= 1 and f"retry in {refused['retry_after_s']} s" in refused["message"]
    async with village.http.post(village.url + "/api/v1/replies", headers=village.auth(gate["token"]), json=reply_body()) as resp:
        assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    again = await http_reply(village, gate["token"], expect=200, **first_body)
    assert again["ticket"]
    await gate["ws"].send_json({"type": "reply", "client_msg_id": "x", "category": "other", "text": "t"})
    assert (await answer_to(gate["ws"], "x"))["code"] == "rate_limited"
    assert all(s["type"] == "reply_result" for s in stored)
    await alive(gate["ws"])
    other = await village.screen("market", VILLAGE)
    await http_reply(village, other["token"], expect=201)


async def test_a_resend_within_the_limit_costs_nothing(village, gate):
    """A screen that lost its connection and sends a stored reply again is not charged for it: with a limit of two,
    a reply, its resend and a second reply all go through, and only a third new one is refused."""
    village.app[REPLIES].limiter = RateLimiter(2, what="replies")
    first = reply_body()
    ticket = (await http_reply(village, gate["token"], **first))["ticket"]
    assert (await http_reply(village, gate["token"], expect=200, **first))["ticket"] == ticket
    await http_reply(village, gate["token"], expect=201)
    await http_reply(village, gate["token"], expect=429)


async def test_a_reply_while_the_server_shuts_down_is_told_to_come_back(village, gate):
    """Once the server has begun to stop, a reply is not taken but answered rate_limited with retry_after_s, over
    the WebSocket and over HTTP (429 and Retry-After), so the screen keeps it and sends it again to a server that runs."""
    await village.app[REPLIES].close()
    refused = await ws_reply(gate["ws"])
    assert (refused["type"], refused["code"], refused["retry_after_s"]) == ("error", "rate_limited", 5), refused
    async with village.http.post(village.url + "/api/v1/replies", headers=village.auth(gate["token"]), json=reply_body()) as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (429, "5")
    _, page = await village.call("GET", "/requests", expect=200)
    assert page["items"] == []


# ---------------------------------------------------------------- races between writers and replicas
#
# The writer stores a batch in one transaction and falls back to one reply at a time when another
# writer (a replica on the same database) stored one of its keys meanwhile. A race has to be arranged
# to reach those paths: the database is held exactly where a slow or busy one would hold it.


class ScreenRowLock:
    """PostgreSQL: another transaction holds a screen's row, so a writer inserting a request from that
    screen waits inside its transaction (after it looked for the key, before it stored it)."""

    def __init__(self, settings, screen_id: str):
        self._settings = settings
        self.screen_id = screen_id
        self.pid: int | None = None
        self._conn = None

    async def hold(self) -> "ScreenRowLock":
        self._conn = await asyncpg.connect(
            _asyncpg_dsn(self._settings.database_url), server_settings={"search_path": self._settings.database_schema}
        )
        await self._conn.execute("BEGIN")
        await self._conn.execute("SELECT 1 FROM screen WHERE id = $1 FOR UPDATE", self.screen_id)
        self.pid = self._conn.get_server_pid()
        return self

    async def release(self) -> None:
        if self._conn is not None:
            await self._conn.execute("ROLLBACK")
            await self._conn.close()
            self._conn = None


async def inserts_waiting_on(settings, *locks: ScreenRowLock) -> int:
    """How many reply writers wait inside their transaction, at the request insert, for one of `locks`."""
    conn = await asyncpg.connect(_asyncpg_dsn(settings.database_url))
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE 'INSERT INTO service_request %' AND pg_blocking_pids(pid) && $1::int[]",
            [lock.pid for lock in locks],
        )
    finally:
        await conn.close()


def waiting(desk) -> int:
    """Replies queued for the writer and not yet taken into a batch."""
    return desk._queue.qsize()


async def occupy_writer(desk, screen_id: str) -> asyncio.Task:
    """Give the writer a reply of its own to store (it then waits at the held database), so what comes
    next queues up behind it and is stored as one batch."""
    filler = NewRequest(area=VILLAGE, category=RequestCategory.OTHER, text="占位", screen_id=screen_id, client_msg_id=uuid.uuid4().hex)
    task = asyncio.create_task(desk.take(filler))
    await asyncio.sleep(0)  # a yield, not a wait: take() queues the reply in its first step
    await eventually(lambda: waiting(desk) == 0)  # the writer took it as a batch of its own
    return task


async def first_answer(ws, timeout: float = 15.0) -> dict:
    """The next reply_result or error frame, whatever it refers to (an `internal` error names nothing)."""
    while True:
        frame = await ws.receive_json(timeout=timeout)
        if frame["type"] in ("reply_result", "error"):
            return frame


async def post_raw(http, url: str, token: str, body: dict):
    async with http.post(url + "/api/v1/replies", headers={"Authorization": f"Bearer {token}"}, json=body) as resp:
        await resp.read()
        return resp


async def post(http, url: str, token: str, body: dict) -> tuple[int, dict]:
    async with http.post(url + "/api/v1/replies", headers={"Authorization": f"Bearer {token}"}, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_one_client_msg_id_raced_over_websocket_and_http_on_two_replicas(village, aiohttp_server, monkeypatch):
    """The same reply sent at once over HTTP and the WebSocket to replica A (one writer batch holding it
    twice) and over both to replica B (whose writer stores it in the same moments and, on PostgreSQL,
    meets A's row: IntegrityError, then one reply at a time): one request, one ticket in every answer.

    On SQLite writers take the database's lock before looking for the key, so B finds A's row and
    never meets an IntegrityError; the batch with the key twice is reached on both databases."""
    settings = village.app[SETTINGS]
    replica = await aiohttp_server(create_app(settings))
    b_url = str(replica.make_url("")).rstrip("/")
    a_desk, b_desk = village.app[REPLIES], replica.app[REPLIES]
    for desk in (a_desk, b_desk):
        desk.limiter = RateLimiter(0, what="replies")  # no limit: this is about the race
    one_at_a_time: list[str] = []  # the keys the writers stored one at a time after an IntegrityError
    batch_store = replies.store_request

    async def store_request(*, item, **kw):
        one_at_a_time.append(item.client_msg_id)
        return await batch_store(item=item, **kw)

    monkeypatch.setattr(replies, "store_request", store_request)

    gate = await village.screen("gate", VILLAGE)  # the screen that sends the raced reply
    well = await village.screen("well", VILLAGE)  # keeps the writers busy
    market = await village.screen("market", VILLAGE)  # another screen's reply in B's batch
    ws_a = await connect(village, gate["token"])
    await until(ws_a, "synced")
    ws_b = await connect(SimpleNamespace(http=village.http, url=b_url), gate["token"])
    await until(ws_b, "synced")
    raced = reply_body(category="help", text="我家老人摔倒了，需要帮忙。")
    other = reply_body()
    on_postgres = settings.database_url is not None

    if on_postgres:
        busy, gate_row, market_row = [await ScreenRowLock(settings, s["id"]).hold() for s in (well, gate, market)]
    else:
        b_busy = replica.app[DATABASE]._write_lock  # replica B's process is in the middle of another write
        await b_busy.acquire()
        file_lock = SqliteWriteLock(settings).hold()
    try:
        fillers = [await occupy_writer(a_desk, well["id"]), await occupy_writer(b_desk, well["id"])]
        if on_postgres:
            await eventually(lambda: _equals(inserts_waiting_on(settings, busy), 2))

        a_http = asyncio.create_task(village.call("POST", "/replies", token=gate["token"], json=raced))
        await eventually(lambda: waiting(a_desk) == 1)
        await ws_a.send_json({"type": "reply", **raced})
        await eventually(lambda: waiting(a_desk) == 2)  # A's next batch: the key twice

        b_other = asyncio.create_task(post(village.http, b_url, market["token"], other))
        await eventually(lambda: waiting(b_desk) == 1)
        await ws_b.send_json({"type": "reply", **raced})
        await eventually(lambda: waiting(b_desk) == 2)
        b_http = asyncio.create_task(post(village.http, b_url, gate["token"], raced))
        await eventually(lambda: waiting(b_desk) == 3)  # B's next batch: another screen's reply and the key twice

        if on_postgres:
            # Both next batches look for the key (neither finds it) and wait to insert: A on the gate's
            # row, B on the market's too. A stores first; B then meets A's key.
            await busy.release()
            await eventually(lambda: _equals(inserts_waiting_on(settings, gate_row, market_row), 2))
            await gate_row.release()
            a_ws_answer = await first_answer(ws_a)
            a_status, a_answer = await a_http
            assert await inserts_waiting_on(settings, market_row) == 1  # B still holds its batch, unstored
            await market_row.release()
        else:
            file_lock.release()
            a_ws_answer = await first_answer(ws_a)
            a_status, a_answer = await a_http
            b_busy.release()
        b_ws_answer = await first_answer(ws_b)
        b_status, b_answer = await b_http
        other_status, other_answer = await b_other
        for filler in fillers:
            assert (await filler).created
    finally:
        if on_postgres:
            for lock in (busy, gate_row, market_row):
                await lock.release()
        else:
            file_lock.release()
            if b_busy.locked():
                b_busy.release()

    assert a_status == 201, a_answer
    ticket = a_answer["ticket"]
    assert TICKET.match(ticket)
    assert a_ws_answer == {"type": "reply_result", "client_msg_id": raced["client_msg_id"], "ticket": ticket}
    assert b_ws_answer == {"type": "reply_result", "client_msg_id": raced["client_msg_id"], "ticket": ticket}
    assert (b_status, b_answer["ticket"]) == (200, ticket), b_answer
    assert other_status == 201 and other_answer["ticket"] != ticket, other_answer
    # A stored its batch in one go (the key twice in it is the in-batch dedupe, not an IntegrityError);
    # on PostgreSQL B's batch met A's key and went one at a time.
    expected = sorted([other["client_msg_id"], raced["client_msg_id"], raced["client_msg_id"]]) if on_postgres else []
    assert sorted(one_at_a_time) == expected

    _, page = await village.call("GET", "/requests", params={"limit": 200}, expect=200)
    from_gate = [r for r in page["items"] if r["screen_id"] == gate["id"]]
    assert [r["ticket"] for r in from_gate] == [ticket] and len(page["items"]) == 4
    async with village.app[DATABASE].read() as session:
        keys = (await session.exec(select(ReplyKey).where(ReplyKey.client_msg_id == raced["client_msg_id"]))).all()
        history = (await session.exec(select(RequestHistory).where(RequestHistory.ticket == ticket))).all()
    assert [(k.screen_id, k.ticket) for k in keys] == [(gate["id"], ticket)]
    assert [h.action for h in history] == ["received"]
    await ws_a.close()
    await ws_b.close()


async def _equals(count, expected: int) -> bool:
    return await count == expected


# ---------------------------------------------------------------- a full queue, a database that is down


async def serve(aiohttp_server, http, fields: dict) -> Village:
    """A server on these settings fields (as the `village` fixture makes one) and an admin token."""
    settings = app_settings(fields)
    admin = await make_token(settings, Role.ADMIN, "/", "root")
    return Village(server=await aiohttp_server(create_app(settings)), http=http, admin=admin)


async def test_a_full_writer_queue_answers_retry_and_loses_nothing_it_took(database_settings, aiohttp_server, monkeypatch):
    """While the database holds the writer, replies queue up to the limit; the next one is answered at
    once: 429 with Retry-After over HTTP, `rate_limited` with `retry_after_s` over the WebSocket, and it
    costs the screen nothing of its own limit. Every accepted one is stored and answered with its ticket;
    the refused ones, sent again, are stored once. (A connection's frames are handled in order, so the
    refused WebSocket reply comes from another screen than the one whose reply is queued.)"""
    monkeypatch.setattr(replies, "MAX_WAITING", 3)  # read when the desk is made: a queue of three
    async with ClientSession() as http:
        village = await serve(aiohttp_server, http, database_settings)
        settings = village.app[SETTINGS]
        desk = village.app[REPLIES]
        desk.limiter = RateLimiter(4, what="replies", clock=lambda: 0.0)  # four a screen, none refilled during the test
        gate = await village.screen("gate", VILLAGE)
        well = await village.screen("well", VILLAGE)
        market = await village.screen("market", VILLAGE)
        ws = await connected(village, gate["token"])
        market_ws = await connected(village, market["token"])
        accepted = [reply_body(text=f"第{i}条") for i in range(3)]
        refused_http, refused_ws = reply_body(text="忙时经HTTP"), reply_body(text="忙时经WebSocket")

        held = await ScreenRowLock(settings, well["id"]).hold() if settings.database_url else SqliteWriteLock(settings).hold()
        try:
            filler = await occupy_writer(desk, well["id"])  # the writer waits at the held database
            first = asyncio.create_task(village.call("POST", "/replies", token=gate["token"], json=accepted[0]))
            await eventually(lambda: waiting(desk) == 1)
            await ws.send_json({"type": "reply", **accepted[1]})
            await eventually(lambda: waiting(desk) == 2)
            third = asyncio.create_task(village.call("POST", "/replies", token=gate["token"], json=accepted[2]))
            await eventually(lambda: waiting(desk) == 3)  # full

            refused = await asyncio.wait_for(post_raw(http, village.url, gate["token"], refused_http), 5)  # at once
            assert (refused.status, refused.headers["Retry-After"]) == (429, "1"), refused
            await market_ws.send_json({"type": "reply", **refused_ws})
            error = await asyncio.wait_for(answer_to(market_ws, refused_ws["client_msg_id"]), 5)
            assert (error["type"], error["code"], error["retry_after_s"]) == ("error", "rate_limited", 1), error
            assert not first.done() and not third.done()  # still waiting for their commit, not answered early
        finally:
            if isinstance(held, ScreenRowLock):
                await held.release()
            else:
                held.release()

        tickets = [(await first)[1]["ticket"], (await answer_to(ws, accepted[1]["client_msg_id"]))["ticket"], (await third)[1]["ticket"]]
        assert (await filler).created
        assert (await first)[0] == (await third)[0] == 201
        again_http = await http_reply(village, gate["token"], **refused_http)  # 201: stored now, not before
        again_ws = await ws_reply(market_ws, **refused_ws)
        assert again_ws["type"] == "reply_result", again_ws
        tickets += [again_http["ticket"], again_ws["ticket"]]
        assert len(set(tickets)) == 5 and all(TICKET.match(t) for t in tickets)
        # The refused one cost the gate nothing: four taken of four; the next new one is over its limit.
        status, problem = await village.call("POST", "/replies", token=gate["token"], json=reply_body())
        assert status == 429 and "at most 4 a minute" in problem["detail"], problem

        _, page = await village.call("GET", "/requests", params={"limit": 200}, expect=200)
        mine = [r for r in page["items"] if r["screen_id"] in (gate["id"], market["id"])]
        assert sorted(r["ticket"] for r in mine) == sorted(tickets)
        assert sorted(r["text"] for r in mine) == sorted(b["text"] for b in [*accepted, refused_http, refused_ws])
        await ws.close()
        await market_ws.close()


async def test_a_reply_while_the_database_is_down_gets_an_error_and_a_resend_gets_one_ticket(outage, aiohttp_server):
    """With the database out of reach, a reply is answered with an error (5xx over HTTP, `internal` over
    the WebSocket) within seconds, not left hanging, and nothing is stored; the writer keeps going, and
    once the database is back the same replies sent again are stored once each, with one ticket."""
    async with ClientSession() as http:
        village = await serve(aiohttp_server, http, await outage.start())
        await outage.attach(village.app[DATABASE])
        gate = await village.screen("gate", VILLAGE)
        ws = await connect(village, gate["token"])
        await until(ws, "synced")
        over_http, over_ws = reply_body(text="停电了"), reply_body(text="水管破了")

        await outage.cut()
        status, problem = await asyncio.wait_for(village.call("POST", "/replies", token=gate["token"], json=over_http), 10)
        assert status in (500, 503), (status, problem)
        await ws.send_json({"type": "reply", **over_ws})
        error = await asyncio.wait_for(first_answer(ws), 10)
        assert (error["type"], error["code"]) == ("error", "internal"), error
        await outage.mend()

        async def stored() -> bool:  # the database answers again (the server's pool reconnects)
            status, body = await village.call("GET", "/requests")
            return status == 200 and body["items"] == []

        await eventually(stored)
        status, first = await asyncio.wait_for(village.call("POST", "/replies", token=gate["token"], json=over_http), 10)
        assert status == 201, first  # the writer survived the outage
        ticket_ws = (await asyncio.wait_for(ws_reply(ws, **over_ws), 10))["ticket"]
        assert (await http_reply(village, gate["token"], expect=200, **over_http))["ticket"] == first["ticket"]
        assert (await ws_reply(ws, **over_ws))["ticket"] == ticket_ws != first["ticket"]
        _, page = await village.call("GET", "/requests", expect=200)
        assert sorted(r["ticket"] for r in page["items"]) == sorted([first["ticket"], ticket_ws])
        await ws.close()
