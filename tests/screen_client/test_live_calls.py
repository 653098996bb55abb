"""Live calls (实时喊话) on a device: the player's queue with calls in it, the client's handling of `live` events
(against the stub server), the command that is given the stream's URL, and the display while a call is on."""

from __future__ import annotations

import asyncio
import io
import logging
import shlex
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from announcements.quiet_hours import QuietSpan
from screen_client.display import ScreenView, TerminalDisplay, render
from screen_client.player import CommandPlayer, NullPlayer, Player
from screen_client.store import Identity, LiveCall
from screen_client.words import Words
from tests.clock import SettableClock

from .conftest import TOKEN, payload
from .test_client import announcement
from .test_player import SHANGHAI, Played, gone, until

STREAM = "/stream/hongqi/liujingtun.mp3"


def call(id: str = "c1", priority: str = "high", caller_name: str | None = "张书记") -> LiveCall:
    return LiveCall(id, priority, STREAM, caller_name)


class Sounding:
    """The on_live callback: the calls whose sound began, in order (again after each interruption)."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, live: LiveCall) -> None:
        self.ids.append(live.id)


@pytest.fixture
async def run_live() -> AsyncIterator:
    """Runs players with both callbacks; cancels them at the end."""
    tasks: list[asyncio.Task] = []

    def start(player: Player) -> tuple[Played, Sounding]:
        played, sounding = Played(), Sounding()
        tasks.append(asyncio.create_task(player.run(played, sounding)))
        return played, sounding

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def history(player: NullPlayer) -> list[tuple[str, bool]]:
    return [(r.announcement_id, r.interrupted) for r in player.records]


def playing_id(player: Player) -> str | None:
    return None if player.playing is None else player.playing.id


async def sounds(player: NullPlayer, item_id: str, timeout: float = 5.0) -> None:
    """Wait until `item_id` is the one playing, and has begun to (the player picks it before it plays it)."""
    def begun() -> bool:
        last = player.records[-1] if player.records else None
        return playing_id(player) == item_id and last is not None and last.announcement_id == item_id and last.ended_at is None
    await until(begun, timeout)


# ---------------------------------------------------------------- the queue


async def test_a_call_interrupts_a_notice_which_plays_again_whole_after_the_call(run_live):
    """A call stops the notice that plays; the call's stream plays (told once) until the call ends; then the
    notice plays again from the start, before a notice that arrived during the call."""
    player = NullPlayer(time_scale=0.1)
    played, sounding = run_live(player)
    player.enqueue(payload("notice", duration_s=20.0))
    await sounds(player, "notice")
    player.enqueue(call())
    await sounds(player, "c1")
    player.enqueue(payload("later", duration_s=0.1))
    assert [item.id for item in player.queued] == ["notice", "later"]
    assert sounding.ids == ["c1"] and played.ids == []
    player.drop("c1")  # `ended`
    await sounds(player, "notice")
    assert history(player) == [("notice", True), ("c1", True), ("notice", False)]
    player.enqueue(payload("notice", duration_s=20.0))  # the same audio again: it goes on playing, not twice
    player.drop("notice")
    await played.wait(1)
    assert played.ids == ["later"] and sounding.ids == ["c1"]
    assert player.records[1].url == STREAM and player.records[1].revision is None
    assert player.records[0].ended_at <= player.records[1].started_at <= player.records[1].ended_at <= player.records[2].started_at


async def test_a_call_waits_for_an_emergency_but_an_emergency_call_does_not(run_live):
    """A high call does not cut an emergency announcement off: it plays once the emergency has been said. An
    emergency call interrupts an emergency announcement, which plays again after the call."""
    player = NullPlayer(time_scale=0.1)
    played, sounding = run_live(player)
    player.enqueue(payload("flood", priority="emergency", duration_s=2.0))
    await sounds(player, "flood")
    player.enqueue(call("c1"))
    await played.wait(1)
    await sounds(player, "c1")
    assert history(player) == [("flood", False), ("c1", False)]
    player.drop("c1")

    player.enqueue(payload("fire", priority="emergency", duration_s=20.0))
    await sounds(player, "fire")
    player.enqueue(call("c2", priority="emergency"))
    await sounds(player, "c2")
    player.drop("c2")
    await sounds(player, "fire")
    assert history(player)[2:] == [("fire", True), ("c2", True), ("fire", False)]
    assert sounding.ids == ["c1", "c2"]


async def test_an_emergency_during_a_call_plays_then_the_call_goes_on(run_live):
    """An emergency announcement cuts into a high call (as on the area's stream); once it has been said the call's
    stream plays again while the call lasts."""
    player = NullPlayer(time_scale=0.1)
    played, sounding = run_live(player)
    player.enqueue(call())
    await sounds(player, "c1")
    player.enqueue(payload("flood", priority="emergency", duration_s=0.5))
    await played.wait(1)
    await sounds(player, "c1")
    assert history(player) == [("c1", True), ("flood", False), ("c1", False)]
    assert sounding.ids == ["c1", "c1"]  # the client sends its receipt only for the first


async def test_quiet_hours_hold_a_call_unless_it_is_an_emergency(run_live):
    """At 23:00 in quiet hours a high call waits (nothing sounds) and an emergency call plays; the high call
    still going on at 06:30 then plays."""
    clock = SettableClock(datetime(2026, 3, 2, 23, 0, tzinfo=SHANGHAI))
    player = NullPlayer(clock=clock)
    player.set_quiet_hours(QuietSpan.parse("22:00-06:30", SHANGHAI))
    _, sounding = run_live(player)
    player.enqueue(call("night", priority="high"))
    player.enqueue(call("alarm", priority="emergency"))
    await sounds(player, "alarm")
    player.drop("alarm")
    await asyncio.sleep(0.1)
    assert player.playing is None and [item.id for item in player.queued] == ["night"]
    clock.at = datetime(2026, 3, 3, 6, 30, tzinfo=SHANGHAI)
    await sounds(player, "night", timeout=3)
    assert sounding.ids == ["alarm", "night"]


async def test_a_call_that_ends_while_it_waits_never_plays(run_live):
    """A call queued behind an emergency and ended meanwhile is taken out: it does not sound afterwards."""
    player = NullPlayer(time_scale=0.1)
    played, sounding = run_live(player)
    player.enqueue(payload("flood", priority="emergency", duration_s=1.0))
    await sounds(player, "flood")
    player.enqueue(call())
    player.drop("c1")
    player.enqueue(payload("after", duration_s=0.1))
    await played.wait(2)
    assert played.ids == ["flood", "after"] and sounding.ids == []


async def test_a_call_started_again_while_it_plays_goes_on_without_a_restart(run_live):
    """A `started` heard again (a replay after a reconnect) for the call already sounding does not cut its stream."""
    player = NullPlayer()
    played, sounding = run_live(player)
    player.enqueue(call())
    await sounds(player, "c1")
    player.enqueue(call(caller_name="张书记（又一次）"))
    player.drop("c1")  # the call ends; then a notice, played once the stream has stopped
    player.enqueue(payload("after", duration_s=0.1))
    await played.wait(1)
    assert history(player) == [("c1", True), ("after", False)] and sounding.ids == ["c1"]


# ---------------------------------------------------------------- the client


def started(call_id: str = "c1", priority: str = "high", caller_name: str = "张书记") -> dict:
    return {"type": "live", "call_id": call_id, "state": "started", "priority": priority,
            "areas": ["/hongqi/liujingtun"], "stream_url": STREAM, "caller_name": caller_name}


def ended(call_id: str = "c1") -> dict:
    return {"type": "live", "call_id": call_id, "state": "ended"}


def call_receipts(stub) -> list[dict]:
    return [r for r in stub.of_type("receipt") if r.get("call_id")]


async def synced_device(stub, screens, player, **kw):
    """A screen client with `player`, connected to the stub and through its first replay."""
    client = screens.make(stub.url, player=player, **kw)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    return client


async def test_started_plays_the_stream_once_receipted_and_ended_stops_it(stub, screens):
    """`started` interrupts the notice playing and the stream plays; the server gets one `played` receipt naming
    the call (none for the notice yet), and the live seq is acked. `ended` stops the stream and the notice plays
    again, to its end; the display shows who is talking only meanwhile."""
    player = NullPlayer(time_scale=0.5)
    out = io.StringIO()
    client = screens.make(stub.url, player=player, display=TerminalDisplay(out))
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(announcement("notice", duration_s=30.0))
    await sounds(player, "notice")
    seq = await stub.publish(started())
    await stub.wait_until(lambda: call_receipts(stub) != [] and any(m.get("seq") == seq for m in stub.of_type("ack")))
    assert call_receipts(stub) == [{"type": "receipt", "announcement_id": None, "call_id": "c1", "state": "played"}]
    assert playing_id(player) == "c1" and history(player) == [("notice", True), ("c1", False)]
    assert "正在喊话：张书记" in out.getvalue().split("\n村务公告")[-1]

    await stub.publish(ended())
    await sounds(player, "notice")
    assert history(player) == [("notice", True), ("c1", True), ("notice", False)]
    await client.wait_for(lambda: "正在喊话" not in out.getvalue().split("\n村务公告")[-1])
    assert client.live_calls == [] and len(call_receipts(stub)) == 1


async def test_the_receipt_is_sent_once_though_an_emergency_interrupts_the_call(stub, screens):
    """An emergency cuts into the call and the stream plays again after it: still one `played` for the call."""
    player = NullPlayer(time_scale=0.2)
    client = await synced_device(stub, screens, player)
    await stub.publish(started())
    await stub.wait_until(lambda: call_receipts(stub) != [])
    await stub.publish(announcement("flood", priority="emergency", duration_s=0.5))
    await stub.wait_until(lambda: any(r.get("announcement_id") == "flood" for r in stub.of_type("receipt")))
    await until(lambda: playing_id(player) == "c1" and len(player.records) == 3)
    assert history(player) == [("c1", True), ("flood", False), ("c1", False)]
    await stub.publish(announcement("marker", audio=False))  # frames after the resumption: all of its receipts are in
    await client.wait_for(lambda: client.last_seq == 3)
    assert len(call_receipts(stub)) == 1


async def test_a_started_replayed_on_reconnect_plays(stub, screens):
    """A device cut off when a call began gets its `started` in the replay when it is back, and plays the stream."""
    stub.add(announcement("notice", audio=False))  # so that the device resumes after a seq, as one that ran a while
    player = NullPlayer()
    client = await synced_device(stub, screens, player)
    await stub.drop()
    await client.wait_for(lambda: not client.online)
    stub.add(started(priority="emergency", caller_name="王主任"))
    await sounds(player, "c1")
    assert client.live_calls == [LiveCall("c1", "emergency", STREAM, "王主任")]
    await stub.wait_until(lambda: call_receipts(stub) != [])


async def test_a_device_restarted_mid_call_plays_the_call_though_its_started_is_not_sent_again(stub, screens):
    """A loudspeaker box that loses power during a call resumes after the call's `started` (the server does not send
    it again): it plays the call from what it kept, until the call's `ended` comes."""
    first = NullPlayer()
    client = screens.make(stub.url, player=first)
    task = screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(started(caller_name="王主任"))
    await sounds(first, "c1")
    await screens.stop(client, task)
    client.close()

    player = NullPlayer()
    again = await synced_device(stub, screens, player)
    await sounds(player, "c1")
    assert again.live_calls == [LiveCall("c1", "high", STREAM, "王主任")] and again.connections == 1
    await stub.publish(ended())
    await until(lambda: player.playing is None)
    assert again.live_calls == []


