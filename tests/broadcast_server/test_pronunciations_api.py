"""/api/v1/pronunciations (读音) over HTTP on SQLite and PostgreSQL: an admin keeps the words eSpeak NG says wrong and
what to say instead; the committee reads the list; bad input is refused with a code the console words and nothing is
stored; what the loudspeaker will say (POST /speech/preview, format text) follows the list at once."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from broadcast_server.keys import DATABASE


def at(word: str) -> str:
    return "/pronunciations/" + quote(word, safe="")


async def listed(village, token: str | None = None) -> list[dict]:
    _, answer = await village.call("GET", "/pronunciations", token=token, expect=200)
    return answer


async def said(village, text: str, language: str = "zh") -> str:
    _, answer = await village.call("POST", "/speech/preview", json={"text": text, "language": language, "format": "text"}, expect=200)
    return answer["spoken"]


async def test_put_list_replace_and_delete(village):
    assert await listed(village) == []
    _, made = await village.call("PUT", at("乐亭"), json={"say": "涝亭"}, expect=200)
    assert (made["word"], made["say"]) == ("乐亭", "涝亭") and made["created_by"] and made["updated_at"]
    await village.call("PUT", at("六安"), json={"say": " Lu4  an1 "}, expect=200)  # pinyin kept as eSpeak NG reads it
    _, replaced = await village.call("PUT", at("乐亭"), json={"say": "lao4 ting2"}, expect=200)
    assert replaced["say"] == "lao4 ting2" and replaced["created_by"] == made["created_by"]
    assert replaced["updated_at"] >= made["updated_at"]
    assert [(p["word"], p["say"]) for p in await listed(village)] == [("乐亭", "lao4 ting2"), ("六安", "lu4 an1")]

    status, _ = await village.call("DELETE", at("乐亭"))
    assert status == 204
    assert [p["word"] for p in await listed(village)] == ["六安"]
    status, problem = await village.call("DELETE", at("乐亭"))
    assert status == 404 and problem["errors"][0]["type"] == "pronunciation_unknown"


@pytest.mark.parametrize(
    ("word", "body", "code"),
    [
        ("单县", {"say": ""}, "pronunciation_say"),
        ("单县", {"say": "   "}, "pronunciation_say"),
        ("单县", {"say": "善" * 41}, "pronunciation_say"),
        ("单县", {"say": "shn4 xian4"}, "pronunciation_say"),  # no pinyin syllable: eSpeak NG would spell it in English
        ("单县", {"say": "shan xian"}, "pronunciation_say"),  # no tone digits: the same
        ("单县", {"say": "善县1"}, "pronunciation_say"),
        ("单" * 21, {"say": "善"}, "pronunciation_word"),
        ("单县1", {"say": "善县"}, "pronunciation_word"),
        ("shan", {"say": "善"}, "pronunciation_word"),
        ("单 县", {"say": "善县"}, "pronunciation_word"),
        ("单县", {"say": 3}, "string_type"),
        ("单县", {}, "missing"),
    ],
)
async def test_bad_entries_are_refused_with_a_code_and_nothing_is_stored(village, word, body, code):
    status, problem = await village.call("PUT", at(word), json=body)
    assert status == 422, problem
    assert [e["type"] for e in problem["errors"]] == [code]
    assert await listed(village) == []


async def test_the_committee_reads_and_only_an_admin_writes(village):
    await village.call("PUT", at("蚌埠"), json={"say": "蹦埠"}, expect=200)
    committee = await village.token("committee", "/")
    assert [p["word"] for p in await listed(village, committee)] == ["蚌埠"]
    await village.call("PUT", at("蚌埠"), token=committee, json={"say": "棒埠"}, expect=403)
    await village.call("PUT", at("单县"), token=committee, json={"say": "善县"}, expect=403)
    await village.call("DELETE", at("蚌埠"), token=committee, expect=403)
    worker = await village.token("worker", "/")
    await village.call("GET", "/pronunciations", token=worker, expect=403)
    async with village.http.get(village.url + "/api/v1/pronunciations") as resp:
        assert resp.status == 401
    assert [(p["word"], p["say"]) for p in await listed(village)] == [("蚌埠", "蹦埠")]


async def test_what_the_loudspeaker_says_follows_the_list(village):
    assert await said(village, "单县的乡亲们") == "单县的乡亲们"
    await village.call("PUT", at("单县"), json={"say": "善县"}, expect=200)
    assert await said(village, "单县的乡亲们") == "善县的乡亲们"
    await village.call("PUT", at("单"), json={"say": "善"}, expect=200)
    assert await said(village, "单县单位") == "善县善位", "the longest word first: 单县 as a whole, then 单"
    await village.call("PUT", at("单县"), json={"say": "shan4 xian4"}, expect=200)
    assert await said(village, "单县3月5日9:30开会") == "shan4 xian4三月五日九点三十分开会", "tone digits are not numbers"
    assert await said(village, "G单县") == "G shan4 xian4", "pinyin beside a Latin letter is set apart"
    assert await said(village, "单县 meeting", "en") == "单县 meeting", "English text is said as written"
    await village.call("DELETE", at("单县"), expect=204)
    assert await said(village, "单县的乡亲们") == "善县的乡亲们"


async def test_migration_0007_builds_the_table_the_model_describes(village):
    async with village.app[DATABASE].engine.connect() as conn:
        diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    assert [d for d in diffs if "pronunciation" in repr(d)] == []
