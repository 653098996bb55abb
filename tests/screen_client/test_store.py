from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from announcements.protocol import LiveEvent, RequestUpdate
from screen_client.client import build_reply
from screen_client.store import DataDirLock, Identity, LiveCall, Store

from .conftest import payload

IDENTITY = Identity(screen_id="s1", area="/hongqi/liujingtun", kind="screen")


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path)
    yield s
    s.close()


def test_file_is_wal_with_full_sync(store: Store):
    """The device file is in WAL mode and commits with synchronous=FULL, to survive a power cut."""
    assert sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_apply_advances_last_seq_and_ignores_repeated_seq(store: Store):
    """An event is stored with its seq; one with seq <= last_seq is ignored."""
    assert store.last_seq is None
    assert store.apply_announcement(3, payload("a1"))
    assert store.last_seq == 3
    assert not store.apply_announcement(3, payload("a1", revision=2))
    assert not store.apply_announcement(2, payload("a2"))
    assert [(a.id, a.revision) for a in store.announcements()] == [("a1", 1)]


def test_not_newer_revision_is_ignored_but_its_seq_is_consumed(store: Store):
    """A repeated or older (id, revision) changes nothing, yet last_seq moves past its event."""
    store.apply_announcement(1, payload("a1", revision=2))
    assert not store.apply_announcement(2, payload("a1", revision=2))
    assert not store.apply_announcement(3, payload("a1", revision=1))
    assert store.last_seq == 3
    assert store.apply_announcement(4, payload("a1", revision=3, title="corrected"))
    assert [(a.revision, a.title) for a in store.announcements()] == [(3, "corrected")]


def test_retract_removes_the_announcement(store: Store):
    """A retract removes the announcement and advances last_seq; retracting an unknown id only advances."""
    store.apply_announcement(1, payload("a1"))
    assert store.apply_retract(2, "a1")
    assert not store.apply_retract(3, "nope")
    assert store.announcements() == []
    assert store.last_seq == 3


def test_a_repeated_retract_reports_nothing_removed(store: Store):
    """A retract replayed with a seq already applied says it removed nothing (so the screen redraws nothing)."""
    store.apply_announcement(1, payload("a1"))
    store.apply_announcement(2, payload("a2"))
    assert store.apply_retract(3, "a1")
    assert not store.apply_retract(3, "a2")
    assert [a.id for a in store.announcements()] == ["a2"]


def test_request_update_keeps_latest_status_per_ticket(store: Store):
    """request_update events are kept per ticket, the newest status winning; each new one says so."""
    assert store.apply_request_update(RequestUpdate(seq=1, ticket="T-1", status="assigned"))
    assert store.apply_request_update(RequestUpdate(seq=2, ticket="T-1", status="resolved", response="fixed"))
    assert not store.apply_request_update(RequestUpdate(seq=2, ticket="T-2", status="received"))
    assert [(u.ticket, u.status, u.response) for u in store.request_updates()] == [("T-1", "resolved", "fixed")]


def test_live_announcements_sorted_by_priority_then_newest_without_expired(store: Store):
    """announcements() is emergency > high > normal > low, newest first within one, expired left out."""
    store.apply_announcement(1, payload("old-normal", published_ago_s=600))
    store.apply_announcement(2, payload("low", priority="low"))
    store.apply_announcement(3, payload("new-normal", published_ago_s=10))
    store.apply_announcement(4, payload("emergency", priority="emergency", published_ago_s=900))
    store.apply_announcement(5, payload("high", priority="high"))
    store.apply_announcement(6, payload("expired", priority="emergency", expires_in_s=-1))
    assert [a.id for a in store.announcements()] == ["emergency", "high", "new-normal", "old-normal", "low"]
    store.apply_announcement(7, payload("old-normal", revision=2, published_ago_s=600))  # a correction is not newer
    assert [a.id for a in store.announcements()] == ["emergency", "high", "new-normal", "old-normal", "low"]
    later = datetime.now(UTC) + timedelta(hours=2)
    assert store.announcements(later) == []


def test_an_unknown_priority_is_kept_and_sorts_with_normal(store: Store):
    """A priority from a newer server is stored as sent and listed with the normal ones, newest first (§7.1)."""
    store.apply_announcement(1, payload("old-normal", published_ago_s=600))
    store.apply_announcement(2, payload("low", priority="low"))
    store.apply_announcement(3, payload("siren", priority="siren", published_ago_s=300))
    store.apply_announcement(4, payload("high", priority="high"))
    store.apply_announcement(5, payload("new-normal", published_ago_s=10))
    assert [(a.id, a.priority) for a in store.announcements()] == [
        ("high", "high"), ("new-normal", "normal"), ("siren", "siren"), ("old-normal", "normal"), ("low", "low"),
    ]


def test_reset_drops_what_the_replay_did_not_mention(store: Store):
    """synced with reset: every announcement not mentioned during the replay is dropped."""
    for seq, name in enumerate(("a1", "a2", "a3"), start=1):
        store.apply_announcement(seq, payload(name))
    store.begin_replay(resumed_from=3, identity=IDENTITY)
    assert store.finish_replay(reset=True, mentioned={"a2"}) == ["a1", "a3"]
    assert [a.id for a in store.announcements()] == ["a2"]


