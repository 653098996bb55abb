"""/api/v1/schedules over HTTP and the wire: a daily broadcast reaches the screen at its times, once each;
bad rules are refused with a code the console translates, and change nothing."""

from datetime import UTC, datetime, timedelta

import pytest

from broadcast_server.keys import DISPATCHER
from tests.announcements.test_recording import tone, wav
from tests.broadcast_server.test_recordings_api import upload
from tests.e2e.screens import eventually
from tests.wsframes import collect, connect, connected, until

CREATED = datetime(2030, 4, 30, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai (the default timezone)
FIRST = datetime(2030, 4, 30, 22, 30, tzinfo=UTC)  # 2030-05-01 06:30 in Shanghai
DAILY = {"title": "早间广播", "body": "今天天气晴。", "rrule": "FREQ=DAILY;BYHOUR=6;BYMINUTE=30", "dtstart": "2030-05-01",
         "timezone": "Asia/Shanghai"}  # PROTOCOL.md's example


async def test_a_daily_broadcast_reaches_the_screen_at_each_time_once(village, clock):
    clock.at = CREATED
    screen = await village.screen("gate", "/hongqi/liujingtun")
    _, schedule = await village.call("POST", "/schedules", json={**DAILY, "target": {"areas": ["/hongqi"]}}, expect=201)
    assert (schedule["status"], schedule["paused"], schedule["next_at"]) == ("active", False, "2030-04-30T22:30:00Z")
    assert (schedule["rrule"], schedule["dtstart"], schedule["timezone"]) == (DAILY["rrule"], "2030-05-01T00:00:00+08:00", "Asia/Shanghai")
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    for day in range(2):
        clock.at = FIRST + timedelta(days=day)
        village.app[DISPATCHER].poke()
        frames = await until(ws, "announcement", timeout=10)
        sent = [f["announcement"] for f in frames if f["type"] == "announcement"]
        assert [(a["title"], a["schedule_id"]) for a in sent] == [("早间广播", schedule["id"])]
    village.app[DISPATCHER].poke()  # a pass at the same instant makes nothing more
    _, page = await village.call("GET", "/announcements", expect=200)
    assert [a["schedule_id"] for a in page["items"]] == [schedule["id"]] * 2
    _, again = await village.call("GET", f"/schedules/{schedule['id']}", expect=200)
    assert again["last_at"] == "2030-05-01T22:30:00Z" and again["next_at"] == "2030-05-02T22:30:00Z"
    await ws.close()


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule", "schedule_never_fires"),
        ({"until": "2030-04-01"}, "until", "schedule_end_before_start"),
        ({"rrule": "FREQ=MINUTELY;COUNT=10000"}, "rrule", "schedule_too_many"),
        ({"rrule": "EVERY DAY"}, "rrule", "schedule_rule_invalid"),
        ({"rrule": "FREQ=DAILY;BYHOUR=25"}, "rrule", "schedule_rule_invalid"),
        ({"dates": ["2030-05-03"]}, "rrule", "schedule_rule_or_dates"),
        ({"timezone": "Mars/Olympus"}, "timezone", "schedule_timezone_unknown"),
    ],
)
async def test_bad_rules_are_refused_naming_the_field_and_change_nothing(village, clock, fields, field, code):
    clock.at = CREATED
    status, problem = await village.call("POST", "/schedules", json={**DAILY, **fields})
    assert status == 422 and [(e["loc"][-1], e["type"]) for e in problem["errors"]] == [(field, code)], problem
    _, schedules = await village.call("GET", "/schedules", expect=200)
    assert schedules == []


