from __future__ import annotations

import asyncio
import io
import json
import logging
import random

import pytest

from announcements.protocol import AnnouncementPayload
from screen_client.client import Backoff, ScreenClient, ScreenOffline, ScreenUnauthorized
from screen_client.display import TerminalDisplay
from screen_client.player import NullPlayer
from screen_client.urls import http_url, ws_url

from .conftest import FAST, TOKEN, StubServer, ann


def announcement(id: str = "a1", **kw) -> dict:
    return {"type": "announcement", "announcement": ann(id, **kw)}


def ids(client) -> list[str]:
    return [a.id for a in client.announcements()]


async def until(predicate, timeout: float = 2.0) -> None:
    """Poll for state the client does not announce (the player's)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


# ---------------------------------------------------------------- handshake, store, ack


async def test_hello_carries_last_seq_from_the_store(stub, screens):
    """The first hello sends last_seq null; after a restart it sends the seq the device stored."""
    stub.add(announcement("a1"))
    stub.add(announcement("a2"))
    client = screens.make(stub.url)
    task = screens.start(client)
    await client.wait_for(lambda: client.synced and len(ids(client)) == 2)
    await screens.stop(client, task)
    client.close()

    again = screens.make(stub.url)
    screens.start(again)
    await again.wait_for(lambda: again.synced)
    assert [h["last_seq"] for h in stub.hellos] == [None, 2]
    assert stub.hellos[0]["token"] == TOKEN
    assert stub.hellos[0]["client"]["name"] == "test-screen" and stub.hellos[0]["client"]["version"]
    assert again.identity.kind == "screen" and again.identity.area == "/hongqi/liujingtun"


async def test_live_event_is_stored_before_it_is_acked(stub, screens):
    """When the server receives an ack, the event is already in the device's store."""
    client = screens.make(stub.url)
    at_ack: list[tuple[int, int, set[str]]] = []
    stub.on_frame = lambda m: m["type"] == "ack" and at_ack.append((m["seq"], client.last_seq or 0, set(ids(client))))
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(announcement("a1"))
    await stub.publish(announcement("a2", priority="high"))
    await stub.wait_until(lambda: at_ack and at_ack[-1][0] == 2)
    expected = {1: "a1", 2: "a2"}
    for seq, stored_seq, stored in at_ack:
        assert stored_seq >= seq and expected[seq] in stored


async def test_replay_is_acked_once_at_synced(stub, screens):
    """Events replayed on connect are acknowledged by one cumulative ack after synced."""
    for name in ("a1", "a2", "a3"):
        stub.add(announcement(name))
    client = screens.make(stub.url)
    screens.start(client)
    await stub.wait_until(lambda: stub.of_type("ack"))
    await stub.publish(announcement("a4"))  # a marker: any second ack for the replay would come before its ack
    await stub.wait_until(lambda: len(stub.of_type("ack")) >= 2)
    assert [m["seq"] for m in stub.of_type("ack")] == [3, 4]


async def test_repeated_event_is_not_applied_twice(stub, screens):
    """A frame with an old seq, or an old (id, revision), changes nothing."""
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(announcement("a1", revision=2, title="new"))
    await client.wait_for(lambda: client.last_seq == 1)
    for ws in stub.connections:  # the same event again, then an older revision under a new seq
        await ws.send(json.dumps({"type": "announcement", "seq": 1, "announcement": ann("a1", revision=3, title="x")}))
    await stub.publish(announcement("a1", revision=1, title="old"))
    await client.wait_for(lambda: client.last_seq == 2)
    assert [a.title for a in client.announcements()] == ["new"]


async def test_retract_and_request_update_are_stored_and_acked(stub, screens):
    """retract removes the announcement, request_update is kept per ticket; both are acked."""
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(announcement("a1"))
    await stub.publish({"type": "retract", "announcement_id": "a1", "reason": "cancelled"})
    await stub.publish({"type": "request_update", "ticket": "T-1", "status": "resolved", "response": "fixed"})
    await stub.wait_until(lambda: [m["seq"] for m in stub.of_type("ack")] == [1, 2, 3])
    assert ids(client) == []
    assert [(u.ticket, u.status) for u in client.request_updates()] == [("T-1", "resolved")]


