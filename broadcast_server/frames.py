"""WebSocket framing (RFC 6455 5.2) for the hub's own transport writes.

The hub writes whole frames straight to each screen's transport, so that one event is framed once
and the same bytes go to every recipient; aiohttp would build a header per connection.
"""

from __future__ import annotations


def text_frame(text: str | bytes) -> bytes:
    """A whole unmasked WebSocket text frame of this (UTF-8) text, as a server sends it: built once, written to many."""
    payload = text.encode() if isinstance(text, str) else text
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload
