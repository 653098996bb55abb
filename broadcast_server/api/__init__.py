"""HTTP API of PROTOCOL.md section 2, one module per resource."""

from broadcast_server.api import announcements, areas, screens, tokens

ROUTE_TABLES = [areas.routes, screens.routes, tokens.routes, announcements.routes]