# ---------------------------------------------------------------- reconnecting


async def test_reconnects_after_a_drop_and_resumes_from_last_seq(stub, screens):
    """After the connection dies, the client reconnects with its last_seq and gets what it missed."""
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(announcement("a1"))
    await stub.publish(announcement("a2"))
    await client.wait_for(lambda: client.last_seq == 2)
    await stub.drop()  # as in a crash: no close frame
    await client.wait_for(lambda: not client.online)
    stub.add(announcement("a3"))
    await client.wait_for(lambda: client.synced and "a3" in ids(client))
    assert [h["last_seq"] for h in stub.hellos] == [None, 2]
    assert client.connections == 2


async def test_keeps_reconnecting_while_the_server_is_down(screens):
    """With the server gone for a while, the client retries until it is back, then resumes."""
    stub = StubServer()
    await stub.start()
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.drop(1001)
    await stub.stop()
    await asyncio.sleep(0.5)  # several refused attempts
    stub.add(announcement("a1"))
    await stub.start()  # same port
    try:
        await client.wait_for(lambda: client.synced and ids(client) == ["a1"])
    finally:
        await stub.stop()


async def test_4401_stops_the_client_with_a_clear_error(stub, screens):
    """A refused token ends run() with ScreenUnauthorized, without retrying."""
    client = screens.make(stub.url, token="wrong-token")
    task = screens.start(client)
    with pytest.raises(ScreenUnauthorized, match="4401"):
        await asyncio.wait_for(task, 5)
    assert len(stub.hellos) == 1


async def test_revoked_token_on_a_live_connection_stops_the_client(stub, screens):
    """A 4401 close after the client was connected also ends run()."""
    client = screens.make(stub.url)
    task = screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.drop(4401)
    with pytest.raises(ScreenUnauthorized):
        await asyncio.wait_for(task, 5)


async def test_4409_backs_off_longer(stub, screens):
    """Replaced by another connection (4409), the client waits replaced_delay or more before returning."""
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    loop = asyncio.get_running_loop()
    closed_at = loop.time()
    await stub.drop(4409)
    await stub.wait_until(lambda: len(stub.hellos) == 2)
    assert loop.time() - closed_at >= FAST.replaced_delay


async def test_silent_server_is_detected_by_ping(stub, screens):
    """The client pings; when nothing comes back for ping_interval + ping_timeout it reconnects."""
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.wait_until(lambda: stub.of_type("ping"))
    stub.answer_pings = False
    await stub.wait_until(lambda: len(stub.hellos) == 2, timeout=5)


async def test_replay_cut_short_is_asked_for_again(stub, screens):
    """If the connection drops before synced, the next hello asks from the same place, so a reset still happens."""
    for name in ("a1", "a2"):
        stub.add(announcement(name))
    stub.drop_during_replay = True
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    assert [h["last_seq"] for h in stub.hellos] == [None, None]
    assert sorted(ids(client)) == ["a1", "a2"]


async def test_reset_drops_announcements_the_server_no_longer_holds(stub, screens):
    """synced with reset: true drops what the replay did not mention (here: cancelled while away)."""
    client = screens.make(stub.url)
    task = screens.start(client)
    stub.add(announcement("a1"))
    stub.add(announcement("a2"))
    await client.wait_for(lambda: len(ids(client)) == 2)
    await screens.stop(client, task)
    stub.add({"type": "retract", "announcement_id": "a1", "reason": "cancelled"})
    stub.prune()  # the retract itself is no longer held

    screens.start(client)
    await client.wait_for(lambda: client.connections == 2 and client.synced)
    assert ids(client) == ["a2"]


async def test_server_behind_our_seq_makes_the_client_start_over(stub, screens):
    """A server whose newest seq is below ours (new database) is asked for everything again."""
    client = screens.make(stub.url)
    client.store.apply_announcement(50, AnnouncementPayload.model_validate(ann("old")))
    stub.add(announcement("new"))
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(announcement("newer"))
    await client.wait_for(lambda: "newer" in ids(client))
    assert [h["last_seq"] for h in stub.hellos] == [50, None]
    assert sorted(ids(client)) == ["new", "newer"]


