"""GET /api/v1/me: who the bearer token is, for every role; no token or a bad one is the usual 401."""

import pytest

from broadcast_server.api import ROUTE_TABLES
from broadcast_server.openapi import build_openapi

VILLAGE = "/hongqi/liujingtun"
FIELDS = {"kind", "token_id", "name", "display_name", "role", "area", "area_name", "screen_id"}


async def _token_id(village, name: str) -> str:
    _, tokens = await village.call("GET", "/tokens", expect=200)
    [token] = [t for t in tokens if t["name"] == name]
    return token["id"]


@pytest.mark.parametrize("role", ["admin", "committee", "worker"])
async def test_a_person_s_token_says_its_role_area_and_name(village, role):
    """An admin, committee or worker token answers its own id, role, area (with the area's name) and name; never the secret."""
    await village.call("POST", "/areas", json={"path": VILLAGE, "name": "刘井屯村"}, expect=201)
    secret = await village.token(role, VILLAGE)
    _, me = await village.call("GET", "/me", token=secret, expect=200)
    assert set(me) == FIELDS
    assert me == {
        "kind": "token",
        "token_id": await _token_id(village, f"{role}@{VILLAGE}"),
        "name": f"{role}@{VILLAGE}",
        "display_name": f"{role}@{VILLAGE}",
        "role": role,
        "area": VILLAGE,
        "area_name": "刘井屯村",
        "screen_id": None,
    }
    assert secret not in str(me)


async def test_a_screen_token_says_which_screen_it_is(village):
    """A screen's token may ask too: role screen, the screen's area, and its screen_id."""
    screen = await village.screen("村口大屏", VILLAGE)
    _, me = await village.call("GET", "/me", token=screen["token"], expect=200)
    assert (me["role"], me["area"], me["screen_id"], me["kind"]) == ("screen", VILLAGE, screen["id"], "token")
    assert me["area_name"] == "liujingtun"  # named after its last segment until POST /areas names it
    assert me["token_id"] and me["token_id"] != screen["id"]
    assert screen["token"] not in str(me)


async def test_the_root_admin(village):
    """The admin the deployment starts with: scope `/`."""
    _, me = await village.call("GET", "/me", expect=200)
    assert (me["role"], me["area"], me["name"]) == ("admin", "/", "root")


async def _answer(village, headers: dict):
    async with village.http.get(village.url + "/api/v1/me", headers=headers) as resp:
        return resp.status, resp.headers, await resp.json(content_type=None)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no token"),
        pytest.param({"Authorization": "Bearer vb_" + "U" * 43}, id="unknown token"),
        pytest.param({"Authorization": "Bearer 不是令牌"}, id="not ascii"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="another scheme"),
    ],
)
async def test_no_or_a_bad_token_is_401_as_elsewhere(village, headers):
    """The same 401 problem, with the same challenge, as another endpoint gives for the same headers."""
    status, response_headers, problem = await _answer(village, headers)
    async with village.http.get(village.url + "/api/v1/areas", headers=headers) as resp:
        other = (resp.status, resp.headers.get("WWW-Authenticate"), await resp.json(content_type=None))
    assert status == 401 and response_headers.get("WWW-Authenticate") == 'Bearer realm="village-broadcast"'
    assert (status, response_headers.get("WWW-Authenticate"), problem) == other
    assert response_headers["Content-Type"].startswith("application/problem+json")


async def test_a_revoked_token_is_401(village):
    secret = await village.token("committee", VILLAGE)
    token_id = await _token_id(village, f"committee@{VILLAGE}")
    await village.call("GET", "/me", token=secret, expect=200)
    await village.call("DELETE", f"/tokens/{token_id}", expect=204)
    _, problem = await village.call("GET", "/me", token=secret, expect=401)
    assert problem["detail"] == "the token is unknown or revoked"


def test_the_openapi_document_describes_it():
    """Summary, the response model and the 401; no body, no parameters."""
    doc = build_openapi(ROUTE_TABLES, version="test")
    operation = doc["paths"]["/api/v1/me"]["get"]
    assert operation["summary"].startswith("Who the bearer token is")
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Me"}
    assert "401" in operation["responses"] and "requestBody" not in operation
    assert set(doc["components"]["schemas"]["Me"]["properties"]) == FIELDS
