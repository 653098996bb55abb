"""The `village-screen` command: run a screen, take a villager's reply into the device outbox, and show
what the device holds.

The token may come from the environment (`VB_SCREEN_TOKEN`) so that it stays out of `ps`; it is
never printed or logged. What a person reads is in `--lang` (Chinese by default, `en`); times are in
`--tz`, else (for `run`) the server's quiet-hours zone, else the machine's local zone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from announcements.protocol import Contact, RequestCategory
from screen_client.client import ScreenClient, ScreenUnauthorized, build_reply
from screen_client.display import local_time, make_display
from screen_client.player import make_player
from screen_client.store import DataDirLock, Store
from screen_client.urls import ws_url
from screen_client.words import DEFAULT_LANGUAGE, LANGUAGES, Words

log = logging.getLogger("screen_client")

TOKEN_ENV = "VB_SCREEN_TOKEN"
DEFAULT_DATA_DIR = Path("screen-data")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _language(argv: list[str] | None) -> str:
    """--lang, read first so that even the errors about the other options are in that language."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE)
    return early.parse_known_args(argv)[0].lang


def _parser(words: Words) -> argparse.ArgumentParser:
    def server_url(value: str) -> str:
        try:
            ws_url(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(words("bad_server", value=value, problem=exc)) from None
        return value

    def seconds(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(words("bad_seconds", value=repr(value))) from None
        if number < 0:
            raise argparse.ArgumentTypeError(words("negative"))
        return number

    def zone(value: str) -> tzinfo:
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise argparse.ArgumentTypeError(words("bad_tz", value=value)) from None

    parser = argparse.ArgumentParser(prog="village-screen", description="A village broadcast screen or loudspeaker box.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser, log_level: str) -> None:
        sub.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the device's files (default ./screen-data)")
        sub.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=log_level)
        sub.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE, help="the language shown: zh (default) or en")
        sub.add_argument("--tz", type=zone, help="the time zone times are shown in, e.g. Asia/Shanghai (default: for run the "
                         "server's quiet-hours zone if it has one, else this machine's local zone)")

    def connection(sub: argparse.ArgumentParser, required: bool) -> None:
        sub.add_argument("--server", type=server_url, required=required, help="the server's base URL, e.g. http://10.0.0.2:8080")
        sub.add_argument("--token", help=f"the screen token (better: the environment variable {TOKEN_ENV}, kept out of ps)")

    run = commands.add_parser("run", help="connect to the server, show and play announcements, send replies")
    connection(run, required=True)
    common(run, "INFO")
    run.add_argument("--player", default="auto", help="null, auto (mpg123/ffplay/paplay/aplay if found) or a command "
                     "such as 'mpg123 -q {file}' (default auto); {file} is the announcement's audio file, or for a live "
                     "call the stream's URL, which mpg123 and ffplay play")
    run.add_argument("--display", choices=("terminal", "none"), default="terminal", help="none for a headless box")
    run.add_argument("--name", help="this device's name as the server lists it (default: the host name)")

    reply = commands.add_parser("reply", help="put a villager's reply into the outbox (the running client sends it)")
    common(reply, "WARNING")
    reply.add_argument("--category", required=True, choices=[c.value for c in RequestCategory])
    reply.add_argument("--text", required=True)
    reply.add_argument("--name", help="the villager's name (optional)")
    reply.add_argument("--phone", help="the villager's phone number (optional)")
    reply.add_argument("--announcement", metavar="ID", help="the announcement this answers, if any")
    connection(reply, required=False)
    reply.add_argument("--wait", type=seconds, default=10.0, help="seconds to wait for the ticket (default 10)")

    status = commands.add_parser("status", help="print what the device holds")
    common(status, "WARNING")
    return parser


def main(argv: list[str] | None = None) -> int:
    words = Words(_language(argv))
    parser = _parser(words)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "run":
        return _run(args, parser, words)
    if args.command == "reply":
        return _reply(args, parser, words)
    return _status(args, words)


def _token(args: argparse.Namespace, parser: argparse.ArgumentParser, words: Words, *, required: bool) -> str | None:
    token = args.token or os.environ.get(TOKEN_ENV)
    if required and not token:
        parser.error(words("token_required", env=TOKEN_ENV))
    return token


# ---------------------------------------------------------------- run

def _run(args: argparse.Namespace, parser: argparse.ArgumentParser, words: Words) -> int:
    token = _token(args, parser, words, required=True)
    assert token is not None
    try:
        player = make_player(args.player, server_url=args.server, token=token, cache_dir=args.data_dir / "audio")
    except ValueError as exc:
        parser.error(words("bad_player", value=args.player, problem=exc))
    lock = DataDirLock(args.data_dir)
    if not lock.try_acquire():
        print(f"village-screen: {words('locked', path=args.data_dir)}", file=sys.stderr)
        return 1
    try:
        client = ScreenClient(
            args.server, token, data_dir=args.data_dir, player=player, client_name=args.name,
            display=make_display(args.display, words=words, zone=args.tz),
        )
        try:
            asyncio.run(_serve_until_signal(client))
        except ScreenUnauthorized:
            print(f"village-screen: {words('unauthorized')}", file=sys.stderr)
            return 1
        finally:
            client.close()
    finally:
        lock.release()
    return 0


async def _serve_until_signal(client: ScreenClient) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, client.stop)
    await client.run()
    log.info("stopped")


