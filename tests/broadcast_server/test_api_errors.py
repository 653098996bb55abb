"""Bad input gets the right 4xx as problem+json, naming the problem, and never a 500."""

import pytest

PROBLEM = "application/problem+json"


async def _raw(village, method, path, *, headers=None, data=None, json=None):
    async with village.http.request(method, village.url + "/api/v1" + path, headers=headers, data=data, json=json) as resp:
        assert resp.content_type == PROBLEM, resp.content_type
        return resp.status, await resp.json(content_type=None), resp.headers


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"body": "no title here"}, 422, "title"),
        ({"title": "t", "body": "b", "priority": "urgent"}, 422, "priority"),
        ({"title": "t", "body": "b", "repeat": 99}, 422, "repeat"),
        ({"title": "t", "body": "b", "expires_at": "tomorrow"}, 422, "expires_at"),
        ({"title": "t", "body": "b", "expires_at": "2020-01-01T00:00:00+08:00"}, 422, "expires_at"),
        (
            {"title": "t", "body": "b", "publish_at": "2030-01-02T00:00:00+08:00", "expires_at": "2030-01-01T00:00:00+08:00"},
            422,
            "expires_at",
        ),
        ({"title": "t", "body": "b", "target": {"areas": ["no-slash"]}}, 422, "areas"),
        ({"title": "t", "body": "b", "target": {"screens": ["nonexistent"]}}, 422, "unknown screen"),
        ([1, 2, 3], 422, "body"),
    ],
)
async def test_invalid_announcement_bodies(village, body, status, words):
    """Each invalid announcement is refused with a status and a detail naming the field."""
    got, problem, _ = await _raw(village, "POST", "/announcements", headers=village.auth(), json=body)
    assert got == status
    assert problem["status"] == status and problem["title"] and problem["type"]
    assert words in problem["detail"]


async def test_invalid_json_is_400(village):
    """A body that is not JSON gets 400 saying so."""
    status, problem, _ = await _raw(village, "POST", "/announcements", headers=village.auth(), data=b'{"title": "t",')
    assert status == 400 and "not valid JSON" in problem["detail"]


async def test_two_megabyte_body_is_413(village):
    """A 2 MB body is refused with 413 before it is parsed."""
    huge = b'{"title": "t", "body": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, problem, _ = await _raw(village, "POST", "/announcements", headers=village.auth(), data=huge)
    assert status == 413 and "limit" in problem["detail"]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer vb_not-a-real-token", "Basic abc", "Bearer vb_\u00e9t\u00e9"])
async def test_missing_or_bad_token_is_401(village, header):
    """No token, an unknown one, or the wrong scheme: 401 with a Bearer challenge."""
    headers = {"Authorization": header} if header else {}
    status, problem, resp_headers = await _raw(village, "GET", "/announcements", headers=headers)
    assert status == 401 and "Bearer" in resp_headers["WWW-Authenticate"]


async def test_area_outside_scope_is_403(village):
    """A committee of one village cannot target another village."""
    committee = await village.token("committee", "/hongqi/liujingtun")
    body = {"title": "t", "body": "b", "target": {"areas": ["/hongqi/xincun"]}}
    status, problem, _ = await _raw(village, "POST", "/announcements", headers=village.auth(committee), json=body)
    assert status == 403 and "/hongqi/xincun" in problem["detail"]


@pytest.mark.parametrize("role", ["worker"])
async def test_wrong_role_is_403(village, role):
    """A grid worker may not post announcements."""
    token = await village.token(role, "/hongqi")
    status, problem, _ = await _raw(village, "POST", "/announcements", headers=village.auth(token), json={"title": "t", "body": "b"})
    assert status == 403 and role in problem["detail"]


async def test_screen_token_cannot_use_the_committee_api(village):
    """A screen's token is for the WebSocket and replies, not for posting."""
    screen = await village.screen("gate", "/hongqi/liujingtun")
    status, _, _ = await _raw(village, "POST", "/announcements", headers=village.auth(screen["token"]), json={"title": "t", "body": "b"})
    assert status == 403


async def test_unknown_announcement_is_404_and_unknown_route_too(village):
    """Unknown ids and unknown paths are 404 problems."""
    status, _, _ = await _raw(village, "GET", "/announcements/doesnotexist", headers=village.auth())
    assert status == 404
    status, _, _ = await _raw(village, "GET", "/nothing-here", headers=village.auth())
    assert status == 404


async def test_bad_query_parameters_are_422(village):
    """Paging parameters out of range are named in the error."""
    status, problem, _ = await _raw(village, "GET", "/announcements?limit=0", headers=village.auth())
    assert status == 422 and "limit" in problem["detail"]
    status, problem, _ = await _raw(village, "GET", "/announcements?cursor=garbage", headers=village.auth())
    assert status == 422 and "cursor" in problem["detail"]


async def test_token_role_screen_cannot_be_made_through_tokens(village):
    """Screen tokens come only with a registered screen."""
    status, problem, _ = await _raw(village, "POST", "/tokens", headers=village.auth(), json={"role": "screen", "area": "/", "name": "x"})
    assert status == 422 and "POST /screens" in problem["detail"]
