"""A district as deploy/ ships it: two replicas (`village-broadcast serve` processes) on one PostgreSQL database
behind nginx running the shipped site over TLS. Screens connect through nginx and are spread over the replicas;
a post through nginx reaches both; the loudspeaker stream is not buffered; the sign-in limit counts each client
behind nginx (trusted_proxies); a replica stopped with SIGTERM hands its screens to the other, which resume by
last_seq and miss nothing; live calls and the loudspeaker streams are on the first replica, the second standing by.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import aiohttp
import pytest

from announcements.models import Role
from tests.cluster.nginx import Nginx, nginx_binary
from tests.conftest import make_token
from tests.e2e.live_audio import recorded_tone, speak, tone_seconds
from tests.e2e.screens import eventually
from tests.e2e.test_live import ended, open_call
from tests.e2e.test_stream import Listener, decode
from tests.serverprocess import ServerProcess

pytestmark = [
    pytest.mark.parametrize("database_settings", ["postgres"], indirect=True),
    # nginx on loopback is the trusted proxy, as config/county.toml ships it
    pytest.mark.settings(trusted_proxies=["127.0.0.1"], signin_failures_per_address=2, signin_failures_per_name=1000),
]
VILLAGE = "/hongqi/liujingtun"
PASSWORD = "村口大槐树-2026"


@dataclass
class District:
    replicas: list[ServerProcess]
    nginx: Nginx
    http: aiohttp.ClientSession  # through nginx, speaking for an admin; the test's certificate is self-signed

    async def call(self, method: str, path: str, expect: int, **kw) -> dict | None:
        async with self.http.request(method, self.nginx.url + "/api/v1" + path, **kw) as resp:
            body = await resp.json(content_type=None) if resp.status != 204 else None
            assert resp.status == expect, (resp.status, body)
            return body

    async def post(self, title: str) -> str:
        return (await self.call("POST", "/announcements", 201, json={"title": title, "body": "请注意。", "speak": False}))["id"]


@pytest.fixture
async def district(settings, tmp_path):
    nginx_binary()  # skip (or fail, VB_TEST_REQUIRE_NGINX=1) before starting anything
    replicas = [ServerProcess(settings, tmp_path / f"replica-{n}.log") for n in (1, 2)]
    try:
        # Both at once on an empty schema: one migrates, the other waits for the lock and finds it done.
        await asyncio.gather(*(asyncio.to_thread(replica.start) for replica in replicas))
        await asyncio.gather(*(answering(replica.url) for replica in replicas))
        nginx = Nginx(tmp_path / "nginx", [replica.port for replica in replicas])
        await asyncio.to_thread(nginx.start)
        admin = await make_token(settings, Role.ADMIN, "/", "county office")
        connector = aiohttp.TCPConnector(ssl=False)  # the test's self-signed certificate
        async with aiohttp.ClientSession(connector=connector, headers={"Authorization": f"Bearer {admin}"}) as http:
            yield District(replicas, nginx, http)
    finally:
        if "nginx" in locals():
            nginx.stop()
        await asyncio.gather(*(asyncio.to_thread(replica.stop) for replica in replicas))
    for replica in replicas:
        assert "Traceback" not in replica._log_path.read_text(), replica._log_path.read_text()[-3000:]


async def answering(url: str, timeout: float = 30) -> None:
    """Until the replica answers: it listens before it has opened the database, and holds requests until then."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/api/v1/openapi.json", timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            assert resp.status == 200


