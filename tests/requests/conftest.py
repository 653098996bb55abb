"""Helpers of the request-log tests: replies over HTTP and the WebSocket, staff changes, a connected screen."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.wsframes import connect, until

TICKET = re.compile(r"^\d{3}-\d{3}$")
VILLAGE = "/hongqi/liujingtun"


def reply_body(**fields) -> dict:
    body = {"client_msg_id": uuid.uuid4().hex, "category": "suggestion", "text": "村口的路灯坏了，晚上很黑。"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


async def http_reply(village, token: str, *, expect: int | None = 201, **fields) -> dict:
    _, answer = await village.call("POST", "/replies", token=token, json=reply_body(**fields), expect=expect)
    return answer


async def answer_to(ws, ref: str, timeout: float = 10.0) -> dict:
    """The reply_result or error answering the frame with this client_msg_id (other frames are skipped)."""
    while True:
        frame = await ws.receive_json(timeout=timeout)
        if frame["type"] == "reply_result" and frame["client_msg_id"] == ref:
            return frame
        if frame["type"] == "error" and frame.get("ref") == ref:
            return frame


async def ws_reply(ws, **fields) -> dict:
    """Send one reply frame and return its answer (reply_result or error)."""
    body = reply_body(**fields)
    await ws.send_json({"type": "reply", **body})
    return await answer_to(ws, body["client_msg_id"])


async def patch(village, ticket: str, *, token: str | None = None, expect: int | None = 200, **changes) -> dict:
    _, answer = await village.call("PATCH", f"/requests/{ticket}", token=token, json=changes, expect=expect)
    return answer


async def resolve(village, ticket: str, response: str = "已经修好了。", token: str | None = None) -> dict:
    await patch(village, ticket, token=token, assignee="王网格员")
    await patch(village, ticket, token=token, status="in_progress")
    return await patch(village, ticket, token=token, status="resolved", response=response)


async def alive(ws) -> None:
    """The connection still answers: ping gets pong."""
    await ws.send_json({"type": "ping"})
    assert (await until(ws, "pong"))[-1] == {"type": "pong"}


@pytest.fixture
async def gate(village):
    """A screen at the village gate, connected and synced (`ws`, `head` added to the screen)."""
    screen = await village.screen("gate", VILLAGE)
    ws = await connect(village, screen["token"])
    synced = (await until(ws, "synced"))[-1]
    screen["ws"] = ws
    screen["head"] = synced["head_seq"]
    yield screen
    await ws.close()
