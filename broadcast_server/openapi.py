"""GET /api/v1/openapi.json: the OpenAPI 3.1 document, generated from the declared endpoints' models.

Every operation lists each error status it can answer, with its body: problem+json under /api and
/media, Open311's error list under /open311/v2. The schema fuzz test (tests/broadcast_server/
test_schema_fuzz.py) holds the server to this document.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from announcements.areas import AREA_PATTERN
from broadcast_server.api.announcements import IDEMPOTENCY_KEY
from broadcast_server.api.open311 import FORMATS
from broadcast_server.routing import Endpoint, RouteTable, json_response
from broadcast_server.sessions import COOKIE_NAME

REF_TEMPLATE = "#/components/schemas/{model}"
OPEN311_PREFIX = "/open311/"

_PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "the fields at fault, when the request named any",
            "items": {
                "type": "object",
                "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}, "type": {"type": "string"}},
            },
        },
    },
}
_OPEN311_ERRORS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
_ERROR_DESCRIPTIONS = {
    400: "the request is malformed (a request line or header beyond the server's limits: in plain text)",
    401: "no token, or an unknown or revoked one",
    403: "the token's role or scope does not allow this",
    404: "no such thing (or outside the token's scope)",
    409: "not allowed in the current state",
    413: "the body is larger than the server accepts",
    415: "the body is not in a content type this operation takes",
    422: "well-formed but unacceptable; `errors` names the fields",
    429: "too many, too fast: retry after the Retry-After header's seconds",
    503: "not available on this server",
    507: "the server's disk is full and nothing was saved: retry after the Retry-After header's seconds",
}

# Statuses an operation answers beyond those its declaration implies (see _statuses), by operationId.
_OPERATION_STATUSES: dict[str, tuple[int, ...]] = {
    "post_area": (409,),  # the area exists
    "post_announcement": (409,),  # an Idempotency-Key reused with another body
    "patch_announcement": (409,),  # no longer scheduled or live
    "post_cancel": (409,),
    "post_reply": (200, 409, 429),  # a client_msg_id seen before; not stored after several attempts; the reply rate
    "post_feedback": (409,),  # the request is not resolved
    "patch_request": (409,),  # an illegal status change
    "post_preview": (503,),  # speech is off
    "get_media": (401,),  # unless media_public
    "open311_get_requests": (400, 403),
    "open311_get_one_request": (403,),
    "open311_post_request": (400, 403, 413, 429),
    "post_session": (401, 403, 429),  # a wrong name or password; another site's Origin; too many failures
    "delete_session": (403,),  # another site's Origin
    "post_user": (409,),  # the name is taken
    "patch_user": (409,),  # disabling oneself
    "post_my_password": (409,),  # a token has no password
    "patch_schedule": (409,),  # stopped or ended
    "delete_schedule": (409,),  # stopped or ended already
    "post_template": (409,),  # the name is taken in the area
    "patch_template": (409,),
    "post_cap": (200, 415),  # an alert taken in before; a body that is not XML by its Content-Type
}
_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# Headers an operation honours, by operationId.
_OPERATION_HEADERS: dict[str, list[dict]] = {
    "post_announcement": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "the same key and body from the same token give the same announcement",
            "schema": {"type": "string", "pattern": f"^(?:{IDEMPOTENCY_KEY.pattern})$"},
        }
    ],
}


def _with_area_pattern(schema: dict) -> None:
    for option in (schema, *schema.get("anyOf", ())):
        if option.get("type") == "string":
            option["pattern"] = AREA_PATTERN


class _AreaPaths(GenerateJsonSchema):
    """Model fields named `area` and `path` hold an area path and `areas` a list of them (a convention of
    the models, whose validators normalize them): the document gives them the pattern where a client
    sends them. Answers are not promised it: a path stored under an older rule is still answered."""

    def model_fields_schema(self, schema):
        json_schema = super().model_fields_schema(schema)
        if self.mode != "validation":
            return json_schema
        properties = json_schema.get("properties", {})
        for name in ("area", "path"):
            if name in properties:
                _with_area_pattern(properties[name])
        if "areas" in properties:
            _with_area_pattern(properties["areas"].get("items", {}))
        return json_schema


class _Schemas:
    """Collects component schemas so each model is described once and referenced everywhere."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Problem": _PROBLEM_SCHEMA, "Open311Errors": _OPEN311_ERRORS_SCHEMA}

    def ref(self, annotation: Any, mode: str) -> dict:
        schema = TypeAdapter(annotation).json_schema(ref_template=REF_TEMPLATE, mode=mode, schema_generator=_AreaPaths)
        self.components.update(schema.pop("$defs", {}))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            self.components[annotation.__name__] = schema
            return {"$ref": REF_TEMPLATE.format(model=annotation.__name__)}
        return schema


def _is_open311(endpoint: Endpoint) -> bool:
    return endpoint.path.startswith(OPEN311_PREFIX)


