"""Open311 GeoReport v2 at /open311/v2/, mapped onto the request log (https://wiki.open311.org/GeoReport_v2).

- `discovery.{json,xml}`, `services.{json,xml}` (the request categories), `services/{code}.{json,xml}`
  (a definition with no extra attributes: every service has `metadata: false`).
- `requests.{json,xml}` GET: `service_request_id`, `service_code`, `status` (each comma-separated),
  `start_date`, `end_date`; without any, the last 90 days; at most 1,000, newest first.
- `requests.{json,xml}` POST (form-encoded): `api_key` (required), `service_code`, `description`,
  optional `address_string`, `address_id`, `first_name`, `last_name`, `phone` (`email`,
  `lat`/`long`, `media_url`, `device_id`, `account_id` and `attribute[...]` are accepted and ignored).
- `requests/{id}.{json,xml}`: one request, as a list of one.

Decisions:
- `api_key` for POST is a token of role admin or committee (the request lands in the token's area,
  or in `address_id` when that names an area inside the token's scope) or a screen token (the
  screen's area; the screen gets the `request_update`s; the screen's reply rate limit applies).
  A location (lat/long, address) is not required: the area is the location.
- GET needs an `api_key` (or a Bearer token) of role admin, committee or worker and answers within
  its scope, unless the setting `open311_public_read` is true, when anyone may read the whole
  deployment. Reporters' names and phones are stored but never appear in any answer here.
- Status: received, assigned and in_progress are `open`; resolved, closed and rejected `closed`.
  `status_notes` is the committee's response; `expected_datetime` the resolution deadline;
  `agency_responsible` the name of the request's area; `service_request_id` the ticket.
- Errors are the spec's list `[{"code": ..., "description": ...}]` (or `<errors>` in XML) with 400
  (bad input), 403 (no or bad api_key, or outside its role or scope), 404 (unknown, also any other
  path under /open311/v2/); other codes (405 with Allow, 413, 429 with Retry-After, 5xx) stay as they are.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import wraps

from aiohttp import web
from sqlmodel import col, select

from announcements.areas import normalize_area
from announcements.errors import Invalid
from announcements.models import Area, Role
from announcements.protocol import RequestCategory, RequestStatus
from announcements.request_models import OPEN_STATUSES, VILLAGER, RequestSource, ServiceRequest
from announcements.requests.intake import NewRequest
from announcements.requests.queries import find_requests
from announcements.requests.text import check_text
from announcements.requests.tickets import normalize_ticket
from announcements.timeutil import within_client_range
from announcements.tokens import Principal, authenticate
from broadcast_server.auth import bearer_secret
from broadcast_server.keys import CLOCK, DATABASE, REPLIES, SETTINGS
from broadcast_server.problems import Problem
from broadcast_server.routing import RouteTable

BASE = "/open311/v2"
routes = RouteTable(prefix=BASE, tag="open311")
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-25T00:00:00Z"
DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
FORMATS = {"json": "application/json", "xml": "text/xml"}
POSTERS = (Role.ADMIN, Role.COMMITTEE, Role.SCREEN)
READERS = (Role.ADMIN, Role.COMMITTEE, Role.WORKER)

SERVICES: dict[RequestCategory, tuple[str, str, str]] = {
    # code: (name, description, keywords)
    RequestCategory.HELP: ("求助", "Help: a villager needs help (treated as urgent)", "help,求助,urgent"),
    RequestCategory.COMPLAINT: ("投诉", "Complaint: something is wrong and should be put right", "complaint,投诉"),
    RequestCategory.DISPUTE: ("纠纷调解", "Dispute: mediation between villagers", "dispute,纠纷,调解"),
    RequestCategory.QUESTION: ("咨询", "Question: a villager asks about a policy or an announcement", "question,咨询"),
    RequestCategory.SUGGESTION: ("建议", "Suggestion: an idea for the village", "suggestion,建议"),
    RequestCategory.OTHER: ("其他", "Other matters", "other,其他"),
}
GROUP = "村民诉求 (villagers' requests)"


class Open311Error(Problem):
    """A failure of an Open311 request: problem_middleware renders it, `open311_errors` in the spec's format."""


# ---------------------------------------------------------------- rendering

_XML_INVALID = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_INVALID.sub("\ufffd", str(value))


