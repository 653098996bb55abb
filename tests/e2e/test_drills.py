"""Drills (演练) end to end: a committee starts one in its own area, the real screen client there gets it marked and
flagged, a loudspeaker's clip says it is a drill, and the figures keep it out of the emergencies."""

from __future__ import annotations

import io

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from announcements.speech import audio
from announcements.voicing import spoken_text
from broadcast_server.keys import DATABASE, SETTINGS
from screen_client.display import TerminalDisplay
from tests.announcements.test_drills import notice
from tests.e2e.screens import ids, running

VILLAGE = "/hongqi/liujingtun"
FLOOD = {"title": "山洪转移", "body": "请沿村东路转移到学校操场。"}


async def posted(village) -> list[dict]:
    _, page = await village.call("GET", "/announcements", expect=200)
    return page["items"]


async def test_a_committee_drill_reaches_its_screens_marked_and_is_counted_apart(village, tmp_path):
    """The drill arrives flagged with 【演练】 before its title and a 演练 banner on the screen; a post without `drill`
    arrives as before; /stats counts the drill in `drills`, not in `emergencies`."""
    committee = await village.token("committee", VILLAGE)
    gate = await village.screen("gate", VILLAGE)
    shown = io.StringIO()
    async with running(village.url, gate["token"], tmp_path / "gate", display=TerminalDisplay(shown, color=False)) as client:
        await client.wait_for(lambda: client.synced)
        drill = await village.post(committee, **FLOOD, drill=True)
        old_style = await village.post(committee, title="停电通知", body="明天上午停电。")
        await client.wait_for(lambda: {drill["id"], old_style["id"]} <= ids(client))
        got = {a.id: a for a in client.announcements()}

    assert (drill["drill"], drill["priority"], drill["title"]) == (True, "emergency", FLOOD["title"])  # stored as written
    assert (got[drill["id"]].drill, got[drill["id"]].priority, got[drill["id"]].title) == (True, "emergency", "【演练】山洪转移")
    assert (old_style["drill"], got[old_style["id"]].drill, got[old_style["id"]].title) == (False, False, "停电通知")
    assert "！！！演练（不是真实紧急情况）！！！ 【演练】山洪转移" in shown.getvalue()

    await village.post(committee, title="暴雨红色预警", body="今夜有特大暴雨。", priority="emergency")
    _, stats = await village.call("GET", "/stats", token=committee, expect=200)
    assert (stats["emergencies"], stats["drills"]) == (1, 1)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**FLOOD, "drill": True, "target": {"areas": ["/hongqi/xincun"]}}, 403, None),  # not its area
        ({**FLOOD, "drill": True, "priority": "normal"}, 422, "drill_not_emergency"),
        ({**FLOOD, "drill": True, "recording": "/media/" + "a" * 64 + ".flac"}, 422, "drill_recording"),
    ],
    ids=["other-area", "not-emergency", "recording"],
)
async def test_a_drill_the_committee_may_not_start_is_refused_and_posts_nothing(village, body, status, code):
    committee = await village.token("committee", VILLAGE)
    got, problem = await village.call("POST", "/announcements", token=committee, json=body)
    assert got == status, problem
    if code:
        assert [e["type"] for e in problem["errors"]] == [code] and "drill" in problem["detail"]
    assert await posted(village) == []


async def test_a_drill_stays_an_emergency_when_corrected(village):
    """A correction may change a drill's text, not make it a lesser priority."""
    drill = await village.post(**FLOOD, drill=True)
    _, problem = await village.call("PATCH", f"/announcements/{drill['id']}", json={"priority": "high"}, expect=422)
    assert problem["errors"][0]["loc"] == ["priority"] and problem["errors"][0]["type"] == "drill_not_emergency"
    _, fixed = await village.call("PATCH", f"/announcements/{drill['id']}", json={"title": "山洪转移演练"}, expect=200)
    assert (fixed["priority"], fixed["drill"], fixed["revision"]) == ("emergency", True, 2)


async def test_the_clerk_reads_before_posting_what_the_loudspeaker_will_say_for_a_drill(village):
    """The preview's words for a drill are the marked ones (the console shows them beside 试听); without `drill` they
    are the notice's alone."""
    text = f"{FLOOD['title']}。{FLOOD['body']}"
    _, drill = await village.call("POST", "/speech/preview", json={"text": text, "format": "text", "drill": True}, expect=200)
    _, real = await village.call("POST", "/speech/preview", json={"text": text, "format": "text"}, expect=200)
    assert drill["spoken"] == f"这是一次演练，不是真实警报。{real['spoken']}以上为演练内容，不是真实警报。"


async def test_migration_0012_builds_the_drill_column_the_model_describes(village):
    async with village.app[DATABASE].engine.connect() as conn:
        diffs = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    assert [d for d in diffs if "drill" in repr(d)] == []


class TestSpoken:
    """One real synthesis: the clip a loudspeaker plays for a drill is made from the marked words."""

    @pytest.fixture
    def speech_enabled(self) -> bool:
        return True

    async def test_the_loudspeaker_clip_of_a_drill_says_it_is_one(self, village, tmp_path):
        horn = await village.screen("horn", VILLAGE, kind="speaker")
        async with running(village.url, horn["token"], tmp_path / "horn", display=None) as client:
            await client.wait_for(lambda: client.synced)
            drill = await village.post(**FLOOD, drill=True)
            await client.wait_for(lambda: any(a.audio for a in client.announcements()), timeout=60)
            [heard] = client.announcements()

        _, detail = await village.call("GET", f"/announcements/{drill['id']}", expect=200)
        assert detail["speech_status"] == "ready" and heard.drill
        # The narrator attaches a clip only for the words spoken_text gives now: the drill's, marked at both ends.
        words = spoken_text(notice(drill=True, **FLOOD))
        assert words.startswith("这是一次演练") and words.endswith("以上为演练内容，不是真实警报。")
        samples, rate = audio.decode((village.app[SETTINGS].media_dir / heard.audio.url.rsplit("/", 1)[1]).read_bytes())
        assert audio.duration_s(samples, rate) == pytest.approx(heard.audio.duration_s, abs=0.1)
        # long enough for every character of the marked words at the fastest Mandarin rate the speech tests allow
        assert heard.audio.duration_s > 0.12 * sum("\u4e00" <= c <= "\u9fff" for c in words)
