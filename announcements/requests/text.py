"""Text in the request log: what villagers and staff may write into it, and the phone number masked on the way out."""

from __future__ import annotations

from announcements.clientinput import text_problem
from announcements.errors import Invalid


def check_text(value: str | None, *, field: str, max_chars: int | None = None, required: bool = False) -> str | None:
    """Villagers' text is stored as given; only what no database or XML document can hold is refused."""
    if value is None:
        if required:
            raise Invalid(f"{field}: required", errors=[{"loc": [field], "msg": "required"}])
        return None
    if required and not value.strip():
        raise Invalid(f"{field}: must not be blank", errors=[{"loc": [field], "msg": "must not be blank"}])
    if max_chars is not None and len(value) > max_chars:
        msg = f"at most {max_chars} characters (got {len(value)})"
        raise Invalid(f"{field}: {msg}", errors=[{"loc": [field], "msg": msg}])
    msg = text_problem(value)
    if msg:
        raise Invalid(f"{field}: {msg}", errors=[{"loc": [field], "msg": msg}])
    return value


def mask_phone(phone: str | None) -> str | None:
    """138****5678: the first three and last four digits stay, the ones between become '*'."""
    if not phone:
        return phone
    digits = [i for i, c in enumerate(phone) if c.isdigit()]
    keep_head, keep_tail = (3, 4) if len(digits) >= 9 else (0, min(2, len(digits)))
    hidden = set(digits[keep_head : len(digits) - keep_tail])
    return "".join("*" if i in hidden else c for i, c in enumerate(phone))
