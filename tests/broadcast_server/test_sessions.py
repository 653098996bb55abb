"""Signing in with a name and a password: the session cookie, its end (sign-out, expiry, a disabled user, a new
password), the Origin check on cookie-borne writes, and the sign-in rate limit. Over real HTTP, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp import ClientSession, CookieJar

from broadcast_server.keys import SIGNIN_THROTTLE
from broadcast_server.sessions import TrustedProxies

VILLAGE = "/hongqi/liujingtun"
PASSWORD = "村口大槐树-2026"


class Browser:
    """One browser: its own cookie jar, and the Origin header a page of this server sends with a write."""

    def __init__(self, village, http: ClientSession):
        self.village = village
        self.http = http
        self.origin = village.url

    async def call(self, method: str, path: str, *, expect: int | None = None, origin: str | None = "same", **kw):
        headers = {} if origin is None else {"Origin": self.origin if origin == "same" else origin}
        async with self.http.request(method, self.village.url + "/api/v1" + path, headers=headers, **kw) as resp:
            body = await resp.json(content_type=None) if resp.status != 204 else None
            if expect is not None:
                assert resp.status == expect, (resp.status, body)
            return resp, body

    async def sign_in(self, name: str, password: str = PASSWORD, *, expect: int = 200):
        return await self.call("POST", "/session", json={"name": name, "password": password}, expect=expect)

    def cookie(self):
        return next((c for c in self.http.cookie_jar if c.key == "vb_session"), None)


@pytest.fixture
async def browser(village):
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:  # unsafe: cookies for an IP address (loopback)
        yield Browser(village, http)


async def make_user(village, name: str = "li", role: str = "committee", area: str = VILLAGE, password: str = PASSWORD) -> dict:
    _, user = await village.call(
        "POST", "/users", json={"name": name, "display_name": "李主任", "role": role, "area": area, "password": password}, expect=201
    )
    return user


async def test_sign_in_sets_a_strict_http_only_cookie_for_a_week_and_acts_as_the_user(village, browser):
    """The answer says who signed in; the cookie is HttpOnly, SameSite=Strict, a week long, and carries the user's role and scope."""
    await village.call("POST", "/areas", json={"path": VILLAGE, "name": "刘井屯村"}, expect=201)
    await make_user(village, name="li")
    resp, me = await browser.sign_in(" Li ")  # as a phone keyboard types it
    assert me == {"kind": "user", "token_id": None, "name": "li", "display_name": "李主任", "role": "committee", "area": VILLAGE,
                  "area_name": "刘井屯村", "screen_id": None}  # PROTOCOL.md §5: name, display_name, role, area, area_name
    cookie = resp.cookies["vb_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == 7 * 24 * 3600
    assert PASSWORD not in str(resp.headers)

    _, again = await browser.call("GET", "/me", expect=200)
    assert again == me
    _, posted = await browser.call("POST", "/announcements", json={"title": "通知", "body": "明天开会。"}, expect=201)
    assert posted["area"] == VILLAGE
    await browser.call("POST", "/areas", json={"path": "/hongqi/x", "name": "x"}, expect=403)  # a committee member, as a token


async def test_sign_out_ends_the_session_on_the_server(village, browser):
    """After 退出 the old cookie is refused even when a copy of it is sent again."""
    await make_user(village)
    await browser.sign_in("li")
    secret = browser.cookie().value
    resp, _ = await browser.call("DELETE", "/session", expect=204)
    assert resp.cookies["vb_session"].value == ""
    await browser.call("GET", "/me", expect=401)
    async with village.http.get(village.url + "/api/v1/me", cookies={"vb_session": secret}) as replayed:
        assert replayed.status == 401


async def test_a_session_expires_after_the_configured_days(village, browser, clock):
    await make_user(village)
    await browser.sign_in("li")
    clock.shift = timedelta(days=6, hours=23)
    await browser.call("GET", "/me", expect=200)
    clock.shift = timedelta(days=7, seconds=1)
    _, problem = await browser.call("GET", "/me", expect=401)
    assert problem["errors"][0]["type"] == "session_ended"


async def test_disabling_a_user_ends_its_sessions_at_once_and_stops_sign_in(village, browser):
    user = await make_user(village)
    await browser.sign_in("li")
    _, disabled = await village.call("PATCH", f"/users/{user['name']}", json={"disabled": True}, expect=200)
    assert disabled["disabled_at"] is not None
    await browser.call("GET", "/me", expect=401)
    _, problem = await browser.sign_in("li", expect=401)
    assert problem["errors"][0]["type"] == "wrong_credentials"


async def test_a_password_reset_ends_the_sessions_and_only_the_new_password_works(village, browser):
    user = await make_user(village)
    await browser.sign_in("li")
    await village.call("PATCH", f"/users/{user['name']}", json={"password": "新的密码-12345"}, expect=200)
    await browser.call("GET", "/me", expect=401)
    await browser.sign_in("li", expect=401)
    await browser.sign_in("li", "新的密码-12345", expect=200)


async def test_changing_ones_own_password_needs_the_current_one(village, browser):
    await make_user(village)
    await browser.sign_in("li")
    _, problem = await browser.call(
        "POST", "/me/password", json={"current_password": "wrong-one", "new_password": "另一个密码-999"}, expect=422
    )
    assert problem["errors"][0] == {"loc": ["current_password"], "msg": "wrong", "type": "wrong_password"}
    await browser.sign_in("li", expect=200)  # nothing changed
    await browser.call("POST", "/me/password", json={"current_password": PASSWORD, "new_password": "另一个密码-999"}, expect=204)
    await browser.call("GET", "/me", expect=200)  # this session goes on
    await browser.sign_in("li", "另一个密码-999", expect=200)
    await village.call("POST", "/me/password", json={"current_password": "x", "new_password": "另一个密码-999"}, expect=409)


@pytest.mark.parametrize(
    "origin", [pytest.param(None, id="no Origin"), pytest.param("http://evil.example", id="another site"), pytest.param("null", id="null")]
)
async def test_a_cookie_borne_write_from_elsewhere_is_refused_and_changes_nothing(village, browser, origin):
    """A write carried by the session cookie needs this server's Origin; reads do not; a bearer token never does."""
    await make_user(village, role="admin", area="/")
    await browser.sign_in("li")
    _, problem = await browser.call("POST", "/announcements", json={"title": "假通知", "body": "x"}, origin=origin, expect=403)
    assert problem["errors"][0]["type"] == "origin_mismatch"
    await browser.call("DELETE", "/session", origin=origin, expect=403)
    await browser.call("GET", "/me", origin=origin, expect=200)  # a read, and the session still stands
    _, page = await village.call("GET", "/announcements", expect=200)
    assert page["items"] == []
    async with village.http.post(village.url + "/api/v1/announcements", json={"title": "t", "body": "b"}, headers=village.auth()) as resp:
        assert resp.status == 201  # a script's bearer token: no Origin needed


async def test_sign_in_from_another_site_is_refused(village, browser):
    await make_user(village)
    _, problem = await browser.call("POST", "/session", json={"name": "li", "password": PASSWORD}, origin="http://evil.example", expect=403)
    assert problem["errors"][0]["type"] == "origin_mismatch" and browser.cookie() is None


@pytest.mark.settings(signin_failures_per_name=3, signin_failures_per_address=1000)
async def test_failed_sign_ins_are_limited_per_name_and_say_when_to_try_again(village, browser):
    """After the allowed failures even the right password is refused, with 429 and Retry-After; another name is not affected."""
    await make_user(village, name="li")
    await make_user(village, name="wang")
    for _ in range(3):
        await browser.sign_in("li", "wrong-password", expect=401)
    resp, problem = await browser.sign_in("li", expect=429)
    assert 0 < int(resp.headers["Retry-After"]) <= 15 * 60
    assert problem["errors"][0]["type"] == "signin_throttled"
    assert browser.cookie() is None
    await browser.sign_in("wang", expect=200)


@pytest.mark.settings(signin_failures_per_name=1000, signin_failures_per_address=4)
async def test_failed_sign_ins_are_limited_per_address_across_names(village, browser):
    await make_user(village, name="li")
    for name in ("a", "b", "c", "d"):
        await browser.sign_in(name, "wrong-password", expect=401)
    resp, _ = await browser.sign_in("li", expect=429)
    assert int(resp.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "body, field",
    [
        pytest.param({"name": "l" * 500, "password": PASSWORD}, "name", id="500-character name"),
        pytest.param({"name": "li", "password": ""}, "password", id="no password"),
        pytest.param({"name": "li"}, "password", id="missing password"),
    ],
)
async def test_bad_sign_in_input_names_the_field_and_counts_as_nothing(village, browser, body, field):
    await make_user(village)
    _, problem = await browser.call("POST", "/session", json=body, expect=422)
    assert problem["errors"][0]["loc"] == [field]
    assert browser.cookie() is None


async def sign_in_from(browser, client: str, name: str, password: str = "wrong-password", **headers) -> tuple[int, object]:
    """A sign-in as a reverse proxy passes it on: the client's address in X-Forwarded-For (the proxy is loopback)."""
    headers = {"Origin": browser.origin, "X-Forwarded-For": client, **headers}
    body = {"name": name, "password": password}
    async with browser.http.post(browser.village.url + "/api/v1/session", json=body, headers=headers) as resp:
        return resp.status, resp.cookies.get("vb_session")


@pytest.mark.settings(signin_failures_per_name=1000, signin_failures_per_address=2, trusted_proxies=["127.0.0.0/8"])
async def test_behind_a_trusted_proxy_failed_sign_ins_count_per_forwarded_client(village, browser):
    """Each client behind the proxy has its own count; what a client wrote left of the proxy's hop is not believed."""
    for name in ("a", "b"):
        assert (await sign_in_from(browser, "203.0.113.5", name))[0] == 401
    assert (await sign_in_from(browser, "203.0.113.5", "c"))[0] == 429
    assert (await sign_in_from(browser, "198.51.100.9, 203.0.113.5", "c"))[0] == 429  # a made-up hop on the left
    assert (await sign_in_from(browser, "203.0.113.5, 127.0.0.1", "c"))[0] == 429  # a second trusted proxy's hop
    assert (await sign_in_from(browser, "203.0.113.6", "c"))[0] == 401  # another village: not locked out


@pytest.mark.settings(signin_failures_per_name=1000, signin_failures_per_address=2)
async def test_without_trusted_proxies_forwarded_for_is_ignored(village, browser):
    """By default the headers are anyone's to write: a client cannot dodge the limit by naming other addresses."""
    for n, client in enumerate(("203.0.113.5", "203.0.113.6")):
        assert (await sign_in_from(browser, client, f"name{n}"))[0] == 401
    assert (await sign_in_from(browser, "203.0.113.7", "other"))[0] == 429


@pytest.mark.parametrize("trusted, proto, secure", [
    pytest.param(["127.0.0.1"], "https", True, id="trusted proxy, https"),
    pytest.param(["127.0.0.1"], "http", False, id="trusted proxy, http"),
    pytest.param([], "https", False, id="untrusted peer claiming https"),
    pytest.param(["10.0.0.0/8"], "https", False, id="another proxy's network"),
])
async def test_the_cookie_is_secure_when_a_trusted_proxy_says_the_client_used_https(village, browser, trusted, proto, secure):
    village.app[SIGNIN_THROTTLE].proxies = TrustedProxies(trusted)
    await make_user(village)
    status, cookie = await sign_in_from(browser, "203.0.113.5", "li", PASSWORD, **{"X-Forwarded-Proto": proto})
    assert status == 200
    assert bool(cookie["secure"]) is secure
