"""Open311 GeoReport v2 at /open311/v2/: discovery, services, and requests round trips in JSON and XML."""

import json
import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from broadcast_server.keys import SETTINGS
from tests.requests.conftest import VILLAGE, patch

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "shared" / "open311-georeport-v2"
CATEGORIES = {"suggestion", "complaint", "help", "dispute", "question", "other"}
XINCUN = "/hongqi/xincun"
NASTY = '路灯坏了 <script>alert("x")</script> & 1 < 2 ]]>'


@pytest.fixture(scope="module")
def schema():
    """Validators for the official schemas, by file name."""
    if not SCHEMA_DIR.is_dir():
        problem = f"the Open311 schemas are not at {SCHEMA_DIR}"
        if os.environ.get("VB_TEST_REQUIRE_SCHEMAS") == "1":  # CI: a missing schema is a failure, never a skip
            pytest.fail(problem)
        pytest.skip(problem)
    contents = {p.name: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json")}
    registry = Registry().with_resources(
        (name, Resource.from_contents(c, default_specification=DRAFT7)) for name, c in contents.items()
    )

    def validate(name, instance):
        Draft7Validator(contents[name], registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER).validate(instance)

    return validate


async def _get(village, path, **params):
    async with village.http.get(village.url + "/open311/v2/" + path, params=params) as resp:
        return resp.status, resp.headers, await resp.read()


async def _post(village, fmt, **form):
    async with village.http.post(village.url + f"/open311/v2/requests.{fmt}", data=form) as resp:
        return resp.status, resp.headers, await resp.read()


async def test_discovery_and_services(village, schema):
    """Discovery names the endpoint; services are the categories (valid per the schema, in JSON and XML)."""
    status, _, body = await _get(village, "discovery.json")
    discovery = json.loads(body)
    assert status == 200 and discovery["endpoints"][0]["url"].endswith("/open311/v2/")
    assert ET.fromstring((await _get(village, "discovery.xml"))[2]).find("endpoints/endpoint/specification") is not None
    status, headers, body = await _get(village, "services.json")
    services = json.loads(body)
    schema("services.json", services)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert {s["service_code"] for s in services} == CATEGORIES and all(s["metadata"] is False for s in services)
    status, headers, body = await _get(village, "services.xml")
    assert headers["Content-Type"].startswith("text/xml")
    assert {e.text for e in ET.fromstring(body).iter("service_code")} == CATEGORIES
    definition = json.loads((await _get(village, "services/help.json"))[2])
    schema("service-definition.json", definition)
    assert definition == {"service_code": "help", "attributes": []}


async def test_round_trip_in_json_never_shows_the_reporter(village, schema):
    """POST a request (form-encoded), GET it back: valid per the schemas, the same request, no name or phone;
    it is in the request log with the contact, and the committee's response shows as status_notes."""
    committee = await village.token("committee", "/hongqi")
    status, _, body = await _post(
        village, "json", api_key=committee, service_code="complaint", description=NASTY, first_name="三", last_name="张",
        phone="13812345678", email="zhang@example.com", address_string="三组12号", address_id=VILLAGE,
    )
    created = json.loads(body)
    assert status == 201, created
    schema("requests.json", created)
    ticket = created[0]["service_request_id"]
    status, _, body = await _get(village, f"requests/{ticket}.json", api_key=committee)
    [one] = json.loads(body)
    schema("requests.json", [one])
    assert (one["service_request_id"], one["status"], one["service_code"], one["description"]) == (ticket, "open", "complaint", NASTY)
    assert one["address"] == "三组12号" and one["address_id"] == VILLAGE
    for private in ("张三", "13812345678", "zhang@example.com"):
        assert private not in body.decode()
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    assert detail["source"] == "open311" and detail["contact"] == {"name": "张三", "phone": "13812345678"}
    assert detail["area"] == VILLAGE and detail["history"][0]["actor"] == "committee@/hongqi"
    await patch(village, ticket, status="rejected", response="已转交镇政府")
    status, _, body = await _get(village, "requests.json", api_key=committee, service_code="complaint,help", status="closed")
    listed = json.loads(body)
    schema("requests.json", listed)
    assert [(r["service_request_id"], r["status"], r["status_notes"]) for r in listed] == [(ticket, "closed", "已转交镇政府")]
    assert json.loads((await _get(village, "requests.json", api_key=committee, status="open"))[2]) == []


async def test_listing_filters_by_code_status_dates_and_scope(village, clock):
    """GET requests.json: service_code and status narrow the list, start_date/end_date bound it (both
    ends included, as the spec says), without dates the last 90 days; a token sees only its own area.
    A complaint at 00:00 and a call for help at 01:00 in Liujingtun (the help rejected: closed), a
    question at 02:00 in Xincun."""
    committee = await village.token("committee", "/hongqi")
    xincun_committee = await village.token("committee", XINCUN)
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    taken = {}
    for hour, (code, area) in enumerate([("complaint", VILLAGE), ("help", VILLAGE), ("question", XINCUN)]):
        clock.at = t0 + timedelta(hours=hour)
        status, _, body = await _post(village, "json", api_key=committee, service_code=code, description=code, address_id=area)
        assert status == 201, body
        taken[code] = json.loads(body)[0]["service_request_id"]
    await patch(village, taken["help"], status="rejected", response="请拨打120")

    async def listed(api_key=committee, **params) -> set[str]:
        params = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in params.items()}
        status, _, body = await _get(village, "requests.json", api_key=api_key, **params)
        assert status == 200, body
        return {taken_code for taken_code, ticket in taken.items() if ticket in {r["service_request_id"] for r in json.loads(body)}}

    assert await listed() == {"complaint", "help", "question"}
    _, _, body = await _get(village, "requests.json", api_key=committee)
    assert [r["service_request_id"] for r in json.loads(body)] == [taken[c] for c in ("question", "help", "complaint")]  # newest first
    assert await listed(service_code="complaint,help") == {"complaint", "help"}
    assert await listed(status="open") == {"complaint", "question"}
    assert await listed(status="closed") == {"help"}
    assert await listed(start_date=t0 + timedelta(hours=1)) == {"help", "question"}
    assert await listed(end_date=t0 + timedelta(hours=1)) == {"complaint", "help"}
    assert await listed(start_date=t0 + timedelta(hours=1), end_date=t0 + timedelta(hours=1)) == {"help"}
    assert await listed(api_key=xincun_committee) == {"question"}
    clock.at = t0 + timedelta(days=90, minutes=30)  # the complaint is older than the default window now
    assert await listed() == {"help", "question"}


