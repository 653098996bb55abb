"""The announcement API: create, list with paging, read, correct, cancel, idempotency, OpenAPI."""

import asyncio
from datetime import UTC, datetime, timedelta


async def test_post_defaults(village):
    """Only title and body are needed; the rest takes the documented defaults."""
    committee = await village.token("committee", "/hongqi/liujingtun")
    answer = await village.post(committee)
    assert answer["status"] == "live" and answer["priority"] == "normal" and answer["speak"] is True
    assert answer["repeat"] == 1 and answer["revision"] == 1
    assert answer["target"] == {"areas": ["/hongqi/liujingtun"], "tags": [], "screens": []}
    lifetime = datetime.fromisoformat(answer["expires_at"]) - datetime.fromisoformat(answer["published_at"])
    assert timedelta(hours=23, minutes=59) < lifetime <= timedelta(hours=24)


async def test_scheduled_announcement_waits(village):
    """An announcement with a future publish_at is scheduled, not live."""
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    answer = await village.post(publish_at=later)
    assert answer["status"] == "scheduled" and answer["published_at"] is None


async def test_list_pages_newest_first_with_cursor(village):
    """Paging walks every announcement once, newest first."""
    posted = [(await village.post(title=f"n{i}"))["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        _, page = await village.call("GET", "/announcements" + query, expect=200)
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(posted))


async def test_list_filters_by_status_and_scope(village):
    """`?status=` filters; a committee sees only its own area's announcements."""
    mine = await village.token("committee", "/hongqi/liujingtun")
    other = await village.token("committee", "/hongqi/xincun")
    a = await village.post(mine)
    await village.post(other)
    await village.call("POST", f"/announcements/{a['id']}/cancel", token=mine, expect=200)
    _, page = await village.call("GET", "/announcements", token=mine, expect=200)
    assert [i["id"] for i in page["items"]] == [a["id"]]
    _, page = await village.call("GET", "/announcements?status=live", expect=200)
    assert all(i["status"] == "live" for i in page["items"]) and len(page["items"]) == 1
    await village.call("GET", f"/announcements/{a['id']}", token=other, expect=404)


async def test_idempotency_key_gives_the_same_announcement(village):
    """The same Idempotency-Key and body return the same announcement; another body is a 409."""
    headers = {**village.auth(), "Idempotency-Key": "post-42"}
    body = {"title": "停水通知", "body": "今天下午停水。"}
    ids = []
    for _ in range(2):
        async with village.http.post(village.url + "/api/v1/announcements", json=body, headers=headers) as resp:
            assert resp.status == 201
            ids.append((await resp.json())["id"])
    assert ids[0] == ids[1]
    _, page = await village.call("GET", "/announcements", expect=200)
    assert len(page["items"]) == 1
    async with village.http.post(village.url + "/api/v1/announcements", json={**body, "body": "changed"}, headers=headers) as resp:
        assert resp.status == 409


async def test_patch_makes_a_new_revision_and_cancel_twice_is_409(village):
    """A correction raises the revision; cancelling a cancelled one is a conflict."""
    a = await village.post()
    _, changed = await village.call("PATCH", f"/announcements/{a['id']}", json={"title": "更正"}, expect=200)
    assert changed["revision"] == 2 and changed["title"] == "更正"
    _, cancelled = await village.call("POST", f"/announcements/{a['id']}/cancel", expect=200)
    assert cancelled["status"] == "cancelled"
    await village.call("POST", f"/announcements/{a['id']}/cancel", expect=409)
    await village.call("PATCH", f"/announcements/{a['id']}", json={"title": "x"}, expect=409)


async def test_get_has_deliveries(village):
    """GET one announcement carries deliveries with targeted counted at publish."""
    await village.screen("gate", "/hongqi/liujingtun")
    await village.screen("market", "/hongqi/liujingtun/grid-3")
    await village.screen("elsewhere", "/hongqi/xincun")
    a = await village.post(target={"areas": ["/hongqi/liujingtun"]})
    _, detail = await village.call("GET", f"/announcements/{a['id']}", expect=200)
    assert detail["deliveries"] == {"targeted": 2, "received": 0, "displayed": 0, "played": 0}


async def test_openapi_is_generated_from_the_models(village):
    """The OpenAPI document lists the contract's routes and the request models' fields."""
    async with village.http.get(village.url + "/api/v1/openapi.json") as resp:
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    for path in ["/api/v1/areas", "/api/v1/screens", "/api/v1/screens/{id}", "/api/v1/tokens", "/api/v1/tokens/{id}",
                 "/api/v1/announcements", "/api/v1/announcements/{id}", "/api/v1/announcements/{id}/cancel"]:
        assert path in doc["paths"], path
    create = doc["components"]["schemas"]["AnnouncementCreate"]
    assert set(create["required"]) == {"title", "body"}
    assert {"priority", "target", "publish_at", "expires_at", "speak", "repeat"} <= set(create["properties"])


async def test_areas_and_tokens_admin(village):
    """Areas are created and listed in scope; a revoked token stops working."""
    await village.call("POST", "/areas", json={"path": "/hongqi", "name": "红旗区"}, expect=201)
    token = await village.token("committee", "/hongqi")
    _, areas = await village.call("GET", "/areas", token=token, expect=200)
    assert {a["path"]: a["name"] for a in areas}["/hongqi"] == "红旗区"
    assert all(a["path"].startswith("/hongqi") for a in areas)
    _, tokens = await village.call("GET", "/tokens", expect=200)
    victim = next(t for t in tokens if t["area"] == "/hongqi")
    assert "token" not in victim and "secret_hash" not in victim
    await village.call("DELETE", f"/tokens/{victim['id']}", expect=204)
    await village.call("GET", "/areas", token=token, expect=401)


async def test_many_concurrent_posts_all_land(village):
    """Concurrent posts are all accepted and each gets its own event."""
    results = await asyncio.gather(*(village.post(title=f"c{i}") for i in range(20)))
    assert len({r["id"] for r in results}) == 20


async def seed_devices(village) -> dict:
    """A village's gate screen and market loudspeaker, a tagged screen in the next village, a removed one."""
    devices = {
        "gate": await village.screen("gate", "/hongqi/liujingtun", tags=["gate"]),
        "horn": await village.screen("horn", "/hongqi/liujingtun/grid-3", kind="speaker", tags=["market"]),
        "other": await village.screen("other", "/hongqi/xincun", tags=["market", "school"]),
        "gone": await village.screen("gone", "/hongqi/liujingtun", tags=["retired"]),
    }
    await village.call("DELETE", f"/screens/{devices['gone']['id']}", expect=204)
    return devices


async def test_reach_counts_screens_and_speakers_by_the_targeting_rule(village):
    """POST /announcements/reach answers what a post would reach, by kind, and a post then targets exactly that many."""
    devices = await seed_devices(village)
    cases = [
        ({"areas": ["/hongqi"]}, {"screens": 2, "speakers": 1}),
        ({"areas": ["/hongqi/liujingtun"]}, {"screens": 1, "speakers": 1}),
        ({"areas": ["/hongqi"], "tags": ["market"]}, {"screens": 1, "speakers": 1}),
        ({"areas": ["/hongqi/liujingtun"], "tags": ["school"], "screens": [devices["other"]["id"]]}, {"screens": 1, "speakers": 0}),
        ({"areas": ["/hongqi/liujingtun"], "tags": ["retired"]}, {"screens": 0, "speakers": 0}),
        ({"areas": ["/dongfeng"]}, {"screens": 0, "speakers": 0}),
    ]
    for target, reach in cases:
        _, answer = await village.call("POST", "/announcements/reach", json={"target": target}, expect=200)
        assert answer == reach, target
        posted = await village.post(target=target)
        _, detail = await village.call("GET", f"/announcements/{posted['id']}", expect=200)
        assert detail["deliveries"]["targeted"] == reach["screens"] + reach["speakers"], target

    committee = await village.token("committee", "/hongqi/liujingtun")
    _, own_area = await village.call("POST", "/announcements/reach", json={}, token=committee, expect=200)
    assert own_area == {"screens": 1, "speakers": 1}
    await village.call("POST", "/announcements/reach", json={"target": {"areas": ["/hongqi/xincun"]}}, token=committee, expect=403)
    status, problem = await village.call("POST", "/announcements/reach", json={"target": {"screens": [devices["gone"]["id"]]}})
    assert status == 422 and problem["errors"][0]["loc"] == ["target", "screens"], problem
    worker = await village.token("worker", "/hongqi")
    await village.call("POST", "/announcements/reach", json={}, token=worker, expect=403)


async def test_a_post_requiring_reach_is_refused_when_it_reaches_no_device(village):
    """`?require_reach=true` refuses a target reaching no device with a 422 naming the target, and stores nothing;
    without it such a post is accepted as before (PROTOCOL.md clients)."""
    await seed_devices(village)
    body = {"title": "集市通知", "body": "明天集市照常。"}
    for target in ({"areas": ["/hongqi/liujingtun"], "tags": ["markte"]}, {"areas": ["/dongfeng"]}):
        status, problem = await village.call("POST", "/announcements?require_reach=true", json={**body, "target": target})
        assert status == 422, problem
        assert "reaches no registered screen or loudspeaker" in problem["detail"]
        assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["target"], "target_unreached")]
    _, page = await village.call("GET", "/announcements", expect=200)
    assert page["items"] == []

    target = {"areas": ["/hongqi/liujingtun"], "tags": ["market"]}
    _, posted = await village.call("POST", "/announcements?require_reach=true", json={**body, "target": target}, expect=201)
    assert posted["target"] == {**target, "screens": []}
    await village.call("POST", "/announcements", json={**body, "target": {"areas": ["/dongfeng"]}}, expect=201)
    status, problem = await village.call("POST", "/announcements?require_reach=maybe", json=body)
    assert status == 422 and problem["errors"][0]["loc"] == ["query", "require_reach"], problem


async def test_tags_in_use_are_listed_within_scope(village):
    """GET /screens/tags lists the tags active devices carry, sorted, within the caller's area; a worker may not."""
    await seed_devices(village)
    _, everywhere = await village.call("GET", "/screens/tags", expect=200)
    assert everywhere == ["gate", "market", "school"]
    committee = await village.token("committee", "/hongqi/liujingtun")
    _, own = await village.call("GET", "/screens/tags", token=committee, expect=200)
    assert own == ["gate", "market"]
    worker = await village.token("worker", "/hongqi")
    await village.call("GET", "/screens/tags", token=worker, expect=403)