async def test_a_call_the_server_no_longer_holds_after_a_reset_ends(stub, screens):
    """A device cut off while its call ended comes back to a reset replay without the call: the stream stops."""
    player = NullPlayer()
    client = await synced_device(stub, screens, player)
    await stub.publish(started())
    await sounds(player, "c1")
    stub.add(ended())
    stub.prune()  # the `ended` is no longer held: the device gets the server's whole state, and no call is in it
    await stub.drop()
    await client.wait_for(lambda: client.synced and client.connections == 2)
    await until(lambda: player.playing is None and player.records[0].interrupted)
    assert client.live_calls == [] and history(player) == [("c1", True)]


async def test_a_call_ended_during_an_outage_stops_when_the_replay_says_so(stub, screens):
    """The `ended` sent while the device was offline arrives in the replay and stops the stream."""
    player = NullPlayer()
    client = await synced_device(stub, screens, player)
    await stub.publish(started())
    await sounds(player, "c1")
    await stub.drop()
    await client.wait_for(lambda: not client.online)
    stub.add(ended())
    await client.wait_for(lambda: client.synced)
    await until(lambda: player.playing is None and player.records[0].interrupted)
    assert client.live_calls == [] and history(player) == [("c1", True)]


# ---------------------------------------------------------------- the command


