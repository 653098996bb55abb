"""GET /api/v1/openapi.json: the OpenAPI 3.1 document, generated from the declared endpoints' models."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from broadcast_server.routing import Endpoint, RouteTable, json_response

REF_TEMPLATE = "#/components/schemas/{model}"
_PROBLEM = {
    "description": "problem+json (RFC 9457)",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
_PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


class _Schemas:
    """Collects component schemas so each model is described once and referenced everywhere."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Problem": _PROBLEM_SCHEMA}

    def ref(self, annotation: Any, mode: str) -> dict:
        schema = TypeAdapter(annotation).json_schema(ref_template=REF_TEMPLATE, mode=mode, schema_generator=GenerateJsonSchema)
        self.components.update(schema.pop("$defs", {}))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            self.components[annotation.__name__] = schema
            return {"$ref": REF_TEMPLATE.format(model=annotation.__name__)}
        return schema


def _operation(endpoint: Endpoint, schemas: _Schemas) -> dict:
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "tags": [endpoint.tag],
        "responses": {},
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    if endpoint.query is not None:
        properties = schemas.ref(endpoint.query, "validation")
        query_schema = schemas.components.get(endpoint.query.__name__, properties)
        for name, prop in query_schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": False, "schema": prop})
    if params:
        operation["parameters"] = params
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.ref(endpoint.body, "validation")}},
        }
    if endpoint.auth:
        operation["security"] = [{"bearer": []}]
    if endpoint.response is not None:
        operation["responses"][str(endpoint.status)] = {
            "description": "success",
            "content": {endpoint.content_type: {"schema": schemas.ref(endpoint.response, "serialization")}},
        }
    else:
        operation["responses"][str(endpoint.status)] = {"description": "success"}
    for status in ("400", "401", "403", "404", "409", "413", "422", "429"):
        operation["responses"][status] = _PROBLEM
    return operation


def build_openapi(tables: list[RouteTable], *, version: str) -> dict:
    schemas = _Schemas()
    paths: dict[str, dict] = {}
    for table in tables:
        for endpoint in table.endpoints:
            paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Village broadcast", "version": version, "description": "Wire contract: PROTOCOL.md"},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
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
