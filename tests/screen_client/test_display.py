from __future__ import annotations

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from screen_client.display import ScreenView, TerminalDisplay, display_zone, make_display, render
from screen_client.store import Identity
from screen_client.words import Words

from .conftest import payload

IDENTITY = Identity(screen_id="s1", area="/hongqi/liujingtun", kind="screen")
ZH, EN = Words("zh"), Words("en")


def view(*announcements, online: bool = True, last_seq: int | None = 7, **more) -> ScreenView:
    return ScreenView(online=online, last_seq=last_seq, identity=IDENTITY, announcements=list(announcements), **more)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_render_lists_emergency_first_and_marks_it():
    """The emergency comes first, marked, with title, body and published time; plain text has no escapes."""
    text = render(view(payload("e", priority="emergency", title="洪水预警"), payload("n", title="村民大会")), EN)
    assert text.index("!!! EMERGENCY !!! 洪水预警") < text.index("[normal] 村民大会")
    assert "body of e rev 1" in text and "published " in text
    assert "\x1b" not in text


def test_render_speaks_chinese_with_the_areas_name():
    """In Chinese every word on the screen is Chinese, and the village is named, not given as a path."""
    shown = view(payload("e", priority="emergency", title="洪水预警"), payload("n", title="村民大会"), area_name="刘井屯")
    text = render(shown, ZH)
    assert text.splitlines()[0] == "村务公告 · 刘井屯 (显示屏) · 在线 · 最新序号 7"
    assert text.index("！！！紧急公告！！！ 洪水预警") < text.index("[通知] 村民大会")
    assert "发布于 " in text and "有效至 " in text and "语音 1 秒" in text
    assert "/hongqi" not in text
    words_shown = text.replace("body of e rev 1", "").replace("body of n rev 1", "")
    assert not any(english in words_shown for english in ("published", "until", "online", "normal", "EMERGENCY", "audio"))


def test_render_colours_emergency_on_a_terminal():
    """With colour, the emergency label is bold on red."""
    text = render(view(payload("e", priority="emergency")), ZH, color=True)
    assert "\x1b[1;37;41m！！！紧急公告！！！\x1b[0m" in text


def test_render_shows_an_unknown_priority_as_it_comes():
    """A priority from a newer server is shown by its name, unstyled, like the ones without a style of their own."""
    text = render(view(payload("s", priority="siren", title="演练")), ZH, color=True)
    assert "[siren] \x1b[1m演练\x1b[0m" in text


@pytest.mark.parametrize(
    ("words", "online", "last_seq", "expected"),
    [
        (EN, True, 7, "online · last seq 7"), (EN, False, None, "OFFLINE · last seq -"),
        (ZH, True, 7, "在线 · 最新序号 7"), (ZH, False, None, "离线 · 最新序号 -"),
    ],
)
def test_render_shows_connection_state(words, online, last_seq, expected):
    """The status line says online or offline and the last seq held."""
    text = render(view(online=online, last_seq=last_seq), words)
    assert expected in text.splitlines()[0]
    assert words("no_announcements") in text


def test_times_are_shown_in_the_chosen_zone_else_the_servers_else_the_machines(monkeypatch):
    """--tz wins; without it the server's quiet-hours zone; an unknown or missing zone falls back to local time."""
    monkeypatch.setenv("TZ", "UTC")
    announcement = payload("n").model_copy(update={"published_at": datetime(2026, 11, 30, 11, 30, tzinfo=UTC)})
    shanghai = view(announcement, server_timezone="Asia/Shanghai")

    def published(zone) -> str:
        return next(line for line in render(shanghai, ZH, zone=zone).splitlines() if "发布于" in line).split(" · ")[0].strip()

    assert published(display_zone(None, "Asia/Shanghai")) == "发布于 2026-11-30 19:30"
    assert published(display_zone(ZoneInfo("Asia/Urumqi"), "Asia/Shanghai")) == "发布于 2026-11-30 17:30"
    assert display_zone(None, "Mars/Base") is None and display_zone(None, None) is None  # the machine's zone
    out = io.StringIO()
    TerminalDisplay(out, words=ZH).show(shanghai)
    assert "发布于 2026-11-30 19:30" in out.getvalue()


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
    """`none` is headless; `terminal` draws to stdout (in Chinese unless told); anything else is an error."""
    assert make_display("none") is None
    assert make_display("terminal").words.language == "zh"
    assert make_display("terminal", words=EN).words.language == "en"
    with pytest.raises(ValueError):
        make_display("hologram")