def test_synced_without_reset_keeps_everything(store: Store):
    """synced without reset drops nothing."""
    store.apply_announcement(1, payload("a1"))
    store.begin_replay(resumed_from=1, identity=IDENTITY)
    assert store.finish_replay(reset=False, mentioned=set()) == []
    assert len(store.announcements()) == 1


def test_unfinished_replay_is_asked_for_again_from_where_it_started(store: Store):
    """If the connection drops before synced, the next hello repeats the cut-short replay's last_seq."""
    store.apply_announcement(1, payload("a1"))
    store.begin_replay(resumed_from=1, identity=IDENTITY)
    store.apply_announcement(7, payload("a2"))
    assert store.last_seq == 7 and store.resume_seq() == 1
    store.begin_replay(resumed_from=1, identity=IDENTITY)  # the second attempt, cut short as well
    store.apply_announcement(8, payload("a3"))
    assert store.resume_seq() == 1
    store.finish_replay(reset=False, mentioned=set())
    assert store.resume_seq() == 8


def test_forget_seq_asks_for_everything_again(store: Store):
    """After forget_seq the next hello sends null and held announcements stay until the reset."""
    store.apply_announcement(10, payload("a1"))
    store.forget_seq()
    assert store.last_seq is None and store.resume_seq() is None
    assert len(store.announcements()) == 1


def test_forget_seq_during_an_unfinished_replay_asks_for_everything(store: Store):
    """A replay cut short after forget_seq is asked for again from nothing, not from where it had started."""
    store.apply_announcement(10, payload("a1"))
    store.begin_replay(resumed_from=10, identity=IDENTITY)
    store.forget_seq()
    assert store.resume_seq() is None
    store.begin_replay(resumed_from=None, identity=IDENTITY)
    store.apply_announcement(3, payload("a2"))
    assert store.resume_seq() is None


def test_next_expiry_is_the_soonest_still_ahead(store: Store):
    """The display redraws when the next live announcement ends: the soonest end after now, or none."""
    assert store.next_expiry() is None
    for seq, ends_in_s in enumerate([-300, 7200, 3600], start=1):
        store.apply_announcement(seq, payload(f"a{seq}", expires_in_s=ends_in_s))
    now = datetime.now(UTC)

    def seconds_ahead(moment: datetime | None) -> float | None:
        return None if moment is None else round((moment - now).total_seconds())

    assert seconds_ahead(store.next_expiry()) == 3600
    assert seconds_ahead(store.next_expiry(now + timedelta(seconds=3601))) == 7200
    assert store.next_expiry(now + timedelta(hours=3)) is None


def test_everything_survives_reopening_the_file(tmp_path: Path):
    """Announcements, last_seq, identity, answers, the outbox and what was played are there after a restart."""
    store = Store(tmp_path)
    store.begin_replay(resumed_from=None, identity=IDENTITY)
    store.apply_announcement(1, payload("a1"))
    store.apply_request_update(RequestUpdate(seq=2, ticket="T-1", status="received"))
    store.finish_replay(reset=True, mentioned={"a1"})
    reply = build_reply("help", "the well pump is broken", contact={"name": "Li", "phone": "123"})
    store.add_reply(reply)
    store.mark_played("a1", "/media/a1-1.mp3")
    store.close()

    again = Store(tmp_path)
    try:
        assert again.last_seq == 2 and again.resume_seq() == 2
        assert again.identity == IDENTITY
        assert [a.id for a in again.announcements()] == ["a1"]
        assert [u.ticket for u in again.request_updates()] == ["T-1"]
        (entry,) = again.outbox()
        assert entry.reply == reply and entry.ticket is None and entry.sent_at is None
        assert again.unplayed() == []
    finally:
        again.close()


def live(seq: int, call_id: str, state: str, **fields) -> LiveEvent:
    return LiveEvent(type="live", seq=seq, call_id=call_id, state=state, **fields)


def test_live_calls_in_progress_survive_a_restart_until_they_end(tmp_path: Path):
    """A call started and not ended is there after a restart (the server will not send its `started` again), in the
    order the calls began; an ended call, and on a reset a call the replay did not mention, are gone."""
    store = Store(tmp_path)
    stream = "/stream/hongqi.mp3"
    assert store.apply_live(live(1, "c1", "started", stream_url=stream, caller_name="张书记")) == LiveCall("c1", "high", stream, "张书记")
    store.apply_live(live(2, "c2", "started", stream_url=stream, priority="emergency"))
    store.apply_live(live(3, "c3", "started", stream_url=stream))
    assert store.apply_live(live(4, "c3", "ended")) is None
    store.close()

    again = Store(tmp_path)
    try:
        assert again.last_seq == 4
        assert again.live_calls() == [LiveCall("c1", "high", stream, "张书记"), LiveCall("c2", "emergency", stream, None)]
        again.apply_live(live(2, "c2", "started", stream_url=stream, priority="emergency"))  # in a reset replay
        again.finish_replay(reset=True, mentioned={"c2"})
        assert [call.id for call in again.live_calls()] == ["c2"] and again.last_seq == 4
    finally:
        again.close()


