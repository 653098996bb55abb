"""The priority order of docs/protocol.md §7.1 (emergency > high > normal > low), as a sort key.

The screen shows and plays in this order; kept here so the store, the display and the play queue
agree, without the client importing the server's database models.
"""

from __future__ import annotations

EMERGENCY = "emergency"
PRIORITIES = (EMERGENCY, "high", "normal", "low")
_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}


def priority_rank(priority: str) -> int:
    """Smaller goes first; a priority this client does not know sorts with `normal`."""
    return _RANK.get(priority, _RANK["normal"])
