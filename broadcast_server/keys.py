"""Every piece of application state, as a typed `web.AppKey`, declared in this one module."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web

from announcements.database import Database

if TYPE_CHECKING:
    from broadcast_server.dispatcher import Dispatcher
    from broadcast_server.hub import Hub
    from broadcast_server.recorder import DeliveryRecorder
    from broadcast_server.settings import Settings

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
DATABASE: web.AppKey[Database] = web.AppKey("database")
RECORDER: web.AppKey["DeliveryRecorder"] = web.AppKey("recorder")
HUB: web.AppKey["Hub"] = web.AppKey("hub")
DISPATCHER: web.AppKey["Dispatcher"] = web.AppKey("dispatcher")
