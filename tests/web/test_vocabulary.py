"""The pages' vocabulary (static/shared/vocabulary.js) is the server's: the same enums, members and order."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from announcements import protocol
from announcements.models import AnnouncementStatus

STATIC = Path(__file__).resolve().parents[2] / "broadcast_server/static"
SERVER_ENUMS: dict[str, type[StrEnum]] = {
    "Priority": protocol.Priority,
    "Language": protocol.Language,
    "ScreenKind": protocol.ScreenKind,
    "ReceiptState": protocol.ReceiptState,
    "AudioSource": protocol.AudioSource,
    "LiveState": protocol.LiveState,
    "RequestCategory": protocol.RequestCategory,
    "RequestStatus": protocol.RequestStatus,
    "Rating": protocol.Rating,
    "AnnouncementStatus": AnnouncementStatus,
}


def page_enums() -> dict[str, list[tuple[str, str]]]:
    """Each `export const Name = Object.freeze({...});` of vocabulary.js, as its (member, value) pairs in order."""
    source = (STATIC / "shared/vocabulary.js").read_text()
    blocks = re.findall(r"^export const (\w+) = Object\.freeze\(\{(.*?)\}\);", source, re.MULTILINE | re.DOTALL)
    return {name: re.findall(r"^\s*(\w+): '([^']*)',", body, re.MULTILINE) for name, body in blocks}


def test_the_pages_use_the_servers_words_in_the_servers_order():
    """Every enum the pages share with the server has the server's members, values and order; none is missing or extra."""
    assert page_enums() == {name: [(m.name, m.value) for m in enum] for name, enum in SERVER_ENUMS.items()}

