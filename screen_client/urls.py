"""Where the screen finds the server: its WebSocket and its media, from the one base URL it is given.

Paths are joined under the base URL's own path, so a server behind a proxy at
`https://county.example/village-7/` is reached at `wss://county.example/village-7/ws`.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit, urlunsplit

_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def _split(server_url: str) -> SplitResult:
    parts = urlsplit(server_url.strip())
    if parts.scheme not in _WS_SCHEMES or not parts.hostname:
        raise ValueError(f"server URL must look like http://host:port (got {server_url!r})")
    return parts


def http_url(server_url: str, path: str) -> str:
    """An absolute URL for `path` (e.g. an `audio.url` such as `/media/ab12.mp3`) on the server."""
    if urlsplit(path).scheme in ("http", "https"):
        return path
    parts = _split(server_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    joined = parts.path.rstrip("/") + "/" + path.lstrip("/")
    return urlunsplit((scheme, parts.netloc, joined, "", ""))


def ws_url(server_url: str) -> str:
    """The server's WebSocket endpoint: http(s)://host:port/base → ws(s)://host:port/base/ws."""
    parts = _split(server_url)
    path = parts.path.rstrip("/")
    if parts.scheme in ("ws", "wss") and path.endswith("/ws"):
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return urlunsplit((_WS_SCHEMES[parts.scheme], parts.netloc, path + "/ws", "", ""))
