"""User accounts over the API (admin): create, list, disable, reset; passwords stored as argon2id, never answered;
bad input named field by field and changing nothing. On both databases."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from announcements.models import User
from broadcast_server.keys import DATABASE
from tests.broadcast_server.test_sessions import browser, make_user  # noqa: F401  (browser: a cookie-holding client fixture)

VILLAGE = "/hongqi/liujingtun"
PASSWORD = "村口大槐树-2026"


def new_user(**fields) -> dict:
    return {"name": "li", "display_name": "李主任", "role": "committee", "area": VILLAGE, "password": PASSWORD, **fields}


async def stored_users(village) -> list[User]:
    async with village.app[DATABASE].read() as session:
        return list((await session.exec(select(User).order_by(User.name))).all())


async def test_a_password_is_stored_as_an_argon2id_hash_and_never_answered(village):
    _, user = await village.call("POST", "/users", json=new_user(), expect=201)
    assert set(user) == {"id", "name", "display_name", "role", "area", "created_at", "disabled_at"}
    [stored] = await stored_users(village)
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert PasswordHasher().verify(stored.password_hash, PASSWORD)
    _, listed = await village.call("GET", "/users", expect=200)
    assert [u["name"] for u in listed] == ["li"] and "password_hash" not in listed[0]
    assert PASSWORD not in str(listed)


async def test_two_users_with_the_same_password_get_different_hashes(village):
    await village.call("POST", "/users", json=new_user(name="li"), expect=201)
    await village.call("POST", "/users", json=new_user(name="wang"), expect=201)
    first, second = await stored_users(village)
    assert first.password_hash != second.password_hash  # salted


@pytest.mark.parametrize(
    "fields, field, kind",
    [
        pytest.param({"name": "l" * 500}, "name", "string_too_long", id="500-character name"),
        pytest.param({"name": "李"}, "name", "string_pattern_mismatch", id="Chinese sign-in name"),
        pytest.param({"password": "short"}, "password", "string_too_short", id="short password"),
        pytest.param({"display_name": ""}, "display_name", "string_too_short", id="no display name"),
        pytest.param({"role": "screen"}, "role", "value_error", id="screen role"),
        pytest.param({"area": "刘井屯"}, "area", "value_error", id="not an area path"),
    ],
)
async def test_bad_input_names_the_field_and_creates_nobody(village, fields, field, kind):
    _, problem = await village.call("POST", "/users", json=new_user(**fields), expect=422)
    assert problem["errors"][0]["loc"] == [field] and problem["errors"][0]["type"] == kind
    assert PASSWORD not in str(problem)
    assert await stored_users(village) == []


async def test_a_taken_name_is_a_conflict_naming_the_field(village):
    await village.call("POST", "/users", json=new_user(), expect=201)
    _, problem = await village.call("POST", "/users", json=new_user(name="LI", display_name="另一个李"), expect=409)
    assert problem["errors"] == [{"loc": ["name"], "msg": "taken", "type": "name_taken"}]
    assert len(await stored_users(village)) == 1


async def test_an_admin_manages_only_users_in_its_scope(village):
    hongqi_admin = await village.token("admin", "/hongqi")
    await village.call("POST", "/users", json=new_user(name="far", area="/other"), expect=201)
    _, mine = await village.call("POST", "/users", json=new_user(name="near"), token=hongqi_admin, expect=201)
    await village.call("POST", "/users", json=new_user(name="x", area="/other"), token=hongqi_admin, expect=403)
    _, listed = await village.call("GET", "/users", token=hongqi_admin, expect=200)
    assert [u["name"] for u in listed] == ["near"]
    _, everyone = await village.call("GET", "/users", expect=200)
    far = next(u for u in everyone if u["name"] == "far")
    await village.call("PATCH", f"/users/{far['name']}", json={"disabled": True}, token=hongqi_admin, expect=404)
    await village.call("PATCH", f"/users/{mine['name']}", json={"disabled": True}, token=hongqi_admin, expect=200)


async def test_an_admin_changes_a_user_field_by_field_and_nothing_outside_its_scope(village):
    """PATCH /users/{name} changes what it is given; a move outside the admin's scope or a screen role is refused
    naming the field, and changes nothing; a disabled user is enabled again with disabled: false."""
    hongqi_admin = await village.token("admin", "/hongqi")
    await village.call("POST", "/users", json=new_user(name="zhao", role="worker"), token=hongqi_admin, expect=201)
    _, changed = await village.call(
        "PATCH", "/users/Zhao", json={"display_name": "赵网格员", "role": "committee", "area": "/hongqi"}, token=hongqi_admin, expect=200
    )
    assert (changed["display_name"], changed["role"], changed["area"]) == ("赵网格员", "committee", "/hongqi")
    await village.call("PATCH", "/users/zhao", json={"area": "/dongfeng"}, token=hongqi_admin, expect=403)
    _, problem = await village.call("PATCH", "/users/zhao", json={"role": "screen"}, token=hongqi_admin, expect=422)
    assert problem["errors"][0]["loc"][-1] == "role"
    [stored] = await stored_users(village)
    assert (stored.role, stored.area) == ("committee", "/hongqi")
    _, disabled = await village.call("PATCH", "/users/zhao", json={"disabled": True}, token=hongqi_admin, expect=200)
    _, enabled = await village.call("PATCH", "/users/zhao", json={"disabled": False}, token=hongqi_admin, expect=200)
    assert disabled["disabled_at"] is not None and enabled["disabled_at"] is None


@pytest.mark.parametrize("role", ["committee", "worker"])
async def test_only_admins_manage_users(village, role):
    token = await village.token(role, VILLAGE)
    await village.call("GET", "/users", token=token, expect=403)
    await village.call("POST", "/users", json=new_user(), token=token, expect=403)


async def test_an_admin_may_not_change_their_own_role_or_area_but_another_admin_may(village, browser):  # noqa: F811
    """Demoting or confining oneself could leave no admin who can sign in: 409 change_self, and nothing changes;
    one's own display name may change, and another admin (here the test's token) may still change the role."""
    await make_user(village, name="root", role="admin", area="/")
    await browser.sign_in("root")
    for change in ({"role": "committee"}, {"area": VILLAGE}, {"display_name": "县管理员", "role": "worker"}):
        _, problem = await browser.call("PATCH", "/users/root", json=change, expect=409)
        assert problem["errors"] == [{"loc": [], "msg": "yourself", "type": "change_self"}]
    [stored] = await stored_users(village)
    assert (stored.role, stored.area, stored.display_name) == ("admin", "/", "李主任")
    _, renamed = await browser.call("PATCH", "/users/root", json={"display_name": "县管理员", "role": "admin", "area": "/"}, expect=200)
    assert (renamed["role"], renamed["area"], renamed["display_name"]) == ("admin", "/", "县管理员")
    _, demoted = await village.call("PATCH", "/users/root", json={"role": "committee"}, expect=200)
    assert demoted["role"] == "committee"
