from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from announcements.protocol import AnnouncementPayload
from announcements.quiet_hours import QuietSpan
from screen_client.player import CommandPlayer, NullPlayer, Player, make_player
from tests.clock import SettableClock

from .conftest import TOKEN, payload

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Played:
    """The on_played callback, recording ids in order, with a way to wait for a count."""

    def __init__(self) -> None:
        self.announcements: list[AnnouncementPayload] = []
        self.event = asyncio.Event()

    @property
    def ids(self) -> list[str]:
        return [a.id for a in self.announcements]

    async def __call__(self, announcement: AnnouncementPayload) -> None:
        self.announcements.append(announcement)
        self.event.set()

    async def wait(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.ids) < count:
                self.event.clear()
                await self.event.wait()


@pytest.fixture
async def run_player() -> AsyncIterator:
    tasks: list[asyncio.Task] = []
    players: list[Player] = []

    def start(player: Player) -> Played:
        played = Played()
        players.append(player)
        tasks.append(asyncio.create_task(player.run(played)))
        return played

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for player in players:
        await player.aclose()


async def until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_emergency_preempts_and_the_interrupted_one_plays_again(run_player):
    """An emergency stops a playing normal announcement; the normal one plays again, whole, right after
    it: before a normal announcement that arrived later (it keeps its place, first of its priority)."""
    player = NullPlayer(time_scale=0.1)  # 1 s of audio plays for 0.1 s
    played = run_player(player)
    player.enqueue(payload("normal", duration_s=2.0))
    await until(lambda: player.playing is not None)
    player.enqueue(payload("later", duration_s=0.1))
    player.enqueue(payload("alarm", priority="emergency", duration_s=0.5))
    assert [a.id for a in player.queued] == ["alarm", "normal", "later"]
    await played.wait(3)
    assert played.ids == ["alarm", "normal", "later"]
    assert [(r.announcement_id, r.interrupted) for r in player.records] == [
        ("normal", True),
        ("alarm", False),
        ("normal", False),
        ("later", False),
    ]
    assert player.records[0].ended_at <= player.records[1].started_at


async def test_quiet_hours_hold_all_but_emergencies_until_they_end(run_player):
    """During the area's quiet hours (from the welcome) only an emergency plays; the rest play once they end."""
    clock = SettableClock(datetime(2026, 3, 2, 23, 0, tzinfo=SHANGHAI))
    player = NullPlayer(clock=clock)
    player.set_quiet_hours(QuietSpan.parse("22:00-06:30", SHANGHAI))
    played = run_player(player)
    player.enqueue(payload("night notice"))
    player.enqueue(payload("flood", priority="emergency"))
    await played.wait(1)
    assert played.ids == ["flood"] and [a.id for a in player.queued] == ["night notice"]
    assert [(r.announcement_id, r.url) for r in player.records] == [("flood", "/media/flood-1.mp3")]
    clock.at = datetime(2026, 3, 3, 6, 30, tzinfo=SHANGHAI)
    player.enqueue(payload("morning notice"))  # also wakes the player to look at the clock again
    await played.wait(3)
    assert played.ids == ["flood", "night notice", "morning notice"]


async def test_emergency_does_not_interrupt_an_emergency(run_player):
    """A second emergency waits for the first to finish."""
    player = NullPlayer(time_scale=0.05)
    played = run_player(player)
    player.enqueue(payload("first", priority="emergency"))
    await until(lambda: player.playing is not None)
    player.enqueue(payload("second", priority="emergency"))
    await played.wait(2)
    assert played.ids == ["first", "second"]
    assert not any(r.interrupted for r in player.records)


async def test_queue_plays_in_priority_order_then_arrival(run_player):
    """Waiting announcements play emergency > high > normal > low, in arrival order within one priority."""
    player = NullPlayer()
    for name, priority in [("low", "low"), ("n1", "normal"), ("high", "high"), ("n2", "normal")]:
        player.enqueue(payload(name, priority=priority))
    assert [a.id for a in player.queued] == ["high", "n1", "n2", "low"]
    played = run_player(player)
    await played.wait(4)
    assert played.ids == ["high", "n1", "n2", "low"]


async def test_retract_drops_queued_and_stops_playing(run_player):
    """drop() takes a queued announcement out and stops the one playing; neither reports `played`."""
    player = NullPlayer(time_scale=0.2)
    played = run_player(player)
    player.enqueue(payload("playing", duration_s=5.0))
    player.enqueue(payload("queued"))
    player.enqueue(payload("kept", duration_s=0.1))
    await until(lambda: player.playing is not None)
    player.drop("queued")
    player.drop("playing")
    await played.wait(1)
    await asyncio.sleep(0.05)
    assert played.ids == ["kept"]
    assert [(r.announcement_id, r.interrupted) for r in player.records] == [("playing", True), ("kept", False)]