# ---------------------------------------------------------------- reply

def _reply(args: argparse.Namespace, parser: argparse.ArgumentParser, words: Words) -> int:
    token = _token(args, parser, words, required=False)
    contact = Contact(name=args.name, phone=args.phone) if args.name or args.phone else None
    try:
        reply = build_reply(args.category, args.text, announcement_id=args.announcement, contact=contact)
    except ValueError as exc:
        parser.error(str(exc))
    store = Store(args.data_dir)
    lock = DataDirLock(args.data_dir)
    try:
        store.add_reply(reply)
        print(words("msg_id", id=reply.client_msg_id), flush=True)
        if not lock.try_acquire():
            ticket = asyncio.run(_wait_for_running_client(store, reply.client_msg_id, args.wait))
            pending = words("queued.running")
        elif args.server and token:
            ticket = asyncio.run(_send_now(args, token, reply.client_msg_id))
            pending = words("queued.no_answer")
        else:
            ticket = None
            pending = words("queued.offline")
        entry = store.outbox_entry(reply.client_msg_id)
    except ScreenUnauthorized:
        print(f"village-screen: {words('unauthorized')}", file=sys.stderr)
        return 1
    finally:
        lock.release()
        store.close()
    if entry is not None and entry.error:
        print(f"village-screen: {words('refused', error=entry.error)}", file=sys.stderr)
        return 1
    if ticket:
        print(words("ticket", ticket=ticket))
    else:
        print(pending, file=sys.stderr)
    return 0


async def _wait_for_running_client(store: Store, client_msg_id: str, wait: float) -> str | None:
    """Another process owns the connection: watch the shared file for the ticket it records."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        entry = store.outbox_entry(client_msg_id)
        settled = entry is None or bool(entry.ticket or entry.error)
        if settled or loop.time() >= deadline:
            return entry.ticket if entry is not None else None
        await asyncio.sleep(0.2)


async def _send_now(args: argparse.Namespace, token: str, client_msg_id: str) -> str | None:
    """No client is running: connect for a moment, send the outbox, and wait for this reply's ticket."""
    client = ScreenClient(args.server, token, data_dir=args.data_dir)
    running = asyncio.create_task(client.run())

    def settled() -> bool:
        entry = client.store.outbox_entry(client_msg_id)
        return running.done() or entry is None or bool(entry.ticket or entry.error)

    with contextlib.suppress(TimeoutError):
        await client.wait_for(settled, timeout=args.wait)
    client.stop()
    try:
        await running
        entry = client.store.outbox_entry(client_msg_id)
        return entry.ticket if entry is not None else None
    finally:
        client.close()


# ---------------------------------------------------------------- status

def _status(args: argparse.Namespace, words: Words) -> int:
    def when(moment: datetime | None) -> str:
        return words("none") if moment is None else local_time(moment, args.tz)

    store = Store(args.data_dir)
    try:
        identity = store.identity
        if identity is None:
            print(words("screen_unknown"))
        else:
            print(words("screen", id=identity.screen_id, area=identity.area, kind=words.label("kind", identity.kind)))
        print(words("last_seq", seq=words("none") if store.last_seq is None else store.last_seq))

        announcements = store.announcements()
        print("\n" + words("announcements_heading", count=len(announcements)))
        for a in announcements:
            audio = "" if a.audio is None else words("audio_url", url=a.audio.url)
            print(words("announcement_line", priority=words.label("priority", a.priority), title=a.title, id=a.id,
                        revision=a.revision, published=when(a.published_at), expires=when(a.expires_at), audio=audio))

        updates = {u.ticket: u for u in store.request_updates()}
        outbox = store.outbox()
        print("\n" + words("outbox_heading", count=len(outbox)))
        for entry in outbox:
            if entry.error:
                state = words("state.refused", error=entry.error)
            elif entry.ticket:
                update = updates.get(entry.ticket)
                state = words("ticket", ticket=entry.ticket) + (f" · {words.label('status', update.status)}" if update else "")
            else:
                state = words("state.waiting") if entry.sent_at is None else words("state.sent")
            print(words("outbox_line", id=entry.client_msg_id, created=when(entry.created_at),
                        category=words.label("category", entry.reply.category), text=repr(entry.reply.text), state=state))

        print("\n" + words("answers_heading", count=len(updates)))
        for update in updates.values():
            response = words("response", text=update.response) if update.response else ""
            print(words("answer_line", ticket=update.ticket, status=words.label("status", update.status), response=response))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
