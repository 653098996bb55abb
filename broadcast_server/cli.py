"""The `village-broadcast` command: serve; user, token, area and screen management; post; speech text; backup and restore.

`user`, `token`, `area` and `screen` work on the database directly, as the whole deployment's admin (they are
how the first admin comes to exist); `post` talks to a running server over HTTP like any other client.

Whatever stops a command from starting (a busy port, a data dir it cannot write, a database it cannot reach
or open, a bad setting) is one line on stderr saying what is wrong and what to do, exit status 2; the
traceback goes to the log at debug level only.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import json
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
from aiohttp import ClientError, ClientSession, web
from alembic.util.exc import CommandError
from pydantic import ValidationError

from announcements.accounts import COMMAND_LINE, create_user, disable_user, get_user, hash_password, list_users, set_password
from announcements.areas import normalize_area
from announcements.database import Database
from announcements.errors import DomainError
from announcements.files import private_dir
from announcements.models import MACHINE_ROLES, AreaCreate, AreaUpdate, PasswordReset, Role, ScreenCreate, TokenCreate, UserCreate
from announcements.protocol import Language, Priority, ScreenKind
from announcements.registry import (
    active_screens,
    create_area,
    create_screen,
    create_token,
    list_areas,
    list_tokens,
    revoke_screen,
    revoke_token,
    update_area,
)
from announcements.timeutil import utcnow
from broadcast_server.backup import BackupFailed, backup, restore, shown_url
from broadcast_server.openfiles import raise_open_file_limit
from broadcast_server.problems import describe, validation_errors
from broadcast_server.redaction import install_log_redaction
from broadcast_server.settings import Settings, SettingsError, load_settings_for_command

log = logging.getLogger("village_broadcast")


class CannotStart(Exception):
    """What stops a command before it does anything, worded with what to do about it: exit status 2."""


def _settings_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (see config/village.toml)")
    parser.add_argument("--data-dir", type=Path, help="where the SQLite database and media live (default ./data)")


def _load(args: argparse.Namespace, **extra) -> Settings:
    settings = load_settings_for_command(args.config, data_dir=args.data_dir, **extra)
    # the server logs at its level; the other commands only say what went wrong (and, at DEBUG, why)
    level = settings.log_level if args.command == "serve" or settings.log_level == "DEBUG" else "WARNING"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings


def _user() -> str:
    try:
        return f"{getpass.getuser()} (uid {os.getuid()})"
    except (KeyError, OSError):  # a uid with no name (a container)
        return f"uid {os.getuid()}"


def _cannot(message: str, exc: BaseException) -> CannotStart:
    log.debug("%s", message, exc_info=exc)
    return CannotStart(message)


def _bound_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything else starts (migrations, speech workers), so a port in use is
    said at once; it listens only when the app is ready (asyncio does that when serving starts): until then a
    connection is refused, not queued, and a proxy in front tries another replica."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        return sock
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _cannot(f"port {port} is in use; stop the other server or pass --port", exc) from None
        raise _cannot(f"cannot listen on {host} port {port}: {exc.strerror or exc}; check --host and --port", exc) from None


def _usable_data_dir(data_dir: Path) -> None:
    """The data dir is a folder this user can write in (made if missing), or CannotStart naming the path and the user."""
    file = next((p for p in (data_dir, *data_dir.parents) if p.exists() and not p.is_dir()), None)
    try:
        if file is not None:
            raise NotADirectoryError(errno.ENOTDIR, f"{file} is a file, not a folder")
        private_dir(data_dir)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        raise _cannot(
            f"cannot use the data dir {data_dir} as user {_user()}: {exc.strerror or exc}; "
            "make it a folder this user can write in, or pass --data-dir (or set data_dir)",
            exc,
        ) from None


def _where(settings: Settings) -> str:
    if settings.database_url is None:
        return f"the SQLite database {settings.data_dir / 'village.db'}"
    schema = f" (schema {settings.database_schema})" if settings.database_schema else ""
    return f"the database at {shown_url(settings.database_url)}{schema}"


def _cannot_open(exc: Exception, settings: Settings) -> CannotStart | None:
    """What a failure to open or migrate the database means for the person starting the command; None: a bug."""
    where = _where(settings)
    if isinstance(exc, OSError) and settings.database_url is not None:  # refused, no such host, timed out
        return _cannot(f"cannot reach {where}: {exc.strerror or str(exc) or 'timed out'}; "
                       "check that PostgreSQL runs there and the host and port in database_url", exc)
    if isinstance(exc, OSError):
        return _cannot(f"cannot open {where} as user {_user()}: {exc.strerror or exc}; give it (and its folder) to this user", exc)
    if isinstance(exc, sa.exc.DBAPIError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        hint = (f"is the file whole, and writable by user {_user()}? A damaged one is replaced with "
                "village-broadcast restore --from BACKUP --force" if settings.database_url is None else "check database_url")
        return _cannot(f"cannot open {where}: {reason}; {hint}", exc)
    if isinstance(exc, CommandError):  # e.g. a revision this version does not know
        return _cannot(f"cannot bring {where} up to date: {exc}; was it made by a newer version of village-broadcast?", exc)
    return None


async def _holds_deployment(db: Database) -> bool:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda sync: sa.inspect(sync).has_table("alembic_version"))


async def _open_database(settings: Settings, *, migrate: bool = True) -> tuple[Database, bool]:
    """The deployment's database (migrated, and a new one announced on stderr) and whether it held one before."""
    if settings.database_url is None:
        _usable_data_dir(settings.data_dir)
    db = None
    try:
        db = Database(settings.db_url, schema=settings.database_schema, sqlite_synchronous=settings.sqlite_synchronous)
        existed = await _holds_deployment(db)
        if migrate and not existed:
            # said, so that whoever ran it from the wrong folder (or with the wrong settings) notices
            place, before = ((settings.data_dir, "no database was there") if settings.database_url is None
                             else (_where(settings).removeprefix("the database at "), "no tables were there"))
            print(f"creating a new deployment in {place} ({before})", file=sys.stderr)
        if migrate:
            await db.migrate()
        return db, existed
    except Exception as exc:
        if db is not None:
            await db.close()
        problem = _cannot_open(exc, settings)
        if problem is None:
            raise
        raise problem from None


