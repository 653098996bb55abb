"""Domain errors. The HTTP layer maps each to one status (problem+json); the WebSocket to one error code (ProtocolError.of)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, detail: str, *, errors: list[dict] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    """Unknown, or outside the caller's scope (the two are not told apart)."""


class Forbidden(DomainError):
    """Known, but outside the caller's role or scope."""


class Conflict(DomainError):
    """Not allowed in the current state (an illegal status change, a reused key)."""


class Invalid(DomainError):
    """Well-formed but unacceptable input."""


class TooLarge(DomainError):
    """More than the server accepts of one thing (a picture's bytes)."""


class RateLimited(DomainError):
    def __init__(self, detail: str, *, retry_after_s: int):
        super().__init__(detail)
        self.retry_after_s = retry_after_s
