"""Bad input of each kind gets a clear 4xx naming the problem, never a 500 or a dropped WebSocket,
and stores nothing: JSON nested too deeply, numbers JSON has not, text no database can hold, times at
the edges of the calendar, headers that are not ASCII.

The HTTP strategies run on every route of `ROUTE_TABLES` that takes a JSON body (and every date field
of a body or query model), so a new route is covered without touching this file.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import aiohttp
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel

from announcements.clientinput import MAX_DEPTH
from broadcast_server.api import ROUTE_TABLES, open311
from broadcast_server.keys import DATABASE
from broadcast_server.routing import Endpoint
from tests.wsframes import connect, until

PROBLEM = "application/problem+json"
PROFILE = settings(
    max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

JSON_ROUTES = [e for table in ROUTE_TABLES for e in table.endpoints if e.body is not None and e.body_content_type == "application/json"]
ROUTE_IDS = [f"{e.method} {e.path}" for e in JSON_ROUTES]


def _date_fields(model) -> list[str]:
    """The fields of a model that take a date-time (as its JSON schema says)."""
    if model is None:
        return []
    properties = model.model_json_schema()["properties"]
    return [name for name, schema in properties.items() if '"date-time"' in json.dumps(schema)]


BODY_DATES = [(e, name) for e in JSON_ROUTES for name in _date_fields(e.body)]
QUERY_DATES = [(e, name) for table in ROUTE_TABLES for e in table.endpoints for name in _date_fields(e.query)]
OPEN311_DATES = ["start_date", "end_date"]
assert BODY_DATES and QUERY_DATES, "the route table should declare date fields (publish_at, since, ...)"


# ---------------------------------------------------------------- speaking to the server

@dataclass
class Answer:
    status: int
    content_type: str
    body: object


@dataclass
class World:
    """A village with a screen, a live announcement and a request, for routes whose paths name them."""

    village: object
    screen_token: str
    path_values: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def path(self, endpoint: Endpoint) -> str:
        return re.sub(r"\{(\w+)[^}]*\}", lambda m: self.path_values.get(m.group(1), "x"), endpoint.path)

    async def send(self, method: str, path: str, *, data: bytes | None = None, token: str | None = None, headers=None) -> Answer:
        village = self.village
        # From this server's own pages, as the console sends it: the Origin check passes and the body is judged.
        all_headers = {**village.auth(token), "Content-Type": "application/json", "Origin": village.url, **(headers or {})}
        async with village.http.request(method, village.url + path, data=data, headers=all_headers) as resp:
            text = await resp.text()
            assert resp.status < 500, (method, path, resp.status, text)
            return Answer(resp.status, resp.content_type, json.loads(text) if "json" in resp.content_type else text)

    async def token_for(self, endpoint: Endpoint) -> str:
        """The admin's token, or the screen's for routes only a screen may call (an empty body tells which)."""
        key = f"{endpoint.method} {endpoint.path}"
        if key not in self.tokens:
            answer = await self.send(endpoint.method, self.path(endpoint), data=b"")
            self.tokens[key] = self.screen_token if answer.status == 403 else self.village.admin
        return self.tokens[key]

    async def post_json(self, endpoint: Endpoint, raw: bytes) -> Answer:
        return await self.send(endpoint.method, self.path(endpoint), data=raw, token=await self.token_for(endpoint))

    async def rows(self) -> dict[str, int]:
        """How many rows each table holds (one query), to show that a refused request stored nothing."""
        tables = SQLModel.metadata.sorted_tables
        query = sa.select(*[sa.select(sa.func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables])
        async with self.village.app[DATABASE].read() as session:
            return dict((await session.exec(query)).one()._mapping)


@pytest.fixture
async def world(village) -> World:
    screen = await village.screen("gate", "/hongqi/liujingtun")
    announcement = await village.post(speak=False)  # no speech: nothing changes it in the background
    reply = {"client_msg_id": "m-1", "category": "help", "text": "村口的路灯坏了。"}
    _, taken = await village.call("POST", "/replies", token=screen["token"], json=reply, expect=201)
    return World(village, screen["token"], {"id": announcement["id"], "ticket": taken["ticket"], "path": "%2Fhongqi%2Fliujingtun"})


def assert_problem(answer: Answer, status: int, *words: str) -> None:
    """A problem+json with this status whose detail names the problem."""
    assert answer.status == status and answer.content_type == PROBLEM, answer
    assert all(w in answer.body["detail"] for w in words), (words, answer.body)


def assert_open311_error(answer: Answer, status: int, *words: str) -> None:
    """Open311's error list (JSON) with this status whose description names the problem."""
    assert answer.status == status and answer.content_type == "application/json", answer
    [error] = answer.body
    assert error["code"] == status and all(w in error["description"] for w in words), (words, error)


