"""Every piece of application state, as a typed `web.AppKey`, declared in this one module."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web

from announcements.database import Database

if TYPE_CHECKING:
    from announcements.quiet_hours import QuietHours
    from announcements.speech import SpeechSynthesizer
    from broadcast_server.cap_sources import SourceWatcher
    from broadcast_server.dispatcher import Dispatcher
    from broadcast_server.hub import Hub
    from broadcast_server.live import LiveCalls
    from broadcast_server.metrics import Metrics
    from broadcast_server.narrator import Narrator
    from broadcast_server.recorder import DeliveryRecorder
    from broadcast_server.replies import ReplyDesk
    from broadcast_server.sessions import SignInThrottle
    from broadcast_server.settings import Settings
    from broadcast_server.stream import Stations

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
REPLICA_ID: web.AppKey[str] = web.AppKey("replica_id")  # this process among the replicas on one database, made at start
DATABASE: web.AppKey[Database] = web.AppKey("database")
RECORDER: web.AppKey[DeliveryRecorder] = web.AppKey("recorder")
HUB: web.AppKey[Hub] = web.AppKey("hub")
DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher")
SPEECH: web.AppKey[SpeechSynthesizer | None] = web.AppKey("speech")
NARRATOR: web.AppKey[Narrator] = web.AppKey("narrator")
QUIET_HOURS: web.AppKey[QuietHours] = web.AppKey("quiet_hours")
REPLIES: web.AppKey[ReplyDesk] = web.AppKey("replies")
STATIONS: web.AppKey[Stations] = web.AppKey("stations")
LIVE_CALLS: web.AppKey[LiveCalls] = web.AppKey("live_calls")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
SIGNIN_THROTTLE: web.AppKey[SignInThrottle] = web.AppKey("signin_throttle")
CAP_SOURCES: web.AppKey[list[SourceWatcher]] = web.AppKey("cap_sources")
