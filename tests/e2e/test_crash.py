"""A server killed with SIGKILL loses nothing it acknowledged; a stopped one exits promptly."""

import time

import aiohttp

from announcements.models import Role
from tests.conftest import make_token
from tests.e2e.screens import ids, running


async def start_with_admin(settings, server_process) -> aiohttp.ClientSession:
    """Start the server process and return an HTTP session speaking for an admin."""
    admin = await make_token(settings, Role.ADMIN, "/", "root")
    server_process.start()
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"})


async def add_screen(http, server_process, area) -> dict:
    async with http.post(server_process.url + "/api/v1/screens", json={"name": "gate", "area": area}) as resp:
        assert resp.status == 201
        return await resp.json()


async def test_post_acknowledged_before_sigkill_is_delivered_after_restart(settings, server_process, tmp_path):
    """Every announcement answered 201 before a SIGKILL reaches the screen after the restart."""
    async with await start_with_admin(settings, server_process) as http:
        screen = await add_screen(http, server_process, "/hongqi/liujingtun")
        acknowledged = []
        for i in range(5):
            body = {"title": f"通知 {i}", "body": "请注意。", "target": {"areas": ["/hongqi"]}}
            async with http.post(server_process.url + "/api/v1/announcements", json=body) as resp:
                assert resp.status == 201
                acknowledged.append((await resp.json())["id"])
    server_process.kill()  # straight after the last 201

    server_process.start()
    async with running(server_process.url, screen["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: set(acknowledged) <= ids(client), timeout=15)


async def test_screen_rides_through_a_server_restart(settings, server_process, tmp_path):
    """A connected screen reconnects by itself after a kill and gets what was posted after the restart."""
    async with await start_with_admin(settings, server_process) as http:
        screen = await add_screen(http, server_process, "/hongqi")
        async with running(server_process.url, screen["token"], tmp_path / "gate") as client:
            await client.wait_for(lambda: client.synced)
            server_process.kill()
            await client.wait_for(lambda: not client.online)
            server_process.start()
            async with http.post(server_process.url + "/api/v1/announcements", json={"title": "重启后", "body": "b"}) as resp:
                posted = await resp.json()
            await client.wait_for(lambda: posted["id"] in ids(client), timeout=15)
            assert [a.title for a in client.announcements()] == ["重启后"]


async def test_sigterm_with_screens_connected_exits_promptly(settings, server_process, tmp_path):
    """A stopped server says goodbye to its screens and exits within seconds, not at a timeout."""
    async with await start_with_admin(settings, server_process) as http:
        screen = await add_screen(http, server_process, "/hongqi")
    async with running(server_process.url, screen["token"], tmp_path / "gate") as client:
        await client.wait_for(lambda: client.synced)
        began = time.monotonic()
        server_process.process.terminate()
        server_process.process.wait(timeout=20)
        assert time.monotonic() - began < 5
        await client.wait_for(lambda: not client.online)
