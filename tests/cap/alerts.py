"""The CAP fixtures beside this file, written after real county warnings, and posting them to a village.

The fixtures keep the dates of the warnings they follow (18 July 2026); `retimed` moves every time in
one by the same amount, so that the first warning is sent just now and each keeps its place in the story
(an Update three hours after, an expiry six hours after). References move with the times they name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent
STORY_START = datetime.fromisoformat("2026-07-18T14:05:00+08:00")  # when rainstorm-red.xml was sent
_CAP_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")

VILLAGES = {  # path: (name, division code)
    "/hongqi/liujingtun": ("刘井屯村", "330108001001"),
    "/hongqi/xincun": ("新村", "330108001002"),
    "/hongqi/dongfeng": ("东风村", "330108001003"),
}
LIUJINGTUN, XINCUN, DONGFENG = VILLAGES


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def story_now() -> datetime:
    """The instant the story starts at in a test: a minute ago (so the first warning is in effect), whole seconds."""
    return (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)


def retimed(data: bytes, start: datetime) -> bytes:
    """`data` with every CAP time moved by `start` minus STORY_START, written in its own offset."""
    shift = start - STORY_START
    return _CAP_TIME.sub(lambda m: (datetime.fromisoformat(m.group().decode()) + shift).isoformat().encode(), data)


def at(text: str, start: datetime) -> datetime:
    """A time of the story (as a fixture writes it), moved as `retimed` moves it."""
    return datetime.fromisoformat(text) + (start - STORY_START)


async def configure_villages(village, *, codes: bool = True) -> None:
    """The three villages of the story, named, and given their division codes (unless `codes` is false)."""
    await village.call("POST", "/areas", json={"path": "/hongqi", "name": "红旗镇"}, expect=201)
    for path, (name, code) in VILLAGES.items():
        await village.call("POST", "/areas", json={"path": path, "name": name}, expect=201)
        if codes:
            await village.call("PATCH", "/areas/" + path.replace("/", "%2F"), json={"geocodes": [code]}, expect=200)


async def post_cap(village, data: bytes, *, token: str | None = None, content_type: str = "application/cap+xml"):
    """POST /api/v1/cap: (status, answer)."""
    headers = {**village.auth(token), "Content-Type": content_type}
    async with village.http.post(village.url + "/api/v1/cap", data=data, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)
