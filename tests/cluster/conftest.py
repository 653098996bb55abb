"""The `district` fixture: three replicas (`village-broadcast serve` processes) on one PostgreSQL database behind
nginx running the shipped site over TLS, and an admin speaking to them through nginx."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from announcements.models import Role
from tests.cluster.nginx import Nginx, nginx_binary
from tests.cluster.screen import Screen
from tests.conftest import make_token
from tests.serverprocess import ServerProcess

REPLICAS = 3
VILLAGE = "/hongqi/liujingtun"


@dataclass
class District:
    replicas: list[ServerProcess]
    nginx: Nginx
    http: aiohttp.ClientSession  # through nginx, speaking for an admin; the test's certificate is self-signed

    async def call(self, method: str, path: str, expect: int, **kw) -> dict | list | None:
        async with self.http.request(method, self.nginx.url + "/api/v1" + path, **kw) as resp:
            body = await resp.json(content_type=None) if resp.status != 204 else None
            assert resp.status == expect, (resp.status, body)
            return body

    async def post(self, title: str) -> str:
        return (await self.call("POST", "/announcements", 201, json={"title": title, "body": "请注意。", "speak": False}))["id"]

    async def try_post(self, title: str) -> tuple[int, str | None]:
        """A post as the clerk's browser sees it while replicas come and go: the status, and the id if it was 201
        (nginx answers 502 for a request whose replica went away before answering)."""
        async with self.http.post(self.nginx.url + "/api/v1/announcements",
                                  json={"title": title, "body": "请注意。", "speak": False}) as resp:
            return resp.status, (await resp.json())["id"] if resp.status == 201 else None

    async def every(self, path: str) -> list[dict]:
        """Every item of a paged list (GET /announcements, /requests), page after page."""
        items, cursor = [], None
        while True:
            page = await self.call("GET", path, 200, params={"limit": 200} | ({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    async def announcements(self) -> dict[str, str]:
        """Every announcement in the database: id -> title."""
        return {item["id"]: item["title"] for item in await self.every("/announcements")}

    async def screen_tokens(self, count: int) -> list[str]:
        return [(await self.call("POST", "/screens", 201, json={"name": f"屏 {n}", "area": VILLAGE}))["token"]
                for n in range(count)]

    def screen(self, token: str, **kw) -> Screen:
        """A screen connected through nginx (least_conn picks its replica)."""
        return Screen(self.http, self.nginx.url, token, **kw).start()

    async def connected_at(self, replica: ServerProcess) -> int:
        """How many screens are connected to this replica, as its own /metrics says (GET /screens says `online` for
        a screen on any replica)."""
        async with self.http.get(replica.url + "/metrics") as resp:
            assert resp.status == 200
            families = {family.name: family for family in text_string_to_metric_families(await resp.text())}
        return int(families["village_screens_connected"].samples[0].value)


@pytest.fixture
async def district(settings, tmp_path):
    nginx_binary()  # skip (or fail, VB_TEST_REQUIRE_NGINX=1) before starting anything
    replicas = [ServerProcess(settings, tmp_path / f"replica-{n}.log") for n in range(1, REPLICAS + 1)]
    try:
        # All at once on an empty schema: one migrates, the others wait for the migration lock and find it done.
        await asyncio.gather(*(asyncio.to_thread(replica.start) for replica in replicas))
        await asyncio.gather(*(answering(replica.url) for replica in replicas))
        nginx = Nginx(tmp_path / "nginx", [replica.port for replica in replicas])
        await asyncio.to_thread(nginx.start)
        admin = await make_token(settings, Role.ADMIN, "/", "county office")
        # ssl=False: the test's self-signed certificate; limit=0: every screen's WebSocket holds a connection
        connector = aiohttp.TCPConnector(ssl=False, limit=0)
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