async def test_upcoming_pause_edit_and_delete(village, clock):
    clock.at = CREATED
    weekdays_rule = {"rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "dtstart": "2030-05-01T06:30"}
    _, weekdays = await village.call("POST", "/schedules", json={**DAILY, **weekdays_rule}, expect=201)
    _, dates = await village.call("POST", "/schedules", json={**DAILY, "rrule": None, "dates": ["2030-05-03", "2030-05-09"],
                                                               "dtstart": "2030-05-03T18:00", "title": "打疫苗"}, expect=201)
    _, days = await village.call("GET", "/schedules/upcoming?days=14", expect=200)
    assert len(days) == 14 and days[0]["day"] == "2030-04-30"
    times = {(d["day"], o["time"], o["title"]) for d in days for o in d["occurrences"]}
    assert ("2030-05-03", "18:00", "打疫苗") in times and ("2030-05-04", "06:30", "早间广播") not in times  # a Saturday
    assert sum(o["title"] == "早间广播" for d in days for o in d["occurrences"]) == 9  # weekdays from Wed 1 May to Mon 13 May

    _, paused = await village.call("PATCH", f"/schedules/{weekdays['id']}", json={"paused": True}, expect=200)
    assert (paused["status"], paused["paused"]) == ("paused", True)
    clock.at = FIRST
    village.app[DISPATCHER].poke()
    _, edited = await village.call("PATCH", f"/schedules/{dates['id']}", json={"title": "打疫苗（改期）", "dates": ["2030-05-10"],
                                                                               "dtstart": "2030-05-10T09:00"}, expect=200)
    assert (edited["title"], edited["dates"], edited["next_at"]) == ("打疫苗（改期）", ["2030-05-10"], "2030-05-10T01:00:00Z")
    _, daily = await village.call("PATCH", f"/schedules/{dates['id']}", json={"rrule": "FREQ=DAILY", "until": "2030-05-12"}, expect=200)
    assert (daily["rrule"], daily["dates"], daily["until"], daily["dtstart"]) == (
        "FREQ=DAILY", [], "2030-05-12", "2030-05-10T09:00:00+08:00"
    )
    await village.call("DELETE", f"/schedules/{dates['id']}", expect=204)
    _, stopped = await village.call("GET", f"/schedules/{dates['id']}", expect=200)
    assert stopped["status"] == "stopped" and stopped["next_at"] is None
    await village.call("PATCH", f"/schedules/{dates['id']}", json={"paused": False}, expect=409)
    await village.call("DELETE", f"/schedules/{dates['id']}", expect=409)
    _, page = await village.call("GET", "/announcements", expect=200)
    assert page["items"] == []  # paused: the morning passed without a broadcast
    _, resumed = await village.call("PATCH", f"/schedules/{weekdays['id']}", json={"paused": False}, expect=200)
    assert (resumed["paused"], resumed["next_at"]) == (False, "2030-05-01T22:30:00Z")  # the next one from now, not the one missed


async def test_a_bad_change_is_refused_and_changes_nothing(village, clock):
    clock.at = CREATED
    _, schedule = await village.call("POST", "/schedules", json=DAILY, expect=201)
    status, problem = await village.call("PATCH", f"/schedules/{schedule['id']}", json={"title": "改了", "timezone": "Nowhere/Land"})
    assert status == 422 and [e["type"] for e in problem["errors"]] == ["schedule_timezone_unknown"], problem
    _, again = await village.call("GET", f"/schedules/{schedule['id']}", expect=200)
    assert again == schedule


async def test_a_new_target_reaches_only_its_screens_from_the_next_time_on(village, clock):
    """The clerk narrows a daily broadcast to the market screen: the next occurrence goes there and not to the gate;
    a target outside the editor's scope is refused and changes nothing."""
    clock.at = CREATED
    gate = await village.screen("村口大屏", "/hongqi/liujingtun", tags=["gate"])
    market = await village.screen("集市屏", "/hongqi/liujingtun/grid-3", tags=["market"])
    _, schedule = await village.call("POST", "/schedules", json={**DAILY, "priority": "high"}, expect=201)
    _, edited = await village.call("PATCH", f"/schedules/{schedule['id']}", json={"target": {"tags": ["market"]}}, expect=200)
    assert edited["target"] == {"areas": ["/"], "tags": ["market"], "screens": []} and edited["priority"] == "high"
    committee = await village.token("committee", "/hongqi/liujingtun")
    status, _ = await village.call("PATCH", f"/schedules/{schedule['id']}", token=committee, json={"target": {"areas": ["/dongfeng"]}})
    assert status == 404, "outside the committee's scope: it cannot see the county's schedule at all"
    _, village_schedule = await village.call("POST", "/schedules", token=committee, json={**DAILY, "title": "村广播"}, expect=201)
    status, problem = await village.call(
        "PATCH", f"/schedules/{village_schedule['id']}", token=committee, json={"target": {"areas": ["/dongfeng"]}}
    )
    assert status == 403
    assert (await village.call("GET", f"/schedules/{village_schedule['id']}", expect=200))[1] == village_schedule

    at_gate, at_market = await connected(village, gate["token"]), await connected(village, market["token"])
    clock.at = FIRST
    village.app[DISPATCHER].poke()

    def titles(frames):
        return {f["announcement"]["title"]: f["announcement"]["priority"] for f in frames if f["type"] == "announcement"}

    market_got = titles(await collect(at_market, lambda frames: len(titles(frames)) == 2))
    assert market_got == {"早间广播": "high", "村广播": "normal"}  # the market is in the village too
    gate_got = titles(await collect(at_gate, lambda frames: "村广播" in titles(frames)))
    assert gate_got == {"村广播": "normal"}, "the gate hears its village's broadcast, not the county's narrowed to the market"
    _, page = await village.call("GET", "/announcements", expect=200)
    assert {a["title"]: a["target"]["tags"] for a in page["items"]} == {"早间广播": ["market"], "村广播": []}
    await at_gate.close()
    await at_market.close()


async def test_a_timed_broadcast_plays_a_recording_checked_when_it_is_made(village, clock):
    """PROTOCOL.md 1.1 `recording` on a schedule: each occurrence carries it (played instead of the text); a url this
    server did not store, or a recording with speak off, is refused naming `recording`; null speaks the text again."""
    clock.at = CREATED
    _, stored = await upload(village, wav(tone(seconds=2.0), 44_100), filename="morning.wav")
    for extra, code in (({"recording": f"/media/{'0' * 64}.flac"}, "recording_unknown"),
                        ({"recording": stored["url"], "speak": False}, "recording_not_spoken")):
        status, problem = await village.call("POST", "/schedules", json={**DAILY, **extra})
        assert status == 422 and [(e["loc"], e["type"]) for e in problem["errors"]] == [(["recording"], code)], problem
    _, schedule = await village.call("POST", "/schedules", json={**DAILY, "recording": stored["url"]}, expect=201)
    assert schedule["recording"] == stored["url"]
    clock.at = FIRST
    village.app[DISPATCHER].poke()

    async def occurrence():
        _, page = await village.call("GET", "/announcements", expect=200)
        return page["items"]

    made = await eventually(occurrence)
    assert [(a["schedule_id"], a["recording"]) for a in made] == [(schedule["id"], stored["url"])]
    status, problem = await village.call("PATCH", f"/schedules/{schedule['id']}", json={"speak": False})
    assert status == 422 and problem["errors"][0]["type"] == "recording_not_spoken"
    _, spoken = await village.call("PATCH", f"/schedules/{schedule['id']}", json={"recording": None}, expect=200)
    assert spoken["recording"] is None
