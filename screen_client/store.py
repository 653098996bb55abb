"""The device's own SQLite file: what the screen holds, so that it survives a power cut and resumes by seq.

WAL with `synchronous=FULL`: once a transaction commits it is on disk. Applying an event and
advancing `last_seq` are one transaction, so after a crash the device holds either both or neither,
and the server's replay (from the `last_seq` it is told) fills in exactly what is missing. The
outbox keeps a villager's reply from the moment it is typed until the server has given it a ticket.
The live calls in progress are kept too: a device restarted mid-call resumes after the call's `started`,
which the server does not send again, and must still play the call.

Small and local, so plain `sqlite3` on the event loop: each call is one short transaction.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from announcements.protocol import AnnouncementPayload, LiveEvent, LiveState, Priority, Reply, RequestUpdate, encode, priority_rank

DB_NAME = "screen.db"
LOCK_NAME = "screen.lock"
# The statements that bring the file from each version to the next: the first makes it, the later ones add to it.
_STEPS = (
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE announcements (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    priority TEXT NOT NULL,
    rank INTEGER NOT NULL,
    payload TEXT NOT NULL,
    published_at REAL,
    expires_at REAL,
    seq INTEGER NOT NULL,
    played_url TEXT
);
CREATE TABLE request_updates (
    ticket TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    response TEXT,
    seq INTEGER NOT NULL
);
CREATE TABLE outbox (
    client_msg_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL,
    ticket TEXT,
    error TEXT
);
""",
    """
CREATE TABLE live_calls (
    id TEXT PRIMARY KEY,
    priority TEXT NOT NULL,
    stream_url TEXT NOT NULL,
    caller_name TEXT,
    seq INTEGER NOT NULL
);
""",
)
SCHEMA_VERSION = len(_STEPS)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the server says this device is (from `welcome`)."""

    screen_id: str
    area: str
    kind: str


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A live call in progress, from its `started` event: the area's stream plays until the call ends."""

    id: str  # the call_id (the server keeps the call as the announcement of this id)
    priority: str
    stream_url: str
    caller_name: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One villager reply: waiting for its ticket, answered (`ticket`), or refused by the server (`error`)."""

    client_msg_id: str
    reply: Reply
    created_at: datetime
    sent_at: datetime | None
    ticket: str | None
    error: str | None


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """One device's SQLite file under its data directory; one instance per process."""

    def __init__(self, data_dir: Path):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_NAME
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) below.
        # timeout: a `village-screen reply` in another process may hold the write lock briefly.
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} was written by a newer village-screen (schema {version})")
            for step in _STEPS[version:]:
                for statement in step.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything in it commits together, or nothing does."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------ cursor and identity

    def _meta(self, key: str) -> object:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _has_meta(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone() is not None

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: object) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    @property
    def last_seq(self) -> int | None:
        """The highest event seq stored, or None when the device holds nothing yet."""
        value = self._meta("last_seq")
        return value if isinstance(value, int) else None

    def resume_seq(self) -> int | None:
        """The `last_seq` to send in `hello`.

        Normally `last_seq`; but while a replay is unfinished (the connection dropped before
        `synced`) it is the seq that replay started from, so the server repeats the same decision:
        a reset replay cut short is asked for again, and what it would have dropped still is.
        """
        if self._has_meta("replay_from"):
            value = self._meta("replay_from")
            return value if isinstance(value, int) else None
        return self.last_seq

    @property
    def identity(self) -> Identity | None:
        value = self._meta("identity")
        return Identity(**value) if isinstance(value, dict) else None

    def begin_replay(self, *, resumed_from: int | None, identity: Identity) -> None:
        """The server welcomed us: remember who we are and where this replay started."""
        with self._write() as db:
            self._set_meta(db, "identity", {"screen_id": identity.screen_id, "area": identity.area, "kind": identity.kind})
            if db.execute("SELECT 1 FROM meta WHERE key = 'replay_from'").fetchone() is None:
                self._set_meta(db, "replay_from", resumed_from)

    def finish_replay(self, *, reset: bool, mentioned: Iterable[str]) -> list[str]:
        """`synced`: the replay is complete. On a reset, drop what it did not mention; returns the dropped ids."""
        keep = set(mentioned)
        with self._write() as db:
            dropped = []
            if reset:
                dropped = [row[0] for row in db.execute("SELECT id FROM announcements") if row[0] not in keep]
                db.executemany("DELETE FROM announcements WHERE id = ?", ((i,) for i in dropped))
                ended = [row[0] for row in db.execute("SELECT id FROM live_calls") if row[0] not in keep]
                db.executemany("DELETE FROM live_calls WHERE id = ?", ((i,) for i in ended))
            db.execute("DELETE FROM meta WHERE key = 'replay_from'")
        return dropped

    def forget_seq(self) -> None:
        """The server's sequence is behind ours (its database was replaced): ask for everything again."""
        with self._write() as db:
            db.execute("DELETE FROM meta WHERE key = 'last_seq'")
            self._set_meta(db, "replay_from", None)

    def _advance(self, db: sqlite3.Connection, seq: int) -> bool:
        """Move last_seq to `seq` inside the caller's transaction; False for a repeat (seq <= last_seq)."""
        row = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        if row is not None and seq <= json.loads(row[0]):
            return False
        self._set_meta(db, "last_seq", seq)
        return True

    # ------------------------------------------------------------ events

    def apply_announcement(self, seq: int, announcement: AnnouncementPayload) -> bool:
        """Store one announcement event; True when it changed what the device holds."""
        with self._write() as db:
            if not self._advance(db, seq):
                return False
            row = db.execute("SELECT revision FROM announcements WHERE id = ?", (announcement.id,)).fetchone()
            if row is not None and row[0] >= announcement.revision:
                return False
            db.execute(
                """INSERT INTO announcements (id, revision, priority, rank, payload, published_at, expires_at, seq)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, priority = excluded.priority,
                       rank = excluded.rank, payload = excluded.payload, published_at = excluded.published_at,
                       expires_at = excluded.expires_at, seq = excluded.seq""",
                (
                    announcement.id,
                    announcement.revision,
                    announcement.priority,
                    priority_rank(announcement.priority),
                    announcement.model_dump_json(),
                    _ts(announcement.published_at),
                    _ts(announcement.expires_at),
                    seq,
                ),
            )
            return True

    def apply_retract(self, seq: int, announcement_id: str) -> bool:
        """Store one retract event; True when an announcement was removed."""
        with self._write() as db:
            if not self._advance(db, seq):
                return False
            return db.execute("DELETE FROM announcements WHERE id = ?", (announcement_id,)).rowcount > 0

    def pass_over(self, seq: int) -> bool:
        """An event that leaves nothing to hold (an `area` event): only last_seq moves; False for a repeat."""
        with self._write() as db:
            return self._advance(db, seq)

    def apply_live(self, event: LiveEvent) -> LiveCall | None:
        """A `live` event: a call started (held until it ends, across restarts) or ended. Applied even when its seq
        is a repeat: a reset replays the calls in progress. Returns the call when it started."""
        with self._write() as db:
            self._advance(db, event.seq)
            if event.state == LiveState.STARTED and event.stream_url:
                call = LiveCall(event.call_id, event.priority or Priority.HIGH, event.stream_url, event.caller_name)
                db.execute(
                    "INSERT OR REPLACE INTO live_calls (id, priority, stream_url, caller_name, seq) VALUES (?, ?, ?, ?, ?)",
                    (call.id, call.priority, call.stream_url, call.caller_name, event.seq),
                )
                return call
            if event.state == LiveState.ENDED:
                db.execute("DELETE FROM live_calls WHERE id = ?", (event.call_id,))
            return None

    def live_calls(self) -> list[LiveCall]:
        """The calls in progress, first started first."""
        rows = self._db.execute("SELECT id, priority, stream_url, caller_name FROM live_calls ORDER BY seq")
        return [LiveCall(*row) for row in rows]

    def apply_request_update(self, update: RequestUpdate) -> bool:
        """Store one request_update event; True when it was new."""
        with self._write() as db:
            if not self._advance(db, update.seq):
                return False
            db.execute(
                """INSERT INTO request_updates (ticket, status, response, seq) VALUES (?, ?, ?, ?)
                   ON CONFLICT (ticket) DO UPDATE SET status = excluded.status, response = excluded.response,
                       seq = excluded.seq""",
                (update.ticket, update.status, update.response, update.seq),
            )
            return True

    # ------------------------------------------------------------ what the device holds

    def announcements(self, now: datetime | None = None) -> list[AnnouncementPayload]:
        """The live announcements: not expired at `now`, emergency first, then newest first."""
        rows = self._db.execute(
            """SELECT payload FROM announcements WHERE expires_at IS NULL OR expires_at > ?
               ORDER BY rank, published_at IS NULL, published_at DESC, seq DESC""",
            (_ts(now or _now()),),
        )
        return [AnnouncementPayload.model_validate_json(row[0]) for row in rows]

    def next_expiry(self, now: datetime | None = None) -> datetime | None:
        """When the next live announcement expires (so a display knows when to redraw)."""
        row = self._db.execute("SELECT min(expires_at) FROM announcements WHERE expires_at > ?", (_ts(now or _now()),))
        return _dt(row.fetchone()[0])

    def unplayed(self, now: datetime | None = None) -> list[AnnouncementPayload]:
        """Live announcements whose current audio has not been played to the end on this device."""
        return [a for a in self.announcements(now) if self.needs_playing(a)]

    def _played_url(self, announcement_id: str) -> str | None:
        row = self._db.execute("SELECT played_url FROM announcements WHERE id = ?", (announcement_id,)).fetchone()
        return None if row is None else row[0]

    def needs_playing(self, announcement: AnnouncementPayload) -> bool:
        """True when the announcement has audio that this device has not yet played to the end."""
        return announcement.audio is not None and self._played_url(announcement.id) != announcement.audio.url

    def mark_played(self, announcement_id: str, url: str) -> None:
        with self._write() as db:
            db.execute("UPDATE announcements SET played_url = ? WHERE id = ?", (url, announcement_id))

    def request_updates(self) -> list[RequestUpdate]:
        """The latest status of each ticket from this screen, newest first."""
        rows = self._db.execute("SELECT seq, ticket, status, response FROM request_updates ORDER BY seq DESC")
        return [RequestUpdate(seq=s, ticket=t, status=st, response=r) for s, t, st, r in rows]

    # ------------------------------------------------------------ outbox

    def add_reply(self, reply: Reply) -> None:
        """Keep a villager's reply before anything is sent, so that no crash or outage loses it."""
        with self._write() as db:
            db.execute(
                "INSERT INTO outbox (client_msg_id, body, created_at) VALUES (?, ?, ?)",
                (reply.client_msg_id, encode(reply), _ts(_now())),
            )

    def unanswered(self, *, sent_before: datetime | None = None) -> list[OutboxEntry]:
        """Replies still waiting for a ticket (and not refused); with `sent_before`, only those never
        sent or last sent before then."""
        query = "SELECT * FROM outbox WHERE ticket IS NULL AND error IS NULL"
        params: tuple = ()
        if sent_before is not None:
            query += " AND (sent_at IS NULL OR sent_at < ?)"
            params = (_ts(sent_before),)
        return self._entries(query + " ORDER BY created_at", params)

    def mark_sent(self, client_msg_ids: Iterable[str], at: datetime | None = None) -> None:
        when = _ts(at or _now())
        with self._write() as db:
            db.executemany("UPDATE outbox SET sent_at = ? WHERE client_msg_id = ?", ((when, i) for i in client_msg_ids))

    def mark_answered(self, client_msg_id: str, ticket: str) -> bool:
        """`reply_result`: the reply has its ticket. False when the id is not in this outbox."""
        with self._write() as db:
            return db.execute(
                "UPDATE outbox SET ticket = ?, error = NULL WHERE client_msg_id = ?", (ticket, client_msg_id)
            ).rowcount > 0

    def mark_failed(self, client_msg_id: str, error: str) -> bool:
        """The server refused the reply for good (not a transient error): stop sending it."""
        with self._write() as db:
            return db.execute(
                "UPDATE outbox SET error = ? WHERE client_msg_id = ? AND ticket IS NULL", (error, client_msg_id)
            ).rowcount > 0

    def outbox(self) -> list[OutboxEntry]:
        """Every reply this device has taken, oldest first."""
        return self._entries("SELECT * FROM outbox ORDER BY created_at", ())

    def outbox_entry(self, client_msg_id: str) -> OutboxEntry | None:
        entries = self._entries("SELECT * FROM outbox WHERE client_msg_id = ?", (client_msg_id,))
        return entries[0] if entries else None

    def _entries(self, query: str, params: tuple) -> list[OutboxEntry]:
        cursor = self._db.execute(query, params)
        names = [d[0] for d in cursor.description]
        entries = []
        for values in cursor:
            row = dict(zip(names, values, strict=True))
            entries.append(
                OutboxEntry(
                    client_msg_id=row["client_msg_id"],
                    reply=Reply.model_validate_json(row["body"]),
                    created_at=_dt(row["created_at"]) or _now(),
                    sent_at=_dt(row["sent_at"]),
                    ticket=row["ticket"],
                    error=row["error"],
                )
            )
        return entries


class DataDirLock:
    """An exclusive lock on a data directory: one running client per device file.

    `village-screen reply` uses it to tell whether a client is running (it will send the reply) or
    not (the command may connect itself). The kernel drops the lock when the process dies.
    """

    def __init__(self, data_dir: Path):
        data_dir.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        os.close(self._fd)
