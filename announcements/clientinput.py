"""What clients may send: JSON within limits, and text that every database and document can hold.

Every JSON document from a client (HTTP bodies, WebSocket frames) is read with `loads` (or `parse`
then `check`), so no client reaches a 500 or a dropped connection by the shape of its JSON:

- nesting: at most MAX_DEPTH levels of arrays and objects (no message needs more than four; deeper
  input would also make Python's parser and pydantic recurse until RecursionError);
- numbers: finite (no NaN, Infinity, or 1e400 that becomes infinity): JSON has no such values;
- strings and field names: no C0 control character but tab, LF and CR (PostgreSQL refuses NUL in
  text; the others mean nothing to a reader and break XML and terminals), no lone UTF-16 surrogate
  (not text: it cannot be encoded to store or echo), no non-character U+FFFE or U+FFFF.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored and shown as text (e.g. `contains the control ... U+0000`), or None."""
    bad = _FORBIDDEN_CHARS.search(value)
    if bad is None:
        return None
    code = ord(bad.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"contains a lone UTF-16 surrogate U+{code:04X}, which is not text; send real UTF-8"
    return f"contains the control or invalid character U+{code:04X}"


class JSONRejected(Exception):
    """Client JSON that is not accepted. `loc` is the path to the bad string (None: the document as a whole)."""

    def __init__(self, message: str, loc: list | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc


def _no_constant(name: str):
    raise JSONRejected(f"not valid JSON: {name} is not a JSON number")


def _finite(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise JSONRejected(f"not valid JSON: the number {literal[:40]} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)  # made once: acks are a hot path
_TOO_DEEP = f"nested too deeply: at most {MAX_DEPTH} levels of arrays and objects"


def parse(raw: str | bytes) -> Any:
    """The JSON value of `raw`, numbers finite; JSONRejected for bad syntax or nesting deeper than the parser goes."""
    try:
        text = raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw))  # UTF-8 (or 16, 32), strictly
        return _DECODER.decode(text)
    except RecursionError:
        raise JSONRejected(_TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError) as exc:  # also ints beyond Python's 4,300 digits
        raise JSONRejected(f"not valid JSON: {exc}") from None


def check(value: Any, raw: str | bytes | None = None) -> Any:
    """`value` itself when it nests at most MAX_DEPTH deep and every string and field name is text.

    With `raw`, the JSON text `value` was parsed from, the walk is skipped when the text shows it
    cannot fail: no escape, no forbidden character, too few brackets. It costs as much as the parse,
    and every screen acknowledges every event.
    """
    if isinstance(raw, str) and not (
        "\\u" in raw or raw.count("[") + raw.count("{") > MAX_DEPTH or _FORBIDDEN_CHARS.search(raw)
    ):
        return value
    stack: list[tuple[Any, tuple]] = [(value, ())]
    while stack:
        item, loc = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise JSONRejected(problem, list(loc))
        elif isinstance(item, (dict, list)):
            if len(loc) >= MAX_DEPTH:
                raise JSONRejected(_TOO_DEEP)
            if isinstance(item, dict):
                for key in item:
                    problem = text_problem(key)
                    if problem:  # the key itself is not echoed: it may not even be encodable
                        raise JSONRejected(f"a field name {problem}", list(loc))
                children = list(item.items())
            else:
                children = list(enumerate(item))
            stack.extend((child, (*loc, key)) for key, child in reversed(children))  # the first problem is named first
    return value


def loads(raw: str | bytes) -> Any:
    """Parse and check one client JSON document (see the module's rules); JSONRejected otherwise."""
    return check(parse(raw), raw)