@dataclass
class Screen:
    """A screen speaking the protocol frame by frame over wss:// through nginx: hello with the last seq it
    stored, and after a close, hello again a moment later (as the reference clients do, with backoff)."""

    http: aiohttp.ClientSession
    url: str
    token: str
    reconnect_after_s: float = 1.0
    last_seq: int | None = None
    seen: list[str] = field(default_factory=list)  # announcement ids in the order they arrived
    closes: list[int | None] = field(default_factory=list)
    resets: list[bool] = field(default_factory=list)  # `synced.reset` of each connection
    synced: bool = False
    task: asyncio.Task | None = None

    def start(self) -> Screen:
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            try:
                async with self.http.ws_connect(self.url.replace("https://", "wss://") + "/ws", heartbeat=None) as ws:
                    await ws.send_json({"type": "hello", "token": self.token, "last_seq": self.last_seq,
                                        "client": {"name": "behind-nginx", "version": "0"}})
                    message = await ws.receive()
                    while message.type == aiohttp.WSMsgType.TEXT:
                        await self._on(ws, json.loads(message.data))
                        message = await ws.receive()
                    # The code of the server's close frame. (aiohttp's close_code turns 1006 when its answering
                    # close frame finds the connection already shut, as it is once the replica has exited.)
                    self.closes.append(message.data if message.type == aiohttp.WSMsgType.CLOSE else ws.close_code)
            except aiohttp.ClientError:  # nginx answering 502 while no replica is up
                self.closes.append(None)
            self.synced = False
            await asyncio.sleep(self.reconnect_after_s)

    async def _on(self, ws, frame: dict) -> None:
        if frame["type"] == "announcement":
            self.seen.append(frame["announcement"]["id"])
        elif frame["type"] == "synced":
            self.resets.append(frame["reset"])
            self.synced = True
        if "seq" in frame:
            self.last_seq = frame["seq"]
            with contextlib.suppress(aiohttp.ClientConnectionError):  # the replica may be going away
                await ws.send_json({"type": "ack", "seq": frame["seq"]})  # stored first (above), then acked

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_screens_spread_over_replicas_and_a_stopped_replicas_screens_resume_on_the_other(district):
    gate_token = (await district.call("POST", "/screens", 201, json={"name": "村口大屏", "area": VILLAGE}))["token"]
    market_token = (await district.call("POST", "/screens", 201, json={"name": "集市屏", "area": VILLAGE}))["token"]
    # Away 5 s after a close: longer than the replica takes to exit and the posts below take to be made, so those
    # posts are made while the moved screen is away, whatever the machine's load.
    gate = Screen(district.http, district.nginx.url, gate_token, reconnect_after_s=5.0).start()
    await eventually(lambda: gate.synced)
    market = Screen(district.http, district.nginx.url, market_token, reconnect_after_s=5.0).start()  # least_conn: the other replica
    try:
        await eventually(lambda: market.synced)
        first = await district.post("通知 1")
        await eventually(lambda: first in gate.seen and first in market.seen, timeout=5)

        stopped = district.replicas[0]
        stopped.process.terminate()  # what systemd's KillSignal=SIGTERM does
        assert await asyncio.to_thread(stopped.process.wait, 10) == 0
        # The screen on the stopped replica was told 1001 (going away); the other one never noticed: they were
        # on different replicas, as least_conn spreads them.
        await eventually(lambda: len(gate.closes) + len(market.closes) == 1, timeout=5)
        moved, stayed = (gate, market) if gate.closes else (market, gate)
        assert moved.closes == [1001], moved.closes

        # Posted while the moved screen is away (it waits before it says hello again): it must come back
        # through nginx on the remaining replica, resume by last_seq and get both.
        during = [await district.post("停机期间 1"), await district.post("停机期间 2")]
        assert not moved.synced
        await eventually(lambda: set(during) <= set(moved.seen) and set(during) <= set(stayed.seen), timeout=10)
        assert moved.resets == [True, False]  # the first hello had nothing (null); the second resumed by last_seq
        assert moved.seen == stayed.seen == [first, *during]  # nothing missed, nothing twice
        assert stayed.closes == []
    finally:
        await gate.stop()
        await market.stop()


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
    for n in range(10):  # 2 failures per replica; nginx alternates between them
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

    first = district.replicas[0]
    first.process.terminate()
    assert await asyncio.to_thread(first.process.wait, 10) == 0
    ws, started = await open_call(console, None, [VILLAGE])
    assert started["type"] == "started", started
    await ws.send_json({"type": "stop"})
    assert (await ended(ws))["reason"] is None
