"""CAP 1.2 alerts in, end to end: the real server, real screens in the villages a county warning names.

A rainstorm red warning for two villages reaches their screens as one emergency and no screen beside them;
its Update revises it, its Cancel retracts it, a repeat does nothing; an Exercise is a drill; refusals name
the reason and change nothing; an alert for no configured area is kept for the admins and broadcast nowhere.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from announcements.models import Role
from broadcast_server.keys import DATABASE
from tests.cap.alerts import DONGFENG, LIUJINGTUN, XINCUN, at, configure_villages, fixture, post_cap, retimed, story_now
from tests.e2e.screens import ids, running

CONSOLE_I18N = Path(__file__).resolve().parents[2] / "broadcast_server/static/console/i18n"
HEADLINE = "滨江县气象台发布暴雨红色预警信号"
HEADLINE_UPDATED = "滨江县气象台继续发布暴雨红色预警信号"


async def announcements(village) -> list[dict]:
    _, page = await village.call("GET", "/announcements?limit=200", expect=200)
    return page["items"]


async def cap_alerts(village, token: str | None = None) -> list[dict]:
    _, page = await village.call("GET", "/cap/alerts", token=token, expect=200)
    return page["items"]


async def test_a_rainstorm_warning_is_shown_revised_and_retracted_on_the_screens_of_its_villages(village, tmp_path):
    """Each village's screen shows the warning as an emergency in Chinese; the village beside them gets nothing; the
    repeat changes nothing; the Update is its next revision with the later expiry; the Cancel takes it off."""
    await configure_villages(village)
    start = story_now()
    made = {path: await village.screen(f"screen {path}", path) for path in (LIUJINGTUN, XINCUN, DONGFENG)}
    async with (
        running(village.url, made[LIUJINGTUN]["token"], tmp_path / "liujingtun") as liujingtun,
        running(village.url, made[XINCUN]["token"], tmp_path / "xincun") as xincun,
        running(village.url, made[DONGFENG]["token"], tmp_path / "dongfeng") as dongfeng,
    ):
        for client in (liujingtun, xincun, dongfeng):
            await client.wait_for(lambda c=client: c.synced)
        warning = retimed(fixture("rainstorm-red.xml"), start)
        status, taken = await post_cap(village, warning)
        assert status == 201, taken
        assert (taken["outcome"], taken["areas"], taken["duplicate"]) == ("created", [LIUJINGTUN, XINCUN], False)
        [warning_id] = taken["announcements"]
        for client in (liujingtun, xincun):
            await client.wait_for(lambda c=client: warning_id in ids(c))
        [shown] = liujingtun.announcements()
        assert (shown.title, shown.priority, shown.language) == (HEADLINE, "emergency", "zh")  # the zh-CN info, not the first
        assert shown.cap is not None and (shown.cap.identifier, shown.cap.sender) == (  # the alert it came from
            taken["alert"]["identifier"], taken["alert"]["sender"]) and shown.cap.sent == datetime.fromisoformat(taken["alert"]["sent"])
        assert shown.body.startswith("滨江县气象台2026年7月18日14时05分") and "处于危险地带的人员立即转移到安全场所" in shown.body

        status, again = await post_cap(village, warning)
        assert status == 200 and again["duplicate"] and (again["outcome"], again["announcements"]) == ("created", [warning_id])

        status, updated = await post_cap(village, retimed(fixture("rainstorm-red-update.xml"), start))
        assert status == 201 and (updated["outcome"], updated["announcements"]) == ("updated", [warning_id]), updated
        for client in (liujingtun, xincun):
            await client.wait_for(lambda c=client: [(a.title, a.revision) for a in c.announcements()] == [(HEADLINE_UPDATED, 2)])
        _, detail = await village.call("GET", f"/announcements/{warning_id}", expect=200)
        assert datetime.fromisoformat(detail["expires_at"]) == at("2026-07-19T02:05:00+08:00", start)  # extended
        assert detail["cap"]["identifier"] == updated["alert"]["identifier"] != taken["alert"]["identifier"]  # the Update's
        assert liujingtun.announcements()[0].cap.identifier == updated["alert"]["identifier"]

        status, cancelled = await post_cap(village, retimed(fixture("rainstorm-red-cancel.xml"), start))
        assert status == 201 and (cancelled["outcome"], cancelled["announcements"]) == ("cancelled", [warning_id]), cancelled
        for client in (liujingtun, xincun):
            await client.wait_for(lambda c=client: warning_id not in ids(c))

        marker = await village.post(title="标记", target={"areas": ["/hongqi"]})  # events come in order: all before it arrived
        await dongfeng.wait_for(lambda: marker["id"] in ids(dongfeng))
        assert ids(dongfeng) == {marker["id"]}

    posted = await announcements(village)
    assert sorted((a["title"], a["status"]) for a in posted) == [("标记", "live"), (HEADLINE_UPDATED, "cancelled")]
    listed = await cap_alerts(village)
    assert [(a["msg_type"], a["outcome"], a["announcement_ids"]) for a in listed] == [
        ("Cancel", "cancelled", [warning_id]), ("Update", "updated", [warning_id]), ("Alert", "created", [warning_id]),
    ]


async def test_an_exercise_is_a_drill_on_the_screen_of_the_village_it_names_by_name(village, tmp_path):
    """CAP status Exercise becomes a drill (an emergency marked 演练); the village is found by its name alone."""
    await configure_villages(village, codes=False)
    gate = await village.screen("村口大屏", LIUJINGTUN)
    async with running(village.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: client.synced)
        status, taken = await post_cap(village, retimed(fixture("flood-drill-exercise.xml"), story_now()))
        assert status == 201 and (taken["outcome"], taken["areas"]) == ("created", [LIUJINGTUN]), taken
        [drill_id] = taken["announcements"]
        await client.wait_for(lambda: drill_id in ids(client))
        [shown] = client.announcements()
        assert shown.drill and shown.priority == "emergency" and "刘井屯村山洪灾害转移演练" in shown.title
    _, detail = await village.call("GET", f"/announcements/{drill_id}", expect=200)
    assert detail["drill"] is True


DOCTYPE_BOMB = b"""<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&c;</identifier></alert>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>"""


@pytest.mark.settings(cap_max_bytes=4096)
async def test_refusals_say_why_and_change_nothing(village):
    """Each refusal is problem+json with its own code (and the element, for the schema); nothing is stored or sent."""
    await configure_villages(village)
    start = story_now()
    cases = [
        (fixture("heatwave-cap11.xml"), "application/cap+xml", 422, "cap_not_1_2", "CAP 1.1"),
        (fixture("gale-missing-urgency.xml"), "application/xml", 422, "cap_schema_invalid", "urgency"),
        (b"<html><body>warning</body></html>", "text/xml", 422, "cap_not_cap", "html"),
        (b"\xe6\x9a\xb4\xe9\x9b\xa8 not xml", "application/cap+xml", 400, "cap_not_xml", "not well-formed"),
        (DOCTYPE_BOMB, "application/cap+xml", 400, "cap_doctype", "DOCTYPE"),
        (EXTERNAL_ENTITY, "application/cap+xml", 400, "cap_doctype", "DOCTYPE"),
        (retimed(fixture("rainstorm-red.xml"), start), "application/json", 415, "cap_content_type", "application/cap+xml"),
        (retimed(fixture("rainstorm-red.xml"), start) + b" " * 4096, "application/cap+xml", 413, "cap_too_large", "4096"),
        (retimed(fixture("rainstorm-red-cancel.xml"), start), "application/cap+xml", 422, "cap_reference_unknown", "references no alert"),
        (fixture("rainstorm-red.xml"), "application/cap+xml", 422, "cap_times_invalid", "expired"),  # as dated: July 2026
    ]
    for body, content_type, status, code, said in cases:
        answer_status, problem = await post_cap(village, body, content_type=content_type)
        assert (answer_status, problem["errors"][0]["type"]) == (status, code), (code, problem)
        assert said in problem["detail"], problem
    status, problem = await post_cap(village, fixture("gale-missing-urgency.xml"))
    assert problem["errors"][0]["loc"] == ["alert", "info"] and "Tag 'cap:urgency' expected" in problem["errors"][0]["msg"]
    assert await announcements(village) == [] and await cap_alerts(village) == []


async def test_an_alert_for_no_configured_area_is_kept_for_the_admins_and_broadcast_nowhere(village):
    """422 naming the areas it gave; the admins' list shows it as unmatched with the reason; a repeat is a 200."""
    await configure_villages(village)
    thunder = retimed(fixture("thunderstorm-elsewhere.xml"), story_now())
    status, problem = await post_cap(village, thunder)
    assert status == 422 and problem["errors"][0]["type"] == "cap_no_matching_area" and "良渚街道" in problem["detail"]
    [kept] = await cap_alerts(village)
    assert (kept["outcome"], kept["named_areas"], kept["areas"], kept["announcement_ids"]) == (
        "unmatched", ["良渚街道", "330110005000"], [], [],
    )
    assert kept["headline"] == "余杭区气象台发布雷电黄色预警信号" and "良渚街道" in kept["reason"]
    status, again = await post_cap(village, thunder)
    assert status == 200 and again["duplicate"] and again["outcome"] == "unmatched"
    assert await announcements(village) == [] and len(await cap_alerts(village)) == 1