async def test_new_revision_replaces_the_queued_one(run_player):
    """A newer revision with new audio replaces the queued entry instead of playing twice."""
    player = NullPlayer()
    player.enqueue(payload("a1", revision=1))
    player.enqueue(payload("a1", revision=2))
    played = run_player(player)
    await played.wait(1)
    await asyncio.sleep(0.05)
    assert [(r.announcement_id, r.revision) for r in player.records] == [("a1", 2)]


async def test_a_revision_keeps_its_place_in_the_queue(run_player):
    """A corrected notice waiting its turn is not sent to the back: with a1 and then b1 waiting, a1's revision still
    plays before b1."""
    player = NullPlayer()
    player.enqueue(payload("a1", revision=1))
    player.enqueue(payload("b1"))
    player.enqueue(payload("a1", revision=2))
    played = run_player(player)
    await played.wait(2)
    assert [(a.id, a.revision) for a in played.announcements] == [("a1", 2), ("b1", 1)]


async def test_a_new_revision_with_the_same_sound_does_not_restart_the_playing_one(run_player):
    """A correction of the text while its (unchanged) audio plays goes on playing; the end is reported for the
    newest revision. New audio waits for the playing one to end, then plays."""
    player = NullPlayer(time_scale=0.1)
    played = run_player(player)
    first = payload("a1", revision=1, duration_s=2.0)
    player.enqueue(first)
    await until(lambda: player.playing is not None)
    player.enqueue(first.model_copy(update={"revision": 2, "title": "corrected"}))
    player.enqueue(payload("a1", revision=3, duration_s=0.1))
    await played.wait(2)
    assert [(a.id, a.revision) for a in played.announcements] == [("a1", 2), ("a1", 3)]
    assert [(r.revision, r.interrupted) for r in player.records] == [(1, False), (3, False)]


async def test_without_audio_or_expired_nothing_plays(run_player):
    """An announcement without audio is not queued; one expired while waiting is skipped."""
    player = NullPlayer()
    player.enqueue(payload("silent", audio=False))
    player.enqueue(payload("stale", expires_in_s=-1))
    player.enqueue(payload("fresh"))
    played = run_player(player)
    await played.wait(1)
    await asyncio.sleep(0.05)
    assert played.ids == ["fresh"]


# ---------------------------------------------------------------- CommandPlayer


@pytest.fixture
async def media(aiohttp_server) -> AsyncIterator:
    """A media endpoint that wants the screen token. `/media/<id>-<revision>.mp3` serves `clips[<id>]`
    (default: `b"0.01"` for ids with "alarm" in them, else `b"5"`); the first `stalls[<id>]` requests
    for it get no answer at all (until the test ends), so the client's download times out."""
    requests: list[str] = []
    clips: dict[str, bytes] = {}
    stalls: dict[str, int] = {}
    release = asyncio.Event()

    async def serve(request: web.Request) -> web.Response:
        requests.append(request.path)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401)
        name = request.match_info["name"]
        if name.startswith("missing"):
            return web.Response(status=404)
        clip = name.rsplit("-", 1)[0]
        if stalls.get(clip, 0) > 0:
            stalls[clip] -= 1
            await release.wait()
            return web.Response(status=503)
        default = b"0.01" if "alarm" in name else b"5"
        return web.Response(body=clips.get(clip, default), content_type="audio/mpeg")

    app = web.Application()
    app.router.add_get("/media/{name}", serve)
    server = await aiohttp_server(app)
    server.requests = requests
    server.clips = clips
    server.stalls = stalls
    yield server
    release.set()


def command_player(media, tmp_path: Path, template: str, **kw) -> CommandPlayer:
    return CommandPlayer(template, server_url=str(media.make_url("/")), token=TOKEN, cache_dir=tmp_path / "var" / "audio", **kw)


