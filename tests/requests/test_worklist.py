"""The request log as a daily worklist: one-step resolve, internal notes, urgent first, deadlines, the summary,
assigning to worker accounts and "my items", and the Chinese CSV with its recorded unmasked export."""

import base64
import csv
import io
from datetime import timedelta

from aiohttp import ClientSession, CookieJar

from announcements.timeutil import utcnow
from tests.requests.conftest import VILLAGE, http_reply, patch
from tests.wsframes import until

PASSWORD = "村里的新密码一二三"


def steps(detail: dict) -> list[tuple]:
    return [(h["action"], h["from_status"], h["to_status"]) for h in detail["history"]]


async def test_resolve_in_one_step_records_every_step(village, gate):
    """Resolving a received request is one PATCH; the history has each step, the response on the last; the screen hears 'resolved'."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    detail = await patch(village, ticket, status="resolved", response="路灯已经修好。", assignee="wang")
    assert detail["status"] == "resolved" and detail["resolved_at"] and detail["first_response_at"]
    assert steps(detail) == [
        ("received", None, "received"),
        ("update", "received", "assigned"), ("update", "assigned", "in_progress"), ("update", "in_progress", "resolved"),
    ]
    assert [h["assignee"] for h in detail["history"]] == [None, "wang", None, None]
    assert [h["response"] for h in detail["history"]] == [None, None, None, "路灯已经修好。"]
    update = (await until(gate["ws"], "request_update"))[-1]
    assert update["ticket"] == ticket and update["status"] == "resolved"


async def test_a_final_request_cannot_be_walked_anywhere(village, gate):
    """Closing a received request (through resolved) is still a 409, and nothing changes."""
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    status, problem = await village.call("PATCH", f"/requests/{ticket}", json={"status": "closed"})
    assert status == 409 and "received" in problem["detail"]
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    assert detail["status"] == "received" and len(detail["history"]) == 1


async def test_a_note_is_kept_in_the_history_and_shown_to_staff_only(village, gate, clock):
    """Staff read the note in the history, at the server's time; staff of another village cannot write one; the
    screen, Open311 and the CSV never carry it; a screen may not write one."""
    ticket = (await http_reply(village, gate["token"], contact={"phone": "13812345678"}))["ticket"]
    note = "内部备注：已电话联系电工老张，明早去看。"
    beside = await village.token("committee", "/dongfeng")
    assert (await village.call("POST", f"/requests/{ticket}/notes", token=beside, json={"text": "别村的备注"}))[0] == 404
    worker = await village.token("worker", VILLAGE)
    clock.at = utcnow() + timedelta(hours=3)
    status, detail = await village.call("POST", f"/requests/{ticket}/notes", token=worker, json={"text": note})
    assert status == 201 and detail["status"] == "received" and detail["first_response_at"] is None
    assert [h["action"] for h in detail["history"]] == ["received", "note"], "the other village's note was not kept"
    assert (detail["history"][-1]["note"], detail["history"][-1]["at"]) == (note, clock.at.isoformat().replace("+00:00", "Z"))

    await patch(village, ticket, response="收到，明天上午处理。")  # the screen's next message comes after the note
    frames = await until(gate["ws"], "request_update")
    assert not any(note in str(frame) for frame in frames)
    for path in (f"/requests?q={ticket}", "/requests.csv", "/requests.csv?lang=en"):
        async with village.http.get(village.url + "/api/v1" + path, headers=village.auth()) as resp:
            assert resp.status == 200 and note not in await resp.text()
    async with village.http.get(f"{village.url}/open311/v2/requests/{ticket}.json", headers=village.auth()) as resp:
        assert resp.status == 200 and note not in await resp.text()
    assert (await village.call("POST", f"/requests/{ticket}/notes", token=gate["token"], json={"text": "x"}))[0] == 403
    assert (await village.call("GET", f"/requests/{ticket}", token=gate["token"]))[0] == 403


async def test_a_blank_note_is_refused_and_changes_nothing(village, gate):
    ticket = (await http_reply(village, gate["token"]))["ticket"]
    for body in ({"text": ""}, {"text": "   "}, {"text": "a\x00b"}, {}):
        status, problem = await village.call("POST", f"/requests/{ticket}/notes", json=body)
        assert status == 422 and problem["errors"][0]["loc"][-1] == "text", (body, problem)
    assert (await village.call("POST", "/requests/ZZZ-ZZZ/notes", json={"text": "x"}))[0] == 404
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    assert len(detail["history"]) == 1


async def test_open_requests_for_help_come_first_and_paging_keeps_that_order(village, gate):
    """Default order: open 求助 first (newest first among them), then the rest newest first; page by page the same."""
    older_help = (await http_reply(village, gate["token"], category="help"))["ticket"]
    question = (await http_reply(village, gate["token"], category="question"))["ticket"]
    done_help = (await http_reply(village, gate["token"], category="help"))["ticket"]
    newer_help = (await http_reply(village, gate["token"], category="help"))["ticket"]
    suggestion = (await http_reply(village, gate["token"], category="suggestion"))["ticket"]
    await patch(village, done_help, status="resolved", response="已办好")
    _, page = await village.call("GET", "/requests", expect=200)
    assert [r["ticket"] for r in page["items"]] == [newer_help, older_help, suggestion, done_help, question]
    paged, cursor = [], None
    while True:
        _, page = await village.call("GET", "/requests", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, expect=200)
        paged += [r["ticket"] for r in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert paged == [newer_help, older_help, suggestion, done_help, question]
    _, newest = await village.call("GET", "/requests", params={"sort": "newest"}, expect=200)
    assert [r["ticket"] for r in newest["items"]] == [suggestion, newer_help, done_help, question, older_help]
    assert (await village.call("GET", "/requests", params={"sort": "oldest"}))[0] == 422
    assert (await village.call("GET", "/requests", params={"cursor": "bm90IG91cnM="}))[0] == 422


async def test_newest_first_pages_too_and_a_forged_cursor_is_refused_naming_it(village, gate):
    """sort=newest page by page gives the one-page order; a cursor that decodes but was never given out (an urgent
    rank that is not 0 or 1, no ticket) is a 422 naming `cursor`, in either order."""
    for category in ("help", "question", "suggestion", "help", "complaint"):
        await http_reply(village, gate["token"], category=category)
    for sort in ("newest", "worklist"):
        _, whole = await village.call("GET", "/requests", params={"sort": sort}, expect=200)
        paged, cursor = [], None
        while True:
            params = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
            _, page = await village.call("GET", "/requests", params=params, expect=200)
            paged += [r["ticket"] for r in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert paged == [r["ticket"] for r in whole["items"]] and len(paged) == 5, sort
    at = utcnow().isoformat()
    for key in ("9:482-193", "1:", ":482-193", "482-193"):
        forged = base64.urlsafe_b64encode(f"{at}|{key}".encode()).decode()
        status, problem = await village.call("GET", "/requests", params={"cursor": forged})
        assert status == 422 and problem["errors"][0]["loc"][-1] == "cursor", (key, problem)


async def test_deadlines_due_soon_overdue_and_the_summary(village, gate, clock):
    """A help request is due in 2 h: nearly due in its last half hour, overdue after; the summary counts them."""
    start = utcnow()
    clock.at = start
    ticket = (await http_reply(village, gate["token"], category="help"))["ticket"]
    (await http_reply(village, gate["token"], category="suggestion"))
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    assert detail["due_at"] == detail["response_due_at"] and not detail["due_soon"] and not detail["overdue"]
    _, summary = await village.call("GET", "/requests/summary", params={"since": (start - timedelta(seconds=1)).isoformat()}, expect=200)
    assert {k: summary[k] for k in ("waiting", "overdue", "due_soon", "new", "mine")} == {
        "waiting": 2, "overdue": 0, "due_soon": 0, "new": 2, "mine": 0
    }
    assert summary["poll_s"] == 20, "the console asks again after the server's console_poll_s"
    assert (await village.call("GET", "/requests/summary", expect=200))[1]["new"] == 0, "nothing is new without a since"
    latest = summary["latest_created_at"]
    _, summary = await village.call("GET", "/requests/summary", params={"since": latest}, expect=200)
    assert summary["new"] == 0

    beside = await village.screen("dongfeng gate", "/dongfeng")
    (await http_reply(village, beside["token"], category="help"))  # another village's: never in this clerk's counts
    clerk = await village.token("committee", VILLAGE)
    clock.at = start + timedelta(hours=1, minutes=45)
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    assert detail["due_soon"] and not detail["overdue"] and 14 * 60 <= detail["due_in_s"] <= 15 * 60
    assert (await village.call("GET", "/requests/summary", expect=200))[1]["due_soon"] == 2  # the county sees both
    assert (await village.call("GET", "/requests/summary", token=clerk, expect=200))[1]["due_soon"] == 1
    clock.at = start + timedelta(hours=2, minutes=1)
    _, summary = await village.call("GET", "/requests/summary", token=clerk, expect=200)
    assert (summary["overdue"], summary["due_soon"]) == (1, 0)
    detail = await patch(village, ticket, assignee="wang")  # the first response: now due by the resolution deadline
    assert detail["due_at"] == detail["resolution_due_at"] and not detail["overdue"]
    assert (await village.call("GET", "/requests/summary", params={"since": "yesterday"}))[0] == 422


async def test_workers_in_scope_are_offered_and_a_worker_sees_what_is_assigned_to_them(village, gate):
    """The assignee picker lists worker accounts in scope; assigned by sign-in name, the worker's 我的事项 shows the request."""
    await village.call("POST", "/areas", json={"path": VILLAGE, "name": "刘井屯村"}, expect=201)
    people = (
        ("wang2", "王师傅", "worker", VILLAGE), ("wang", "王师傅", "worker", VILLAGE), ("aaa", "黄师傅", "worker", VILLAGE),
        ("chen", "陈师傅", "worker", VILLAGE), ("zhao", "赵师傅", "worker", "/hongqi/xincun"), ("li", "李主任", "committee", VILLAGE),
    )
    for name, display_name, role, area in people:
        user = {"name": name, "display_name": display_name, "role": role, "area": area, "password": PASSWORD}
        await village.call("POST", "/users", json=user, expect=201)
    await village.call("PATCH", "/users/chen", json={"disabled": True}, expect=200)  # left the village: not offered
    clerk = await village.token("committee", VILLAGE)
    _, offered = await village.call("GET", "/requests/assignees", token=clerk, expect=200)
    # by the name the clerk reads, then by sign-in name where two read alike
    assert [(w["name"], w["display_name"]) for w in offered] == [("wang", "王师傅"), ("wang2", "王师傅"), ("aaa", "黄师傅")]
    assert {w["area"] for w in offered} == {VILLAGE}

    mine = (await http_reply(village, gate["token"]))["ticket"]
    (await http_reply(village, gate["token"]))
    await patch(village, mine, token=clerk, assignee="wang")
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
        async def call(path, **params):
            async with http.get(village.url + "/api/v1" + path, params=params) as resp:
                assert resp.status == 200
                return await resp.json()

        async with http.post(village.url + "/api/v1/session", json={"name": "wang", "password": PASSWORD},
                             headers={"Origin": village.url}) as resp:
            assert resp.status == 200
        assert [r["ticket"] for r in (await call("/requests", mine="true"))["items"]] == [mine]
        assert (await call("/requests/summary"))["mine"] == 1
        await patch(village, mine, token=clerk, status="resolved", response="修好了。")
        assert (await call("/requests/summary"))["mine"] == 0, "a request the worker finished is no longer theirs to do"


