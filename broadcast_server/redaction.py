"""Secrets never reach a log line: tokens are cut out of every record before any handler writes it.

Open311 clients must send `api_key` in the query string, loudspeakers can often only be given a
URL (`?token=`), and a log is read by more people than the tokens are meant for. So every record
that goes through the process's log handlers is rewritten: the values of secret-bearing query
parameters, `Authorization` values, and anything shaped like one of our tokens become `[redacted]`.
`Authorization: Bearer` stays the preferred way (docs/protocol.md §2.2): it is never logged.
"""

from __future__ import annotations

import logging
import re

from announcements.tokens import TOKEN_PREFIX

REDACTED = "[redacted]"
SECRET_PARAMETERS = ("api_key", "token", "access_token")

_PATTERNS = [
    # ?api_key=..., &token=... (also percent-encoded names are not a concern: these are ours, in ASCII)
    (re.compile(rf"(?i)([?&;](?:{'|'.join(SECRET_PARAMETERS)})=)[^&;#\s\"']*"), rf"\g<1>{REDACTED}"),
    # Authorization: Bearer xyz, as a header dump or a repr
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), rf"\g<1>{REDACTED}"),
    # a token on its own, wherever it stands
    (re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_\-]{8,}"), REDACTED),
]


def redact(text: str) -> str:
    """`text` with every secret in it replaced by `[redacted]`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """A handler filter: rewrites the record's message and traceback text before they are formatted."""

    _exception_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exception_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of `logger` (the root logger by default), once each."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