# A stand-in for mpg123: the "clip" it is given says its name and how it behaves (`seconds=` it plays,
# `again=` seconds when it is played a second time, `term=ignore` to survive SIGTERM). It logs
# `start <name> <pid> alive=<pids of earlier plays still running>`, `end <name> <pid>` when it plays
# to the end, and `ignored-term <name> <pid>`.
SPEAKER_SCRIPT = r"""
import os, signal, sys, time
from pathlib import Path

words = Path(sys.argv[1]).read_text().split()
name, log = words[0], Path(sys.argv[2])
options = dict(word.split("=", 1) for word in words[1:])

def note(event, *extra):
    with log.open("a") as out:
        out.write(" ".join([event, name, str(os.getpid()), *extra]) + "\n")

def running(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False

if options.get("term") == "ignore":
    signal.signal(signal.SIGTERM, lambda signum, frame: note("ignored-term"))
earlier = [line.split() for line in (log.read_text().splitlines() if log.exists() else []) if line.startswith("start ")]
again = any(start[1] == name for start in earlier)
seconds = float(options["again"] if again and "again" in options else options.get("seconds", "0"))
alive = [start[2] for start in earlier if running(int(start[2]))]
note("start", "alive=" + (",".join(alive) or "-"))
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    time.sleep(0.01)
note("end")
"""


