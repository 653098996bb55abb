"""/api/v1/templates (模板) over HTTP on SQLite and PostgreSQL: a clerk keeps a notice by name, lists, edits and
deletes it; a county's template serves the villages under it, a village's own stays out of its neighbour's sight
and reach; bad input is refused with a code the console words, and nothing is stored."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from broadcast_server.keys import DATABASE
from tests.broadcast_server.test_pictures import picture, upload

COUNTY, VILLAGE, NEIGHBOUR = "/hongqi", "/hongqi/liujingtun", "/hongqi/dongfeng"
MEDICAL = {
    "name": "医保缴费提醒",
    "title": "城乡居民医保开始缴费",
    "body": "2027年度城乡居民医保缴费已经开始，请于12月31日前缴清。",
    "priority": "high",
    "category": "health",
    "speak": True,
    "repeat": 2,
    "target": {"areas": [VILLAGE], "tags": ["gate"]},
}


async def templates(village, token: str | None = None) -> list[dict]:
    _, answer = await village.call("GET", "/templates", token=token, expect=200)
    return answer


async def test_make_list_edit_and_delete(village):
    committee = await village.token("committee", VILLAGE)
    _, photo = await upload(village, picture())
    _, made = await village.call("POST", "/templates", token=committee, json={**MEDICAL, "images": [photo["url"]]}, expect=201)
    assert {k: made[k] for k in MEDICAL} == {**MEDICAL, "target": {"areas": [VILLAGE], "tags": ["gate"], "screens": []}}
    assert (made["area"], made["language"], made["editable"]) == (VILLAGE, "zh", True)
    assert made["images"] == [{"url": photo["url"], "width": 300, "height": 200}]
    assert made["created_at"] and made["created_by"] and made["id"]
    assert await templates(village, committee) == [made]

    _, renamed = await village.call("PATCH", f"/templates/{made['id']}", token=committee,
                                    json={"name": "  医保提醒  ", "priority": "normal", "images": []}, expect=200)
    assert (renamed["name"], renamed["priority"], renamed["images"], renamed["title"]) == ("医保提醒", "normal", [], MEDICAL["title"])
    _, cleared = await village.call("PATCH", f"/templates/{made['id']}", token=committee, json={"target": None}, expect=200)
    assert cleared["target"] is None  # whoever uses it posts to their own area
    status, problem = await village.call("PATCH", f"/templates/{made['id']}", token=committee, json={"title": ""})
    assert status == 422 and [e["loc"] for e in problem["errors"]] == [["title"]], problem
    await village.call("PATCH", f"/templates/{made['id']}", token=committee, json={}, expect=422)
    assert await templates(village, committee) == [cleared]

    await village.call("DELETE", f"/templates/{made['id']}", token=committee, expect=204)
    await village.call("DELETE", f"/templates/{made['id']}", token=committee, expect=404)
    assert await templates(village, committee) == []


async def test_a_county_template_serves_its_villages_and_a_village_template_stays_its_own(village):
    county = await village.token("committee", COUNTY)
    clerk = await village.token("committee", VILLAGE)
    neighbour = await village.token("committee", NEIGHBOUR)
    fire = {"name": "防火防汛", "title": "防火防汛提醒", "body": "请注意用火安全，汛期远离河道。"}
    water = {"name": "停水通知", "title": "明日停水", "body": "明天上午八点到十二点停水，请提前储水。"}
    _, from_county = await village.call("POST", "/templates", token=county, json=fire, expect=201)
    _, own = await village.call("POST", "/templates", token=clerk, json=water, expect=201)

    assert [(t["name"], t["editable"]) for t in await templates(village, clerk)] == [("停水通知", True), ("防火防汛", False)]
    assert [t["name"] for t in await templates(village, neighbour)] == ["防火防汛"]
    assert [(t["name"], t["editable"]) for t in await templates(village, county)] == [("停水通知", True), ("防火防汛", True)]

    # used, not changed, below; unseen beside
    status, problem = await village.call("DELETE", f"/templates/{from_county['id']}", token=clerk)
    assert status == 403 and [e["type"] for e in problem["errors"]] == ["template_from_above"], problem
    await village.call("PATCH", f"/templates/{from_county['id']}", token=clerk, json={"name": "改名"}, expect=403)
    await village.call("DELETE", f"/templates/{own['id']}", token=neighbour, expect=404)
    await village.call("PATCH", f"/templates/{own['id']}", token=neighbour, json={"name": "改名"}, expect=404)
    assert len(await templates(village, county)) == 2

    # the same name is fine in another area; the county may tidy a village's
    await village.call("POST", "/templates", token=neighbour, json=water, expect=201)
    await village.call("DELETE", f"/templates/{own['id']}", token=county, expect=204)
    assert [t["name"] for t in await templates(village, clerk)] == ["防火防汛"]


async def test_a_target_outside_the_scope_is_403(village):
    clerk = await village.token("committee", VILLAGE)
    body = {**MEDICAL, "target": {"areas": [NEIGHBOUR]}}
    await village.call("POST", "/templates", token=clerk, json=body, expect=403)
    assert await templates(village) == []


async def test_a_name_taken_in_the_area_is_409_on_make_and_on_rename(village):
    clerk = await village.token("committee", VILLAGE)
    await village.call("POST", "/templates", token=clerk, json=MEDICAL, expect=201)
    status, problem = await village.call("POST", "/templates", token=clerk, json={**MEDICAL, "name": " 医保缴费提醒 ", "title": "另一条"})
    assert status == 409 and [(e["loc"], e["type"]) for e in problem["errors"]] == [(["name"], "template_name_taken")], problem
    _, other = await village.call("POST", "/templates", token=clerk, json={**MEDICAL, "name": "疫苗接种"}, expect=201)
    status, problem = await village.call("PATCH", f"/templates/{other['id']}", token=clerk, json={"name": "医保缴费提醒"})
    assert status == 409 and problem["errors"][0]["type"] == "template_name_taken", problem
    assert {t["name"] for t in await templates(village)} == {"疫苗接种", "医保缴费提醒"}


@pytest.mark.parametrize(
    ("fields", "loc", "code"),
    [
        ({"name": ""}, ["name"], "template_name_length"),
        ({"name": "   "}, ["name"], "template_name_length"),
        ({"name": "名" * 500}, ["name"], "template_name_length"),
        ({"title": ""}, ["title"], "string_too_short"),
        ({"body": "字" * 5001}, ["body"], "string_too_long"),
        ({"priority": "urgent"}, ["priority"], "enum"),
        ({"repeat": 9}, ["repeat"], "less_than_equal"),
        ({"images": ["/media/x.jpg"] * 5}, ["images"], "images_too_many"),
        ({"images": ["/media/" + "0" * 64 + ".jpg"]}, ["images", 0], "image_unknown"),
        ({"target": {"areas": ["/Hongqi"]}}, ["target", "areas"], "value_error"),
    ],
)
async def test_bad_input_is_refused_with_a_code_and_nothing_is_stored(village, fields, loc, code):
    status, problem = await village.call("POST", "/templates", json={**MEDICAL, **fields})
    assert status == 422 and [(e["loc"], e["type"]) for e in problem["errors"]] == [(loc, code)], problem
    assert await templates(village) == []


async def test_workers_and_screens_are_403(village):
    worker = await village.token("worker", VILLAGE)
    screen = (await village.screen("gate", VILLAGE))["token"]
    _, made = await village.call("POST", "/templates", json=MEDICAL, expect=201)
    for token in (worker, screen):
        await village.call("GET", "/templates", token=token, expect=403)
        await village.call("POST", "/templates", token=token, json={**MEDICAL, "name": "别的"}, expect=403)
        await village.call("PATCH", f"/templates/{made['id']}", token=token, json={"name": "别的"}, expect=403)
        await village.call("DELETE", f"/templates/{made['id']}", token=token, expect=403)
    assert [t["name"] for t in await templates(village)] == [MEDICAL["name"]]


async def test_migration_0006_builds_the_table_the_model_describes(village):
    async with village.app[DATABASE].engine.connect() as conn:
        diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    assert [d for d in diffs if "notice_template" in repr(d)] == []
