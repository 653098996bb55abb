"""A station's order of play with a live call (broadcast_server/stream.py), frame by frame: the call before a clip, the
clip again after the call, an emergency before a call that is not one, quiet hours for a call that is not an emergency."""

from datetime import datetime
from zoneinfo import ZoneInfo

from announcements.mp3frames import Frame
from announcements.quiet_hours import QuietHours
from broadcast_server.stream import LIVE_BACKLOG_S, LiveFeed, Station, _Item

AREA = "/hongqi/liujingtun"
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
NIGHT = datetime(2026, 11, 25, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def frames(name: str, count: int) -> list[Frame]:
    return [Frame(f"{name}{i}".encode(), 22050, 576) for i in range(count)]


def station(at: datetime = NOON) -> Station:
    clips = {"notice.mp3": frames("notice", 5), "alarm.mp3": frames("alarm", 3)}
    quiet = QuietHours({"/hongqi": "22:00-06:30"}, "Asia/Shanghai")
    return Station(AREA, load_clip=clips.__getitem__, quiet=quiet, clock=lambda: at)


def played(source, count: int) -> list[str]:
    """The next `count` frames, named; silence as '-'."""
    names = []
    for _ in range(count):
        frame, _ = next(source)
        names.append(frame.data.decode() if frame.data[:1].isalpha() else "-")
    return names


def item(name: str, priority: str, rank: int, seq: int) -> _Item:
    return _Item(rank, seq, name, priority, f"{name}.mp3")


def test_a_call_interrupts_a_clip_which_plays_again_whole_after_it():
    s = station()
    s.offer(item("notice", "normal", 2, 1))
    source = s._frames()
    assert played(source, 2) == ["notice0", "notice1"]
    s.live = LiveFeed("call", rank=1, priority="high")
    s.live.push(frames("voice", 2))
    assert played(source, 4) == ["voice0", "voice1", "-", "-"]  # silence while the next piece is on its way
    s.live.push(frames("voice", 3)[2:])
    s.live.ended = True
    assert played(source, 6) == ["voice2", "notice0", "notice1", "notice2", "notice3", "notice4"]
    assert s.live is None and played(source, 1) == ["-"]


def test_an_emergency_plays_before_a_call_that_is_not_one_and_an_emergency_call_before_everything():
    s = station()
    s.live = LiveFeed("call", rank=1, priority="high")
    s.live.push(frames("voice", 2))
    s.offer(item("alarm", "emergency", 0, 2))
    source = s._frames()
    assert played(source, 5) == ["alarm0", "alarm1", "alarm2", "voice0", "voice1"]
    s.offer(item("alarm", "emergency", 0, 3))
    s.live = LiveFeed("urgent", rank=0, priority="emergency")
    s.live.push(frames("warn", 2))
    assert played(source, 4) == ["warn0", "warn1", "-", "-"]


def test_quiet_hours_hold_a_call_unless_it_is_an_emergency():
    s = station(NIGHT)
    s.live = LiveFeed("call", rank=1, priority="high")
    s.live.push(frames("voice", 2))
    source = s._frames()
    assert played(source, 2) == ["-", "-"]
    s.live = LiveFeed("urgent", rank=0, priority="emergency")
    s.live.push(frames("warn", 1))
    heard = played(source, 9)  # the silence already begun (0.2 s at most) ends first
    assert "warn0" in heard and set(heard[: heard.index("warn0")]) <= {"-"}


def test_a_listener_stays_near_the_speaker_the_oldest_sound_is_dropped():
    feed = LiveFeed("call", rank=1, priority="high")
    feed.push(frames("voice", 100))  # 2.6 s arrived at once (a stalled link catching up)
    kept = len(feed.frames) * 576 / 22050
    assert LIVE_BACKLOG_S - 0.03 < kept <= LIVE_BACKLOG_S
    assert feed.frames[-1].data == b"voice99"
