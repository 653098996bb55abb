"""Schemathesis against the real server: generated requests to every operation of /api/v1/openapi.json,
on SQLite and PostgreSQL, as an admin and as a screen. No answer is a 5xx, and every answer's status,
content type and body are the ones the document gives.

The server runs as its own process: schemathesis calls it synchronously (with `requests`), which
would block a server running in the test's event loop.
"""

from __future__ import annotations

import aiohttp
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from announcements.areas import AREA_PATTERN
from announcements.models import Role
from broadcast_server.api import ROUTE_TABLES
from broadcast_server.openapi import build_openapi
from tests.conftest import make_token
from tests.serverprocess import ServerProcess

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 10  # per operation and generation mode, besides the coverage phase: 1.5 to 2 minutes for the file on two cores
SCREEN_OPERATIONS = ["post_reply", "post_feedback"]  # the operations only a screen token may call


def _config(role: str) -> SchemathesisConfig:
    """Fuzzing for every operation; the coverage phase (boundary cases of every field, as many as the
    schema defines) only for the operations `role` may call, as the others end at the 403."""
    screen = role == "screen"
    return SchemathesisConfig.from_dict(
        {
            "generation": {"max-examples": EXAMPLES},
            "suppress-health-check": ["all"],  # they time generation, which a busy machine slows, not the server
            "phases": {"coverage": {"enabled": not screen, "unexpected-methods": []}},  # a 405 is none of these checks
            "operations": [
                {"include-operation-id": SCREEN_OPERATIONS, "phases": {"coverage": {"enabled": screen}}},
                {
                    "include-operation-id": "post_preview",  # the test server runs without speech: its documented 503
                    "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
                },
            ],
        }
    )


@pytest.fixture(params=["admin", "screen"])
async def api_schema(request, settings, tmp_path):
    """The served document, bound to a server process and speaking for an admin or a screen token."""
    admin = await make_token(settings, Role.ADMIN, "/", "root")
    server = ServerProcess(settings, tmp_path / "server.log")
    server.start()
    try:
        token = admin
        if request.param == "screen":
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as http:
                body = {"name": "gate", "area": "/hongqi/liujingtun"}
                async with http.post(server.url + "/api/v1/screens", json=body) as resp:
                    assert resp.status == 201, await resp.text()
                    token = (await resp.json())["token"]
        config = _config(request.param)
        config.projects.default.update(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        yield schemathesis.openapi.from_url(server.url + "/api/v1/openapi.json", config=config)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _node_id(request):
    """schemathesis 4.32's from_fixture reads and renames `Node._nodeid`, which pytest 9.2 no longer has."""
    request.node._nodeid = request.node.nodeid


@pytest.fixture
def http():
    """One keep-alive connection for all of a run's requests, rather than a new one for each."""
    with requests.Session() as session:
        yield session


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_answers_match_the_document(case, http):
    """No 5xx; the status, content type and body of every answer are documented."""
    case.call_and_validate(session=http, checks=CHECKS)


def test_each_operation_documents_its_own_errors():
    """Statuses follow each declaration (no 413 without a body), errors are problem+json except under
    /open311 (the spec's list, or XML), and area fields carry the area pattern."""
    doc = build_openapi(ROUTE_TABLES, version="test")
    paths = doc["paths"]
    assert sorted(paths["/api/v1/areas"]["get"]["responses"]) == ["200", "400", "401", "403"]
    # a request line beyond 8 KiB is refused by the HTTP parser, in plain text, on any operation (found by the fuzzing)
    assert "text/plain" in paths["/api/v1/requests"]["get"]["responses"]["400"]["content"]
    assert {"400", "409", "413", "422"} <= set(paths["/api/v1/areas"]["post"]["responses"])
    assert set(paths["/api/v1/speech/preview"]["post"]["responses"]["503"]["content"]) == {"application/problem+json"}
    open311_404 = paths["/open311/v2/requests/{name}"]["get"]["responses"]["404"]["content"]
    assert open311_404["application/json"]["schema"] == {"$ref": "#/components/schemas/Open311Errors"}
    assert "text/xml" in open311_404
    schemas = doc["components"]["schemas"]
    assert schemas["AreaCreate"]["properties"]["path"]["pattern"] == AREA_PATTERN
    assert schemas["TargetSpec"]["properties"]["areas"]["items"]["pattern"] == AREA_PATTERN
