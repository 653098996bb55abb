"""Backup and restore of a deployment: its database and its media (clips and pictures) in one .tar.gz.

SQLite is copied with SQLite's online backup API: a consistent snapshot while the server runs and writes,
where a file copy beside a live WAL can catch half a checkpoint. PostgreSQL is dumped with `pg_dump` and
loaded with `pg_restore`, called here when they are on PATH (the PostgreSQL client tools: a plain SQL copy
made by this program would miss sequences and types the dump carries). They get the URL's parts as options
and the password in PGPASSWORD, never on a command line; without them, the message is the exact command.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from announcements.files import PRIVATE_FILE, atomic_file, private_dir
from announcements.mediastore import finished_files
from announcements.timeutil import utcnow
from broadcast_server.settings import Settings

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "village.db"
POSTGRES_MEMBER = "village.pgdump"
MEDIA = "media/"

Say = Callable[[str], None]


class BackupFailed(Exception):
    """A backup or restore that cannot be done: the message says why and what to do."""


def shown_url(url: str) -> str:
    """A database URL fit for a message or a log: its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def backup(settings: Settings, target: Path, *, say: Say) -> None:
    """Write the deployment to `target` (a temporary file renamed into place: never half a backup there)."""
    target = Path(os.path.abspath(target))
    if not target.parent.is_dir() or target.is_dir():
        raise BackupFailed(f"cannot write {target}: give a file name in an existing folder")
    kind = "sqlite" if settings.database_url is None else "postgresql"
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".vb-backup-") as scratch:
        if kind == "sqlite":
            database = Path(scratch) / SQLITE_MEMBER
            _snapshot_sqlite(settings.data_dir / "village.db", database)
            say(f"1/3 database: snapshot of {settings.data_dir / 'village.db'} (SQLite backup API), {_size(database)}")
        else:
            database = Path(scratch) / POSTGRES_MEMBER
            _postgres("pg_dump", settings, "--format=custom",
                      *([f"--schema={settings.database_schema}"] if settings.database_schema else []), file=database)
            say(f"1/3 database: pg_dump of {shown_url(settings.database_url)}, {_size(database)}")
        media = finished_files(settings.media_dir)
        say(f"2/3 media: {len(media)} files, {_human(sum(p.stat().st_size for p in media))}, from {settings.media_dir}")
        manifest = {"format": FORMAT, "database": kind, "schema": settings.database_schema, "made_at": utcnow().isoformat(),
                    "media_files": len(media)}
        with atomic_file(target) as out, tarfile.open(fileobj=out, mode="w:gz") as tar:
            manifest_file = Path(scratch) / MANIFEST
            manifest_file.write_text(json.dumps(manifest))
            tar.add(manifest_file, MANIFEST)
            tar.add(database, database.name)
            for path in media:
                try:
                    tar.add(path, MEDIA + path.name)
                except FileNotFoundError:  # gone since it was listed: nothing the snapshot needs
                    continue
    say(f"3/3 written {target}, {_size(target)}")