class Speaker:
    """Runs SPEAKER_SCRIPT as the player command and reads its log; kills what is left at the end."""

    def __init__(self, directory: Path) -> None:
        self.script = directory / "speaker.py"
        self.script.write_text(SPEAKER_SCRIPT)
        self.log = directory / "speaker.log"
        quoted = [shlex.quote(str(part)) for part in (sys.executable, self.script, self.log)]
        self.template = f"{quoted[0]} {quoted[1]} {{file}} {quoted[2]}"

    def events(self) -> list[list[str]]:
        return [line.split() for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def starts(self) -> list[str]:
        return [e[1] for e in self.events() if e[0] == "start"]

    async def started(self, name: str, timeout: float = 10.0) -> int:
        """The pid of the first play of `name`, once it has started."""
        await until(lambda: any(e[:2] == ["start", name] for e in self.events()), timeout)
        return next(int(e[2]) for e in self.events() if e[:2] == ["start", name])

    def cleanup(self) -> None:
        for pid in {int(e[2]) for e in self.events()}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def speaker(tmp_path) -> Iterator[Speaker]:
    speaker = Speaker(tmp_path)
    yield speaker
    speaker.cleanup()  # only matters when a test failed: a correct player leaves nothing running


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_command_player_downloads_with_token_then_runs_the_command(media, tmp_path, run_player):
    """The audio is fetched with the screen's bearer token into the cache and handed to the command
    (the player built from `--player "cp {file} …"` as the command line builds it)."""
    out = tmp_path / "out.mp3"
    player = make_player(f"cp {{file}} {out}", server_url=str(media.make_url("/")), token=TOKEN, cache_dir=tmp_path / "var" / "audio")
    played = run_player(player)
    player.enqueue(payload("a1"))
    await played.wait(1)
    assert out.read_bytes() == b"5"
    assert media.requests == ["/media/a1-1.mp3"]
    path = await player.fetch("/media/a1-1.mp3", "mp3")
    assert path.parent == tmp_path / "var" / "audio" and path.suffix == ".mp3"
    assert media.requests == ["/media/a1-1.mp3"]  # cached: not fetched again
    await player.aclose()


async def test_emergency_kills_the_playing_command_then_the_interrupted_one_plays_next(
    media, tmp_path, run_player, speaker
):
    """An emergency arriving while a notice plays: the notice's process is gone within moments (SIGTERM,
    well inside the 2 s before SIGKILL), nothing else is sounding when the emergency starts, and the
    interrupted notice plays again right after it, before a normal notice that came later, and a low
    one that came earlier than that."""
    media.clips.update({
        "normal": b"normal seconds=60 again=0.05",
        "later": b"later seconds=0",
        "low": b"low seconds=0",
        "alarm": b"alarm seconds=0.05",
    })
    player = command_player(media, tmp_path, speaker.template)
    played = run_player(player)
    player.enqueue(payload("normal"))
    first = await speaker.started("normal")
    player.enqueue(payload("low", priority="low"))
    player.enqueue(payload("later"))
    player.enqueue(payload("alarm", priority="emergency"))
    await until(lambda: gone(first), timeout=1.5)
    await played.wait(4, timeout=10)
    assert played.ids == ["alarm", "normal", "later", "low"]
    assert speaker.starts() == ["normal", "alarm", "normal", "later", "low"]
    events = speaker.events()
    assert ["end", "normal", str(first)] not in events  # the first play was cut off, not played out
    alarm = next(e for e in events if e[:2] == ["start", "alarm"])
    assert alarm[3] == "alive=-"  # the old process was gone before the emergency started: never two at once
    assert all(e[3] == "alive=-" for e in events if e[0] == "start")
    await player.aclose()


async def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period(media, tmp_path, run_player, speaker):
    """A player command that survives SIGTERM is SIGKILLed after the grace period; the emergency waits
    for it to be gone, then plays, and the interrupted one plays again after."""
    media.clips.update({"stubborn": b"stubborn seconds=60 again=0 term=ignore", "alarm": b"alarm seconds=0"})
    player = command_player(media, tmp_path, speaker.template)
    played = run_player(player)
    player.enqueue(payload("stubborn"))
    pid = await speaker.started("stubborn")
    player.enqueue(payload("alarm", priority="emergency"))
    await until(lambda: ["ignored-term", "stubborn", str(pid)] in speaker.events())
    assert not gone(pid)  # SIGTERM alone did not stop it
    await until(lambda: gone(pid), timeout=10)
    await played.wait(2, timeout=10)
    assert played.ids == ["alarm", "stubborn"]
    assert speaker.starts() == ["stubborn", "alarm", "stubborn"]
    alarm = next(e for e in speaker.events() if e[:2] == ["start", "alarm"])
    assert alarm[3] == "alive=-"  # the emergency did not sound over the stubborn one
    await player.aclose()


async def test_stopping_the_device_mid_play_stops_the_sound(media, tmp_path, speaker):
    """`village-screen` stopping while a notice plays (its player task cancelled): once the task has ended, the
    command's process is gone and nothing is playing, so a restart never sounds over a leftover."""
    media.clips["long"] = b"long seconds=20"
    player = command_player(media, tmp_path, speaker.template)
    task = asyncio.create_task(player.run(Played()))
    player.enqueue(payload("long"))
    pid = await speaker.started("long")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert gone(pid) and player.playing is None
    assert ["end", "long", str(pid)] not in speaker.events()
    await player.aclose()


async def test_what_the_player_command_prints_stays_off_the_screen(media, tmp_path, run_player, capfd):
    """A player command that talks on its standard output (aplay and mpg123 do) does not write over the terminal
    display: its output goes nowhere, and it reads nothing from the terminal."""
    media.clips["a1"] = b"a1"
    player = command_player(media, tmp_path, "sh -c 'echo playing-loudly; cat > /dev/null; cat {file} > /dev/null'")
    played = run_player(player)
    player.enqueue(payload("a1"))
    await played.wait(1)
    assert "playing-loudly" not in capfd.readouterr().out
    await player.aclose()


async def test_download_that_fails_once_is_retried_and_plays(media, tmp_path, run_player, speaker):
    """A download that times out (the server never answers) is tried again after a second; the clip then plays."""
    media.clips["flaky"] = b"flaky seconds=0"
    media.stalls["flaky"] = 1
    player = command_player(media, tmp_path, speaker.template, download_timeout=0.5)
    played = run_player(player)
    player.enqueue(payload("flaky"))
    await played.wait(1, timeout=10)
    assert played.ids == ["flaky"]
    assert media.requests == ["/media/flaky-1.mp3", "/media/flaky-1.mp3"]
    assert speaker.starts() == ["flaky"]
    await player.aclose()


async def test_download_gives_up_after_its_attempts(media, tmp_path, run_player, speaker, caplog):
    """A download that keeps failing is tried `download_attempts` times, then skipped without a receipt."""
    media.clips.update({"dead": b"dead seconds=0", "next": b"next seconds=0"})
    media.stalls["dead"] = 99
    player = command_player(media, tmp_path, speaker.template, download_timeout=0.3, download_attempts=2)
    played = run_player(player)
    player.enqueue(payload("dead"))
    player.enqueue(payload("next"))
    await played.wait(1, timeout=10)
    assert played.ids == ["next"]
    assert media.requests == ["/media/dead-1.mp3", "/media/dead-1.mp3", "/media/next-1.mp3"]
    assert speaker.starts() == ["next"]
    assert "dead-1.mp3 failed" in caplog.text
    await player.aclose()


async def test_a_player_that_fails_unexpectedly_reports_nothing_and_goes_on(run_player, caplog):
    """An error nobody foresaw while playing (a bug in a player) is logged; the notice is not reported `played`, since
    proof of delivery must not count what was not heard, and the next one plays."""

    class Faulty(NullPlayer):
        async def play(self, announcement: AnnouncementPayload) -> None:
            if announcement.id == "broken":
                raise RuntimeError("a bug in the player")
            await super().play(announcement)

    player = Faulty()
    played = run_player(player)
    player.enqueue(payload("broken"))
    player.enqueue(payload("next"))
    await played.wait(1)
    assert played.ids == ["next"] and "player failed on broken" in caplog.text


async def test_failed_download_is_skipped_without_receipt(media, tmp_path, run_player, caplog):
    """A 404 for the audio is logged; no `played` is reported and the queue goes on."""
    player = command_player(media, tmp_path, "true {file}")
    played = run_player(player)
    player.enqueue(AnnouncementPayload.model_validate({**payload("x").model_dump(), "audio": {
        "url": "/media/missing.mp3", "format": "mp3", "duration_s": 1, "repeat": 1}}))
    player.enqueue(payload("next"))
    await played.wait(1)
    assert played.ids == ["next"]
    assert "answered 404" in caplog.text
    await player.aclose()


async def test_a_failing_player_command_is_logged_with_its_last_words_and_not_reported(media, tmp_path, run_player, caplog):
    """A command that exits non-zero (a broken sound card) is logged with its exit code and the last line it
    wrote to stderr; the announcement is not reported played, and the next one plays."""
    script = tmp_path / "broken-player"
    script.write_text('#!/bin/sh\nif grep -q x "$1"; then echo "starting" >&2; echo "no sound card" >&2; exit 3; fi\n')
    script.chmod(0o755)
    media.clips.update({"x": b"x", "next": b"ok"})
    player = command_player(media, tmp_path, f"{script} {{file}}")
    played = run_player(player)
    with caplog.at_level(logging.WARNING):
        player.enqueue(payload("x"))
        player.enqueue(payload("next"))
        await played.wait(1)
    assert played.ids == ["next"]
    assert f"could not play x: {script} exited with 3: no sound card" in caplog.text
    await player.aclose()


async def test_an_empty_file_in_the_cache_is_fetched_again(media, tmp_path):
    """A clip cut off to nothing (the power failed mid-download) is not played from the cache: it is fetched again."""
    player = command_player(media, tmp_path, "true {file}")
    path = await player.fetch("/media/a1-1.mp3", "mp3")
    path.write_bytes(b"")
    assert (await player.fetch("/media/a1-1.mp3", "mp3")).read_bytes() == b"5"
    assert media.requests == ["/media/a1-1.mp3", "/media/a1-1.mp3"]
    await player.aclose()


# ---------------------------------------------------------------- make_player


def _fake_program(directory: Path, name: str, script: str = "exit 0") -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_null_is_the_silent_player_even_with_players_installed(tmp_path, monkeypatch):
    """`null` (a screen without a loudspeaker) never plays, whatever is on PATH."""
    _fake_program(tmp_path, "mpg123")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert isinstance(make_player("null", server_url="http://h:1", token=TOKEN, cache_dir=tmp_path), NullPlayer)


async def test_auto_picks_the_first_player_on_path_and_plays_with_it(media, tmp_path, monkeypatch, run_player):
    """`auto` uses the first of mpg123/ffplay/paplay/aplay that is installed, fetching with the screen's token."""
    out = tmp_path / "played-by-paplay"
    programs = tmp_path / "bin"
    programs.mkdir()
    _fake_program(programs, "paplay", f'exec /bin/cp "$1" {out}')
    _fake_program(programs, "aplay", "exit 1")
    monkeypatch.setenv("PATH", str(programs))
    player = make_player("auto", server_url=str(media.make_url("/")), token=TOKEN, cache_dir=tmp_path / "audio")
    assert isinstance(player, CommandPlayer) and player.argv[0] == "paplay"
    played = run_player(player)
    player.enqueue(payload("a1"))
    await played.wait(1)
    assert out.read_bytes() == b"5" and media.requests == ["/media/a1-1.mp3"]
    await player.aclose()


def test_auto_without_players_is_silent_with_a_warning(tmp_path, monkeypatch, caplog):
    """`auto` with no player installed falls back to the null player and says so."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level(logging.WARNING):
        player = make_player("auto", server_url="http://h:1", token=TOKEN, cache_dir=tmp_path)
    assert isinstance(player, NullPlayer)
    assert "no audio player found" in caplog.text


@pytest.mark.parametrize("spec", ["no-such-player-xyz {file}", ""])
def test_unknown_command_is_refused(tmp_path, spec):
    """A player command that is not installed is a clear error, not a silent screen."""
    with pytest.raises(ValueError, match="not found"):
        make_player(spec, server_url="http://h:1", token=TOKEN, cache_dir=tmp_path)


def test_command_without_placeholder_gets_the_file_appended(tmp_path):
    """A template without {file} gets the file as its last argument."""
    player = CommandPlayer("mpg123 -q", server_url="http://h:1", token=TOKEN, cache_dir=tmp_path)
    assert player.argv == ["mpg123", "-q", "{file}"]
    assert not any(tmp_path.iterdir())  # nothing is downloaded before playing
