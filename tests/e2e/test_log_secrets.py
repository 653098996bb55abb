"""No secret reaches the log: every route called with tokens in headers, query strings and Referer, with a
session cookie, and with a password in the body.

The server runs as `village-broadcast serve` at DEBUG, its whole output captured, as county IT would
read it; the routes come from the route table, so a route added later is covered too.
"""

import re

import aiohttp
import pytest

from announcements.models import Role
from broadcast_server.api import ROUTE_TABLES
from broadcast_server.redaction import SECRET_PARAMETERS, redact
from tests.conftest import make_token
from tests.e2e.screens import running


@pytest.fixture
def database_settings(tmp_path) -> dict:
    """About log lines, not storage: SQLite only."""
    return {"data_dir": tmp_path}


def every_path() -> list[tuple[str, str]]:
    """(method, concrete path) for every declared route, the pages, the socket and a stream."""
    def concrete(path: str) -> str:
        return re.sub(r"\{[^}]*\}", "x", path.replace("{format}", "json"))

    routes = [(e.method, concrete(e.path)) for table in ROUTE_TABLES for e in table.endpoints]
    return routes + [("GET", "/"), ("GET", "/screen"), ("GET", "/api/v1/openapi.json"), ("GET", "/stream/hongqi.mp3")]


def test_redact_covers_each_way_a_secret_is_written():
    """Query parameters in any case and place, Bearer values and bare tokens are cut; the rest stays."""
    line = 'GET /o/requests.json?x=1&API_KEY=abc&token=vb_123456789012&access_token=q "Bearer vb_zzzzzzzzzzzz" vb_ABCDEFGHIJKL'
    assert redact(line) == (
        'GET /o/requests.json?x=1&API_KEY=[redacted]&token=[redacted]&access_token=[redacted] "Bearer [redacted]" [redacted]'
    )


async def test_no_token_in_the_log_after_every_route(settings, server_process, tmp_path):
    """Admin, committee, screen and unknown tokens, sent every way a client might, never appear in the output."""
    admin = await make_token(settings, Role.ADMIN, "/", "root")
    server_process.env["VB_LOG_LEVEL"] = "DEBUG"
    server_process.start()
    url = server_process.url
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {admin}"}
        async with http.post(f"{url}/api/v1/screens", json={"name": "gate", "area": "/hongqi"}, headers=headers) as resp:
            screen = await resp.json()
        async with http.post(f"{url}/api/v1/tokens", json={"role": "committee", "area": "/hongqi", "name": "c"}, headers=headers) as resp:
            committee = (await resp.json())["token"]
        unknown = "vb_" + "Q" * 43
        password = "Zz9-secret-password-Kx7"
        user = {"name": "li", "display_name": "李", "role": "admin", "area": "/", "password": password}
        async with http.post(f"{url}/api/v1/users", json=user, headers=headers) as resp:
            assert resp.status == 201
        signed_in = {"name": "li", "password": password}
        async with http.post(f"{url}/api/v1/session", json=signed_in, headers={"Origin": url}) as resp:
            session_secret = resp.cookies["vb_session"].value
        secrets = [admin, committee, screen["token"], unknown, session_secret, password]

        for secret in secrets:
            query = "&".join(f"{name}={secret}" for name in SECRET_PARAMETERS)
            for method, path in every_path():
                async with http.request(
                    method, f"{url}{path}?{query}",
                    headers={"Authorization": f"Bearer {secret}", "Referer": f"{url}/?api_key={secret}",
                             "Cookie": f"vb_session={secret}", "Origin": url},
                    data=f'{{"name": "li", "password": "{secret}", "current_password": "{secret}", "new_password": "{secret}"}}'
                    if path.endswith(("/session", "/password", "/users")) else f"api_key={secret}&service_code=help&description=x",
                ) as resp:
                    if not path.startswith("/stream/"):  # a stream never ends: its answer's head is enough
                        await resp.read()
            async with http.ws_connect(f"{url}/ws?token={secret}") as ws:
                await ws.send_json({"type": "hello", "token": secret, "last_seq": None, "client": {"app": "log-test"}})
                await ws.receive(timeout=5)
        async with running(url, screen["token"], tmp_path / "gate") as client:
            await client.wait_for(lambda: client.synced)
    server_process.stop()

    output = (tmp_path / "server.log").read_text()
    assert "api_key=[redacted]" in output and "/open311/v2/requests.json" in output  # the log was written
    for secret in secrets:
        assert secret not in output
        assert secret[3:19] not in output  # nor a recognizable piece of one
    assert "POST /api/v1/session" in output  # the sign-ins were logged, without what they carried
