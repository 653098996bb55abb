"""Who may do what, where: every route × every role × areas inside, beside, above and in another case.

The tokens under test act in `/a/b`. Each place holds a screen, a token, an announcement and a
request: `/a/b/x` (inside the scope), `/a/c` (a sibling), `/a` (the parent), and `/A/B/x`, a
path in another letter case as an old database may hold it (no such path can be made now). Every
route must answer its exact status, and no list, CSV, figure or Open311 answer may hold a row from
outside the scope. The route table is the list of routes: a new route fails here until it is given
its roles below.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote

import sqlalchemy as sa
from sqlmodel import select

from announcements.areas import covers
from announcements.models import Announcement
from broadcast_server.api import ROUTE_TABLES
from broadcast_server.keys import DATABASE
from tests.requests.conftest import reply_body

SCOPE = "/a/b"
STAND_IN = "/zz/b/x"  # created through the API, then renamed to VARIANT in the database
VARIANT = "/A/B/x"
PLACES = {"inside": "/a/b/x", "sibling": "/a/c", "parent": "/a", "variant": STAND_IN}

ADMIN, COMMITTEE, WORKER, SCREEN, FEED = "admin", "committee", "worker", "screen", "feed"
ROLES = (ADMIN, COMMITTEE, WORKER, SCREEN, FEED)
STAFF = {ADMIN, COMMITTEE, WORKER}
PUBLIC = set(ROLES) | {"anonymous", "unknown"}
PRINCIPALS = (*ROLES, "anonymous", "unknown")

# (method, path) -> the roles that may call it. Everyone else gets 401 (no or unknown token) or 403.
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/v1/areas"): {ADMIN},
    ("PATCH", "/api/v1/areas/{path}"): {ADMIN},
    ("GET", "/api/v1/areas"): set(ROLES),
    ("POST", "/api/v1/screens"): {ADMIN},
    ("GET", "/api/v1/screens"): {ADMIN, COMMITTEE},
    ("DELETE", "/api/v1/screens/{id}"): {ADMIN},
    ("PATCH", "/api/v1/screens/{id}"): {ADMIN},
    ("POST", "/api/v1/tokens"): {ADMIN},
    ("GET", "/api/v1/tokens"): {ADMIN},
    ("DELETE", "/api/v1/tokens/{id}"): {ADMIN},
    ("GET", "/api/v1/me"): set(ROLES),
    ("POST", "/api/v1/announcements"): {ADMIN, COMMITTEE},
    ("GET", "/api/v1/announcements"): {ADMIN, COMMITTEE},
    ("GET", "/api/v1/announcements/{id}"): {ADMIN, COMMITTEE},
    ("PATCH", "/api/v1/announcements/{id}"): {ADMIN, COMMITTEE},
    ("POST", "/api/v1/announcements/{id}/cancel"): {ADMIN, COMMITTEE},
    ("GET", "/media/{name}"): PUBLIC,  # content-addressed clips; media_public is tested with the streams
    ("POST", "/api/v1/speech/preview"): {ADMIN, COMMITTEE},
    ("POST", "/api/v1/replies"): {SCREEN},
    ("POST", "/api/v1/requests/{ticket}/feedback"): {SCREEN},
    ("GET", "/api/v1/requests"): STAFF,
    ("GET", "/api/v1/requests/{ticket}"): STAFF,
    ("PATCH", "/api/v1/requests/{ticket}"): STAFF,
    ("GET", "/api/v1/requests/summary"): STAFF,
    ("GET", "/api/v1/requests/assignees"): STAFF,
    ("POST", "/api/v1/requests/{ticket}/notes"): STAFF,
    ("GET", "/api/v1/stats"): STAFF,
    ("GET", "/api/v1/requests.csv"): STAFF,
    ("GET", "/open311/v2/discovery.{format}"): PUBLIC,
    ("GET", "/open311/v2/services.{format}"): PUBLIC,
    ("GET", "/open311/v2/services/{name}"): PUBLIC,
    ("GET", "/open311/v2/requests.{format}"): STAFF,
    ("GET", "/open311/v2/requests/{name}"): STAFF,
    ("POST", "/open311/v2/requests.{format}"): {ADMIN, COMMITTEE, SCREEN},
    ("POST", "/api/v1/qr"): {ADMIN, COMMITTEE},
    ("POST", "/api/v1/announcements/reach"): {ADMIN, COMMITTEE},
    ("GET", "/api/v1/screens/tags"): {ADMIN, COMMITTEE},
    ("POST", "/api/v1/session"): PUBLIC,  # signing in and out: name and password, or the cookie
    ("DELETE", "/api/v1/session"): PUBLIC,
    ("POST", "/api/v1/me/password"): set(ROLES),  # a token has no password: 409
    ("GET", "/api/v1/users"): {ADMIN},
    ("POST", "/api/v1/users"): {ADMIN},
    ("PATCH", "/api/v1/users/{name}"): {ADMIN},
    ("POST", "/api/v1/media"): {ADMIN, COMMITTEE},
    ("POST", "/api/v1/schedules"): {ADMIN, COMMITTEE},
    ("GET", "/api/v1/schedules"): {ADMIN, COMMITTEE},
    ("GET", "/api/v1/schedules/upcoming"): {ADMIN, COMMITTEE},
    ("GET", "/api/v1/schedules/{id}"): {ADMIN, COMMITTEE},
    ("PATCH", "/api/v1/schedules/{id}"): {ADMIN, COMMITTEE},
    ("DELETE", "/api/v1/schedules/{id}"): {ADMIN, COMMITTEE},
    ("PATCH", "/api/v1/areas/{path}/kiosk-dwell"): {ADMIN, COMMITTEE},
    ("POST", "/api/v1/templates"): {ADMIN, COMMITTEE},
    ("GET", "/api/v1/templates"): {ADMIN, COMMITTEE},
    ("PATCH", "/api/v1/templates/{id}"): {ADMIN, COMMITTEE},
    ("DELETE", "/api/v1/templates/{id}"): {ADMIN, COMMITTEE},
    ("GET", "/api/v1/pronunciations"): {ADMIN, COMMITTEE},
    ("PUT", "/api/v1/pronunciations/{word}"): {ADMIN},
    ("DELETE", "/api/v1/pronunciations/{word}"): {ADMIN},
    ("GET", "/api/v1/live/calls"): {ADMIN, COMMITTEE},
    ("DELETE", "/api/v1/live/calls/{call_id}"): {ADMIN, COMMITTEE},  # the caller, or an admin
    ("POST", "/api/v1/cap"): {ADMIN, FEED},  # what a feed's alerts reach: tests/cap/test_intake.py
    ("GET", "/api/v1/cap/alerts"): {ADMIN},
    ("GET", "/api/v1/cap/sources"): {ADMIN},  # which sources a scope sees: tests/cap/test_sources.py
    ("GET", "/api/v1/announcements/{id}/deliveries"): {ADMIN, COMMITTEE},
    ("GET", "/api/v1/announcements/{id}/deliveries.csv"): {ADMIN, COMMITTEE},
    ("GET", "/api/v1/deliveries/overdue"): {ADMIN, COMMITTEE},  # devices in scope: tests/e2e/test_proof_of_delivery.py
    ("GET", "/api/v1/deliveries/emergencies"): {ADMIN, COMMITTEE},  # which: tests/broadcast_server/test_deliveries_api.py
    ("GET", "/api/v1/announcements/{id}.cap"): {ADMIN, COMMITTEE},
    ("GET", "/cap/alerts.atom"): PUBLIC,  # public warnings only: tests/broadcast_server/test_cap_export.py
    ("GET", "/cap/alerts/{id}.cap"): PUBLIC,
}


def declared_routes() -> set[tuple[str, str]]:
    return {(e.method, e.path) for table in ROUTE_TABLES for e in table.endpoints}


def test_every_route_has_its_roles_here():
    """A route added to the server is not served untested: it must be given its roles in ALLOWED."""
    assert declared_routes() == set(ALLOWED)


class World:
    """The places, their objects, and the tokens under test, made through the API as a county admin would."""

    def __init__(self, village):
        self.village = village
        self.tokens: dict[str, str | None] = {"anonymous": None, "unknown": "vb_" + "U" * 43}
        self.objects: dict[str, dict[str, str]] = {}  # place -> kind -> id
        self.place_tokens: dict[str, dict[str, str]] = {}  # place -> committee / screen token there

    async def build(self) -> World:
        v = self.village
        for path in ("/a", "/a/b", "/a/b/x", "/a/c", STAND_IN):
            await v.call("POST", "/areas", json={"path": path, "name": path}, expect=201)
        for role in (ADMIN, COMMITTEE, WORKER, FEED):
            self.tokens[role] = await v.token(role, SCOPE)
        self.tokens[SCREEN] = (await v.screen("scope-screen", SCOPE))["token"]
        for place, path in PLACES.items():
            committee = await v.token(COMMITTEE, path)
            screen = await v.screen(f"screen-{place}", path)
            self.place_tokens[place] = {COMMITTEE: committee, SCREEN: screen["token"]}
            self.objects[place] = {"screen": screen["id"]}
            for kind in ("token", "announcement", "ticket", "user"):
                self.objects[place][kind] = await self.fresh(place, kind)
        return self

    async def fresh(self, place: str, kind: str) -> str:
        """A new object of `kind` in `place` (for routes that change or remove one), made as the admin would."""
        v, path = self.village, PLACES[place]
        reuse = place in self.place_tokens and place != "variant"  # renamed tokens cannot post: make new ones
        match kind:
            case "token":
                made = (await v.call("POST", "/tokens", json={"role": "worker", "area": path, "name": "w"}, expect=201))[1]["id"]
            case "announcement":
                committee = self.place_tokens[place][COMMITTEE] if reuse else await v.token(COMMITTEE, path)
                made = (await v.post(token=committee, title=f"通知 {place}"))["id"]
            case "ticket":
                screen_token = self.place_tokens[place][SCREEN] if reuse else (await v.screen("s", path))["token"]
                made = (await v.call("POST", "/replies", token=screen_token, json=reply_body(), expect=201))[1]["ticket"]
            case "user":
                made = (await v.call("POST", "/users", json=new_user(path), expect=201))[1]["name"]
            case "screen":
                screen = {"name": "s", "area": path, "kind": "screen", "tags": []}
                made = (await v.call("POST", "/screens", json=screen, expect=201))[1]["id"]
            case _:
                raise AssertionError(kind)
        if place == "variant":
            await self._rename_stand_in()
        return made

    async def _rename_stand_in(self) -> None:
        """Move everything in the stand-in area to the case variant, as an old database might hold it."""
        old, new = STAND_IN, VARIANT
        async with self.village.app[DATABASE].write() as session:
            connection = await session.connection()
            await connection.execute(
                sa.text("UPDATE area SET path = :new WHERE path = :old AND NOT EXISTS (SELECT 1 FROM area WHERE path = :new)"),
                {"new": new, "old": old},
            )
            await connection.execute(sa.text("DELETE FROM area WHERE path = :old"), {"old": old})
            for table in ("screen", "token", "announcement", "service_request", '"user"'):
                await connection.execute(sa.text(f"UPDATE {table} SET area = :new WHERE area = :old"), {"new": new, "old": old})
            for announcement in (await session.exec(select(Announcement).where(Announcement.area == new))).all():
                announcement.target = json.loads(json.dumps(announcement.target).replace(old, new))
                session.add(announcement)

    def path_of(self, place: str) -> str:
        return VARIANT if place == "variant" else PLACES[place]

    async def answer(self, principal: str, method: str, path: str, **kw) -> tuple[int, bytes, str]:
        headers = {"Authorization": f"Bearer {self.tokens[principal]}"} if self.tokens[principal] else {}
        async with self.village.http.request(method, self.village.url + path, headers=headers, **kw) as resp:
            return resp.status, await resp.read(), resp.content_type


def new_user(area: str) -> dict:
    return {"name": f"u{uuid.uuid4().hex[:12]}", "display_name": "王会计", "role": "worker", "area": area, "password": "村里的新密码一二三"}


def denied(principal: str, route: tuple[str, str]) -> int | None:
    """The status for a caller the route does not admit, or None when it admits them."""
    if principal in ALLOWED[route]:
        return None
    open311 = route[1].startswith("/open311/")
    if principal in ("anonymous", "unknown"):
        return 403 if open311 else 401
    return 403


def in_scope(path: str) -> bool:
    return covers(SCOPE, path)


async def test_single_objects_answer_only_inside_the_scope(village):
    """Read, change, cancel and remove: 2xx inside the scope, 404 beside, above or in another case; 401/403 by role."""
    world = await World(village).build()
    routes = {
        ("GET", "/api/v1/announcements/{id}"): ("announcement", "/api/v1/announcements/{}", {}, 200),
        ("GET", "/api/v1/announcements/{id}/deliveries"): ("announcement", "/api/v1/announcements/{}/deliveries", {}, 200),
        ("GET", "/api/v1/announcements/{id}/deliveries.csv"): ("announcement", "/api/v1/announcements/{}/deliveries.csv", {}, 200),
        ("GET", "/api/v1/announcements/{id}.cap"): ("announcement", "/api/v1/announcements/{}.cap", {}, 200),
        ("PATCH", "/api/v1/announcements/{id}"): ("announcement", "/api/v1/announcements/{}", {"json": {"title": "更正"}}, 200),
        ("POST", "/api/v1/announcements/{id}/cancel"): ("announcement", "/api/v1/announcements/{}/cancel", {}, 200),
        ("DELETE", "/api/v1/tokens/{id}"): ("token", "/api/v1/tokens/{}", {}, 204),
        ("DELETE", "/api/v1/screens/{id}"): ("screen", "/api/v1/screens/{}", {}, 204),
        ("PATCH", "/api/v1/screens/{id}"): ("screen", "/api/v1/screens/{}", {"json": {"name": "村口新屏"}}, 200),
        ("PATCH", "/api/v1/areas/{path}"): ("area", "/api/v1/areas/{}", {"json": {"name": "新名字"}}, 200),
        ("GET", "/api/v1/requests/{ticket}"): ("ticket", "/api/v1/requests/{}", {}, 200),
        ("PATCH", "/api/v1/requests/{ticket}"): ("ticket", "/api/v1/requests/{}", {"json": {"assignee": "王"}}, 200),
        ("GET", "/open311/v2/requests/{name}"): ("ticket", "/open311/v2/requests/{}.json", {}, 200),
        ("PATCH", "/api/v1/users/{name}"): ("user", "/api/v1/users/{}", {"json": {"disabled": True, "password": "另一个新密码四五"}}, 200),
    }
    changes = {"PATCH", "DELETE", "POST"}
    for route, (kind, template, kw, success) in routes.items():
        for principal in PRINCIPALS:
            for place in PLACES:
                if kind == "area":
                    target = quote(world.path_of(place), safe="")
                elif route[0] in changes and principal in ALLOWED[route]:
                    target = await world.fresh(place, kind)
                else:
                    target = world.objects[place][kind]
                status, body, _ = await world.answer(principal, route[0], template.format(target), **kw)
                # The parent's announcement reached the scope's devices: their part of its report is the scope's own.
                reached = place == "parent" and "/deliveries" in route[1]
                expected = denied(principal, route) or (success if place == "inside" or reached else 404)
                assert status == expected, (route, principal, place, status, body[:300])
                if reached and status == 200 and route[1].endswith("/deliveries"):
                    devices = json.loads(body)["devices"]
                    assert devices and all(in_scope(d["area"]) for d in devices), (principal, devices)


async def test_lists_hold_only_rows_inside_the_scope(village):
    """Lists, CSV, figures and Open311 show the inside rows and none from beside, above or another case."""
    world = await World(village).build()
    _, mine = await village.call("GET", "/requests", expect=200)
    inside_tickets = {r["ticket"] for r in mine["items"] if in_scope(r["area"])}
    assert world.objects["inside"]["ticket"] in inside_tickets and len(inside_tickets) < len(mine["items"])
    _, posted = await village.call("GET", "/announcements?limit=200", expect=200)
    inside_announcements = {a["id"] for a in posted["items"] if in_scope(a["area"])}

    def areas_of(route: tuple[str, str], body: bytes) -> list[str]:
        data = json.loads(body) if route[1] not in ("/api/v1/requests.csv",) else None
        match route[1]:
            case "/api/v1/areas":
                return [a["path"] for a in data]
            case "/api/v1/screens" | "/api/v1/tokens" | "/api/v1/users":
                return [x["area"] for x in data]
            case "/api/v1/announcements" | "/api/v1/requests":
                return [x["area"] for x in data["items"]]
            case "/api/v1/stats":
                assert {a["id"] for a in data["announcements"]} <= inside_announcements
                return list(data["totals"]["by_area"])
        raise AssertionError(route)

    lists = [
        ("GET", p)
        for p in (
            "/api/v1/areas", "/api/v1/screens", "/api/v1/tokens", "/api/v1/users", "/api/v1/announcements", "/api/v1/requests",
            "/api/v1/stats",
        )
    ]
    for route in lists:
        for principal in PRINCIPALS:
            status, body, _ = await world.answer(principal, *route)
            if denied(principal, route):
                assert status == denied(principal, route), (route, principal, status)
                continue
            assert status == 200, (route, principal, status, body[:300])
            areas = areas_of(route, body)
            assert areas and all(in_scope(a) for a in areas), (route, principal, areas)
            if route[1] != "/api/v1/areas":
                assert "/a/b/x" in areas, (route, principal, areas)  # the inside row is there: not vacuous

    for principal in PRINCIPALS:
        route = ("GET", "/api/v1/requests.csv")
        unmask = "?unmask=true" if principal == ADMIN else ""  # full phone numbers: admins only
        status, body, _ = await world.answer(principal, "GET", "/api/v1/requests.csv" + unmask)
        if denied(principal, route):
            assert status == denied(principal, route)
            continue
        assert status == 200, (principal, body[:300])
        rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
        assert {r["编号"] for r in rows} == inside_tickets, (principal, rows)  # the ticket, under its Chinese header

        for fmt in ("json", "xml"):
            route = ("GET", "/open311/v2/requests.{format}")
            status, body, _ = await world.answer(principal, "GET", f"/open311/v2/requests.{fmt}")
            if denied(principal, route):
                assert status == denied(principal, route)
                continue
            if fmt == "json":
                tickets = {r["service_request_id"] for r in json.loads(body)}
            else:
                tickets = {e.text for e in ET.fromstring(body).iter("service_request_id")}
            assert tickets == inside_tickets, (principal, fmt, tickets)

    stats = json.loads((await world.answer(ADMIN, "GET", "/api/v1/stats"))[1])
    assert sum(stats["totals"]["by_area"].values()) == stats["totals"]["all"] == len(inside_tickets)


async def test_making_things_is_bounded_by_the_scope(village):
    """Areas, screens, tokens, announcements and Open311 reports: 201 inside, 403 beside or above, 422 in another case."""
    world = await World(village).build()
    bodies = {
        ("POST", "/api/v1/areas"): lambda path: {"json": {"path": path + "/new", "name": "新"}},
        ("POST", "/api/v1/screens"): lambda path: {"json": {"name": "s", "area": path, "kind": "screen", "tags": []}},
        ("POST", "/api/v1/tokens"): lambda path: {"json": {"role": "worker", "area": path, "name": "w"}},
        ("POST", "/api/v1/users"): lambda path: {"json": new_user(path)},
        ("POST", "/api/v1/announcements"): lambda path: {"json": {"title": "t", "body": "b", "target": {"areas": [path]}}},
        ("POST", "/open311/v2/requests.{format}"): lambda path: {
            "data": {"service_code": "help", "description": "路灯坏了", "address_id": path}
        },
    }
    for route, body in bodies.items():
        for principal in PRINCIPALS:
            for place in PLACES:
                path = world.path_of(place)
                url = route[1].replace("{format}", "json")
                kw = body(path)
                if route[1].startswith("/open311/") and world.tokens[principal]:
                    kw["data"]["api_key"] = world.tokens[principal]
                status, answer, _ = await world.answer(principal, route[0], url, **kw)
                if principal == SCREEN and route[1].startswith("/open311/"):
                    expected = 201  # a screen's report lands in the screen's own area, whatever address_id says
                else:
                    open311_bad = 400 if route[1].startswith("/open311/") else 422
                    expected = denied(principal, route) or {"inside": 201, "variant": open311_bad}.get(place, 403)
                assert status == expected, (route, principal, place, status, answer[:300])
    _, page = await village.call("GET", "/requests?limit=200", expect=200)
    assert not [r for r in page["items"] if r["source"] == "open311" and not in_scope(r["area"]) and r["area"] != "/"]


async def test_other_routes_answer_by_role(village):
    """The remaining routes admit exactly their roles (the screen's own routes are tested with the request log)."""
    world = await World(village).build()
    calls = {
        ("GET", "/api/v1/me"): ("/api/v1/me", {}, 200),
        ("GET", "/media/{name}"): ("/media/" + "0" * 64 + ".mp3", {}, 404),
        ("POST", "/api/v1/speech/preview"): ("/api/v1/speech/preview", {"json": {"text": "你好"}}, 503),  # no speech here
        ("POST", "/api/v1/qr"): ("/api/v1/qr", {"json": {"text": "http://example/screen"}}, 200),
        ("POST", "/api/v1/media"): ("/api/v1/media", {"data": b"not a picture"}, 422),  # uploads: test_pictures.py
        ("POST", "/api/v1/announcements/reach"): ("/api/v1/announcements/reach", {"json": {"target": {"areas": [SCOPE]}}}, 200),
        ("GET", "/api/v1/screens/tags"): ("/api/v1/screens/tags", {}, 200),
        ("POST", "/api/v1/cap"): ("/api/v1/cap", {"data": b"<alert/>"}, 415),  # not sent as XML; alerts: tests/cap/
        ("GET", "/api/v1/cap/alerts"): ("/api/v1/cap/alerts", {}, 200),
        ("GET", "/api/v1/cap/sources"): ("/api/v1/cap/sources", {}, 200),
        ("GET", "/api/v1/deliveries/overdue"): ("/api/v1/deliveries/overdue", {}, 200),
        ("GET", "/api/v1/deliveries/emergencies"): ("/api/v1/deliveries/emergencies", {}, 200),
        ("GET", "/cap/alerts.atom"): ("/cap/alerts.atom", {}, 200),
        ("GET", "/cap/alerts/{id}.cap"): ("/cap/alerts/" + "0" * 32 + ".cap", {}, 404),  # no such public warning
        ("POST", "/api/v1/me/password"): (
            "/api/v1/me/password", {"json": {"current_password": "x", "new_password": "村里的新密码一二三"}}, 409
        ),  # a token has no password to change
        ("POST", "/api/v1/session"): ("/api/v1/session", {"json": {"name": "nobody", "password": "wrong password"}}, 403),  # no Origin
        ("DELETE", "/api/v1/session"): ("/api/v1/session", {}, 204),  # no session: nothing to end
        ("GET", "/open311/v2/discovery.{format}"): ("/open311/v2/discovery.json", {}, 200),
        ("GET", "/open311/v2/services.{format}"): ("/open311/v2/services.xml", {}, 200),
        ("GET", "/open311/v2/services/{name}"): ("/open311/v2/services/help.json", {}, 200),
        ("POST", "/api/v1/replies"): ("/api/v1/replies", {"json": reply_body()}, 201),
        ("POST", "/api/v1/requests/{ticket}/feedback"): (
            f"/api/v1/requests/{world.objects['inside']['ticket']}/feedback", {"json": {"rating": "satisfied"}}, 404
        ),  # another screen's request: not this screen's to rate
    }
    for route, (url, kw, success) in calls.items():
        for principal in PRINCIPALS:
            status, body, _ = await world.answer(principal, route[0], url, **kw)
            assert status == (denied(principal, route) or success), (route, principal, status, body[:300])


async def test_schedules_and_kiosk_dwell_answer_only_inside_the_scope(village):
    """A timed broadcast made in each place: read, edit, delete and list inside the scope only; the dwell likewise."""
    world = await World(village).build()

    async def make(place: str) -> str:
        body = {"title": "早间广播", "body": "天气晴", "rrule": "FREQ=DAILY;BYHOUR=6;BYMINUTE=30", "dtstart": "2999-01-01"}
        _, made = await village.call("POST", "/schedules", token=world.place_tokens[place][COMMITTEE], json=body, expect=201)
        return made["id"]

    kept = {place: await make(place) for place in PLACES}
    single = {
        ("GET", "/api/v1/schedules/{id}"): ({}, 200),
        ("PATCH", "/api/v1/schedules/{id}"): ({"json": {"paused": True}}, 200),
        ("DELETE", "/api/v1/schedules/{id}"): ({}, 204),
    }
    for route, (kw, success) in single.items():
        for principal in PRINCIPALS:
            for place in PLACES:
                expected = denied(principal, route) or (success if place == "inside" else 404)
                stops = route[0] == "DELETE" and expected == success
                schedule_id = await make(place) if stops else kept[place]  # a fresh one for each caller that stops one
                status, body, _ = await world.answer(principal, route[0], f"/api/v1/schedules/{schedule_id}", **kw)
                assert status == expected, (route, principal, place, status, body[:300])
    for route in (("GET", "/api/v1/schedules"), ("GET", "/api/v1/schedules/upcoming")):
        for principal in PRINCIPALS:
            status, body, _ = await world.answer(principal, *route)
            assert status == (denied(principal, route) or 200), (route, principal, status)
    status, body, _ = await world.answer(COMMITTEE, "GET", "/api/v1/schedules")
    assert kept["inside"] in [s["id"] for s in json.loads(body)]
    assert {s["area"] for s in json.loads(body)} == {world.path_of("inside")}
    route = ("PATCH", "/api/v1/areas/{path}/kiosk-dwell")
    for principal in PRINCIPALS:
        for place in PLACES:
            url = f"/api/v1/areas/{quote(world.path_of(place), safe='')}/kiosk-dwell"
            status, body, _ = await world.answer(principal, "PATCH", url, json={"kiosk_dwell_s": 15})
            expected = denied(principal, route) or (200 if place == "inside" else 404)
            assert status == expected, (route, principal, place, status, body[:300])


async def test_templates_are_used_below_and_changed_only_inside_the_scope(village):
    """A template made in each place: listed inside the scope and above it; changed or deleted inside only
    (403 for the parent's, which the scope may use; 404 beside or in another case)."""
    world = await World(village).build()
    made = 0

    async def make(place: str) -> str:
        nonlocal made
        made += 1
        body = {"name": f"防火防汛 {made}", "title": "防火防汛提醒", "body": "请注意用火安全。"}
        _, template = await village.call("POST", "/templates", token=world.place_tokens[place][COMMITTEE], json=body, expect=201)
        return template["id"]

    kept = {place: await make(place) for place in PLACES}
    outcome = {"inside": None, "parent": 403}  # None: the route's success
    single = {("PATCH", "/api/v1/templates/{id}"): ({"json": {"title": "更正"}}, 200), ("DELETE", "/api/v1/templates/{id}"): ({}, 204)}
    for route, (kw, success) in single.items():
        for principal in PRINCIPALS:
            for place in PLACES:
                expected = denied(principal, route) or outcome.get(place, 404) or success
                removes = route[0] == "DELETE" and expected == success
                template_id = await make(place) if removes else kept[place]
                status, body, _ = await world.answer(principal, route[0], f"/api/v1/templates/{template_id}", **kw)
                assert status == expected, (route, principal, place, status, body[:300])
    route = ("GET", "/api/v1/templates")
    for principal in PRINCIPALS:
        status, body, _ = await world.answer(principal, *route)
        assert status == (denied(principal, route) or 200), (route, principal, status)
        if status == 200:
            listed = {t["id"]: t["area"] for t in json.loads(body)}
            assert kept["inside"] in listed and kept["parent"] in listed, (principal, listed)
            assert all(in_scope(area) or area == world.path_of("parent") for area in listed.values()), (principal, listed)


async def test_live_calls_are_seen_and_stopped_only_inside_the_scope(village):
    """A call going on inside the scope and one beside it (one above would cover both: it would be busy): the scope's
    staff list only the call inside; its admin stops it (204), a committee member who is not its caller may not (403),
    and the call beside is not there for them (404). The call's socket itself admits admins and committees only."""
    world = await World(village).build()
    calls = {}
    for place in ("inside", "sibling"):
        ws = await village.http.ws_connect(village.url + "/api/v1/live", headers=village.auth(world.place_tokens[place][COMMITTEE]))
        await ws.send_json({"type": "start", "areas": [PLACES[place]]})
        started = await ws.receive_json(timeout=10)
        assert started["type"] == "started", started
        calls[place] = (ws, started["call_id"])
    route = ("GET", "/api/v1/live/calls")
    for principal in PRINCIPALS:
        status, body, _ = await world.answer(principal, *route)
        assert status == (denied(principal, route) or 200), (principal, status)
        if status == 200:
            assert [c["call_id"] for c in json.loads(body)] == [calls["inside"][1]]
    route = ("DELETE", "/api/v1/live/calls/{call_id}")
    for principal in PRINCIPALS:
        for place in ("sibling", "inside"):
            if principal == ADMIN and place == "inside":
                continue  # stops it: last, below
            expected = denied(principal, route) or (403 if place == "inside" else 404)
            status, body, _ = await world.answer(principal, "DELETE", f"/api/v1/live/calls/{calls[place][1]}")
            assert status == expected, (principal, place, status, body[:300])
    status, _, _ = await world.answer(ADMIN, "DELETE", f"/api/v1/live/calls/{calls['inside'][1]}")
    assert status == 204
    for principal in PRINCIPALS:
        if principal in (ADMIN, COMMITTEE):
            continue
        headers = {"Authorization": f"Bearer {world.tokens[principal]}"} if world.tokens[principal] else {}
        async with village.http.get(village.url + "/api/v1/live", headers=headers) as resp:
            assert resp.status == denied(principal, route), (principal, resp.status)
    for ws, _ in calls.values():
        await ws.close()
