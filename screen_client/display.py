"""A readable terminal display: what the screen shows, emergency first, and whether it is online.

Rendering is a pure function of a `ScreenView`, so it is tested without a terminal; the display
writes only when the rendered text changes. On a terminal it redraws in place with colour; into a
file or pipe it appends plain text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TextIO

from announcements.protocol import AnnouncementPayload, Priority
from screen_client.store import Identity

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


class Display(Protocol):
    def show(self, view: ScreenView) -> None:
        """Show this view (the client calls it on every change and when an announcement expires)."""


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _style(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color and style else text


def render(view: ScreenView, *, color: bool = False) -> str:
    """The screen as text: a status line, then each live announcement in the order given (emergency first)."""
    where = f"{view.identity.area} ({view.identity.kind})" if view.identity else "not yet registered with a server"
    state = "online" if view.online else "OFFLINE"
    seq = "-" if view.last_seq is None else str(view.last_seq)
    lines = [f"Village broadcast · {where} · {state} · last seq {seq}", _RULE]
    if not view.announcements:
        lines.append("(no announcements)")
    for announcement in view.announcements:
        priority = announcement.priority
        label = "!!! EMERGENCY !!!" if priority == Priority.EMERGENCY else f"[{priority}]"
        lines.append(f"{_style(label, _STYLES.get(priority, ''), color)} {_style(announcement.title, _BOLD, color)}")
        lines.extend(f"    {line}" for line in announcement.body.splitlines() or [""])
        times = []
        if announcement.published_at is not None:
            times.append(f"published {_local(announcement.published_at)}")
        if announcement.expires_at is not None:
            times.append(f"until {_local(announcement.expires_at)}")
        if announcement.audio is not None:
            times.append(f"audio {announcement.audio.duration_s:.0f} s")
        if times:
            lines.append("    " + " · ".join(times))
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


class TerminalDisplay:
    """Draws `render()` to a stream: in place, in colour, on a terminal; appended, plain, elsewhere."""

    def __init__(self, stream: TextIO | None = None, *, color: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.stream.isatty()
        self.color = self.tty if color is None else color
        self._last: str | None = None

    def show(self, view: ScreenView) -> None:
        text = render(view, color=self.color)
        if text == self._last:
            return
        self._last = text
        self.stream.write((_CLEAR if self.tty else "\n") + text)
        self.stream.flush()


def make_display(name: str) -> Display | None:
    """`terminal` (standard output) or `none` (a headless loudspeaker box)."""
    if name == "none":
        return None
    if name == "terminal":
        return TerminalDisplay()
    raise ValueError(f"unknown display {name!r}: use terminal or none")