def _xml_element(tag: str, value) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, child in value.items():
            element.append(_xml_element(key, child))
    elif isinstance(value, list):
        singular = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value"}.get(tag, "item")
        for child in value:
            element.append(_xml_element(singular, child))
    else:
        element.text = _xml_text(value)
    return element


def to_xml(root: str, item: str | None, value) -> bytes:
    """XML by ElementTree (so villagers' text is escaped, never markup)."""
    if item is None:
        element = _xml_element(root, value)
    else:
        element = ET.Element(root)
        for entry in value:
            element.append(_xml_element(item, entry))
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def _answer(fmt: str, value, *, root: str, item: str | None, status: int = 200, headers: dict | None = None) -> web.Response:
    if fmt == "xml":
        body = to_xml(root, item, value)
    else:
        body = json.dumps(value, ensure_ascii=False).encode()
    return web.Response(body=body, status=status, content_type=FORMATS[fmt], charset="utf-8", headers=headers)


def _format_of(name: str) -> tuple[str, str]:
    """`A7K-3QX.json` -> ('A7K-3QX', 'json'); an unknown format is a 404."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or fmt not in FORMATS:
        raise Open311Error(404, f"unknown format in {name!r}: use .json or .xml")
    return stem, fmt


def _error_response(fmt: str, status: int, description: str, headers: dict | None = None) -> web.Response:
    return _answer(fmt, [{"code": status, "description": description}], root="errors", item="error", status=status, headers=headers)


Handler = Callable[[web.Request, str], Awaitable[web.Response]]


def _path_format(request: web.Request) -> str:
    """The format a path under BASE asks for: its last segment's extension (`requests/A7K-3QX.xml`)."""
    return _format_of(request.path.rsplit("/", 1)[-1])[1]