def test_a_file_of_the_first_version_is_brought_up_to_date_keeping_what_it_holds(tmp_path: Path):
    """A device updated from a client whose file had no live calls keeps its notices and cursor, and holds calls."""
    store = Store(tmp_path)
    store.apply_announcement(7, payload("a1"))
    store.close()
    old = sqlite3.connect(tmp_path / "screen.db")
    old.execute("DROP TABLE live_calls")
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()

    again = Store(tmp_path)
    try:
        assert again.last_seq == 7 and [a.id for a in again.announcements()] == ["a1"]
        again.apply_live(live(8, "c1", "started", stream_url="/stream/hongqi.mp3"))
        assert [call.id for call in again.live_calls()] == ["c1"]
        assert again._db.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        again.close()


def test_event_and_last_seq_commit_together(store: Store):
    """If storing the announcement fails, last_seq does not move either: one transaction."""
    store.apply_announcement(1, payload("a1"))
    store._db.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON announcements WHEN NEW.id = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.apply_announcement(2, payload("boom"))
    assert store.last_seq == 1
    assert store.apply_announcement(2, payload("a2"))  # the same seq is applied when it comes again


def test_outbox_lifecycle(store: Store):
    """A reply waits unsent, then sent, is due again after the retry time, and leaves once answered or refused."""
    first, second = build_reply("suggestion", "more lights"), build_reply("question", "when is the meeting?")
    store.add_reply(first)
    store.add_reply(second)
    now = datetime.now(UTC)
    assert [e.client_msg_id for e in store.unanswered(sent_before=now)] == [first.client_msg_id, second.client_msg_id]
    store.mark_sent([first.client_msg_id], at=now)
    assert [e.client_msg_id for e in store.unanswered(sent_before=now)] == [second.client_msg_id]
    assert len(store.unanswered(sent_before=now + timedelta(seconds=1))) == 2
    assert store.mark_answered(first.client_msg_id, "T-9")
    assert store.mark_failed(second.client_msg_id, "invalid: text too long")
    assert not store.mark_failed(first.client_msg_id, "too late: it has a ticket")
    assert store.unanswered() == []
    assert [(e.ticket, e.error) for e in store.outbox()] == [("T-9", None), (None, "invalid: text too long")]
    third = build_reply("help", "the well pump is broken")
    store.add_reply(third)
    store.mark_sent([third.client_msg_id])  # as the client marks what it sent: now, so it is not sent again at once
    entry = store.outbox_entry(third.client_msg_id)
    assert entry.sent_at >= now and entry.created_at >= now
    assert store.unanswered(sent_before=now) == []
    assert store.outbox_entry(first.client_msg_id).ticket == "T-9"
    assert not store.mark_answered("not-in-this-outbox", "T-1") and store.outbox_entry("not-in-this-outbox") is None


def test_played_audio_is_remembered_per_url(store: Store):
    """unplayed() lists live announcements whose current audio was not played to the end."""
    store.apply_announcement(1, payload("a1"))
    store.apply_announcement(2, payload("silent", audio=False))
    assert [a.id for a in store.unplayed()] == ["a1"]
    store.mark_played("a1", "/media/a1-1.mp3")
    assert store.unplayed() == []
    store.apply_announcement(3, payload("a1", revision=2))  # new audio
    assert [a.audio.url for a in store.unplayed()] == ["/media/a1-2.mp3"]


def test_newer_schema_is_refused(tmp_path: Path):
    """A file written by a newer client is not silently misread."""
    Store(tmp_path).close()
    sqlite3.connect(tmp_path / "screen.db").execute("PRAGMA user_version=99")
    with pytest.raises(RuntimeError, match="newer"):
        Store(tmp_path)


def test_a_data_dir_several_folders_deep_is_made(tmp_path: Path):
    """`--data-dir /var/lib/village-screen/gate` on a fresh box: the folders above it are made too."""
    store = Store(tmp_path / "var" / "lib" / "village-screen" / "gate")
    try:
        assert store.path.exists() and store.last_seq is None
    finally:
        store.close()


def test_data_dir_lock_is_exclusive(tmp_path: Path):
    """Only one process (one lock holder) runs a client on a data directory at a time."""
    first, second = DataDirLock(tmp_path), DataDirLock(tmp_path)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_data_dir_lock_creates_the_directory_and_a_private_lock_file(tmp_path: Path):
    """A first start on a fresh device creates the data directory; the lock file is the owner's alone."""
    data_dir = tmp_path / "var" / "village-screen"
    lock = DataDirLock(data_dir)
    assert lock.try_acquire()
    lock.release()
    [lock_file] = data_dir.iterdir()
    assert lock_file.stat().st_mode & 0o777 == 0o600
