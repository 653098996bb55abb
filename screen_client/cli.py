"""The `village-screen` command: run a screen, take a villager's reply into the device outbox, and show
what the device holds.

The token may come from the environment (`VB_SCREEN_TOKEN`) so that it stays out of `ps`; it is
never printed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

from announcements.protocol import Contact, RequestCategory
from screen_client.client import ScreenClient, ScreenUnauthorized, build_reply
from screen_client.display import make_display
from screen_client.player import make_player
from screen_client.store import DataDirLock, Store
from screen_client.urls import ws_url

log = logging.getLogger("screen_client")

TOKEN_ENV = "VB_SCREEN_TOKEN"
DEFAULT_DATA_DIR = Path("screen-data")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _server_url(value: str) -> str:
    try:
        ws_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="village-screen", description="A village broadcast screen or loudspeaker box.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser, log_level: str) -> None:
        sub.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the device's files (default ./screen-data)")
        sub.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default=log_level)

    def connection(sub: argparse.ArgumentParser, required: bool) -> None:
        sub.add_argument("--server", type=_server_url, required=required, help="the server's base URL, e.g. http://10.0.0.2:8080")
        sub.add_argument("--token", help=f"the screen token (better: the environment variable {TOKEN_ENV}, kept out of ps)")

    run = commands.add_parser("run", help="connect to the server, show and play announcements, send replies")
    connection(run, required=True)
    common(run, "INFO")
    run.add_argument("--player", default="auto", help="null, auto (mpg123/ffplay/paplay/aplay if found) or a command "
                     "such as 'mpg123 -q {file}' (default auto)")
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
    reply.add_argument("--wait", type=_seconds, default=10.0, help="seconds to wait for the ticket (default 10)")

    status = commands.add_parser("status", help="print what the device holds")
    common(status, "WARNING")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "run":
        return _run(args, parser)
    if args.command == "reply":
        return _reply(args, parser)
    return _status(args)


def _token(args: argparse.Namespace, parser: argparse.ArgumentParser, *, required: bool) -> str | None:
    token = args.token or os.environ.get(TOKEN_ENV)
    if required and not token:
        parser.error(f"a screen token is required: --token or the environment variable {TOKEN_ENV}")
    return token


# ---------------------------------------------------------------- run

def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    token = _token(args, parser, required=True)
    assert token is not None
    try:
        player = make_player(args.player, server_url=args.server, token=token, cache_dir=args.data_dir / "audio")
    except ValueError as exc:
        parser.error(f"--player: {exc}")
    lock = DataDirLock(args.data_dir)
    if not lock.try_acquire():
        print(f"village-screen: another village-screen is running with --data-dir {args.data_dir}", file=sys.stderr)
        return 1
    try:
        client = ScreenClient(
            args.server, token, data_dir=args.data_dir, player=player, display=make_display(args.display), client_name=args.name
        )
        try:
            asyncio.run(_serve_until_signal(client))
        except ScreenUnauthorized as exc:
            print(f"village-screen: {exc}", file=sys.stderr)
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

def _reply(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    token = _token(args, parser, required=False)
    contact = Contact(name=args.name, phone=args.phone) if args.name or args.phone else None
    try:
        reply = build_reply(args.category, args.text, announcement_id=args.announcement, contact=contact)
    except ValueError as exc:
        parser.error(str(exc))
    store = Store(args.data_dir)
    lock = DataDirLock(args.data_dir)
    try:
        store.add_reply(reply)
        print(f"client_msg_id {reply.client_msg_id}", flush=True)
        if not lock.try_acquire():
            ticket = asyncio.run(_wait_for_running_client(store, reply.client_msg_id, args.wait))
            pending = "queued: the running village-screen will send it"
        elif args.server and token:
            ticket = asyncio.run(_send_now(args, token, reply.client_msg_id))
            pending = "queued: the server did not answer in time; `village-screen run` will send it again"
        else:
            ticket = None
            pending = "queued: it is sent when `village-screen run` connects (or give --server and a token)"
        entry = store.outbox_entry(reply.client_msg_id)
    except ScreenUnauthorized as exc:
        print(f"village-screen: {exc}", file=sys.stderr)
        return 1
    finally:
        lock.release()
        store.close()
    if entry is not None and entry.error:
        print(f"village-screen: the server refused the reply: {entry.error}", file=sys.stderr)
        return 1
    if ticket:
        print(f"ticket {ticket}")
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

def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _status(args: argparse.Namespace) -> int:
    store = Store(args.data_dir)
    try:
        identity = store.identity
        if identity is None:
            print("screen: not yet welcomed by a server")
        else:
            print(f"screen: {identity.screen_id} · {identity.area} · {identity.kind}")
        print(f"last seq: {'-' if store.last_seq is None else store.last_seq}")

        announcements = store.announcements()
        print(f"\nannouncements ({len(announcements)} live):")
        for a in announcements:
            audio = "" if a.audio is None else f" · audio {a.audio.url}"
            print(f"  [{a.priority}] {a.title}  (id {a.id} rev {a.revision} · published {_when(a.published_at)} · "
                  f"until {_when(a.expires_at)}{audio})")

        updates = {u.ticket: u for u in store.request_updates()}
        outbox = store.outbox()
        print(f"\noutbox ({len(outbox)}):")
        for entry in outbox:
            if entry.error:
                state = f"refused: {entry.error}"
            elif entry.ticket:
                update = updates.get(entry.ticket)
                state = f"ticket {entry.ticket}" + (f" · {update.status}" if update else "")
            else:
                state = "waiting to be sent" if entry.sent_at is None else "sent, waiting for a ticket"
            print(f"  {entry.client_msg_id} {_when(entry.created_at)} [{entry.reply.category}] {entry.reply.text!r} → {state}")

        print(f"\nanswers ({len(updates)}):")
        for update in updates.values():
            response = f": {update.response}" if update.response else ""
            print(f"  ticket {update.ticket} · {update.status}{response}")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
