"""HTTP API of docs/protocol.md §2, one module per resource."""

from broadcast_server.api import (
    announcements,
    areas,
    kiosk,
    live,
    me,
    media,
    open311,
    pronunciations,
    qr,
    requests,
    schedules,
    screens,
    session,
    templates,
    tokens,
    users,
)

ROUTE_TABLES = [
    areas.routes,
    screens.routes,
    tokens.routes,
    me.routes,
    session.routes,
    users.routes,
    announcements.routes,
    media.routes,
    requests.routes,
    open311.routes,
    qr.routes,
    schedules.routes,
    templates.routes,
    kiosk.routes,
    pronunciations.routes,
    live.routes,
]