def _table(raw: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


async def _export(village, token=None, **params):
    async with village.http.get(village.url + "/api/v1/requests.csv", headers=village.auth(token), params=params) as resp:
        return resp.status, await resp.read()


async def test_csv_speaks_chinese_by_default_and_english_on_request(village, gate):
    """Chinese headers and words (状态 已受理, 类别 求助, 是否超期 否); ?lang=en gives the API's names; another language is 422."""
    ticket = (await http_reply(village, gate["token"], category="help"))["ticket"]
    status, raw = await _export(village)
    assert status == 200
    row = _table(raw)[0]
    assert list(row)[:5] == ["编号", "受理时间", "状态", "类别", "区域"]
    assert (row["编号"], row["状态"], row["类别"], row["是否超期"], row["来源"]) == (ticket, "已受理", "求助", "否", "屏幕")
    row = _table((await _export(village, lang="en"))[1])[0]
    assert (row["ticket"], row["status"], row["category"], row["overdue"]) == (ticket, "received", "help", "no")
    assert (await _export(village, lang="fr"))[0] == 422


async def test_an_admins_unmasked_export_is_recorded_in_each_requests_history(village, gate):
    """Only an admin sees phones in full, and each request whose phone was shown records who exported it; masked exports record nothing."""
    called = (await http_reply(village, gate["token"], contact={"name": "张三", "phone": "13812345678"}))["ticket"]
    silent = (await http_reply(village, gate["token"]))["ticket"]
    committee = await village.token("committee", VILLAGE)
    assert (await _export(village, committee, unmask="true"))[0] == 403
    await _export(village)  # masked
    _, detail = await village.call("GET", f"/requests/{called}", expect=200)
    assert [h["action"] for h in detail["history"]] == ["received"]

    status, raw = await _export(village, unmask="true")
    assert status == 200 and {r["编号"]: r["联系电话"] for r in _table(raw)}[called] == "13812345678"
    _, detail = await village.call("GET", f"/requests/{called}", expect=200)
    export = detail["history"][-1]
    assert export["action"] == "contact_export" and export["actor_role"] == "admin" and detail["status"] == "received"
    _, detail = await village.call("GET", f"/requests/{silent}", expect=200)
    assert [h["action"] for h in detail["history"]] == ["received"]  # no phone: nothing shown, nothing recorded
