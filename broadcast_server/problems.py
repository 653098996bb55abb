"""HTTP errors as `application/problem+json` (RFC 9457), rendered in one middleware.

Domain errors map to one status each; validation errors name the field; a full disk is 507 with
one log line naming what is full; anything else unexpected is logged with its stack and answered 500
without leaking details.
"""

from __future__ import annotations

import errno
import json
import logging
import sqlite3

from aiohttp import web
from pydantic import ValidationError

from announcements.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, RateLimited, TooLarge

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "/problems/"
# The one map from domain errors to HTTP statuses (Open311 narrows these in open311.py's `_STATUS`).
_DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    TooLarge: 413,
    Invalid: 422,
    RateLimited: 429,
}


_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13  # the primary result code of "database or disk is full"
_POSTGRES_DISK_FULL = "53100"
_DISK_FULL_RETRY_AFTER_S = 60


class Problem(Exception):
    """An HTTP error raised by a handler: status, a short title, and a detail naming the problem."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, errors: list | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.errors = errors or []
        self.headers = headers or {}


def problem_response(
    status: int, detail: str, *, title: str | None = None, errors: list | None = None, headers: dict | None = None
) -> web.Response:
    from http import HTTPStatus

    title = title or HTTPStatus(status).phrase
    body = {
        "type": PROBLEM_TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/problem+json",
        headers=headers,
    )


def validation_errors(exc: ValidationError) -> list[dict]:
    """Pydantic's errors as `{loc, msg, type}`, without echoing the (possibly huge) input."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors(include_url=False)]


def describe(errors: list[dict]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors)


def disk_full(exc: BaseException) -> str | None:
    """What is full when `exc`, or an error behind it, says a disk or quota is full; None for anything else.

    Looks through SQLAlchemy's wrapping (`orig`) and exception chains: an OSError ENOSPC or EDQUOT,
    SQLite's SQLITE_FULL, PostgreSQL's SQLSTATE 53100.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
            where = f"the disk holding {error.filename}" if error.filename else "a disk this server writes to"
            return f"{where} ({error.strerror})"
        if isinstance(error, sqlite3.Error) and (getattr(error, "sqlite_errorcode", 0) & 0xFF) == _SQLITE_FULL:
            return f"the disk holding the SQLite database ({error})"
        if getattr(error, "sqlstate", None) == _POSTGRES_DISK_FULL:
            return f"the PostgreSQL server's disk ({error})"
        pending += [getattr(error, "orig", None), error.__cause__, error.__context__]
    return None


@web.middleware
async def problem_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except Problem as exc:
        return problem_response(exc.status, exc.detail, title=exc.title, errors=exc.errors, headers=exc.headers)
    except DomainError as exc:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited) else None
        return problem_response(_DOMAIN_STATUS.get(type(exc), 400), exc.detail, errors=exc.errors, headers=headers)
    except ValidationError as exc:
        errors = validation_errors(exc)
        return problem_response(422, describe(errors), errors=errors)
    except web.HTTPRequestEntityTooLarge:
        return problem_response(413, f"request body is larger than the limit of {request.client_max_size} bytes")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}
        return problem_response(exc.status, exc.text or exc.reason, headers=headers)
    except Exception as exc:
        full = disk_full(exc)
        if full is None:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return problem_response(500, "the server failed to handle this request; it has been logged")
        log.error("disk full: %s; %s %s was refused (507), nothing of it saved: free space there", full, request.method, request.path)
        return problem_response(
            507,
            "the server's disk is full, so nothing was saved; try again later (the server's log says which disk)",
            headers={"Retry-After": str(_DISK_FULL_RETRY_AFTER_S)},
        )