async def _check_database(settings: Settings) -> None:
    db, _ = await _open_database(settings)
    await db.close()


def _serve(args: argparse.Namespace) -> int:
    settings = _load(args, host=args.host, port=args.port)
    sock = _bound_socket(settings.host, settings.port)
    _usable_data_dir(settings.data_dir)  # the media live there on PostgreSQL too
    asyncio.run(_check_database(settings))  # its failures said plainly here, before the app starts its workers
    log.info("open file limit: %d (about that many screens at once)", raise_open_file_limit())
    log.info("database: %s", settings.db_url.split("@")[-1])
    from broadcast_server.app import create_app  # here, not at the top: the other commands start without the server
    from broadcast_server.heap import settle_heap

    app = create_app(settings)
    app.on_startup.append(settle_heap)  # last: once every part has started
    web.run_app(app, sock=sock, print=lambda line: log.info("%s", line.strip()))
    return 0


async def _with_database(settings: Settings, action):
    db, _ = await _open_database(settings)
    try:
        async with db.write() as session:
            return await action(session)
    finally:
        await db.close()


def _token_create(args: argparse.Namespace) -> int:
    data = TokenCreate(role=args.role, area=args.area, name=args.name)
    token, secret = asyncio.run(_with_database(_load(args), lambda s: create_token(session=s, data=data)))
    print(f"created {token.role} token {token.id} for area {token.area} ({token.name})")
    print("keep it safe: it is shown only this once")
    print(secret)
    return 0


def _screen_add(args: argparse.Namespace) -> int:
    data = ScreenCreate(name=args.name, area=args.area, kind=args.kind, tags=args.tag)
    screen, secret = asyncio.run(_with_database(_load(args), lambda s: create_screen(session=s, data=data)))
    print(f"registered {screen.kind} {screen.id} '{screen.name}' in {screen.area}"
          + (f" tags {', '.join(screen.tags)}" if screen.tags else ""))
    print("run it with: village-screen run --server URL --token TOKEN   (token shown only this once)")
    print(secret)
    return 0


def _on_database(args: argparse.Namespace, action):
    return asyncio.run(_with_database(_load(args), action))


