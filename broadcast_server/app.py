"""The application factory: `create_app(settings)` wires every resource in one cleanup context each."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from announcements import mediastore
from announcements.accounts import has_admin_user
from announcements.database import Database
from announcements.models import new_id
from announcements.quiet_hours import QuietHours
from announcements.registry import has_admin
from announcements.speech import SpeechFailed, SpeechSynthesizer
from announcements.timeutil import utcnow
from broadcast_server.api import ROUTE_TABLES
from broadcast_server.api.cap import cap_sources
from broadcast_server.api.open311 import open311_errors
from broadcast_server.dispatcher import Dispatcher
from broadcast_server.hub import Hub
from broadcast_server.keys import (
    CLOCK,
    DATABASE,
    DISPATCHER,
    HUB,
    LIVE_CALLS,
    METRICS,
    NARRATOR,
    QUIET_HOURS,
    RECORDER,
    REPLICA_ID,
    REPLIES,
    SETTINGS,
    SPEECH,
    STATIONS,
)
from broadcast_server.live import LiveCalls
from broadcast_server.metrics import count_requests, install_metrics
from broadcast_server.narrator import Narrator
from broadcast_server.openapi import openapi_route
from broadcast_server.problems import problem_middleware
from broadcast_server.recorder import DeliveryRecorder
from broadcast_server.replies import ReplyDesk
from broadcast_server.sessions import install_signin_throttle
from broadcast_server.settings import Settings
from broadcast_server.stream import Stations
from broadcast_server.web import add_web_routes, name_server_without_version, security_headers

log = logging.getLogger(__name__)


def package_version() -> str:
    try:
        return version("village-broadcast")
    except PackageNotFoundError:
        return "0+unknown"


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = Database(settings.db_url, schema=settings.database_schema, sqlite_synchronous=settings.sqlite_synchronous)
    await db.migrate()
    app[DATABASE] = db
    async with db.read() as session:
        if not await has_admin(session=session) and not await has_admin_user(session=session):
            log.warning(
                "no admin yet; make one with: village-broadcast user create --role admin --area / --name <who>%s",
                f" --data-dir {settings.data_dir}" if settings.database_url is None else "",
            )
    yield
    await db.close()


async def _media_store(app: web.Application) -> AsyncIterator[None]:
    """Replicas share their media through the database (announcements/mediastore.py); one process needs only its disk."""
    settings = app[SETTINGS]
    if not settings.media_in_database:
        yield
        return
    async with mediastore.serving(app[DATABASE], settings.media_dir):
        yield


async def _recorder(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    recorder = DeliveryRecorder(
        app[DATABASE], clock=app[CLOCK], flush_interval_s=settings.delivery_flush_s, replica_id=app[REPLICA_ID],
        beat_s=settings.presence_beat_s, metrics=app[METRICS],
    )
    await recorder.start()
    app[RECORDER] = recorder
    yield
    await recorder.close()


async def _hub(app: web.Application) -> AsyncIterator[None]:
    hub = Hub(
        db=app[DATABASE], settings=app[SETTINGS], recorder=app[RECORDER], clock=app[CLOCK], quiet=app[QUIET_HOURS],
        metrics=app[METRICS],
    )
    await hub.start()
    app[HUB] = hub
    yield
    await hub.close()


async def _request_log(app: web.Application) -> AsyncIterator[None]:
    """Villagers' replies and feedback (hub handlers, batched writer) and the no-follow-up sweeper."""
    desk = ReplyDesk(db=app[DATABASE], hub=app[HUB], settings=app[SETTINGS], clock=app[CLOCK])
    await desk.start()
    app[REPLIES] = desk
    yield
    await desk.close()