def restore(settings: Settings, source: Path, *, say: Say) -> None:
    """Put a backup's database and media into this deployment (the caller checked it may be replaced)."""
    source = Path(os.path.abspath(source))
    try:
        tar = tarfile.open(source, "r:gz")
        manifest = json.load(tar.extractfile(MANIFEST))
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupFailed(f"{source} is not a backup made by village-broadcast backup ({exc})") from None
    with tar:
        kind = "sqlite" if settings.database_url is None else "postgresql"
        if manifest.get("format") != FORMAT or manifest.get("database") != kind:
            raise BackupFailed(f"{source} holds a {manifest.get('database')} database (format {manifest.get('format')}); "
                               f"this deployment uses {kind}: set database_url to match it")
        if kind == "postgresql" and manifest.get("schema") != settings.database_schema:  # a dump restores into its own schema
            raise BackupFailed(f"{source} holds schema {manifest.get('schema') or 'public'}; set database_schema to it")
        say(f"1/3 read {source}: a {kind} database and {manifest['media_files']} media files, made {manifest['made_at']}")
        with tempfile.TemporaryDirectory(dir=private_dir(settings.data_dir), prefix=".vb-restore-") as scratch:
            if kind == "sqlite":
                database = settings.data_dir / "village.db"
                _extract(tar, SQLITE_MEMBER, Path(scratch) / SQLITE_MEMBER)
                for stale in ("-wal", "-shm", "-journal"):  # an old WAL beside the new file would be replayed into it
                    database.with_name(database.name + stale).unlink(missing_ok=True)
                os.replace(Path(scratch) / SQLITE_MEMBER, database)
                say(f"2/3 database: {database}, {_size(database)}")
            else:
                dump = Path(scratch) / POSTGRES_MEMBER
                _extract(tar, POSTGRES_MEMBER, dump)
                _postgres("pg_restore", settings, "--clean", "--if-exists", "--single-transaction", "--exit-on-error", file=dump)
                say(f"2/3 database: pg_restore into {shown_url(settings.database_url)}")
            media = [m for m in tar.getmembers() if m.name.startswith(MEDIA)]
            private_dir(settings.media_dir)
            for member in media:
                name = member.name.removeprefix(MEDIA)
                if not member.isfile() or "/" in name or name.startswith("."):
                    raise BackupFailed(f"{source} holds an unexpected entry {member.name!r}; not restoring its media")
                _extract(tar, member.name, Path(scratch) / name)
                os.replace(Path(scratch) / name, settings.media_dir / name)
            say(f"3/3 media: {len(media)} files into {settings.media_dir}")


def _snapshot_sqlite(source: Path, copy: Path) -> None:
    if not source.is_file():
        raise BackupFailed(f"no database at {source}: nothing to back up (is --data-dir right?)")
    try:
        with closing(sqlite3.connect(source, timeout=30)) as live, closing(sqlite3.connect(copy)) as snapshot:
            live.backup(snapshot)  # one step: every page as of one read transaction
            if snapshot.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupFailed(f"the copy of {source} fails SQLite's check; the database may be damaged")
    except sqlite3.Error as exc:
        raise BackupFailed(f"cannot read {source}: {exc}") from None


def _extract(tar: tarfile.TarFile, name: str, dest: Path) -> None:
    """A member into a new file only this user may read (it holds villagers' names and numbers)."""
    with tar.extractfile(name) as data, open(os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE), "wb") as out:
        shutil.copyfileobj(data, out)
        out.flush()
        os.fsync(out.fileno())


def _postgres(tool: str, settings: Settings, *args: str, file: Path) -> None:
    """Run pg_dump (into `file`) or pg_restore (from it) on the deployment's database; BackupFailed with its words."""
    url = make_url(settings.database_url)

    def command(file_name: str) -> list[str]:
        return [
            tool,
            *([f"--host={url.host}"] if url.host else []),
            *([f"--port={url.port}"] if url.port else []),
            *([f"--username={url.username}"] if url.username else []),
            f"--dbname={url.database}",
            "--no-owner",
            "--no-privileges",
            *args,
            f"--file={file_name}" if tool == "pg_dump" else file_name,
        ]

    if shutil.which(tool) is None:
        raise BackupFailed(f"{tool} is not on PATH: install the PostgreSQL client tools (Debian: apt install postgresql-client), "
                           f"or run it yourself with PGPASSWORD set ({file.name} is the database part of a backup): "
                           f"{shlex.join(command(file.name))}")
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    done = subprocess.run(command(str(file)), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise BackupFailed(f"{tool} failed: {said[-1] if said else f'exit status {done.returncode}'}")


def _size(path: Path) -> str:
    return _human(path.stat().st_size)


def _human(size: float) -> str:
    if size < 1024:
        return f"{size:.0f} bytes"
    for unit in ("KB", "MB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} GB"
