"""A readable terminal display: what the screen shows, emergency first, and whether it is online; while a
live call is on, who is talking.

Rendering is a pure function of a `ScreenView`, so it is tested without a terminal; the display
writes only when the rendered text changes. On a terminal it redraws in place with colour; into a
file or pipe it appends plain text. Words come from `words.py` in the chosen language (Chinese by
default); times are shown in `--tz`, else the server's quiet-hours zone (the village's own clock),
else the machine's local zone.
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Protocol, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from announcements.protocol import AnnouncementPayload, Priority
from screen_client.store import Identity, LiveCall
from screen_client.words import Words

log = logging.getLogger("screen_client")

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_STYLES = {Priority.EMERGENCY: "\x1b[1;37;41m", Priority.HIGH: "\x1b[1;33m", Priority.LOW: "\x1b[2m"}
_CLEAR = "\x1b[H\x1b[2J"
_RULE = "─" * 60


@dataclass(frozen=True, slots=True)
class ScreenView:
    """Everything a display shows, at one moment."""

    online: bool
    last_seq: int | None
    identity: Identity | None
    announcements: list[AnnouncementPayload]
    area_name: str | None = None  # the area's name from `welcome`, shown instead of its path
    server_timezone: str | None = None  # the area's quiet-hours zone from `welcome`, if it has quiet hours
    live_calls: list[LiveCall] = field(default_factory=list)  # calls in progress here, from `started` to `ended`


class Display(Protocol):
    def show(self, view: ScreenView) -> None:
        """Show this view (the client calls it on every change and when an announcement expires)."""


@functools.lru_cache(maxsize=8)  # one warning about an unknown zone, not one per redraw
def display_zone(chosen: tzinfo | None, server_timezone: str | None) -> tzinfo | None:
    """Where times are shown: `--tz` if given, else the server's quiet-hours zone, else (None) the machine's own."""
    if chosen is not None or not server_timezone:
        return chosen
    try:
        return ZoneInfo(server_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("the server's time zone %r is unknown here: showing the machine's local time", server_timezone)
        return None


def local_time(moment: datetime, zone: tzinfo | None) -> str:
    """`2026-11-30 19:30` in `zone` (None: the machine's local zone)."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _style(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color and style else text


def render(view: ScreenView, words: Words, *, zone: tzinfo | None = None, color: bool = False) -> str:
    """The screen as text: a status line, who is talking in a live call, then each live announcement in the order
    given (emergency first)."""
    if view.identity is None:
        where = words("not_registered")
    else:
        where = f"{view.area_name or view.identity.area} ({words.label('kind', view.identity.kind)})"
    state = words("online") if view.online else words("offline")
    seq = words("last_seq", seq="-" if view.last_seq is None else view.last_seq)
    lines = [f"{words('title')} · {where} · {state} · {seq}", _RULE]
    for call in view.live_calls:
        talking = words("live_call", caller=call.caller_name) if call.caller_name else words("live_call_unnamed")
        style = _STYLES[Priority.EMERGENCY if call.priority == Priority.EMERGENCY else Priority.HIGH]  # never dimmed
        lines.append(_style(talking, style, color))
    if not view.announcements:
        lines.append(words("no_announcements"))
    for announcement in view.announcements:
        priority = announcement.priority
        if announcement.drill:  # the title says 【演练】 too (docs/protocol.md §2.9.10): here the banner says it first
            label = words("drill_banner")
        elif priority == Priority.EMERGENCY:
            label = words("emergency_banner")
        else:
            label = f"[{words.label('priority', priority)}]"
        lines.append(f"{_style(label, _STYLES.get(priority, ''), color)} {_style(announcement.title, _BOLD, color)}")
        lines.extend(f"    {line}" for line in announcement.body.splitlines() or [""])
        times = []
        if announcement.published_at is not None:
            times.append(words("published", time=local_time(announcement.published_at, zone)))
        if announcement.expires_at is not None:
            times.append(words("until", time=local_time(announcement.expires_at, zone)))
        if announcement.audio is not None:
            times.append(words("audio", seconds=f"{announcement.audio.duration_s:.0f}"))
        if announcement.images:  # a terminal cannot show them: it says they are there, to look at on a kiosk
            times.append(words("images", n=len(announcement.images)))
        if times:
            lines.append("    " + " · ".join(times))
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


class TerminalDisplay:
    """Draws `render()` to a stream: in place, in colour, on a terminal; appended, plain, elsewhere."""

    def __init__(
        self, stream: TextIO | None = None, *, words: Words | None = None, zone: tzinfo | None = None, color: bool | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.words = words or Words()
        self.zone = zone  # --tz; None: the server's quiet-hours zone, else the machine's
        self.tty = self.stream.isatty()
        self.color = self.tty if color is None else color
        self._last: str | None = None

    def show(self, view: ScreenView) -> None:
        text = render(view, self.words, zone=display_zone(self.zone, view.server_timezone), color=self.color)
        if text == self._last:
            return
        self._last = text
        self.stream.write((_CLEAR if self.tty else "\n") + text)
        self.stream.flush()


def make_display(name: str, *, words: Words | None = None, zone: tzinfo | None = None) -> Display | None:
    """`terminal` (standard output) or `none` (a headless loudspeaker box)."""
    if name == "none":
        return None
    if name == "terminal":
        return TerminalDisplay(words=words, zone=zone)
    raise ValueError(f"unknown display {name!r}: use terminal or none")