def _statuses(endpoint: Endpoint) -> list[int]:
    """What the declaration implies (a token, a JSON body, a query, a path parameter), plus the operation's own."""
    # 400 for every operation: a request the HTTP layer cannot read (a request line or header
    # beyond its 8 KiB limits) is refused before any handler, in plain text.
    statuses = {endpoint.status, 400, *_OPERATION_STATUSES.get(endpoint.handler.__name__, ())}
    if endpoint.auth:
        statuses |= {401, 403}
    if endpoint.body is not None:
        statuses |= {400, 413, 422}
    if endpoint.query is not None:
        statuses.add(422)
    if "{" in endpoint.path:
        statuses.add(404)  # an unknown id, or (under /open311) an unknown format
    if endpoint.method in _WRITES:
        statuses.add(507)  # the server's disk is full: nothing was saved
    return sorted(statuses)


def _error_response(status: int, open311: bool) -> dict:
    if open311:
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/Open311Errors"}}, "text/xml": {}}
    else:
        content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    if status == 400:
        content["text/plain"] = {"schema": {"type": "string"}}  # from the HTTP parser, before any handler
    response: dict[str, Any] = {"description": _ERROR_DESCRIPTIONS[status], "content": content}
    if status in (429, 507):
        response["headers"] = {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
    return response


def _path_parameter(name: str, open311: bool) -> dict:
    """Path parameters are one non-empty path segment; under /open311 `format` names json or xml, and
    `name` is `<code or id>.json` or `.xml`."""
    schema: dict[str, Any] = {"type": "string", "pattern": "^[^/]+$"}
    if open311 and name == "format":
        schema = {"type": "string", "enum": list(FORMATS)}
    elif open311 and name == "name":
        schema["pattern"] = rf"^[^/]+\.({'|'.join(FORMATS)})$"
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameter(name: str, schema: dict) -> dict:
    """A query parameter is absent rather than null: a query string has no null."""
    options = [option for option in schema.get("anyOf", ()) if option.get("type") != "null"]
    if len(options) == 1:
        schema = {**{k: v for k, v in schema.items() if k not in ("anyOf", "default")}, **options[0]}
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _success(endpoint: Endpoint, schemas: _Schemas) -> dict:
    if _is_open311(endpoint):
        return {"description": "success", "content": {content_type: {} for content_type in FORMATS.values()}}
    if endpoint.response is None:
        return {"description": "success"}
    forms = ((endpoint.content_type, endpoint.response), *endpoint.also)
    return {"description": "success", "content": {kind: {"schema": schemas.ref(model, "serialization")} for kind, model in forms}}


def _operation(endpoint: Endpoint, schemas: _Schemas) -> dict:
    open311 = _is_open311(endpoint)
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "tags": [endpoint.tag],
        "responses": {},
    }
    params = [_path_parameter(name, open311) for name in re.findall(r"{(\w+)}", endpoint.path)]
    params += _OPERATION_HEADERS.get(endpoint.handler.__name__, [])
    if endpoint.query is not None:
        properties = schemas.ref(endpoint.query, "validation")
        query_schema = schemas.components.get(endpoint.query.__name__, properties)
        params += [_query_parameter(name, prop) for name, prop in query_schema.get("properties", {}).items()]
    if params:
        operation["parameters"] = params
    if endpoint.body is not None:
        body = {"schema": schemas.ref(endpoint.body, "validation")}
        operation["requestBody"] = {"required": True, "content": {kind: body for kind in (endpoint.body_content_type, *endpoint.body_also)}}
    if endpoint.auth:
        operation["security"] = [{"bearer": []}, {"session": []}]  # either one
    for status in _statuses(endpoint):
        answer = _success(endpoint, schemas) if status < 400 else _error_response(status, open311)
        operation["responses"][str(status)] = answer
    return operation


def build_openapi(tables: list[RouteTable], *, version: str) -> dict:
    schemas = _Schemas()
    paths: dict[str, dict] = {}
    for table in tables:
        for endpoint in table.endpoints:
            paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    declared = {op["operationId"] for methods in paths.values() for op in methods.values()}
    stale = (_OPERATION_STATUSES.keys() | _OPERATION_HEADERS.keys()) - declared
    assert not stale, f"statuses or headers documented for operations that do not exist: {sorted(stale)}"
    return {
        "openapi": "3.1.0",
        "info": {"title": "Village broadcast", "version": version, "description": "Wire contract: docs/protocol.md"},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": COOKIE_NAME},  # the console's, after POST /session
            },
        },
    }


def openapi_route(tables: list[RouteTable], *, version: str) -> RouteTable:
    routes = RouteTable(prefix="/api/v1", tag="meta")
    document: dict | None = None

    @routes.get("/openapi.json", summary="This document", auth=False)
    async def get_openapi(request: web.Request) -> web.Response:
        nonlocal document
        if document is None:
            document = build_openapi([*tables, routes], version=version)
        return json_response(document)

    return routes
