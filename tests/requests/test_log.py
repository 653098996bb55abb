"""The request log: listing and filters, history, the state machine, scope, and answers reaching the screen."""

from datetime import UTC, datetime, timedelta

import pytest

from announcements.protocol import RequestCategory
from announcements.requests.intake import NewRequest, store_requests
from announcements.requests.sweep import sweep_no_follow_up
from announcements.timeutil import utcnow
from broadcast_server.keys import DATABASE, HUB, REPLIES
from broadcast_server.ratelimit import RateLimiter
from tests.requests.conftest import VILLAGE, http_reply, patch, resolve
from tests.wsframes import collect, connect, until

XINCUN = "/hongqi/xincun"


async def _requests(village, token=None, **params):
    _, page = await village.call("GET", "/requests", token=token, params=params, expect=200)
    return page


async def _every_page(village, *, limit: int) -> list[str]:
    """The tickets of GET /requests, page after page by its cursor, in the order given."""
    seen, cursor = [], None
    while True:
        page = await _requests(village, limit=limit, **({"cursor": cursor} if cursor else {}))
        seen += [r["ticket"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_filters_text_search_overdue_and_paging(village, gate):
    """GET /requests filters by status, category, area, assignee, q and overdue, and pages without repeats."""
    village.app[REPLIES].limiter = RateLimiter(0, what="replies")
    other = await village.screen("xincun-gate", XINCUN)
    lamp = await http_reply(village, gate["token"], category="complaint", text="村口路灯坏了")
    water = await http_reply(village, gate["token"], category="help", text="自来水管爆了，50%的人家没水")
    well = await http_reply(village, other["token"], category="question", text="水井什么时候修？")
    wifi = await http_reply(village, gate["token"], category="help", text="第50户门口的WiFi坏了")
    await patch(village, water["ticket"], assignee="王网格员")
    async with village.app[DATABASE].write() as session:  # one taken in nine days ago: past both deadlines
        [old] = await store_requests(
            session=session, now=utcnow() - timedelta(days=9),
            items=[NewRequest(area=XINCUN, category=RequestCategory.OTHER, text="旧的诉求")],
        )

    def tickets(page):
        return {r["ticket"] for r in page["items"]}

    assert tickets(await _requests(village, status="assigned")) == {water["ticket"]}
    assert tickets(await _requests(village, category="question")) == {well["ticket"]}
    assert tickets(await _requests(village, category="help")) == {water["ticket"], wifi["ticket"]}
    assert tickets(await _requests(village, area=XINCUN)) == {well["ticket"], old.ticket}
    assert tickets(await _requests(village, assignee="王网格员")) == {water["ticket"]}
    assert tickets(await _requests(village, q="水")) == {water["ticket"], well["ticket"]}
    assert tickets(await _requests(village, q="50%")) == {water["ticket"]}  # % is a character, not a wildcard
    assert tickets(await _requests(village, q="wifi")) == {wifi["ticket"]}  # letters in any case
    assert tickets(await _requests(village, q=lamp["ticket"].lower().replace("-", ""))) == {lamp["ticket"]}
    overdue = await _requests(village, overdue="true")
    assert tickets(overdue) == {old.ticket} and overdue["items"][0]["overdue"] is True
    assert old.ticket not in tickets(await _requests(village, overdue="false"))
    seen = await _every_page(village, limit=3)
    assert len(seen) == len(set(seen)) == 5 and seen[-1] == old.ticket  # newest first


async def test_pages_of_requests_taken_in_at_the_same_instant_miss_none_and_repeat_none(village):
    """A batch stored together shares its created_at: the cursor breaks the tie by ticket."""
    async with village.app[DATABASE].write() as session:
        batch = await store_requests(
            session=session, now=utcnow(),
            items=[NewRequest(area=VILLAGE, category=RequestCategory.OTHER, text=f"同时 {n}") for n in range(7)],
        )
    seen = await _every_page(village, limit=2)
    assert sorted(seen) == sorted(t.ticket for t in batch)


@pytest.mark.parametrize(
    "params, status",
    [
        ({"status": "done"}, 422),
        ({"area": "no-slash"}, 422),
        ({"area": "/other-county"}, 403),
        ({"limit": "0"}, 422),
        ({"cursor": "bm90LWEtY3Vyc29y"}, 422),
        ({"q": "a\x00"}, 422),
        ({"since": "yesterday"}, 422),
    ],
)
async def test_bad_list_parameters(village, params, status):
    """Bad filters get 422 naming the parameter; an area outside the token's scope 403."""
    committee = await village.token("committee", "/hongqi")
    got, problem = await village.call("GET", "/requests", token=committee, params=params)
    assert got == status, problem


async def test_history_says_who_when_and_what(village, gate):
    """Each change is in the history with the token's name and role, the status before and after, and the note."""
    committee = await village.token("committee", VILLAGE)
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    await patch(village, ticket, token=committee, assignee="王网格员")
    await patch(village, ticket, token=committee, status="in_progress", response="明天派人来修。")
    await patch(village, ticket, token=committee, assignee="李网格员")  # handed over while in progress
    detail = await patch(village, ticket, token=committee, response="李网格员明天上午到。")  # only the answer changes
    rows = [(h["actor"], h["actor_role"], h["from_status"], h["to_status"], h["assignee"], h["response"]) for h in detail["history"]]
    assert rows == [
        ("villager", "villager", None, "received", None, None),
        (f"committee@{VILLAGE}", "committee", "received", "assigned", "王网格员", None),
        (f"committee@{VILLAGE}", "committee", "assigned", "in_progress", None, "明天派人来修。"),
        (f"committee@{VILLAGE}", "committee", None, None, "李网格员", None),
        (f"committee@{VILLAGE}", "committee", None, None, None, "李网格员明天上午到。"),
    ]
    assert (detail["status"], detail["assignee"], detail["response"]) == ("in_progress", "李网格员", "李网格员明天上午到。")
    times = [h["at"] for h in detail["history"]]
    assert times == sorted(times) and detail["first_response_at"] == times[1]


async def _at(village, ticket, state):
    """Walk a new request to `state` by legal changes."""
    steps = {
        "received": [],
        "assigned": [{"assignee": "王网格员"}],
        "in_progress": [{"assignee": "王网格员"}, {"status": "in_progress"}],
        "resolved": [{"assignee": "王网格员"}, {"status": "in_progress"}, {"status": "resolved", "response": "好了"}],
        "closed": [{"assignee": "王网格员"}, {"status": "in_progress"}, {"status": "resolved", "response": "好了"}, {"status": "closed"}],
        "rejected": [{"status": "rejected", "response": "不属于村委会职责"}],
    }[state]
    for change in steps:
        await patch(village, ticket, **change)


@pytest.mark.parametrize(
    "start, target",
    [
        ("received", "closed"),
        ("assigned", "received"),
        ("in_progress", "closed"),
        ("resolved", "rejected"),
        ("resolved", "assigned"),
        ("closed", "in_progress"),
        ("rejected", "assigned"),
    ],
)
async def test_illegal_status_change_is_409(village, gate, start, target):
    """A change the state machine does not allow is 409, and nothing changes."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    await _at(village, ticket, start)
    status, problem = await village.call("PATCH", f"/requests/{ticket}", json={"status": target, "response": "x"})
    assert status == 409 and start in problem["detail"] and target in problem["detail"]
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    assert detail["status"] == start and detail["response"] != "x"


async def test_every_legal_change_and_the_rules_around_them(village, gate):
    """The whole machine: received→assigned→in_progress→resolved→in_progress→resolved→closed; rejecting needs a response."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    for change, status in [
        ({"assignee": "王网格员"}, "assigned"),  # an assignee moves a received request to assigned
        ({"status": "in_progress"}, "in_progress"),
        ({"status": "resolved", "response": "修好了"}, "resolved"),
        ({"status": "in_progress"}, "in_progress"),  # reopened
        ({"status": "resolved"}, "resolved"),
        ({"status": "resolved"}, "resolved"),  # the same status again changes nothing
        ({"status": "closed"}, "closed"),
    ]:
        assert (await patch(village, ticket, **change))["status"] == status
    other = (await http_reply(village, gate["token"]))["ticket"]
    assert (await village.call("PATCH", f"/requests/{other}", json={}))[0] == 422
    for body, field in [
        ({"status": "rejected"}, "response"),  # rejecting says why
        ({"status": "rejected", "response": " "}, "response"),
        ({"status": None}, "status"),  # may be changed, not removed
        ({"response": None}, "response"),
        ({"assignee": "王\x00"}, "assignee"),
        ({"response": "好\x00"}, "response"),
    ]:
        status, problem = await village.call("PATCH", f"/requests/{other}", json=body)
        assert status == 422 and [e["loc"] for e in problem["errors"]] == [[field]] and problem["errors"][0]["msg"], (body, problem)
    assert (await village.call("PATCH", f"/requests/{other}", json={"assignee": " "}))[0] == 422
    _, untouched = await village.call("GET", f"/requests/{other}", expect=200)
    assert (untouched["status"], untouched["response"], len(untouched["history"])) == ("received", None, 1)
    assert (await patch(village, other, status="rejected", response="这是县里的事，请拨打12345。"))["status"] == "rejected"


async def test_scope_worker_of_another_area_gets_404(village, gate):
    """A worker sees and works only its area: another village's worker gets 404 and an empty list; screens get 403."""
    ticket = (await http_reply(village, gate["token"], contact={"name": "李四", "phone": "13900001111"}))["ticket"]
    stranger = await village.token("worker", XINCUN)
    assert (await village.call("GET", f"/requests/{ticket}", token=stranger))[0] == 404
    assert (await village.call("PATCH", f"/requests/{ticket}", token=stranger, json={"status": "assigned"}))[0] == 404
    assert (await _requests(village, token=stranger))["items"] == []
    assert (await village.call("GET", "/requests/AAA-AAA"))[0] == 404
    assert (await village.call("GET", "/requests/not%20a%20ticket"))[0] == 404
    assert (await village.call("GET", "/requests", token=gate["token"]))[0] == 403
    worker = await village.token("worker", VILLAGE + "/grid-3")
    assert (await village.call("GET", f"/requests/{ticket}", token=worker))[0] == 404  # a grid below does not see the village
    local = await village.token("worker", VILLAGE)
    detail = await patch(village, ticket, token=local, assignee="赵网格员")
    assert detail["status"] == "assigned" and detail["contact"] == {"name": "李四", "phone": "13900001111"}
    district = await village.token("committee", "/hongqi")
    assert [r["ticket"] for r in (await _requests(village, token=district))["items"]] == [ticket]


async def test_response_reaches_the_originating_screen_live_and_no_other(village, gate):
    """Setting a response pushes request_update (ticket, status, response) to the screen it came from, not to others."""
    neighbour = await village.screen("market", VILLAGE)
    ws2 = await connect(village, neighbour["token"])
    await until(ws2, "synced")
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    await patch(village, ticket, response="收到，明天上午处理。")
    frames = await collect(gate["ws"], lambda fs: any(f["type"] == "request_update" for f in fs))
    update = [f for f in frames if f["type"] == "request_update"][-1]
    assert update["ticket"] == ticket and update["status"] == "received" and update["response"] == "收到，明天上午处理。"
    assert update["seq"] > gate["head"]
    await patch(village, ticket, assignee="王网格员")  # assignee alone: nothing for the screen, but the status moved
    frames = await collect(gate["ws"], lambda fs: any(f["type"] == "request_update" for f in fs))
    assert [f["status"] for f in frames if f["type"] == "request_update"] == ["assigned"]
    await ws2.send_json({"type": "ping"})
    assert [f["type"] for f in await until(ws2, "pong")] == ["pong"]
    await ws2.close()


async def test_response_reaches_the_screen_after_it_was_offline(village, gate):
    """Updates made while the screen was away are replayed, in order, when it reconnects with its last_seq."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    await gate["ws"].close()
    await resolve(village, ticket, response="路灯已更换。")
    ws = await connect(village, gate["token"], last_seq=gate["head"])
    frames = await until(ws, "synced")
    updates = [f for f in frames if f["type"] == "request_update"]
    assert [u["status"] for u in updates] == ["assigned", "in_progress", "resolved"]
    assert updates[-1] == {
        "type": "request_update", "seq": updates[-1]["seq"], "ticket": ticket, "status": "resolved", "response": "路灯已更换。"
    }
    await ws.close()


async def test_dissatisfied_feedback_reopens_and_the_rates_move(village, gate):
    """`dissatisfied` reopens with the comment in the history and lowers the rates; `satisfied` closes; each answered by request_update."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    await resolve(village, ticket)
    await collect(gate["ws"], lambda fs: any(f.get("status") == "resolved" for f in fs))
    before = (await village.call("GET", "/stats", expect=200))[1]
    assert before["resolution_rate"]["rate"] == 1.0 and before["satisfaction_rate"]["denominator"] == 0
    await gate["ws"].send_json({"type": "feedback", "ticket": ticket, "rating": "dissatisfied", "comment": "灯还是不亮"})
    frames = await collect(gate["ws"], lambda fs: any(f["type"] == "request_update" for f in fs))
    assert [(f["ticket"], f["status"]) for f in frames if f["type"] == "request_update"] == [(ticket, "in_progress")]
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    last = detail["history"][-1]
    assert (last["actor"], last["action"], last["rating"], last["note"]) == ("villager", "feedback", "dissatisfied", "灯还是不亮")
    assert (last["from_status"], last["to_status"], detail["follow_up"]) == ("resolved", "in_progress", "dissatisfied")
    reopened = (await village.call("GET", "/stats", expect=200))[1]
    assert reopened["resolution_rate"] == {"numerator": 0, "denominator": 1, "rate": 0.0}
    assert reopened["satisfaction_rate"] == {"numerator": 0, "denominator": 1, "rate": 0.0} and reopened["reopened"] == 1
    await patch(village, ticket, status="resolved", response="换了新灯泡。")
    await gate["ws"].send_json({"type": "feedback", "ticket": ticket, "rating": "satisfied"})
    frames = await collect(gate["ws"], lambda fs: any(f.get("status") == "closed" for f in fs))
    assert frames[-1]["type"] == "request_update" and frames[-1]["ticket"] == ticket
    after = (await village.call("GET", "/stats", expect=200))[1]
    assert after["resolution_rate"]["rate"] == 1.0 and after["satisfaction_rate"] == {"numerator": 1, "denominator": 1, "rate": 1.0}


@pytest.mark.parametrize(
    "case, code",
    [
        ("another screen's ticket", "not_found"),
        ("unknown ticket", "not_found"),
        ("not resolved yet", "conflict"),
        ("bad rating", "invalid"),
    ],
)
async def test_feedback_errors(village, gate, case, code):
    """Feedback that cannot be taken gets an error (and the connection stays)."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    rating = "satisfied"
    if case == "another screen's ticket":
        other = await village.screen("market", VILLAGE)
        ticket = (await http_reply(village, other["token"]))["ticket"]
        await resolve(village, ticket)
    elif case == "unknown ticket":
        ticket = "ZZZ-ZZZ"
    elif case == "bad rating":
        rating = "very_happy"
    await gate["ws"].send_json({"type": "feedback", "ticket": ticket, "rating": rating})
    error = (await until(gate["ws"], "error"))[-1]
    assert error["code"] == code and error["message"]
    if case != "bad rating":  # a frame that does not parse has no ticket to answer to
        assert error["ref"] == ticket
    await gate["ws"].send_json({"type": "ping"})
    await until(gate["ws"], "pong")


async def test_feedback_over_http_and_a_resend_is_harmless(village, gate):
    """POST /requests/{ticket}/feedback (screen token) closes a resolved request; the same answer again changes nothing."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    await resolve(village, ticket)
    path = f"/requests/{ticket}/feedback"
    _, answer = await village.call("POST", path, token=gate["token"], json={"rating": "basically_satisfied"}, expect=200)
    assert answer == {"ticket": ticket, "status": "closed", "response": "已经修好了。"}
    await village.call("POST", path, token=gate["token"], json={"rating": "basically_satisfied"}, expect=200)
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    assert [h["action"] for h in detail["history"]].count("feedback") == 1 and detail["follow_up"] == "basically_satisfied"
    assert (await village.call("POST", path, json={"rating": "satisfied"}))[0] == 403  # staff cannot answer for the villager


@pytest.mark.settings(event_poll_s=30)  # an update that waited for the poll would miss the test's deadline
async def test_feedback_is_timed_by_the_server_told_at_once_and_final(village, gate, clock):
    """`satisfied` closes the request at the server's time of the answer (closed, updated, history) and the
    screen hears it at once. A closed request takes no other answer, nor does one the committee closed itself."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    await resolve(village, ticket)
    clock.at = answered_at = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
    await gate["ws"].send_json({"type": "feedback", "ticket": ticket, "rating": "satisfied"})
    frames = await collect(gate["ws"], lambda fs: any(f.get("status") == "closed" for f in fs), timeout=5)
    assert [f["ticket"] for f in frames if f.get("status") == "closed"] == [ticket]
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    stamps = {detail["closed_at"], detail["updated_at"], detail["history"][-1]["at"]}
    assert {datetime.fromisoformat(s) for s in stamps} == {answered_at}
    path = f"/requests/{ticket}/feedback"
    await village.call("POST", path, token=gate["token"], json={"rating": "basically_satisfied"}, expect=409)

    other = (await http_reply(village, gate["token"]))["ticket"]
    await patch(village, other, status="rejected", response="请咨询镇政府")
    await village.call("POST", f"/requests/{other}/feedback", token=gate["token"], json={"rating": "satisfied"}, expect=409)


async def test_no_follow_up_is_recorded_and_closes(village, gate):
    """A resolved request with no feedback for the configured days is recorded as no follow-up, closed, and the screen told."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    fresh = (await http_reply(village, gate["token"]))["ticket"]
    await resolve(village, ticket)
    await resolve(village, fresh)
    async with village.app[DATABASE].write() as session:
        swept = await sweep_no_follow_up(session=session, now=utcnow() + timedelta(days=7, minutes=1), after=timedelta(days=7), close=True)
    village.app[HUB].notify()
    assert {r.ticket for r in swept} == {ticket, fresh}
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    assert detail["status"] == "closed" and detail["follow_up"] == "no_follow_up"
    assert (detail["history"][-1]["actor"], detail["history"][-1]["action"]) == ("system", "no_follow_up")
    frames = await collect(gate["ws"], lambda fs: sum(f.get("status") == "closed" for f in fs) == 2)
    assert {f["ticket"] for f in frames if f.get("status") == "closed"} == {ticket, fresh}
    assert await village.app[REPLIES].sweep_once() == 0  # the running server's sweeper finds nothing more