async def test_a_feed_token_posts_alerts_within_its_area_and_nothing_else(village):
    """A feed scoped to one village: the warning for two villages becomes an announcement for its own; it may not
    list alerts, post or read announcements; a feed is a token, never a person who signs in."""
    await configure_villages(village)
    feed = await village.token("feed", LIUJINGTUN)
    status, taken = await post_cap(village, retimed(fixture("rainstorm-red.xml"), story_now()), token=feed)
    assert status == 201 and taken["areas"] == [LIUJINGTUN], taken
    [made] = await announcements(village)
    assert (made["area"], made["target"]["areas"]) == (LIUJINGTUN, [LIUJINGTUN])
    for method, path in (("GET", "/cap/alerts"), ("GET", "/announcements"), ("POST", "/announcements"), ("GET", "/screens")):
        status, _ = await village.call(method, path, token=feed, json={"title": "t", "body": "b"})
        assert status == 403, (method, path)
    _, me = await village.call("GET", "/me", token=feed, expect=200)
    assert me["role"] == "feed"
    person = {"name": "feeder", "display_name": "预警", "role": "feed", "area": LIUJINGTUN, "password": "一二三四五六七八"}
    status, problem = await village.call("POST", "/users", json=person)
    assert status == 422 and problem["errors"][0]["loc"] == ["role"]
    [kept] = await cap_alerts(village)
    assert kept["area"] == LIUJINGTUN
    admin_beside = await village.token("admin", XINCUN)
    assert await cap_alerts(village, token=admin_beside) == []  # posted within another scope


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_console_names_every_role_a_token_may_hold(language):
    """The people page lists tokens by role: a feed's too, in the clerk's words."""
    words = (CONSOLE_I18N / f"{language}.js").read_text()
    assert [role for role in Role if role != Role.SCREEN and f"'role.{role}':" not in words] == []


