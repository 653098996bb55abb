"""Speaking the screen side of the WebSocket frame by frame, for tests of the wire contract."""

import json
import time

import aiohttp


async def connect(village, token, last_seq=None):
    ws = await village.http.ws_connect(village.url + "/ws")
    await ws.send_json({"type": "hello", "token": token, "last_seq": last_seq, "client": {"name": "t", "version": "0"}})
    return ws


async def connected(village, token):
    """A screen's socket that has said hello and been synced (the welcome and replay are skipped)."""
    ws = await connect(village, token)
    await until(ws, "synced")
    return ws


async def until(ws, kind, timeout=5.0):
    """Frames received up to and including the first of `kind`."""
    frames = []
    while True:
        msg = await ws.receive(timeout=timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frames.append(json.loads(msg.data))
        if frames[-1]["type"] == kind:
            return frames


async def collect(ws, done, timeout=10.0):
    """Frames received until `done(frames)` holds; fails after `timeout` seconds."""
    frames = []
    deadline = time.monotonic() + timeout
    while not done(frames):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"gave up waiting; got {frames}")
        try:
            msg = await ws.receive(timeout=remaining)
        except TimeoutError:
            continue
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frames.append(json.loads(msg.data))
    return frames


def event_keys(frames):
    """(type, announcement id) of each announcement or retract frame."""
    return [
        (f["type"], f["announcement"]["id"] if f["type"] == "announcement" else f["announcement_id"])
        for f in frames
        if f["type"] in ("announcement", "retract")
    ]