def test_backoff_is_jittered_exponential_and_capped():
    """Delays are random below a ceiling that doubles up to the cap, and start over after reset."""
    backoff = Backoff(initial=1.0, factor=2.0, maximum=10.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 10, 10, 10, 10]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)
    backoff.reset()
    assert backoff.next() <= 1.0
    generator = backoff.delays()
    assert all(next(generator) <= 10.0 for _ in range(100))


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("http://10.0.0.2:8080", "ws://10.0.0.2:8080/ws"),
        ("https://county.example/", "wss://county.example/ws"),
        ("https://county.example/village-7/", "wss://county.example/village-7/ws"),
        ("ws://10.0.0.2:8080/ws", "ws://10.0.0.2:8080/ws"),
    ],
)
def test_ws_url_from_server_url(server, expected):
    """The WebSocket endpoint is /ws under the server's base URL, ws for http and wss for https."""
    assert ws_url(server) == expected


@pytest.mark.parametrize("server", ["10.0.0.2:8080", "ftp://h/", "http://"])
def test_bad_server_url_is_refused(server):
    """A server URL that is not http(s) or ws(s) with a host is a clear error."""
    with pytest.raises(ValueError, match="server URL"):
        ws_url(server)


def test_media_url_is_joined_under_the_base():
    """audio.url is taken relative to the server's base URL."""
    assert http_url("https://county.example/v7/", "/media/ab.mp3") == "https://county.example/v7/media/ab.mp3"
    assert http_url("http://h:8080", "http://cdn/x.mp3") == "http://cdn/x.mp3"


# ---------------------------------------------------------------- replies and feedback


async def test_reply_is_kept_and_resent_after_reconnect_until_it_has_a_ticket(stub, screens):
    """A reply without reply_result is sent again after reconnecting, with the same client_msg_id."""
    stub.answer_replies = False
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    msg_id = await client.reply("help", "路灯坏了", contact={"name": "王", "phone": "138"})
    await stub.wait_until(lambda: stub.of_type("reply"))
    assert client.outbox()[0].ticket is None
    await stub.drop()
    stub.answer_replies = True
    await client.wait_for(lambda: client.outbox()[0].ticket is not None)
    replies = stub.of_type("reply")
    assert {m["client_msg_id"] for m in replies} == {msg_id} and len(replies) >= 2
    assert replies[0]["contact"] == {"name": "王", "phone": "138"}
    assert client.outbox()[0].ticket == "T-1"


async def test_reply_taken_offline_is_sent_after_synced(stub, screens):
    """A reply taken while offline waits in the outbox and goes out once the client is synced."""
    client = screens.make(stub.url)
    msg_id = await client.reply("suggestion", "多装几盏灯", announcement_id="a1")
    assert [e.client_msg_id for e in client.outbox()] == [msg_id]
    screens.start(client)
    await client.wait_for(lambda: client.outbox()[0].ticket == "T-1")
    assert stub.of_type("reply")[0]["announcement_id"] == "a1"


async def test_unanswered_reply_is_resent_while_connected(stub, screens):
    """A reply without a ticket after outbox_retry is sent again on the same connection."""
    stub.answer_replies = False
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await client.reply("other", "hello")
    await stub.wait_until(lambda: len(stub.of_type("reply")) >= 2, timeout=3)
    assert len(stub.hellos) == 1


async def test_reply_refused_by_the_server_is_not_resent(stub, screens):
    """An error naming the reply (not rate_limited) marks it refused; it is not sent again."""
    stub.reply_error = "forbidden"
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await client.reply("complaint", "x")
    await client.wait_for(lambda: client.outbox()[0].error is not None)
    assert client.outbox()[0].error.startswith("forbidden")
    await stub.drop()
    await client.wait_for(lambda: client.connections == 2 and client.synced)
    await asyncio.sleep(FAST.outbox_retry + 0.1)
    assert len(stub.of_type("reply")) == 1


@pytest.mark.parametrize(
    ("category", "text", "field"),
    [("gossip", "x", "category"), ("help", "", "text"), ("help", "x" * 1001, "text")],
)
async def test_bad_reply_is_refused_before_storing(stub, screens, category, text, field):
    """A reply the protocol would reject is a ValueError naming the field, and nothing is stored."""
    client = screens.make(stub.url)
    with pytest.raises(ValueError, match=field):
        await client.reply(category, text)
    assert client.outbox() == []


