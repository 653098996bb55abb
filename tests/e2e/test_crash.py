"""A server killed with SIGKILL loses nothing it acknowledged."""

import aiohttp

from announcements.models import Role
from tests.conftest import make_token
from tests.e2e.screens import ids, running


async def test_post_acknowledged_before_sigkill_is_delivered_after_restart(settings, server_process, tmp_path):
    """Every announcement answered 201 before a SIGKILL reaches the screen after the restart."""
    admin = await make_token(settings, Role.ADMIN, "/", "root")
    server_process.start()
    headers = {"Authorization": f"Bearer {admin}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(server_process.url + "/api/v1/screens", json={"name": "gate", "area": "/hongqi/liujingtun"}) as resp:
            assert resp.status == 201
            screen = await resp.json()
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
    admin = await make_token(settings, Role.ADMIN, "/", "root")
    server_process.start()
    headers = {"Authorization": f"Bearer {admin}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(server_process.url + "/api/v1/screens", json={"name": "gate", "area": "/hongqi"}) as resp:
            screen = await resp.json()
        async with running(server_process.url, screen["token"], tmp_path / "gate") as client:
            await client.wait_for(lambda: client.synced)
            server_process.kill()
            await client.wait_for(lambda: not client.online)
            server_process.start()
            async with http.post(server_process.url + "/api/v1/announcements", json={"title": "重启后", "body": "b"}) as resp:
                posted = await resp.json()
            await client.wait_for(lambda: posted["id"] in ids(client), timeout=15)
            assert [a.title for a in client.announcements()] == ["重启后"]