def _read_password(args: argparse.Namespace) -> str:
    """The password from one line of standard input (`--password-stdin`), or asked twice without echo."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CommandFailed("the two passwords differ; nothing was changed")
    return first


class CommandFailed(Exception):
    """A command that cannot do what was asked: its message is printed, the exit status is 1."""


def _user_create(args: argparse.Namespace) -> int:
    data = UserCreate(
        name=args.name, display_name=args.display_name or args.name, role=args.role, area=args.area, password=_read_password(args)
    )
    password_hash = asyncio.run(hash_password(data.password))
    user = _on_database(args, lambda s: create_user(session=s, data=data, password_hash=password_hash, principal=COMMAND_LINE))
    print(f"created {user.role} user {user.name} ({user.display_name}) for area {user.area}; they sign in at the console")
    return 0


def _user_list(args: argparse.Namespace) -> int:
    for user in _on_database(args, lambda s: list_users(session=s, principal=COMMAND_LINE)):
        state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active"
        print(f"{user.name}\t{user.display_name}\t{user.role}\t{user.area}\t{state}")
    return 0


def _user_disable(args: argparse.Namespace) -> int:
    async def disable(session):
        user = await get_user(session=session, principal=COMMAND_LINE, name=args.name.strip().lower())
        return await disable_user(session=session, user=user, principal=COMMAND_LINE, now=utcnow())

    user = _on_database(args, disable)
    print(f"disabled {user.name}: they can no longer sign in, and their sessions have ended")
    return 0


def _user_password(args: argparse.Namespace) -> int:
    password_hash = asyncio.run(hash_password(PasswordReset(password=_read_password(args)).password))

    async def reset(session):
        user = await get_user(session=session, principal=COMMAND_LINE, name=args.name.strip().lower())
        await set_password(session=session, user=user, password_hash=password_hash)
        return user

    user = _on_database(args, reset)
    print(f"set a new password for {user.name}; their sessions have ended")
    return 0


def _token_list(args: argparse.Namespace) -> int:
    for token in _on_database(args, lambda s: list_tokens(session=s, principal=COMMAND_LINE)):
        print(f"{token.id}\t{token.role}\t{token.area}\t{token.name}\t{token.created_at:%Y-%m-%d}")
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    token = _on_database(args, lambda s: revoke_token(session=s, token_id=args.id, principal=COMMAND_LINE))
    print(f"revoked {token.role} token {token.id} ({token.name}); a connected screen is refused when it reconnects")
    return 0


def _area_add(args: argparse.Namespace) -> int:
    data = AreaCreate(path=args.path, name=args.name)
    area = _on_database(args, lambda s: create_area(session=s, data=data, principal=COMMAND_LINE))
    print(f"area {area.path} is now called '{area.name}' (areas above it that were missing were made too)")
    return 0


def _area_rename(args: argparse.Namespace) -> int:
    path, data = normalize_area(args.path), AreaUpdate(name=args.name)
    area = _on_database(args, lambda s: update_area(session=s, path=path, data=data, principal=COMMAND_LINE))
    print(f"area {area.path} is now called '{area.name}'")
    return 0


def _area_list(args: argparse.Namespace) -> int:
    for area in _on_database(args, lambda s: list_areas(session=s, principal=COMMAND_LINE)):
        print(f"{area.path}\t{area.name}")
    return 0


def _screen_list(args: argparse.Namespace) -> int:
    for screen in _on_database(args, lambda s: active_screens(session=s)):
        seen = f"{screen.last_seen:%Y-%m-%d %H:%M}" if screen.last_seen else "never seen"
        print(f"{screen.id}\t{screen.kind}\t{screen.area}\t{screen.name}\t{seen}")
    return 0


def _screen_remove(args: argparse.Namespace) -> int:
    screen = _on_database(args, lambda s: revoke_screen(session=s, screen_id=args.id, principal=COMMAND_LINE))
    print(f"removed {screen.kind} {screen.id} '{screen.name}'; its token no longer works")
    return 0


async def _post_async(args: argparse.Namespace) -> int:
    body: dict = {"title": args.title, "body": args.body, "language": args.language, "repeat": args.repeat,
                  "speak": not args.no_speak, "drill": args.drill}
    if args.priority:  # left out: normal, and emergency for a drill (the server's defaults)
        body["priority"] = args.priority
    if args.category:
        body["category"] = args.category
    if args.area or args.tag:
        body["target"] = {"areas": args.area, "tags": args.tag, "screens": []}
    for name in ("publish_at", "expires_at"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    headers = {"Authorization": f"Bearer {args.token}"}
    url = args.server.rstrip("/") + "/api/v1/announcements"
    async with ClientSession() as http:
        async with http.post(url, json=body, headers=headers) as response:
            answer = await response.json(content_type=None)
    if response.status != 201:
        print(f"error {response.status}: {answer.get('detail') or answer}", file=sys.stderr)
        return 1
    print(f"posted {answer['id']}: {answer['status']}, expires {answer['expires_at']}")
    print(json.dumps(answer, ensure_ascii=False))
    return 0


def _post(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_post_async(args))
    except ClientError as exc:
        print(f"error: cannot reach {args.server}: {exc}", file=sys.stderr)
        return 1


def _backup(args: argparse.Namespace) -> int:
    backup(_load(args), args.to, say=print)
    return 0


def _restore(args: argparse.Namespace) -> int:
    settings = _load(args)

    async def holds_deployment() -> bool:
        db, existed = await _open_database(settings, migrate=False)
        await db.close()
        return existed

    _usable_data_dir(settings.data_dir)  # the media go there on PostgreSQL too
    if not args.force and asyncio.run(holds_deployment()):
        raise CommandFailed(f"{_where(settings)} already holds a deployment; restore into an empty data dir (or database), "
                            "or stop its server and pass --force to replace it")
    restore(settings, args.source, say=print)
    return 0


def _speech_text(args: argparse.Namespace) -> int:
    from announcements.speech.synthesizer import spoken  # here: only this command needs the speech modules

    print(spoken(args.text, args.language))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="village-broadcast", description="Village broadcast and smart-screen server")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server")
    _settings_args(serve)
    serve.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.set_defaults(run=_serve)

    token = commands.add_parser("token", help="manage access tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="make a token; prints it alone on the last line")
    _settings_args(create)
    create.add_argument("--role", required=True, choices=[r.value for r in Role if r != Role.SCREEN])
    create.add_argument("--area", required=True, help="the token's scope, e.g. / or /hongqi/liujingtun")
    create.add_argument("--name", required=True, help="who holds it")
    create.set_defaults(run=_token_create)

    listing = token.add_parser("list", help="live tokens: id, role, area, name, created (never a secret)")
    _settings_args(listing)
    listing.set_defaults(run=_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by its id (from token list)")
    _settings_args(revoke)
    revoke.add_argument("id")
    revoke.set_defaults(run=_token_revoke)

    user = commands.add_parser("user", help="manage people who sign in to the console").add_subparsers(dest="action", required=True)
    user_create = user.add_parser("create", help="make a user; asks for the password (or reads it with --password-stdin)")
    _settings_args(user_create)
    user_create.add_argument("--name", required=True, help="the sign-in name: lowercase letters, digits, . _ - (up to 40)")
    user_create.add_argument("--display-name", help="the name the console shows, e.g. 李主任 (default: the sign-in name)")
    user_create.add_argument("--role", required=True, choices=[r.value for r in Role if r not in MACHINE_ROLES])
    user_create.add_argument("--area", required=True, help="the user's scope, e.g. / or /hongqi/liujingtun")
    user_create.add_argument("--password-stdin", action="store_true", help="read the password from one line of standard input")
    user_create.set_defaults(run=_user_create)
    user_list = user.add_parser("list", help="users: name, display name, role, area, state")
    _settings_args(user_list)
    user_list.set_defaults(run=_user_list)
    user_disable = user.add_parser("disable", help="stop a user signing in; ends their sessions at once")
    _settings_args(user_disable)
    user_disable.add_argument("--name", required=True)
    user_disable.set_defaults(run=_user_disable)
    user_password = user.add_parser("password", help="set a user's password; ends their sessions")
    _settings_args(user_password)
    user_password.add_argument("--name", required=True)
    user_password.add_argument("--password-stdin", action="store_true", help="read the password from one line of standard input")
    user_password.set_defaults(run=_user_password)

    area = commands.add_parser("area", help="manage the area tree (a path is the id, the name is what people read)")
    area_actions = area.add_subparsers(dest="action", required=True)
    area_add = area_actions.add_parser("add", help="create an area (and any missing above it) with its name")
    area_rename = area_actions.add_parser("rename", help="give an existing area a new name; its path stays")
    for parser_ in (area_add, area_rename):
        _settings_args(parser_)
        parser_.add_argument("path", help="e.g. /hongqi/liujingtun")
        parser_.add_argument("--name", required=True, help="e.g. 刘井屯村")
    area_add.set_defaults(run=_area_add)
    area_rename.set_defaults(run=_area_rename)
    area_list = area_actions.add_parser("list", help="areas: path and name")
    _settings_args(area_list)
    area_list.set_defaults(run=_area_list)

    screen = commands.add_parser("screen", help="manage devices").add_subparsers(dest="action", required=True)
    add = screen.add_parser("add", help="register a screen or speaker; prints its token alone on the last line")
    _settings_args(add)
    add.add_argument("--name", required=True)
    add.add_argument("--area", required=True)
    add.add_argument("--kind", default=ScreenKind.SCREEN.value, choices=[k.value for k in ScreenKind])
    add.add_argument("--tag", action="append", default=[], help="a tag such as market (repeatable)")
    add.set_defaults(run=_screen_add)
    screen_list = screen.add_parser("list", help="registered devices: id, kind, area, name, last seen")
    _settings_args(screen_list)
    screen_list.set_defaults(run=_screen_list)
    remove = screen.add_parser("remove", help="retire a device by its id (from screen list): its token stops working")
    _settings_args(remove)
    remove.add_argument("id")
    remove.set_defaults(run=_screen_remove)

    post = commands.add_parser("post", help="post an announcement to a running server")
    post.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8080")
    post.add_argument("--token", required=True)
    post.add_argument("--title", required=True)
    post.add_argument("--body", required=True)
    post.add_argument("--priority", choices=[p.value for p in Priority], help="default: normal; emergency for a drill")
    post.add_argument("--drill", action="store_true", help="a drill (演练): runs as an emergency, marked as a drill everywhere")
    post.add_argument("--category")
    post.add_argument("--language", default=Language.ZH.value, choices=[lang.value for lang in Language])
    post.add_argument("--area", action="append", default=[], help="target area (repeatable; default: the token's area)")
    post.add_argument("--tag", action="append", default=[], help="target tag (repeatable)")
    post.add_argument("--publish-at", help="RFC 3339 time with offset")
    post.add_argument("--expires-at", help="RFC 3339 time with offset")
    post.add_argument("--repeat", type=int, default=1)
    post.add_argument("--no-speak", action="store_true", help="text only, no speech")
    post.set_defaults(run=_post)

    speech = commands.add_parser("speech", help="what the loudspeakers say (no database or server needed)")
    speech_actions = speech.add_subparsers(dest="action", required=True)
    speech_text = speech_actions.add_parser("text", help="print the text as it is spoken, numbers in words, on the last line")
    speech_text.add_argument("--language", default=Language.ZH.value, choices=[lang.value for lang in Language])
    speech_text.add_argument("text", help="e.g. 请于12月5日上午9:30到村委会领取")
    speech_text.set_defaults(run=_speech_text)

    backup_ = commands.add_parser("backup", help="the database and the media (clips, pictures) in one .tar.gz; safe while serving")
    _settings_args(backup_)
    backup_.add_argument("--to", type=Path, required=True, help="the file to write, e.g. village-2026-12-01.tar.gz")
    backup_.set_defaults(run=_backup)
    restore_ = commands.add_parser("restore", help="a backup into this data dir (or database); the server must be stopped")
    _settings_args(restore_)
    restore_.add_argument("--from", dest="source", type=Path, required=True, help="a file made by village-broadcast backup")
    restore_.add_argument("--force", action="store_true", help="replace the deployment that is there")
    restore_.set_defaults(run=_restore)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValidationError as exc:  # named field by field, never echoing the input (it may be a password)
        print(f"error: {describe(validation_errors(exc))}", file=sys.stderr)
        return 2
    except (FileNotFoundError, SettingsError, CannotStart) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DomainError, CommandFailed, BackupFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
