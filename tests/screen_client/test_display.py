from __future__ import annotations

import io

import pytest

from screen_client.display import ScreenView, TerminalDisplay, make_display, render
from screen_client.store import Identity

from .conftest import payload

IDENTITY = Identity(screen_id="s1", area="/hongqi/liujingtun", kind="screen")


def view(*announcements, online: bool = True, last_seq: int | None = 7) -> ScreenView:
    return ScreenView(online=online, last_seq=last_seq, identity=IDENTITY, announcements=list(announcements))


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_render_lists_emergency_first_and_marks_it():
    """The emergency comes first, marked, with title, body and published time; plain text has no escapes."""
    text = render(view(payload("e", priority="emergency", title="洪水预警"), payload("n", title="村民大会")))
    assert text.index("!!! EMERGENCY !!! 洪水预警") < text.index("[normal] 村民大会")
    assert "body of e rev 1" in text and "published " in text
    assert "\x1b" not in text


def test_render_colours_emergency_on_a_terminal():
    """With colour, the emergency label is bold on red."""
    text = render(view(payload("e", priority="emergency")), color=True)
    assert "\x1b[1;37;41m!!! EMERGENCY !!!\x1b[0m" in text


def test_render_shows_an_unknown_priority_as_it_comes():
    """A priority from a newer server is shown by its name, unstyled, like the ones without a style of their own."""
    text = render(view(payload("s", priority="siren", title="演练")), color=True)
    assert "[siren] \x1b[1m演练\x1b[0m" in text


@pytest.mark.parametrize(
    ("online", "last_seq", "expected"),
    [(True, 7, "online · last seq 7"), (False, None, "OFFLINE · last seq -")],
)
def test_render_shows_connection_state(online, last_seq, expected):
    """The status line says online or OFFLINE and the last seq held."""
    text = render(view(online=online, last_seq=last_seq))
    assert expected in text.splitlines()[0]
    assert "(no announcements)" in text


def test_display_redraws_only_on_change():
    """Showing the same view twice writes once; a change writes again."""
    out = io.StringIO()
    display = TerminalDisplay(out)
    display.show(view(payload("a")))
    display.show(view(payload("a")))
    first = out.getvalue()
    display.show(view(payload("a"), online=False))
    assert first.count("title of a") == 1
    assert out.getvalue().count("title of a") == 2


def test_terminal_redraws_in_place_with_colour():
    """On a tty the screen is cleared and redrawn, in colour."""
    out = Tty()
    TerminalDisplay(out).show(view(payload("e", priority="emergency")))
    assert out.getvalue().startswith("\x1b[H\x1b[2J") and "\x1b[1;37;41m" in out.getvalue()


def test_make_display():
    """`none` is headless; `terminal` draws to stdout; anything else is an error."""
    assert make_display("none") is None
    assert isinstance(make_display("terminal"), TerminalDisplay)
    with pytest.raises(ValueError):
        make_display("hologram")
