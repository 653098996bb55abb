from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from announcements.protocol import AnnouncementPayload
from screen_client.player import CommandPlayer, NullPlayer, Player, make_player

from .conftest import TOKEN, payload


class Played:
    """The on_played callback, recording ids in order, with a way to wait for a count."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.event = asyncio.Event()

    async def __call__(self, announcement: AnnouncementPayload) -> None:
        self.ids.append(announcement.id)
        self.event.set()

    async def wait(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.ids) < count:
                self.event.clear()
                await self.event.wait()


@pytest.fixture
async def run_player() -> AsyncIterator:
    tasks: list[asyncio.Task] = []

    def start(player: Player) -> Played:
        played = Played()
        tasks.append(asyncio.create_task(player.run(played)))
        return played

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_emergency_preempts_and_the_interrupted_one_plays_again(run_player):
    """An emergency stops a playing normal announcement; the normal one plays again, whole, after it."""
    player = NullPlayer(time_scale=0.1)  # 1 s of audio plays for 0.1 s
    played = run_player(player)
    player.enqueue(payload("normal", duration_s=2.0))
    await until(lambda: player.playing is not None)
    player.enqueue(payload("alarm", priority="emergency", duration_s=0.5))
    await played.wait(2)
    assert played.ids == ["alarm", "normal"]
    assert [(r.announcement_id, r.interrupted) for r in player.records] == [
        ("normal", True),
        ("alarm", False),
        ("normal", False),
    ]
    assert player.records[0].ended_at <= player.records[1].started_at


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
async def media(aiohttp_server):
    """A media endpoint that wants the screen token; serves the file content named by its path."""
    requests: list[str] = []

    async def serve(request: web.Request) -> web.Response:
        requests.append(request.path)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401)
        name = request.match_info["name"]
        if name.startswith("missing"):
            return web.Response(status=404)
        # the "audio" is the number of seconds the fake player command sleeps
        return web.Response(body=b"0.01" if "alarm" in name else b"5", content_type="audio/mpeg")

    app = web.Application()
    app.router.add_get("/media/{name}", serve)
    server = await aiohttp_server(app)
    server.requests = requests
    return server


def command_player(media, tmp_path: Path, template: str) -> CommandPlayer:
    return CommandPlayer(template, server_url=str(media.make_url("/")), token=TOKEN, cache_dir=tmp_path / "audio")


async def test_command_player_downloads_with_token_then_runs_the_command(media, tmp_path, run_player):
    """The audio is fetched with the screen's bearer token into the cache and handed to the command."""
    out = tmp_path / "out.mp3"
    player = command_player(media, tmp_path, f"cp {{file}} {out}")
    played = run_player(player)
    player.enqueue(payload("a1"))
    await played.wait(1)
    assert out.read_bytes() == b"5"
    assert media.requests == ["/media/a1-1.mp3"]
    path = await player.fetch("/media/a1-1.mp3", "mp3")
    assert path.parent == tmp_path / "audio" and path.suffix == ".mp3"
    assert media.requests == ["/media/a1-1.mp3"]  # cached: not fetched again
    await player.aclose()


async def test_command_player_kills_the_command_when_an_emergency_preempts(media, tmp_path, run_player):
    """Preemption terminates the running player command; the interrupted announcement plays again after."""
    player = command_player(media, tmp_path, "sh -c 'exec sleep \"$(cat \"$0\")\"' {file}")
    played = run_player(player)
    player.enqueue(payload("normal"))  # sleeps 5 s
    await until(lambda: player.playing is not None)
    await asyncio.sleep(0.2)  # downloaded and started
    started = asyncio.get_running_loop().time()
    player.enqueue(payload("alarm", priority="emergency"))  # sleeps 0.01 s
    await played.wait(1, timeout=3.0)
    assert played.ids == ["alarm"]
    assert asyncio.get_running_loop().time() - started < 2.5
    await until(lambda: player.playing is not None and player.playing.id == "normal")
    await player.aclose()


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


# ---------------------------------------------------------------- make_player


def _fake_program(directory: Path, name: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_auto_picks_the_first_player_on_path(tmp_path, monkeypatch):
    """`auto` uses the first of mpg123/ffplay/paplay/aplay that is installed."""
    _fake_program(tmp_path, "paplay")
    _fake_program(tmp_path, "aplay")
    monkeypatch.setenv("PATH", str(tmp_path))
    player = make_player("auto", server_url="http://h:1", token=TOKEN, cache_dir=tmp_path)
    assert isinstance(player, CommandPlayer) and player.argv[0] == "paplay"


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
