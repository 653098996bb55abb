"""/api/v1/schedules over HTTP and the wire: a daily broadcast reaches the screen at its times, once each;
bad rules are refused with a code the console translates, and change nothing."""

from datetime import UTC, datetime, timedelta

import pytest

from broadcast_server.keys import DISPATCHER
from tests.wsframes import connect, until

CREATED = datetime(2030, 4, 30, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai (the default timezone)
FIRST = datetime(2030, 4, 30, 22, 30, tzinfo=UTC)  # 2030-05-01 06:30 in Shanghai
DAILY = {"title": "早间广播", "body": "今天天气晴。", "rule": "FREQ=DAILY", "start": "2030-05-01T06:30"}


async def test_a_daily_broadcast_reaches_the_screen_at_each_time_once(village, clock):
    clock.at = CREATED
    screen = await village.screen("gate", "/hongqi/liujingtun")
    _, schedule = await village.call("POST", "/schedules", json={**DAILY, "target": {"areas": ["/hongqi"]}}, expect=201)
    assert (schedule["status"], schedule["next_at"], schedule["start"]) == ("active", "2030-04-30T22:30:00Z", "2030-05-01T06:30:00")
    ws = await connect(village, screen["token"])
    await until(ws, "synced")
    for day in range(2):
        clock.at = FIRST + timedelta(days=day)
        village.app[DISPATCHER].poke()
        frames = await until(ws, "announcement", timeout=10)
        assert [f["announcement"]["title"] for f in frames if f["type"] == "announcement"] == ["早间广播"]
    village.app[DISPATCHER].poke()  # a pass at the same instant makes nothing more
    _, page = await village.call("GET", "/announcements", expect=200)
    assert len(page["items"]) == 2
    _, again = await village.call("GET", f"/schedules/{schedule['id']}", expect=200)
    assert again["last_at"] == "2030-05-01T22:30:00Z" and again["next_at"] == "2030-05-02T22:30:00Z"
    await ws.close()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"rule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "schedule_never_fires"),
        ({"until": "2030-04-01"}, "schedule_end_before_start"),
        ({"rule": "FREQ=MINUTELY;COUNT=10000"}, "schedule_too_many"),
        ({"rule": "EVERY DAY"}, "schedule_rule_invalid"),
        ({"dates": ["2030-05-03"]}, "schedule_rule_or_dates"),
    ],
)
async def test_bad_rules_are_refused_with_a_code_and_change_nothing(village, clock, fields, code):
    clock.at = CREATED
    status, problem = await village.call("POST", "/schedules", json={**DAILY, **fields})
    assert status == 422 and [e["type"] for e in problem["errors"]] == [code], problem
    _, schedules = await village.call("GET", "/schedules", expect=200)
    assert schedules == []


async def test_calendar_pause_edit_and_stop(village, clock):
    clock.at = CREATED
    _, weekdays = await village.call("POST", "/schedules", json={**DAILY, "rule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"}, expect=201)
    _, dates = await village.call("POST", "/schedules", json={**DAILY, "rule": None, "dates": ["2030-05-03", "2030-05-09"],
                                                               "start": "2030-05-03T18:00", "title": "打疫苗"}, expect=201)
    _, days = await village.call("GET", "/schedules/calendar?days=14", expect=200)
    assert len(days) == 14 and days[0]["day"] == "2030-04-30"
    times = {(d["day"], o["time"], o["title"]) for d in days for o in d["occurrences"]}
    assert ("2030-05-03", "18:00", "打疫苗") in times and ("2030-05-04", "06:30", "早间广播") not in times  # a Saturday
    assert sum(o["title"] == "早间广播" for d in days for o in d["occurrences"]) == 9  # weekdays from Wed 1 May to Mon 13 May

    _, paused = await village.call("PATCH", f"/schedules/{weekdays['id']}", json={"status": "paused"}, expect=200)
    assert paused["status"] == "paused"
    clock.at = FIRST
    village.app[DISPATCHER].poke()
    _, edited = await village.call("PATCH", f"/schedules/{dates['id']}", json={"title": "打疫苗（改期）",
                                   "when": {"dates": ["2030-05-10"], "start": "2030-05-10T09:00"}}, expect=200)
    assert (edited["title"], edited["next_at"]) == ("打疫苗（改期）", "2030-05-10T01:00:00Z")
    _, stopped = await village.call("POST", f"/schedules/{dates['id']}/stop", expect=200)
    assert stopped["status"] == "stopped" and stopped["next_at"] is None
    await village.call("PATCH", f"/schedules/{dates['id']}", json={"status": "active"}, expect=409)
    _, page = await village.call("GET", "/announcements", expect=200)
    assert page["items"] == []  # paused: the morning passed without a broadcast
    _, resumed = await village.call("PATCH", f"/schedules/{weekdays['id']}", json={"status": "active"}, expect=200)
    assert resumed["next_at"] == "2030-05-01T22:30:00Z"  # the next one from now, not the one missed while paused