async def _speech(app: web.Application) -> AsyncIterator[None]:
    """Speech worker processes; a server where speech cannot start still serves text (and says why)."""
    settings = app[SETTINGS]
    speech, reason = None, ""
    if settings.speech_enabled:
        speech = SpeechSynthesizer(
            settings.media_dir,
            rate=settings.speech_rate,
            volume=settings.speech_volume,
            chime=settings.speech_chime,
            pause_s=settings.speech_pause_s,
            timeout_s=settings.speech_timeout_s,
            retries=settings.speech_retries,
            workers=settings.speech_workers,
        )
        try:
            await speech.start()
        except SpeechFailed as exc:
            log.error("speech is unavailable, announcements go out as text only: %s", exc)
            speech, reason = None, f"speech is unavailable on this server: {exc}"
    app[SPEECH] = speech
    narrator = Narrator(db=app[DATABASE], hub=app[HUB], speech=speech, unavailable_reason=reason, metrics=app[METRICS])
    await narrator.start()
    app[NARRATOR] = narrator
    yield
    await narrator.close()
    if speech is not None:
        await speech.close()


async def _streams(app: web.Application) -> AsyncIterator[None]:
    stations = Stations(db=app[DATABASE], settings=app[SETTINGS], quiet=app[QUIET_HOURS], clock=app[CLOCK], metrics=app[METRICS])
    app[HUB].add_listener(stations.on_event)
    app[STATIONS] = stations
    yield
    await stations.close()


async def _stream(request: web.Request) -> web.StreamResponse:
    return await request.app[STATIONS].listen(request)


async def _end_streams(app: web.Application) -> None:
    # on_shutdown, like the screens: a stream never ends by itself, so aiohttp would wait out its timeout.
    app[STATIONS].end_listeners()


async def _live_calls(app: web.Application) -> AsyncIterator[None]:
    calls = LiveCalls(db=app[DATABASE], settings=app[SETTINGS], stations=app[STATIONS], speech=lambda: app[SPEECH], clock=app[CLOCK])
    await calls.start()
    app[LIVE_CALLS] = calls
    yield
    await calls.close()


async def _live(request: web.Request) -> web.StreamResponse:
    return await request.app[LIVE_CALLS].handle(request)


async def _end_calls(app: web.Application) -> None:
    # on_shutdown: a call's socket stays open while the caller talks; its handler ends once the call is ended.
    await app[LIVE_CALLS].end_calls()


async def _dispatcher(app: web.Application) -> AsyncIterator[None]:
    dispatcher = Dispatcher(db=app[DATABASE], hub=app[HUB], clock=app[CLOCK])
    await dispatcher.start()
    app[DISPATCHER] = dispatcher
    yield
    await dispatcher.close()


async def _close_screens(app: web.Application) -> None:
    # on_shutdown runs before aiohttp waits for open handlers; each screen's handler ends on its close.
    await app[HUB].close_connections()


async def _websocket(request: web.Request) -> web.StreamResponse:
    return await request.app[HUB].handle(request)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> web.Application:
    # aiohttp's keep-alive timer runs from connect (and from each answer) until a request's headers are
    # complete: it is the header-read timeout, so a client that stalls mid-headers is cut off after it.
    app = web.Application(
        # outermost, count_requests sees each answer as it leaves; Open311 re-renders problems
        middlewares=[count_requests, security_headers, open311_errors, problem_middleware],
        client_max_size=settings.max_body_bytes,
        handler_args={"keepalive_timeout": settings.header_timeout_s},
    )
    name_server_without_version()
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[REPLICA_ID] = new_id()
    # Opened in this order, closed in reverse: the hub closes screens before the database goes away.
    app[QUIET_HOURS] = QuietHours(settings.quiet_hours, settings.timezone)
    install_signin_throttle(app)
    install_metrics(app)  # before the other parts: each counts into the app's own registry
    app.cleanup_ctx.extend(
        [_database, _media_store, _recorder, _hub, _request_log, _speech, _streams, _live_calls, _dispatcher, cap_sources]
    )
    for table in ROUTE_TABLES:
        table.add_to(app)
    openapi_route(ROUTE_TABLES, version=package_version()).add_to(app)
    app.on_shutdown.append(_close_screens)
    app.on_shutdown.append(_end_calls)
    app.on_shutdown.append(_end_streams)
    add_web_routes(app)
    app.router.add_get("/ws", _websocket)
    app.router.add_get("/stream/{area:.+}.mp3", _stream)
    app.router.add_get("/api/v1/live", _live)
    return app
