"""Tickets: the number a villager is given for a request and reads out over the phone or types on a keypad.

A ticket is six random digits written `482-193`: one million of them. A village taking in 1,640
requests a year fills half of that in about 300 years; until then a draw that hits a stored ticket
is simply drawn again (intake's `_unused_tickets`). Should the six-digit space ever be so crowded
that draws keep colliding, intake draws nine digits instead, `482-193-705` (a thousand million), so
taking in never stalls. Drawn with `secrets`, never in sequence: one ticket does not give away the next.

Tickets given before digits were used are six characters of `TICKET_ALPHABET` (`A7K-3QX`); they
stay valid and are found the same way.
"""

from __future__ import annotations

import re
import secrets
import unicodedata

DIGITS_SHORT = 6  # 10^6 tickets: what every ticket has until that space is crowded
DIGITS_LONG = 9  # 10^9: drawn once six-digit draws keep colliding

# The earlier alphanumeric tickets: no 0/O, 1/I/L, so none is misheard as another.
TICKET_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_TICKET_RE = re.compile(rf"^(?:[0-9]{{{DIGITS_SHORT}}}|[0-9]{{{DIGITS_LONG}}}|[{TICKET_ALPHABET}]{{6}})$")
# What a person may type between groups: spaces and any dash (the full-width ones are folded by NFKC).
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]")


def new_ticket(digits: int = DIGITS_SHORT) -> str:
    """`digits` random digits grouped by three (`482-193`): easy to read aloud and to type on a phone keypad."""
    number = f"{secrets.randbelow(10**digits):0{digits}d}"
    return _grouped(number)


def normalize_ticket(raw: str) -> str | None:
    """The canonical ticket for what a person typed (any case, full-width digits, with or without dashes or spaces), or None."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    compact = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()
    if not _TICKET_RE.match(compact):
        return None
    return _grouped(compact)


def _grouped(compact: str) -> str:
    return "-".join(compact[i : i + 3] for i in range(0, len(compact), 3))