# A stand-in for mpg123 given a URL: logs `<pid> <url>`, plays until killed, or fails at once as many times as the
# `exits` file says.
STREAM_SCRIPT = r"""
import os, sys, time
from pathlib import Path

log, exits = Path(sys.argv[2]), Path(sys.argv[3])
with log.open("a") as out:
    out.write(f"{os.getpid()} {sys.argv[1]}\n")
left = int(exits.read_text()) if exits.exists() else 0
if left:
    exits.write_text(str(left - 1))
    sys.exit(f"HTTP request failed for {sys.argv[1]}")
time.sleep(600)
"""


class StreamCommand:
    def __init__(self, directory: Path) -> None:
        self.script = directory / "stream.py"
        self.script.write_text(STREAM_SCRIPT)
        self.log = directory / "stream.log"
        self.exits = directory / "exits"
        quoted = [shlex.quote(str(part)) for part in (sys.executable, self.script, self.log, self.exits)]
        self.template = f"{quoted[0]} {quoted[1]} {{file}} {quoted[2]} {quoted[3]}"

    def runs(self) -> list[tuple[int, str]]:
        """(pid, URL) of each time the command was run."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [(int(pid), url) for pid, url in (line.split(" ", 1) for line in lines)]

    def urls(self) -> list[str]:
        return [url for _, url in self.runs()]


async def test_the_command_is_given_the_streams_url_with_the_token_and_killed_at_the_end(tmp_path, run_live):
    """mpg123 (here a stand-in) gets the stream's absolute URL with `?token=`; when the call ends its process is
    gone within moments."""
    command = StreamCommand(tmp_path)
    player = CommandPlayer(command.template, server_url="http://10.0.0.2:8080/village-7/", token=TOKEN, cache_dir=tmp_path)
    _, sounding = run_live(player)
    player.enqueue(call())
    await until(lambda: command.urls() != [] and sounding.ids == ["c1"], timeout=10)
    assert command.urls() == [f"http://10.0.0.2:8080/village-7/stream/hongqi/liujingtun.mp3?token={TOKEN}"]
    [(pid, _)] = command.runs()
    assert not gone(pid)
    player.drop("c1")
    await until(lambda: gone(pid), timeout=1.5)  # SIGTERM, well inside the 2 s before SIGKILL
    assert player.playing is None and len(command.runs()) == 1


async def test_a_stream_command_that_stops_during_the_call_is_run_again_and_the_token_is_not_logged(
    tmp_path, run_live, monkeypatch, caplog
):
    """A stream dropped by the server (the command exits) plays again after a pause, while the call lasts; the
    log says why without the token that was in the URL."""
    monkeypatch.setattr("screen_client.player.RESTREAM_DELAY_S", 0.05)
    command = StreamCommand(tmp_path)
    command.exits.write_text("2")
    player = CommandPlayer(command.template, server_url="http://10.0.0.2:8080", token=TOKEN, cache_dir=tmp_path)
    _, sounding = run_live(player)
    with caplog.at_level(logging.WARNING):
        player.enqueue(call())
        await until(lambda: len(command.urls()) == 3 and command.exits.read_text() == "0", timeout=10)
    assert sounding.ids == ["c1"]  # its sound began once
    assert caplog.text.count("the stream of call c1 stopped") == 2
    assert "HTTP request failed" in caplog.text and TOKEN not in caplog.text
    player.drop("c1")
    await player.aclose()


# ---------------------------------------------------------------- the display


IDENTITY = Identity(screen_id="s1", area="/hongqi/liujingtun", kind="screen")


def test_the_display_says_who_is_talking_above_the_announcements():
    """While a call is on, the line under the status says who talks (红 for an emergency call on a terminal);
    in English too; a call without a caller's name still shows."""
    shown = ScreenView(online=True, last_seq=3, identity=IDENTITY, announcements=[payload("n", title="村民大会")],
                       live_calls=[call()])
    lines = render(shown, Words("zh")).splitlines()
    assert lines[2] == "正在喊话：张书记" and lines.index("正在喊话：张书记") < lines.index("[通知] 村民大会")
    assert "Live call: 张书记 is speaking" in render(shown, Words("en"))
    coloured = render(ScreenView(online=True, last_seq=3, identity=IDENTITY, announcements=[],
                                 live_calls=[call(priority="emergency", caller_name=None)]), Words("zh"), color=True)
    assert "\x1b[1;37;41m正在喊话\x1b[0m" in coloured.splitlines()
    assert "正在喊话" not in render(ScreenView(online=True, last_seq=3, identity=IDENTITY, announcements=[]), Words("zh"))
