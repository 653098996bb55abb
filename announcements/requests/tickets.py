"""Tickets: the number a villager is given for a request and may read out over the phone (`A7K-3QX`)."""

from __future__ import annotations

import re
import secrets

# No 0/O, 1/I/L: a ticket read aloud over the phone cannot be misheard as another.
TICKET_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_TICKET_RE = re.compile(rf"^[{TICKET_ALPHABET}]{{6}}$")


def new_ticket() -> str:
    """Six random characters as `A7K-3QX` (31^6, about 887 million): short, readable, not guessable."""
    chars = "".join(secrets.choice(TICKET_ALPHABET) for _ in range(6))
    return f"{chars[:3]}-{chars[3:]}"


def normalize_ticket(raw: str) -> str | None:
    """The canonical ticket for what a person typed (any case, with or without the dash or spaces), or None."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    compact = re.sub(r"[\s\-]", "", raw).upper()
    if not _TICKET_RE.match(compact):
        return None
    return f"{compact[:3]}-{compact[3:]}"
