"""GET /announcements/{id}/deliveries: which devices a report lists, in which order, a page at a time, and what it
refuses (the devices' own receipts: tests/e2e/test_proof_of_delivery.py)."""

from broadcast_server.keys import RECORDER
from tests.e2e.screens import eventually, ids, running

VILLAGE, GRID, OTHER = "/hongqi/liujingtun", "/hongqi/liujingtun/grid-3", "/hongqi/xincun"


async def report(village, announcement_id: str, **params) -> dict:
    await village.app[RECORDER].flush()
    _, body = await village.call("GET", f"/announcements/{announcement_id}/deliveries", params=params, expect=200)
    return body


async def received(village, announcement_id: str) -> bool:
    return (await report(village, announcement_id))["summary"]["received"] == 1


async def test_tagged_target_lists_its_devices_by_area_a_page_at_a_time(village):
    """A notice for the market tag lists the tagged devices of the village (grid included), by area then name, and
    none untagged or elsewhere; `limit` and `next_offset` page through them while the summary counts them all."""
    stall = await village.screen("集市屏", VILLAGE, tags=["market"])
    square = await village.screen("广场喇叭", GRID, kind="speaker", tags=["market"])
    await village.screen("村委屏", VILLAGE)  # untagged
    await village.screen("新村集市屏", OTHER, tags=["market"])  # elsewhere
    posted = await village.post(target={"areas": [VILLAGE], "tags": ["market"]}, speak=False)
    body = await report(village, posted["id"])
    assert [d["screen_id"] for d in body["devices"]] == [stall["id"], square["id"]] and body["next_offset"] is None
    assert body["summary"] == {
        "targeted": 2, "received": 0, "displayed": 0, "played": 0, "offline": 2,
        "played_50_s": None, "played_90_s": None, "played_all_s": None,
    }
    first = await report(village, posted["id"], limit=1)
    assert [d["screen_id"] for d in first["devices"]] == [stall["id"]] and first["next_offset"] == 1
    second = await report(village, posted["id"], limit=1, offset=first["next_offset"])
    assert [d["screen_id"] for d in second["devices"]] == [square["id"]] and second["next_offset"] is None
    assert first["summary"] == second["summary"] == body["summary"]


async def test_a_device_moved_away_still_proves_what_it_got_and_a_removed_one_that_got_nothing_drops_out(village, tmp_path):
    """A screen that received the notice and was then moved out of the target stays in its report (it got it);
    a device removed before receiving anything is no longer one the notice can reach."""
    gate = await village.screen("gate", VILLAGE)
    spare = await village.screen("spare", VILLAGE)
    async with running(village.url, gate["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: client.synced)
        posted = await village.post(speak=False)
        await client.wait_for(lambda: posted["id"] in ids(client))
        await eventually(lambda: received(village, posted["id"]))
    await village.call("PATCH", f"/screens/{gate['id']}", json={"area": OTHER}, expect=200)
    await village.call("DELETE", f"/screens/{spare['id']}", expect=204)
    body = await report(village, posted["id"])
    assert [(d["screen_id"], d["area"]) for d in body["devices"]] == [(gate["id"], OTHER)]
    assert body["devices"][0]["received_at"] and body["summary"]["targeted"] == 1


async def test_bad_report_requests_are_refused_and_change_nothing(village):
    """Unknown or bad parameters are 422 naming them, an unknown id 404, a worker 403; JSON is the default answer."""
    posted = await village.post(speak=False)
    url = f"/announcements/{posted['id']}/deliveries"
    for params, loc in (({"format": "xml"}, "format"), ({"limit": "0"}, "limit"), ({"offset": "-1"}, "offset"), ({"lang": "fr"}, "lang")):
        status, body = await village.call("GET", url, params=params)
        assert status == 422 and body["errors"][0]["loc"] == ["query", loc], (params, body)
    assert (await village.call("GET", "/announcements/nosuchid/deliveries"))[0] == 404
    assert (await village.call("GET", "/announcements/nosuchid/deliveries.csv"))[0] == 404
    worker = await village.token("worker", VILLAGE)
    assert (await village.call("GET", url, token=worker))[0] == 403
    assert (await village.call("GET", "/deliveries/overdue", token=worker))[0] == 403
    assert (await village.call("GET", "/deliveries/overdue", params={"limit": "100000"}))[0] == 422
    async with village.http.get(village.url + "/api/v1" + url, headers={**village.auth(), "Accept": "text/html,*/*"}) as resp:
        assert resp.status == 200 and resp.content_type == "application/json" and resp.headers["Vary"] == "Accept"
    async with village.http.get(village.url + "/api/v1" + url + "?format=json", headers={**village.auth(), "Accept": "text/csv"}) as resp:
        assert resp.content_type == "application/json"  # the parameter wins over the header


async def test_a_village_committee_reads_its_own_devices_in_the_countys_warning(village):
    """A warning the county posted to two villages: each village's committee reads the report of its own devices
    (its summary counts only them) and is told of it while it is live, the county reads them all, and a village it
    did not reach gets 404 and is told of nothing."""
    await village.call("POST", "/areas", json={"path": "/hongqi/dongfeng", "name": "东风村"}, expect=201)
    ours = await village.screen("村口大屏", VILLAGE)
    grid = await village.screen("网格喇叭", GRID, kind="speaker")
    theirs = await village.screen("新村大屏", OTHER)
    await village.screen("东风大屏", "/hongqi/dongfeng")
    posted = await village.post(priority="emergency", target={"areas": [VILLAGE, OTHER]}, speak=False)
    url = f"/announcements/{posted['id']}/deliveries"
    await village.app[RECORDER].flush()

    committee = await village.token("committee", VILLAGE)
    _, mine = await village.call("GET", url, token=committee, expect=200)
    assert {d["screen_id"] for d in mine["devices"]} == {ours["id"], grid["id"]} and mine["summary"]["targeted"] == 2
    async with village.http.get(village.url + "/api/v1" + url + ".csv", headers=village.auth(committee)) as resp:
        sheet = await resp.text()
    assert resp.status == 200 and "村口大屏" in sheet and "新村大屏" not in sheet

    county = await report(village, posted["id"])
    assert {d["screen_id"] for d in county["devices"]} == {ours["id"], grid["id"], theirs["id"]}
    unreached = await village.token("committee", "/hongqi/dongfeng")
    assert (await village.call("GET", url, token=unreached))[0] == 404
    assert (await village.call("GET", url + ".csv", token=unreached))[0] == 404

    # The live emergencies each one's console watches for: the reached village's includes the county's warning.
    own = await village.post(token=committee, priority="emergency", title="村里的紧急通知", speak=False)
    await village.post(priority="high", target={"areas": [VILLAGE]}, speak=False)  # not an emergency
    _, watched = await village.call("GET", "/deliveries/emergencies", token=committee, expect=200)
    assert [e["id"] for e in watched] == [own["id"], posted["id"]]
    assert (await village.call("GET", "/deliveries/emergencies", token=unreached, expect=200))[1] == []
    await village.call("POST", f"/announcements/{posted['id']}/cancel", expect=200)
    _, watched = await village.call("GET", "/deliveries/emergencies", token=committee, expect=200)
    assert [e["id"] for e in watched] == [own["id"]]
