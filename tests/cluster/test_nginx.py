"""The edge of a district as deploy/ ships it (tests/cluster/conftest.py: three replicas on one PostgreSQL database
behind nginx running the shipped site over TLS): plain HTTP redirects, the loudspeaker stream is not buffered, the
sign-in limit counts each client behind nginx (trusted_proxies), and live calls and the loudspeaker streams are on
the first replica, the second standing by. Replicas going away: test_failover.py.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import aiohttp
import pytest

from tests.cluster.conftest import VILLAGE, District
from tests.e2e.live_audio import recorded_tone, speak, tone_seconds
from tests.e2e.screens import eventually
from tests.e2e.test_live import ended, open_call
from tests.e2e.test_stream import Listener, decode

pytestmark = [
    pytest.mark.parametrize("database_settings", ["postgres"], indirect=True),
    # nginx on loopback is the trusted proxy, as config/county.toml ships it
    pytest.mark.settings(trusted_proxies=["127.0.0.1"], signin_failures_per_address=2, signin_failures_per_name=1000),
]
PASSWORD = "村口大槐树-2026"


async def sign_in(district: District, source: str, name: str, password: str = "wrong-password") -> aiohttp.ClientResponse:
    """A browser at `source` (a loopback address of its own) signing in through nginx, with the page's Origin."""
    connector = aiohttp.TCPConnector(ssl=False, local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as browser:
        async with browser.post(district.nginx.url + "/api/v1/session", json={"name": name, "password": password},
                                headers={"Origin": district.nginx.url, "X-Forwarded-For": "198.51.100.1"}) as resp:
            await resp.read()
            return resp


async def test_nginx_at_the_edge_redirects_to_https_streams_unbuffered_and_passes_on_each_clients_address(district):
    # Plain HTTP only redirects (308 keeps a POST a POST); HTTPS answers with HSTS.
    async with district.http.get(district.nginx.http_url + "/api/v1/areas?x=1", allow_redirects=False) as resp:
        assert resp.status == 308 and resp.headers["Location"] == "https://127.0.0.1/api/v1/areas?x=1"
    await district.call("POST", "/areas", 201, json={"path": VILLAGE, "name": "刘井屯村"})
    async with district.http.get(district.nginx.url + "/api/v1/areas") as resp:
        assert resp.status == 200 and resp.headers["Strict-Transport-Security"] == "max-age=31536000"
    async with district.http.get(district.nginx.url + "/metrics") as resp:
        assert resp.status == 404  # scraped on each replica's own port, never through the edge with its admin token

    # The loudspeaker stream: the answer and its first bytes within a second, as the server sends them (a buffering
    # proxy holds even the headers back until its buffers fill), then steadily.
    try:
        async with asyncio.timeout(1.0):
            resp = await district.http.get(f"{district.nginx.url}/stream{VILLAGE}.mp3")
            first = await resp.content.readany()
    except TimeoutError:
        raise AssertionError("nothing of the stream within a second through nginx: is it buffered?") from None
    try:
        assert resp.status == 200 and resp.content_type == "audio/mpeg" and first
        began, arrivals = time.monotonic(), []
        while time.monotonic() - began < 1.5:
            arrivals.append(len(await asyncio.wait_for(resp.content.readany(), 1.0)))  # never a second of nothing
        assert len(arrivals) >= 2 and all(arrivals), arrivals
    finally:
        resp.close()

    # Each client has its own sign-in limit behind nginx (trusted_proxies): without it every client would share
    # nginx's address, and one village's typos would lock out all. A made-up X-Forwarded-For does not help.
    await district.call("POST", "/users", 201, json={"name": "li", "display_name": "李主任", "role": "committee",
                                                      "area": VILLAGE, "password": PASSWORD})
    statuses = []
    for n in range(10):  # the replicas share one bucket per address (PostgreSQL): 2 failures, then 429 on any
        statuses.append((await sign_in(district, "127.0.0.2", f"guess{n}")).status)
        if statuses[-3:] == [429] * 3:
            break
    assert statuses[-3:] == [429] * 3 and statuses[0] == 401, statuses
    assert (await sign_in(district, "127.0.0.3", "other")).status == 401  # another client: not locked out
    signed_in = await sign_in(district, "127.0.0.3", "li", PASSWORD)
    assert signed_in.status == 200  # the Origin matched the Host nginx passed on (with its port)
    assert signed_in.cookies["vb_session"]["secure"]  # the client used HTTPS, as nginx says


async def test_live_calls_and_the_loudspeaker_streams_are_on_the_first_replica_and_the_second_stands_by(district):
    """A call's sound exists only in the replica it comes into: through nginx, both loudspeakers of the village hear
    it, and the console lists and stops it, every time (least_conn would spread them over the replicas). With the
    first replica down, the second takes the calls."""
    await district.call("POST", "/areas", 201, json={"path": VILLAGE, "name": "刘井屯村"})
    console = SimpleNamespace(http=district.http, url=district.nginx.url, auth=lambda _token: {})  # as the admin
    speakers = [await Listener.open(district.http, district.nginx.url, VILLAGE) for _ in range(2)]
    try:
        ws, started = await open_call(console, None, [VILLAGE])
        assert started["type"] == "started", started
        talking = asyncio.create_task(speak(ws, recorded_tone(3.0), 3.0))
        for _ in range(4):
            assert [c["call_id"] for c in await district.call("GET", "/live/calls", 200)] == [started["call_id"]]
        await talking
        for speaker in speakers:
            await eventually(lambda speaker=speaker: tone_seconds(*decode(bytes(speaker.data))) > 2.0, timeout=5)
        await district.call("DELETE", f"/live/calls/{started['call_id']}", 204)
        async for _frame in ws:  # the call ends: the server closes the caller's socket
            pass

        async def no_call() -> bool:
            return await district.call("GET", "/live/calls", 200) == []

        await eventually(no_call, timeout=5)
    finally:
        for speaker in speakers:
            await speaker.close()

    assert await asyncio.to_thread(district.replicas[0].terminate) == 0
    ws, started = await open_call(console, None, [VILLAGE])
    assert started["type"] == "started", started
    await ws.send_json({"type": "stop"})
    assert (await ended(ws))["reason"] is None
