"""The `village-broadcast` command: serve, token create, screen add, post.

`token create` and `screen add` work on the database directly (they are how the first admin token
comes to exist); `post` talks to a running server over HTTP like any other client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from aiohttp import ClientError, ClientSession, web
from pydantic import ValidationError

from announcements.database import Database
from announcements.models import Role, ScreenCreate, TokenCreate
from announcements.protocol import Language, Priority, ScreenKind
from announcements.registry import create_screen, create_token
from broadcast_server.app import create_app
from broadcast_server.openfiles import raise_open_file_limit
from broadcast_server.redaction import install_log_redaction
from broadcast_server.settings import Settings, load_settings

log = logging.getLogger("village_broadcast")


def _settings_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (see config/village.toml)")
    parser.add_argument("--data-dir", type=Path, help="where the SQLite database and media live (default ./data)")


def _load(args: argparse.Namespace, **extra) -> Settings:
    return load_settings(args.config, data_dir=args.data_dir, **extra)


def _serve(args: argparse.Namespace) -> int:
    settings = _load(args, host=args.host, port=args.port)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    log.info("open file limit: %d (about that many screens at once)", raise_open_file_limit())
    log.info("database: %s", settings.db_url.split("@")[-1])
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=lambda line: log.info("%s", line.strip()))
    return 0


async def _with_database(settings: Settings, action):
    db = Database(settings.db_url, schema=settings.database_schema, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        await db.migrate()
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


async def _post_async(args: argparse.Namespace) -> int:
    body: dict = {"title": args.title, "body": args.body, "priority": args.priority, "language": args.language,
                  "repeat": args.repeat, "speak": not args.no_speak}
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

    screen = commands.add_parser("screen", help="manage devices").add_subparsers(dest="action", required=True)
    add = screen.add_parser("add", help="register a screen or speaker; prints its token alone on the last line")
    _settings_args(add)
    add.add_argument("--name", required=True)
    add.add_argument("--area", required=True)
    add.add_argument("--kind", default=ScreenKind.SCREEN.value, choices=[k.value for k in ScreenKind])
    add.add_argument("--tag", action="append", default=[], help="a tag such as market (repeatable)")
    add.set_defaults(run=_screen_add)

    post = commands.add_parser("post", help="post an announcement to a running server")
    post.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8080")
    post.add_argument("--token", required=True)
    post.add_argument("--title", required=True)
    post.add_argument("--body", required=True)
    post.add_argument("--priority", default=Priority.NORMAL.value, choices=[p.value for p in Priority])
    post.add_argument("--category")
    post.add_argument("--language", default=Language.ZH.value, choices=[lang.value for lang in Language])
    post.add_argument("--area", action="append", default=[], help="target area (repeatable; default: the token's area)")
    post.add_argument("--tag", action="append", default=[], help="target tag (repeatable)")
    post.add_argument("--publish-at", help="RFC 3339 time with offset")
    post.add_argument("--expires-at", help="RFC 3339 time with offset")
    post.add_argument("--repeat", type=int, default=1)
    post.add_argument("--no-speak", action="store_true", help="text only, no speech")
    post.set_defaults(run=_post)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValidationError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