def open311(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Call the handler with the format its path asks for (an unknown one is a 404)."""

    @wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        return await handler(request, _path_format(request))

    return wrapped


# The one map from HTTP statuses to Open311 ones (domain errors reach it through problems.py).
_STATUS = {401: 403, 409: 400, 422: 400}  # the spec's codes are 400, 403 and 404 (413 and 429 keep theirs)
_KEPT_HEADERS = ("Allow", "Retry-After")


@web.middleware
async def open311_errors(request: web.Request, handler):
    """Every failure under BASE in the spec's error format, never problem+json, which Open311 clients cannot read.

    It sits outside problem_middleware and renders again what that one answered, so every failure is
    mapped and logged in one place: handlers' errors, unknown routes, ids and formats, a full disk, and
    as a last resort (logged with its stack) an unexpected error, as a 500.
    """
    response = await handler(request)
    if response.content_type != "application/problem+json" or not (request.path + "/").startswith(BASE + "/"):
        return response
    problem = json.loads(response.body)
    try:
        fmt = _path_format(request)
    except Open311Error:
        fmt = "json"
    headers = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
    return _error_response(fmt, _STATUS.get(response.status, response.status), problem["detail"], headers)


# ---------------------------------------------------------------- auth

async def _principal(request: web.Request, api_key: str | None) -> Principal | None:
    secret = api_key or bearer_secret(request)
    if not secret:
        return None
    if len(secret) > 200 or check_text_safe(secret) is None:
        raise Open311Error(403, "the api_key is unknown or revoked")
    async with request.app[DATABASE].read() as session:
        principal = await authenticate(session=session, secret=secret)
    if principal is None:
        raise Open311Error(403, "the api_key is unknown or revoked")
    return principal


def check_text_safe(value: str) -> str | None:
    try:
        return check_text(value, field="value")
    except Invalid:
        return None


async def _reader_scope(request: web.Request) -> str:
    """The area a GET may see: the api_key's scope, or everything when reading is public."""
    principal = await _principal(request, request.query.get("api_key"))
    if principal is None:
        if request.app[SETTINGS].open311_public_read:
            return "/"
        raise Open311Error(403, "an api_key is required to read requests on this server")
    if principal.role not in READERS:
        raise Open311Error(403, f"a {principal.role.value} api_key may not read requests (needs: admin, committee, worker)")
    return principal.area


# ---------------------------------------------------------------- shapes

def _service(category: RequestCategory, settings) -> dict:
    name, description, keywords = SERVICES[category]
    deadline = settings.request_deadlines[category.value]
    return {
        "service_code": category.value,
        "service_name": name,
        "description": f"{description}. First response within {deadline.response_hours:g} h, "
        f"resolution within {deadline.resolution_hours:g} h.",
        "metadata": False,
        "type": "realtime",
        "keywords": keywords,
        "group": GROUP,
    }


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def _open311_status(status: str) -> str:
    return "open" if status in OPEN_STATUSES else "closed"


def request_item(r: ServiceRequest, area_names: dict[str, str]) -> dict:
    """One request in the spec's shape: never the reporter's name or phone."""
    return {
        "service_request_id": r.ticket,
        "status": _open311_status(r.status),
        "status_notes": r.response,
        "service_name": SERVICES[RequestCategory(r.category)][0],
        "service_code": r.category,
        "description": r.text,
        "agency_responsible": area_names.get(r.area),
        "service_notice": None,
        "requested_datetime": _when(r.created_at),
        "updated_datetime": _when(r.updated_at),
        "expected_datetime": _when(r.resolution_due_at),
        "address": r.address or r.area,
        "address_id": r.area,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


async def _items(request: web.Request, rows) -> list[dict]:
    areas = {r.area for r in rows}
    names: dict[str, str] = {}
    if areas:
        async with request.app[DATABASE].read() as session:
            names = dict((await session.exec(select(Area.path, Area.name).where(col(Area.path).in_(areas)))).all())
    return [request_item(r, names) for r in rows]


# ---------------------------------------------------------------- endpoints

@routes.get("/discovery.{format}", summary="Open311 discovery: where the GeoReport v2 endpoint is", auth=False)
@open311
async def open311_get_discovery(request: web.Request, fmt: str) -> web.Response:
    url = f"{request.scheme}://{request.host}{BASE}/"
    document = {
        "changeset": CHANGESET,
        "contact": "the village committee",
        "key_service": "api_key: a committee token from `village-broadcast token create`, or a screen token",
        "endpoints": [
            {"specification": SPECIFICATION, "url": url, "changeset": CHANGESET, "type": "production",
             "formats": list(FORMATS.values())}
        ],
    }
    return _answer(fmt, document, root="discovery", item=None)


@routes.get("/services.{format}", summary="Open311 services: the request categories", auth=False)
@open311
async def open311_get_services(request: web.Request, fmt: str) -> web.Response:
    settings = request.app[SETTINGS]
    return _answer(fmt, [_service(c, settings) for c in SERVICES], root="services", item="service")


@routes.get("/services/{name}", summary="Open311 service definition (code.json or code.xml): no extra attributes", auth=False)
@open311
async def open311_get_service_definition(request: web.Request, fmt: str) -> web.Response:
    code, _ = _format_of(request.match_info["name"])
    if code not in {c.value for c in RequestCategory}:
        raise Open311Error(404, f"no service {code!r}; see services.{fmt}")
    return _answer(fmt, {"service_code": code, "attributes": []}, root="service_definition", item=None)


def _list_param(request: web.Request, name: str) -> list[str] | None:
    raw = request.query.get(name)
    if raw is None or not raw.strip():
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _date_param(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise Open311Error(400, f"{name}: not a W3C date-time like 2026-11-25T08:00:00+08:00") from None
    try:
        return within_client_range(value if value.tzinfo else value.replace(tzinfo=UTC))
    except ValueError as exc:
        raise Open311Error(400, f"{name}: {exc}") from None


@routes.get("/requests.{format}", summary="Open311 requests (api_key of a staff token unless reading is public)", auth=False)
@open311
async def open311_get_requests(request: web.Request, fmt: str) -> web.Response:
    scope = await _reader_scope(request)
    tickets = _list_param(request, "service_request_id")
    codes = _list_param(request, "service_code")
    states = _list_param(request, "status")
    if codes is not None and not set(codes) <= {c.value for c in RequestCategory}:
        raise Open311Error(400, f"service_code: unknown among {', '.join(codes)}; see services.{fmt}")
    statuses = None
    if states is not None:
        if not set(states) <= {"open", "closed"}:
            raise Open311Error(400, "status: open, closed, or both comma-separated")
        statuses = [s for s in RequestStatus if _open311_status(s) in states]
    since = _date_param(request, "start_date")
    until = _date_param(request, "end_date")
    if tickets is None and since is None and until is None:
        since = request.app[CLOCK]() - DEFAULT_WINDOW
    async with request.app[DATABASE].read() as session:
        rows = await find_requests(
            session=session, scope=scope, tickets=tickets, categories=codes, statuses=statuses,
            since=since, until=until, limit=MAX_RESULTS,
        )
    return _answer(fmt, await _items(request, rows), root="service_requests", item="request")


@routes.get("/requests/{name}", summary="Open311 one request (id.json or id.xml), as a list of one", auth=False)
@open311
async def open311_get_one_request(request: web.Request, fmt: str) -> web.Response:
    ident, _ = _format_of(request.match_info["name"])
    scope = await _reader_scope(request)
    ticket = normalize_ticket(ident)
    rows = []
    if ticket is not None:
        async with request.app[DATABASE].read() as session:
            rows = await find_requests(session=session, scope=scope, tickets=[ticket], limit=1)
    if not rows:
        raise Open311Error(404, f"no service request {ident!r}")
    return _answer(fmt, await _items(request, rows), root="service_requests", item="request")


async def _form(request: web.Request) -> dict[str, str]:
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise
    except (ValueError, UnicodeError, LookupError, AssertionError) as exc:  # a broken form or body, an unknown charset
        raise Open311Error(400, f"the body is not a readable form: {exc}") from None
    fields: dict[str, str] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            raise Open311Error(400, f"{key}: files are not accepted")
        fields.setdefault(key, value)
    return fields


def _person_name(first: str | None, last: str | None) -> str | None:
    parts = [p.strip() for p in (first, last) if p and p.strip()]
    if not parts:
        return None
    if any("\u3400" <= ch <= "\u9fff" for p in parts for ch in p):
        return "".join(reversed(parts))  # 张 + 三: family name first, no space
    return " ".join(parts)


def _field(fields: dict[str, str], name: str, *, max_chars: int, required: bool = False) -> str | None:
    value = fields.get(name)
    if value is not None and not value.strip() and not required:
        value = None
    return check_text(value, field=name, max_chars=max_chars, required=required)  # Invalid: 400 by `_STATUS`


@routes.post("/requests.{format}", summary="Open311 create a request (form-encoded, api_key required)", auth=False, status=201)
@open311
async def open311_post_request(request: web.Request, fmt: str) -> web.Response:
    fields = await _form(request)
    principal = await _principal(request, fields.get("api_key") or request.query.get("api_key"))
    if principal is None:
        raise Open311Error(403, "api_key is required to create a request")
    if principal.role not in POSTERS:
        raise Open311Error(403, f"a {principal.role.value} api_key may not create requests (needs: admin, committee, screen)")
    code = fields.get("service_code", "")
    if code not in {c.value for c in RequestCategory}:
        raise Open311Error(400, f"service_code: {code!r} is not a service; see services.{fmt}" if code else "service_code: required")
    settings = request.app[SETTINGS]
    description = _field(fields, "description", max_chars=settings.reply_max_chars, required=True)
    area = principal.area
    address_id = fields.get("address_id")
    if address_id and principal.role != Role.SCREEN:
        try:
            area = normalize_area(address_id)
        except ValueError as exc:
            raise Open311Error(400, f"address_id: {exc}") from None
        if not principal.in_scope(area):
            raise Open311Error(403, f"address_id: area {area} is outside this api_key's scope {principal.area}")
    first = _field(fields, "first_name", max_chars=50)
    last = _field(fields, "last_name", max_chars=50)
    is_screen = principal.role == Role.SCREEN
    item = NewRequest(
        area=area,
        category=RequestCategory(code),
        text=description,
        screen_id=principal.screen_id if is_screen else None,
        contact_name=_person_name(first, last),
        contact_phone=_field(fields, "phone", max_chars=30),
        address=_field(fields, "address_string", max_chars=500),
        source=RequestSource.OPEN311,
        actor=VILLAGER if is_screen else principal.name,
        actor_role=VILLAGER if is_screen else principal.role.value,
    )
    taken = await request.app[REPLIES].take(item, rate_key=principal.screen_id if is_screen else None)
    answer = [
        {
            "service_request_id": taken.ticket,
            "service_notice": f"your ticket is {taken.ticket}",
            "account_id": None,
            # additions, so the answer is also a valid request per the schema:
            "status": "open",
            "service_code": code,
            "requested_datetime": _when(request.app[CLOCK]()),
        }
    ]
    return _answer(fmt, answer, root="service_requests", item="request", status=201)