@pytest.mark.parametrize(
    ("setting_overrides", "outcome", "priority"),
    [
        # a table of the deployment's own: every Extreme alert is "high"
        ({"cap_priority_rules": [{"severity": ["Extreme"], "priority": "high"}, {"priority": "low"}]}, "created", "high"),
        # codes under another valueName: the villages are found by their names instead
        ({"cap_geocode_names": ["行政区划代码"]}, "created", "emergency"),
        # neither by code nor by name: matched nowhere
        ({"cap_geocode_names": ["行政区划代码"], "cap_match_area_names": False}, "unmatched", None),
    ],
)
async def test_the_mapping_follows_the_settings(village, outcome, priority):
    """The priority table, the geocode names and matching by name come from the settings."""
    await configure_villages(village)
    status, taken = await post_cap(village, retimed(fixture("rainstorm-red.xml"), story_now()))
    assert status == (201 if outcome == "created" else 422), taken
    if priority:
        assert taken["areas"] == [LIUJINGTUN, XINCUN]
        assert [a["priority"] for a in await announcements(village)] == [priority]
    else:
        assert await announcements(village) == []
        assert [a["outcome"] for a in await cap_alerts(village)] == [outcome]


async def test_an_areas_division_codes_are_set_shown_and_checked(village):
    """PATCH /areas sets the codes GET /areas shows; a code that is not 6-12 digits, or another area's, changes nothing."""
    await configure_villages(village)
    url = "/areas/" + LIUJINGTUN.replace("/", "%2F")
    _, area = await village.call("PATCH", url, json={"geocodes": ["330108001001", "330108001001", "330108001"]}, expect=200)
    assert area["geocodes"] == ["330108001001", "330108001"] and area["name"] == "刘井屯村"
    for codes, status, code in ((["33010"], 422, "area_geocode"), (["３３０１０８"], 422, "area_geocode"),
                                (["330108001002"], 409, "area_geocode_taken")):
        answer_status, problem = await village.call("PATCH", url, json={"geocodes": codes})
        assert (answer_status, problem["errors"][0]["type"]) == (status, code), problem
    status, _ = await village.call("PATCH", url, json={})
    assert status == 422
    _, areas = await village.call("GET", "/areas", expect=200)
    assert {a["path"]: a["geocodes"] for a in areas}[LIUJINGTUN] == ["330108001001", "330108001"]


async def test_migrations_0013_and_0015_build_what_the_models_describe(village):
    async with village.app[DATABASE].engine.connect() as conn:
        diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    assert [d for d in diffs if "cap_alert" in repr(d) or "geocodes" in repr(d) or "'cap'" in repr(d)] == []