async def test_feedback_needs_a_connection(stub, screens):
    """Feedback is sent when synced and refused with ScreenOffline when not."""
    client = screens.make(stub.url)
    with pytest.raises(ScreenOffline):
        await client.feedback("T-1", "satisfied")
    with pytest.raises(ValueError, match="rating"):
        await client.feedback("T-1", "meh")
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await client.feedback("T-1", "dissatisfied", "still broken")
    await stub.wait_until(lambda: stub.of_type("feedback"))
    assert stub.of_type("feedback")[0] == {
        "type": "feedback", "ticket": "T-1", "rating": "dissatisfied", "comment": "still broken"
    }


# ---------------------------------------------------------------- receipts, player, display


@pytest.mark.parametrize(("kind", "displayed"), [("screen", True), ("speaker", False)])
async def test_receipts_for_displayed_and_played(stub, screens, kind, displayed):
    """A display-kind screen sends `displayed`; after playback every kind sends `played`."""
    stub.kind = kind
    player = NullPlayer()
    client = screens.make(stub.url, player=player, display=TerminalDisplay(io.StringIO()))
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(announcement("a1"))
    await stub.wait_until(lambda: any(r["state"] == "played" for r in stub.of_type("receipt")))
    await stub.publish(announcement("a2"))  # a marker: a1's receipts are all sent before a2's `played`
    await stub.wait_until(lambda: any(r["announcement_id"] == "a2" and r["state"] == "played" for r in stub.of_type("receipt")))
    states = sorted(r["state"] for r in stub.of_type("receipt") if r["announcement_id"] == "a1")
    assert states == (["displayed", "played"] if displayed else ["played"])
    assert client.store.unplayed() == []


async def test_retract_stops_playback(stub, screens):
    """A retract takes the announcement off the player, even mid-playback."""
    player = NullPlayer(time_scale=1.0)
    client = screens.make(stub.url, player=player)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(announcement("a1", duration_s=30))
    await until(lambda: player.playing is not None)
    await stub.publish({"type": "retract", "announcement_id": "a1", "reason": "cancelled"})
    await until(lambda: player.playing is None and player.records[0].interrupted)
    assert stub.of_type("receipt") == []


async def test_stored_but_unplayed_audio_plays_after_a_restart(screens):
    """Announcements stored before a power cut but never played are played when the client starts, offline too."""
    player = NullPlayer()
    client = screens.make("http://127.0.0.1:9", player=player)  # nothing listens there
    client.store.apply_announcement(1, AnnouncementPayload.model_validate(ann("a1")))
    screens.start(client)
    await client.wait_for(lambda: client.store.unplayed() == [], timeout=2)
    assert [r.announcement_id for r in player.records] == ["a1"]


async def test_display_shows_state_and_changes(stub, screens):
    """The terminal display shows online/offline and the announcements as they change (in Chinese, as shipped)."""
    out = io.StringIO()
    client = screens.make(stub.url, display=TerminalDisplay(out))
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(announcement("a1", priority="emergency", title="洪水预警"))

    async def shown(text: str) -> None:
        async with asyncio.timeout(2):
            while text not in out.getvalue():
                await asyncio.sleep(0.01)

    await shown("！！！紧急公告！！！ 洪水预警")
    await stub.drop()
    await shown("离线")


async def test_token_is_never_logged(stub, screens, caplog):
    """Even at DEBUG level, no log line contains the screen token."""
    caplog.set_level(logging.DEBUG)
    client = screens.make(stub.url)
    screens.start(client)
    await client.wait_for(lambda: client.synced)
    await stub.publish(announcement("a1"))
    await client.wait_for(lambda: client.last_seq == 1)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "websockets.server")  # not the stub's
    assert "connected as screen" in ours
    assert TOKEN not in ours and TOKEN[:12] not in ours


async def test_wait_for_times_out(tmp_path):
    """wait_for raises TimeoutError when the state never comes."""
    client = ScreenClient("http://127.0.0.1:9", TOKEN, data_dir=tmp_path)
    try:
        with pytest.raises(TimeoutError):
            await client.wait_for(lambda: client.synced, timeout=0.05)
    finally:
        client.close()
