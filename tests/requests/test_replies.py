"""Villagers' replies over the WebSocket and POST /api/v1/replies: tickets, idempotency, limits."""

import asyncio

import pytest

from broadcast_server.keys import REPLIES
from broadcast_server.ratelimit import RateLimiter
from tests.requests.conftest import TICKET, VILLAGE, alive, answer_to, http_reply, reply_body, ws_reply
from tests.wsframes import connect, until


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


async def test_concurrent_resends_store_once(village, gate):
    """Twenty simultaneous posts of one client_msg_id: one 201, the rest 200, all the same ticket."""
    village.app[REPLIES].limiter = RateLimiter(0, what="replies")  # no limit: this is about the race
    body = reply_body()
    answers = await asyncio.gather(*(village.call("POST", "/replies", token=gate["token"], json=body) for _ in range(20)))
    assert sorted(s for s, _ in answers) == [200] * 19 + [201]
    assert len({a["ticket"] for _, a in answers}) == 1
    _, page = await village.call("GET", "/requests", expect=200)
    assert len(page["items"]) == 1


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
        ({"text": "a\x00b"}, "U+0000"),
        ({"text": "bell\x07"}, "U+0007"),
        ({"contact": {"phone": "1" * 31}}, "phone"),
        ({"contact": "13812345678"}, "contact"),
        ({"announcement_id": "no-such-announcement"}, "announcement_id"),
        ({"client_msg_id": 42}, "client_msg_id"),
    ],
)
async def test_invalid_reply_is_refused_naming_the_field(village, gate, fields, words):
    """A bad reply gets error `invalid` naming the field over the WebSocket (which stays open) and 422 over HTTP."""
    await gate["ws"].send_json({"type": "reply", **reply_body(**fields)})
    error = (await until(gate["ws"], "error"))[-1]
    assert error["code"] == "invalid" and words in error["message"], error
    await alive(gate["ws"])
    status, problem = await village.call("POST", "/replies", token=gate["token"], json=reply_body(**fields))
    assert status == 422 and words in problem["detail"], problem
    _, page = await village.call("GET", "/requests", expect=200)
    assert page["items"] == []


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