async def test_the_list_is_newest_first_whatever_the_tickets_say(village, clock):
    """Six requests a minute apart come back newest first; tickets are drawn at random, so ordering by ticket would
    put them in another order all but once in 720."""
    committee = await village.token("committee", "/hongqi")
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    taken = []
    for minute in range(6):
        clock.at = t0 + timedelta(minutes=minute)
        _, _, body = await _post(village, "json", api_key=committee, service_code="question", description="问", address_id=VILLAGE)
        taken.append(json.loads(body)[0]["service_request_id"])
    _, _, body = await _get(village, "requests.json", api_key=committee)
    assert [r["service_request_id"] for r in json.loads(body)] == taken[::-1]


async def test_round_trip_in_xml_escapes_villagers_text(village):
    """POST and GET in XML: the villager's text comes back exactly, as text, never as markup; a screen token posts as its screen."""
    screen = await village.screen("gate", VILLAGE)
    status, headers, body = await _post(
        village, "xml", api_key=screen["token"], service_code="help", description=NASTY, phone="13812345678"
    )
    assert status == 201 and headers["Content-Type"].startswith("text/xml")
    ticket = ET.fromstring(body).findtext("request/service_request_id")
    admin = village.admin
    status, _, body = await _get(village, f"requests/{ticket}.xml", api_key=admin)
    assert status == 200 and b"<script>" not in body and b"13812345678" not in body
    request = ET.fromstring(body).find("request")
    assert request.findtext("description") == NASTY and request.findtext("service_code") == "help"
    assert request.findtext("status") == "open" and request.findtext("address_id") == VILLAGE
    _, detail = await village.call("GET", f"/requests/{ticket}", expect=200)
    assert detail["screen_id"] == screen["id"] and detail["history"][0]["actor"] == "villager"
    listed = ET.fromstring((await _get(village, "requests.xml", api_key=admin))[2])
    assert [e.text for e in listed.iter("service_request_id")] == [ticket]
    assert (await _get(village, "requests.json"))[0] == 403
    village.app[SETTINGS].open311_public_read = True
    status, _, body = await _get(village, "requests.json")
    assert status == 200 and [r["service_request_id"] for r in json.loads(body)] == [ticket]


@pytest.mark.parametrize(
    "method, path, fields, status",
    [
        ("POST", "requests.json", {"service_code": "help", "description": "d"}, 403),
        ("POST", "requests.json", {"api_key": "vb_nope", "service_code": "help", "description": "d"}, 403),
        ("POST", "requests.json", {"api_key": "worker", "service_code": "help", "description": "d"}, 403),
        ("POST", "requests.xml", {"api_key": "admin", "service_code": "pothole", "description": "d"}, 400),
        ("POST", "requests.json", {"api_key": "admin", "service_code": "help"}, 400),
        ("POST", "requests.json", {"api_key": "committee", "service_code": "help", "description": "d", "address_id": "/elsewhere"}, 403),
        ("GET", "requests/ZZZ-ZZZ.json", {"api_key": "admin"}, 404),
        ("GET", "requests.yaml", {"api_key": "admin"}, 404),
        ("GET", "requests.json", {"api_key": "admin", "status": "pending"}, 400),
        ("GET", "requests.xml", {"api_key": "admin", "start_date": "last week"}, 400),
        ("GET", "services/pothole.json", {}, 404),
    ],
)
async def test_errors_in_the_specs_format(village, method, path, fields, status):
    """Each refusal is the spec's [{code, description}] (or <errors> in XML) with 400, 403 or 404."""
    if fields.get("api_key") in ("worker", "committee"):
        fields = {**fields, "api_key": await village.token(fields["api_key"], VILLAGE)}
    elif fields.get("api_key") == "admin":
        fields = {**fields, "api_key": village.admin}
    if method == "POST":
        got, _, body = await _post(village, path.split(".")[-1], **fields)
    else:
        got, _, body = await _get(village, path, **fields)
    assert got == status, body
    if path.endswith(".xml"):
        error = ET.fromstring(body).find("error")
        assert error.findtext("code") == str(status) and error.findtext("description")
    else:
        [error] = json.loads(body)
        assert error["code"] == status and error["description"]