# ---------------------------------------------------------------- strategies

def nested(depth: int, kind: str) -> str:
    opener, closer = {"array": ("[", "]"), "object": ('{"a":', "}")}[kind]
    return opener * depth + "1" + closer * depth


deep_json = st.builds(nested, st.integers(MAX_DEPTH + 1, 5000), st.sampled_from(["array", "object"]))
# What no database, XML document or terminal should get: C0 controls (not tab, LF, CR), lone
# surrogates (escaped in JSON, valid syntax but no text), the non-characters U+FFFE and U+FFFF.
forbidden_char = (
    st.characters(max_codepoint=0x1F).filter(lambda c: c not in "\t\n\r")
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
    | st.sampled_from(["\x00", "\ufffe", "\uffff"])
)
bad_text = st.tuples(st.text(max_size=5), forbidden_char, st.text(max_size=5)).map("".join)
non_finite = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
huge_int = st.integers(4301, 6000).map(lambda digits: "9" * digits)  # beyond Python's int parsing limit
minutes = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
far_time = st.builds(
    lambda day, zone: day.replace(tzinfo=zone).isoformat(),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1998, 12, 31))
    | st.datetimes(min_value=datetime(3001, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    minutes,
) | st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T00:00:00+00:00"])


def unreadable_body(fields: list[str]):
    """(raw body, status, words): JSON too deep, numbers JSON has not, shapes that are not an object."""
    def in_field(value: str):
        return st.sampled_from(fields).map(lambda name: f"{{{json.dumps(name)}: {value}}}")

    return st.one_of(
        deep_json.map(lambda raw: (raw, 400, f"nested too deeply: at most {MAX_DEPTH}")),
        deep_json.flatmap(in_field).map(lambda raw: (raw, 400, "nested too deeply")),
        non_finite.flatmap(in_field).map(lambda raw: (raw, 400, "not valid JSON")),
        huge_int.flatmap(in_field).map(lambda raw: (raw, 400, "not valid JSON")),
        st.sampled_from(["[]", "null", "1", '"x"', "[{}]"]).map(lambda raw: (raw, 422, "body")),
        st.just(("", 400, "needs a JSON body")),
    )


# ---------------------------------------------------------------- HTTP: every JSON route

@PROFILE
@given(data=st.data())
async def test_unreadable_json_is_400_on_every_json_route(world, data):
    """Deep nesting, NaN or 1e400, an integer of 5,000 digits, no object: 4xx naming it; nothing stored."""
    endpoint = data.draw(st.sampled_from(JSON_ROUTES), label="route")
    raw, status, words = data.draw(unreadable_body(sorted(endpoint.body.model_fields)), label="body")
    before = await world.rows()
    assert_problem(await world.post_json(endpoint, raw.encode()), status, words)
    assert await world.rows() == before


def _placed(name: str, text: str, how: str) -> dict:
    return {"value": {name: text}, "in a list": {name: [text]}, "in an object": {name: {"x": text}}, "as a key": {text: 1}}[how]


@PROFILE
@given(data=st.data())
async def test_text_no_database_can_hold_is_422_naming_the_field(world, data):
    """NUL, controls, lone surrogates anywhere in a body, as a value or a key: 422 naming the field."""
    endpoint = data.draw(st.sampled_from(JSON_ROUTES), label="route")
    name = data.draw(st.sampled_from(sorted(endpoint.body.model_fields)), label="field")
    how = data.draw(st.sampled_from(["value", "in a list", "in an object", "as a key"]), label="how")
    text = data.draw(bad_text, label="text")
    before = await world.rows()
    answer = await world.post_json(endpoint, json.dumps(_placed(name, text, how)).encode())  # escapes: ASCII JSON
    assert_problem(answer, 422, "U+")
    if how != "as a key":
        assert answer.body["errors"][0]["loc"][0] == name, answer.body
    assert await world.rows() == before


@PROFILE
@given(data=st.data())
async def test_times_beyond_the_calendar_range_are_refused_naming_the_field(world, data):
    """A time before 2000 or after 2999 (as far as year 1 or 9999, any offset): 422 naming the field and the
    range, on every date field of a body or a query; 400 in Open311's format for start_date and end_date."""
    when = data.draw(far_time, label="when")
    place = data.draw(st.sampled_from(["body", "query", "open311"]), label="place")
    before = await world.rows()
    if place == "body":
        endpoint, name = data.draw(st.sampled_from(BODY_DATES), label="field")
        answer = await world.post_json(endpoint, json.dumps({"title": "t", "body": "b", name: when}).encode())
        assert_problem(answer, 422, name, "2000-01-01", "2999-12-31")
    elif place == "query":
        endpoint, name = data.draw(st.sampled_from(QUERY_DATES), label="field")
        query = quote(when, safe="")
        answer = await world.send(endpoint.method, f"{world.path(endpoint)}?{name}={query}")
        assert_problem(answer, 422, f"query.{name}", "2000-01-01")
    else:
        name = data.draw(st.sampled_from(OPEN311_DATES), label="field")
        answer = await world.send("GET", f"{open311.BASE}/requests.json?{name}={quote(when, safe='')}")
        assert_open311_error(answer, 400, name, "2000-01-01")
    assert await world.rows() == before


async def raw_http(village, head: str, body: bytes, extra_header: bytes) -> Answer:
    """One request written byte for byte (a client library would refuse or re-encode odd header bytes)."""
    reader, writer = await asyncio.open_connection(village.server.host, village.server.port)
    writer.write(head.encode() + extra_header + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    content_type = re.search(rb"(?im)^content-type: ([^;\r\n]+)", headers).group(1).decode()
    return Answer(int(status_line.split()[1]), content_type, json.loads(payload))


# Bytes a header may carry on the wire (no controls, which aiohttp's parser itself refuses), at least one not ASCII.
header_bytes = st.binary(min_size=1, max_size=20).map(lambda b: bytes(c | 0x80 if c < 0x20 or c == 0x7F else c for c in b)).filter(
    lambda b: max(b) >= 0x80
) | st.text(st.characters(min_codepoint=0x80, exclude_categories=["Cs"]), min_size=1, max_size=10).map(str.encode)


@PROFILE
@given(key=header_bytes)
async def test_an_idempotency_key_that_is_not_ascii_is_422(world, key):
    """An Idempotency-Key with any byte beyond ASCII (valid UTF-8 or not) is 422 naming the header; nothing stored."""
    village = world.village
    head = f"POST /api/v1/announcements HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {village.admin}\r\nContent-Type: application/json\r\n"
    before = await world.rows()
    answer = await raw_http(village, head, json.dumps({"title": "t", "body": "b", "speak": False}).encode(), b"Idempotency-Key: " + key)
    assert_problem(answer, 422, "Idempotency-Key", "printable ASCII")
    assert await world.rows() == before


# ---------------------------------------------------------------- WebSocket

@pytest.fixture
async def screen_ws(world):
    ws = await connect(world.village, world.screen_token)
    await until(ws, "synced")
    yield ws
    await ws.close()


def bad_frames():
    """(frame, ref): a frame the server must answer with `invalid`, and the ref the error should carry."""
    def with_text(text: str):
        return st.sampled_from([
            (json.dumps({"type": "reply", "client_msg_id": "m-9", "category": "help", "text": text}), "m-9"),
            (json.dumps({"type": "receipt", "announcement_id": text, "state": "played"}), None),
            (json.dumps({"type": "feedback", "ticket": "ABC-DEF", "rating": "satisfied", "comment": text}), None),
            (json.dumps({"type": "ping", text: 1}), None),
        ])

    return st.one_of(
        deep_json.map(lambda raw: (raw, None)),
        deep_json.map(lambda raw: (f'{{"type": "ping", "x": {raw}}}', None)),
        non_finite.map(lambda number: (f'{{"type": "ack", "seq": {number}}}', None)),
        bad_text.flatmap(with_text),
    )


@PROFILE
@given(case=bad_frames())
async def test_a_bad_frame_gets_invalid_and_the_connection_lives(world, screen_ws, case):
    """Deep nesting, NaN, text no database can hold: an `invalid` error (with the reply's ref), nothing
    stored, and the connection still answers a ping."""
    frame, ref = case
    before = await world.rows()
    await screen_ws.send_str(frame)
    await screen_ws.send_json({"type": "ping"})
    got = await until(screen_ws, "pong")
    errors = [f for f in got if f["type"] == "error"]
    assert [(e["code"], e["ref"]) for e in errors] == [("invalid", ref)] and errors[0]["message"], got
    assert await world.rows() == before


@settings(PROFILE, max_examples=10)
@given(frame=st.one_of(
    deep_json,
    deep_json.map(lambda raw: f'{{"type": "hello", "token": "t", "client": {raw}}}'),
    bad_text.map(lambda text: json.dumps({"type": "hello", "token": text})),
    bad_text.map(lambda text: json.dumps({"type": "hello", "token": "t", "client": {"name": text}})),
    non_finite.map(lambda number: f'{{"type": "hello", "token": "t", "last_seq": {number}}}'),
))
async def test_a_bad_hello_gets_invalid_then_close_4400(world, frame):
    """A hello the server cannot accept is answered (`invalid`) and closed with 4400, not dropped."""
    ws = await world.village.http.ws_connect(world.village.url + "/ws")
    await ws.send_str(frame)
    error = await ws.receive_json(timeout=5)
    assert error["type"] == "error" and error["code"] == "invalid" and error["message"], error
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4400, closing
    await ws.close()


# ---------------------------------------------------------------- the cases that were 500s

DEEP = "[" * 5000 + "]" * 5000


async def test_json_5000_deep_is_400_on_every_json_route(world):
    """The report's example on every JSON route: 400 saying how deep JSON may go."""
    for endpoint in JSON_ROUTES:
        assert_problem(await world.post_json(endpoint, DEEP.encode()), 400, "nested too deeply", str(MAX_DEPTH))


async def test_websocket_frames_5000_deep(world, screen_ws):
    """After the hello: `invalid` and the connection stays; as the hello: `invalid` and close 4400."""
    await screen_ws.send_str(f'{{"type": "ping", "x": {DEEP}}}')
    assert (await until(screen_ws, "error"))[-1]["code"] == "invalid"
    await screen_ws.send_json({"type": "ping"})
    assert (await until(screen_ws, "pong"))[-1] == {"type": "pong"}
    ws = await world.village.http.ws_connect(world.village.url + "/ws")
    await ws.send_str(f'{{"type": "hello", "token": {DEEP}}}')
    assert (await ws.receive_json(timeout=5))["code"] == "invalid"
    assert (await ws.receive(timeout=5)).data == 4400


def _cursor(at: str, key: str = "x") -> str:
    return base64.urlsafe_b64encode(f"{at}|{key}".encode()).decode()


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T00:00:00+00:00"])
async def test_calendar_edges_everywhere_a_client_sends_a_time(world, when):
    """Converting to UTC or adding the default lifetime would overflow: each place answers 422 (Open311: 400)
    naming the field and the range, and stores nothing."""
    before = await world.rows()
    quoted = quote(when, safe="")
    body_cases = [
        ("POST", "/api/v1/announcements", {"title": "t", "body": "b", "publish_at": when}, "publish_at"),
        ("POST", "/api/v1/announcements", {"title": "t", "body": "b", "expires_at": when}, "expires_at"),
        ("PATCH", f"/api/v1/announcements/{world.path_values['id']}", {"expires_at": when}, "expires_at"),
    ]
    for method, path, body, name in body_cases:
        answer = await world.send(method, path, data=json.dumps(body).encode())
        assert_problem(answer, 422, name, "2000-01-01T00:00:00Z", "2999-12-31T23:59:59Z")
    for path in ["/api/v1/requests", "/api/v1/stats", "/api/v1/requests.csv"]:
        for name in ["since", "until"]:
            assert_problem(await world.send("GET", f"{path}?{name}={quoted}"), 422, f"query.{name}", "2000-01-01")
    for path in ["/api/v1/announcements", "/api/v1/requests"]:
        assert_problem(await world.send("GET", f"{path}?cursor={_cursor(when)}"), 422, "cursor")
    for name in OPEN311_DATES:
        answer = await world.send("GET", f"{open311.BASE}/requests.json?{name}={quoted}")
        assert_open311_error(answer, 400, name, "2000-01-01")
    assert await world.rows() == before


@pytest.mark.parametrize("key", [b"\xe9", "é".encode(), "村口".encode(), b"ok-\xff\xfe"])
async def test_idempotency_key_beyond_ascii_is_422(world, key):
    """Latin-1 bytes (which aiohttp hands over as lone surrogates) or UTF-8: 422 naming the header."""
    head = f"POST /api/v1/announcements HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {world.village.admin}\r\n"
    answer = await raw_http(world.village, head, b'{"title": "t", "body": "b"}', b"Idempotency-Key: " + key)
    assert_problem(answer, 422, "Idempotency-Key")


async def test_other_kinds_on_paths_queries_and_bodies(world):
    """A NUL in a path (404) or a query (422), a cursor holding a NUL, a huge limit, NaN, a lone
    surrogate, a 100,000-character screen id: each refused naming it; nothing stored."""
    before = await world.rows()
    for method, path in [("GET", "/api/v1/announcements/%00"), ("POST", "/api/v1/announcements/%00/cancel"),
                         ("DELETE", "/api/v1/screens/%00"), ("DELETE", "/api/v1/tokens/%00"), ("GET", "/api/v1/requests/a%00")]:
        assert_problem(await world.send(method, path), 404, "U+0000")
    assert_problem(await world.send("GET", "/api/v1/requests?assignee=%00"), 422, "query.assignee", "U+0000")
    nul_key = _cursor("2026-01-01T00:00:00+00:00", "x\0")
    assert_problem(await world.send("GET", f"/api/v1/announcements?cursor={nul_key}"), 422, "cursor")
    assert_problem(await world.send("GET", "/api/v1/announcements?limit=99999999999999999999"), 422, "limit")
    post = lambda raw: world.send("POST", "/api/v1/announcements", data=raw.encode())  # noqa: E731
    assert_problem(await post('{"title": "t", "body": "b", "repeat": NaN}'), 400, "NaN")
    assert_problem(await post('{"title": "t\\ud800", "body": "b"}'), 422, "title", "surrogate")
    assert_problem(await post('{"title": "t\\u0000", "body": "b"}'), 422, "title", "U+0000")
    answer = await world.send(
        "POST", "/api/v1/announcements", data=json.dumps({"title": "t", "body": "b", "target": {"screens": ["x" * 100_000]}}).encode()
    )
    assert_problem(answer, 422, "target.screens.0")
    assert len(answer.body["detail"]) < 200  # not the 100,000 characters echoed
    assert await world.rows() == before


async def test_every_open311_failure_is_in_open311_format(world):
    """Unknown routes, formats and ids, a wrong method, an unreadable form: Open311's error list (or XML)."""
    base = open311.BASE
    assert_open311_error(await world.send("GET", f"{base}/nothing"), 404)
    assert_open311_error(await world.send("GET", f"{base}/requests.yaml"), 404, "format")
    assert_open311_error(await world.send("GET", f"{base}/requests/NOPE-00.json"), 404, "NOPE-00")
    assert_open311_error(await world.send("GET", f"{base}/requests/%00.json"), 404, "U+0000")
    answer = await world.send("DELETE", f"{base}/requests.json")
    assert_open311_error(answer, 405)
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=no-such-charset"}
    assert_open311_error(await world.send("POST", f"{base}/requests.json", data=b"a=b", headers=form), 400, "no-such-charset")
    async with world.village.http.get(world.village.url + f"{base}/nothing.xml") as resp:
        assert resp.status == 404 and resp.content_type == "text/xml"
        assert "<errors><error><code>404</code>" in await resp.text()


async def test_an_unexpected_open311_error_is_a_logged_open311_500(world, monkeypatch, caplog):
    """The last resort: logged with its stack, answered in Open311's format (never problem+json)."""

    async def broken(**_):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(open311, "find_requests", broken)
    answer = await world.village.http.get(world.village.url + f"{open311.BASE}/requests.json?api_key={world.village.admin}")
    async with answer:
        assert answer.status == 500 and answer.content_type == "application/json"
        assert (await answer.json())[0]["code"] == 500
    assert any(r.exc_info and "went away" in str(r.exc_info[1]) for r in caplog.records)
