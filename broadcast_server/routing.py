"""Declared endpoints: each route with the models that validate it, so the OpenAPI document is
generated from the very models that check requests (no hand-kept copy).

Handlers stay thin: parse, authorize, call the domain, answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from announcements import clientinput
from announcements.clientinput import JSONRejected, text_problem
from broadcast_server.problems import Problem, describe, validation_errors

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    body_content_type: str = "application/json"  # or multipart/form-data (POST /media), as the document says
    body_also: tuple[str, ...] = ()  # other content types the same body may come in (POST /cap: application/xml, text/xml)
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    tag: str = "api"
    auth: bool = True
    content_type: str = "application/json"
    also: tuple[tuple[str, Any], ...] = ()  # other (content type, model) a success may answer, as the request asks


@dataclass
class RouteTable:
    """Like aiohttp's RouteTableDef, with the request and response models kept beside each route."""

    prefix: str = ""
    tag: str = "api"
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(self, method: str, path: str, *, summary: str, **meta) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(method=method, path=self.prefix + path, handler=handler, summary=summary, tag=meta.pop("tag", self.tag), **meta)
            )
            return handler

        return register

    def get(self, path: str, **kw):
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw):
        return self.route("POST", path, **kw)

    def patch(self, path: str, **kw):
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw):
        return self.route("DELETE", path, **kw)

    def add_to(self, app: web.Application) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, _text_parameters(endpoint.handler))


def _text_parameters(handler: Handler) -> Handler:
    """`handler` behind one check of every path and query parameter: text that a database can hold.

    A NUL in `/announcements/%00` or `?cursor=` would otherwise reach SQL, where PostgreSQL refuses
    it with an error (a 500); a path naming no possible resource is a 404, a bad query value a 422.
    """

    @wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        for name, value in request.match_info.items():
            problem = text_problem(value)
            if problem:
                raise Problem(404, f"no such {name}: it {problem}")
        for name, value in request.query.items():
            name_problem = text_problem(name)  # a bad name is not echoed: it may not even be encodable
            if name_problem:
                loc, problem = ["query"], f"a parameter name {name_problem}"
            else:
                loc, problem = ["query", name], text_problem(value)
            if problem:
                errors = [{"loc": loc, "msg": problem, "type": "text_invalid"}]
                raise Problem(422, describe(errors), errors=errors)
        return await handler(request)

    return checked


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated by `model`; 400 for unreadable JSON (or nested too deeply), 413 when too
    large, 422 naming bad fields (among them strings no database can hold, see `clientinput`)."""
    raw = await request.read()
    if not raw:
        raise Problem(400, "the request needs a JSON body")
    try:
        data = clientinput.loads(raw)
    except JSONRejected as exc:
        if exc.loc is None:
            raise Problem(400, f"the body is {exc.message}") from None
        errors = [{"loc": exc.loc, "msg": exc.message, "type": "text_invalid"}]
        raise Problem(422, describe(errors), errors=errors) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = validation_errors(exc)
        raise Problem(422, describe(errors), errors=errors) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        errors = [{**e, "loc": ["query", *e["loc"]]} for e in validation_errors(exc)]
        raise Problem(422, describe(errors), errors=errors) from None


_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def json_response(value: Any, *, status: int = 200, headers: dict | None = None) -> web.Response:
    """Serialize models (or lists and dicts of them) with pydantic, so answers match the documented shapes."""
    return web.Response(body=_ANY.dump_json(value), status=status, content_type="application/json", headers=headers)
