"""Areas by name: an admin names, nests and renames areas; the path stays the id; bad names change nothing."""

import io
from urllib.parse import quote

from sqlmodel import col, select

from announcements.models import Event
from broadcast_server.keys import DATABASE
from screen_client.display import TerminalDisplay
from tests.e2e.screens import running

VILLAGE = "/hongqi/liujingtun"


def area_url(path: str) -> str:
    """PATCH /areas/{path} takes the path URL-encoded whole, slashes and all."""
    return "/areas/" + quote(path, safe="")


async def names(village, token=None) -> dict[str, str]:
    _, areas = await village.call("GET", "/areas", token=token, expect=200)
    return {a["path"]: a["name"] for a in areas}


async def test_an_area_nested_under_another_is_named_and_renamed_keeping_its_path(village):
    await village.call("POST", "/areas", json={"path": "/hongqi", "name": "红旗镇"}, expect=201)
    await village.call("POST", "/areas", json={"path": VILLAGE, "name": "刘井屯"}, expect=201)
    _, renamed = await village.call("PATCH", area_url(VILLAGE), json={"name": "刘井屯村"}, expect=200)
    assert renamed["path"] == VILLAGE and renamed["name"] == "刘井屯村"
    assert (await names(village))[VILLAGE] == "刘井屯村"
    committee = await village.token("committee", VILLAGE)
    _, me = await village.call("GET", "/me", token=committee, expect=200)
    assert me["area_name"] == "刘井屯村"


async def test_a_bad_name_or_unknown_area_is_refused_naming_it_and_changes_nothing(village):
    await village.call("POST", "/areas", json={"path": VILLAGE, "name": "刘井屯村"}, expect=201)
    before = await names(village)
    status, problem = await village.call("PATCH", area_url(VILLAGE), json={"name": "长" * 500})
    assert status == 422 and problem["errors"][0]["loc"][-1] == "name" and problem["errors"][0]["type"] == "string_too_long"
    status, problem = await village.call("PATCH", area_url(VILLAGE), json={"name": ""})
    assert status == 422 and problem["errors"][0]["loc"][-1] == "name"
    status, problem = await village.call("POST", "/areas", json={"path": "/hongqi/new", "name": "长" * 500})
    assert status == 422 and problem["errors"][0]["loc"][-1] == "name"
    for unknown in ("/nowhere", "/Not-A-Path"):
        status, problem = await village.call("PATCH", area_url(unknown), json={"name": "无名"})
        assert status == 404 and unknown in problem["detail"]
    assert await names(village) == before


async def test_only_an_admin_renames_and_only_inside_its_scope(village):
    await village.call("POST", "/areas", json={"path": VILLAGE, "name": "刘井屯村"}, expect=201)
    await village.call("POST", "/areas", json={"path": "/hongqi/other", "name": "别村"}, expect=201)
    committee = await village.token("committee", VILLAGE)
    status, _ = await village.call("PATCH", area_url(VILLAGE), token=committee, json={"name": "改"})
    assert status == 403
    admin_here = await village.token("admin", VILLAGE)
    status, _ = await village.call("PATCH", area_url("/hongqi/other"), token=admin_here, json={"name": "改"})
    assert status == 404  # outside its scope: as if there were no such area
    assert (await names(village))["/hongqi/other"] == "别村"


async def test_each_area_answers_its_own_kiosk_dwell_and_the_one_it_inherits_even_from_beyond_the_scope(village):
    """A committee scoped to the village sees that it inherits the town's 20 s (the town is not in its list);
    the village's own 5 s passes to the grid below; cleared, the village inherits again."""
    for path, name in (("/hongqi", "红旗街道"), (VILLAGE, "刘井屯村"), (VILLAGE + "/grid-3", "第三网格")):
        await village.call("POST", "/areas", json={"path": path, "name": name}, expect=201)
    await village.call("PATCH", area_url("/hongqi") + "/kiosk-dwell", json={"kiosk_dwell_s": 20}, expect=200)
    committee = await village.token("committee", VILLAGE)

    async def dwells(token=None) -> dict[str, tuple[int | None, int | None]]:
        _, areas = await village.call("GET", "/areas", token=token, expect=200)
        return {a["path"]: (a["kiosk_dwell_s"], a["kiosk_dwell_inherited_s"]) for a in areas}

    assert await dwells(committee) == {VILLAGE: (None, 20), VILLAGE + "/grid-3": (None, 20)}
    assert (await dwells())["/hongqi"] == (20, None)
    await village.call("PATCH", area_url(VILLAGE) + "/kiosk-dwell", json={"kiosk_dwell_s": 5}, token=committee, expect=200)
    assert await dwells(committee) == {VILLAGE: (5, 20), VILLAGE + "/grid-3": (None, 5)}
    _, renamed = await village.call("PATCH", area_url(VILLAGE), json={"name": "刘井屯新村"}, expect=200)
    assert (renamed["kiosk_dwell_s"], renamed["kiosk_dwell_inherited_s"]) == (5, 20)
    await village.call("PATCH", area_url(VILLAGE) + "/kiosk-dwell", json={"kiosk_dwell_s": None}, token=committee, expect=200)
    assert await dwells(committee) == {VILLAGE: (None, 20), VILLAGE + "/grid-3": (None, 20)}


async def test_a_connected_screen_learns_a_new_name_and_dwell_without_reconnecting(village, tmp_path):
    """A rename and a new dwell reach the screens online as an `area` event: the terminal shows the new name on the
    same connection; the event names each area under the changed one with the dwell it now has (a grid that sets
    its own keeps it), and a screen outside hears nothing."""
    await village.call("POST", "/areas", json={"path": VILLAGE, "name": "刘井屯"}, expect=201)
    await village.call("POST", "/areas", json={"path": VILLAGE + "/grid-3", "name": "第三网格"}, expect=201)
    await village.call("PATCH", area_url(VILLAGE + "/grid-3") + "/kiosk-dwell", json={"kiosk_dwell_s": 8}, expect=200)
    gate = await village.screen("村口大屏", VILLAGE)
    beside = await village.screen("东风村大屏", "/dongfeng")
    terminal = io.StringIO()
    async with (
        running(village.url, gate["token"], tmp_path / "gate", display=TerminalDisplay(terminal, color=False)) as client,
        running(village.url, beside["token"], tmp_path / "beside") as other,
    ):
        await client.wait_for(lambda: client.synced)
        await other.wait_for(lambda: other.synced)
        seq_beside = other.last_seq
        await village.call("PATCH", area_url(VILLAGE), json={"name": "刘井屯村"}, expect=200)
        await client.wait_for(lambda: client.view().area_name == "刘井屯村")
        await client.wait_for(lambda: "刘井屯村" in terminal.getvalue())
        await village.call("PATCH", area_url(VILLAGE) + "/kiosk-dwell", json={"kiosk_dwell_s": 4}, expect=200)
        async with village.app[DATABASE].read() as session:
            [event] = (await session.exec(select(Event).where(Event.type == "area").order_by(col(Event.seq).desc()).limit(1))).all()
        assert event.payload == {"areas": {
            VILLAGE: {"area_name": "刘井屯村", "kiosk_dwell_s": 4}, VILLAGE + "/grid-3": {"area_name": "第三网格", "kiosk_dwell_s": 8},
        }}
        await client.wait_for(lambda: client.last_seq == event.seq)
        assert client.connections == 1 and other.last_seq == seq_beside
