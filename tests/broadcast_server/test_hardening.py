"""The smaller findings of the security review, each as a kind: stalled headers, versions in `Server`,
the CSP's WebSocket origins, and who may read the server's files."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from aiohttp import ClientSession

from announcements.files import private_dir
from announcements.models import Role
from broadcast_server.app import create_app
from broadcast_server.settings import Settings, load_settings
from broadcast_server.web import CONTENT_SECURITY_POLICY
from tests.conftest import make_token
from tests.serverprocess import ServerProcess


@pytest.fixture
def database_settings(tmp_path) -> dict:
    """About HTTP and files, not the database: SQLite only (the disk-full tests cover PostgreSQL)."""
    return {"data_dir": tmp_path}


async def _raw_head(server, request: bytes) -> tuple[int, dict[str, str]]:
    """Send raw bytes; the status and headers of the answer."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        return _head(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))
    finally:
        writer.close()


def _head(raw: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return int(status_line.split()[1]), {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}


# ---------------------------------------------------------------- header-read timeout


@pytest.mark.parametrize(
    "first, then",
    [
        pytest.param(b"", b"", id="nothing"),
        pytest.param(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nX-Wait: ", b"", id="part of the headers"),
        pytest.param(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n", b"X", id="a header byte now and then"),
    ],
)
async def test_a_client_that_stalls_before_its_headers_end_is_cut_off(settings, aiohttp_server, first, then):
    """Whether it sends nothing, part of the headers, or dribbles them, the connection closes after header_timeout_s."""
    server = await aiohttp_server(create_app(settings.model_copy(update={"header_timeout_s": 0.5})))
    reader, writer = await asyncio.open_connection(server.host, server.port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.write(first)
    closed = asyncio.ensure_future(reader.read())
    with contextlib.suppress(ConnectionError):
        while then and not closed.done() and loop.time() - started < 5:
            await asyncio.sleep(0.1)
            writer.write(then)
    assert await asyncio.wait_for(closed, timeout=5) == b""  # closed, without an answer
    assert 0.4 < loop.time() - started < 2.0
    writer.close()


async def test_the_served_process_cuts_off_a_stalled_client_too(settings, tmp_path):
    """`village-broadcast serve` (aiohttp's run_app, whose own default is 75 s) honours header_timeout_s as well."""
    server = ServerProcess(settings, tmp_path / "server.log")
    server.env["VB_HEADER_TIMEOUT_S"] = "0.5"
    server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = asyncio.get_running_loop().time()
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""
        assert asyncio.get_running_loop().time() - started < 2.0
        writer.close()
    finally:
        server.stop()


async def test_the_header_timeout_is_a_setting_with_a_short_default():
    """Ten seconds unless configured (aiohttp's own run_app default holds a stalled client 75 s)."""
    assert Settings.model_fields["header_timeout_s"].default == 10


async def test_a_prompt_client_keeps_its_connection_for_the_next_request(settings, aiohttp_server):
    """A whole request in time is answered, and the connection stays open for another within the timeout."""
    server = await aiohttp_server(create_app(settings.model_copy(update={"header_timeout_s": 1.0})))
    reader, writer = await asyncio.open_connection(server.host, server.port)
    for _ in range(2):
        writer.write(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers = _head(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))
        await reader.readexactly(int(headers["content-length"]))
        assert status == 404
        await asyncio.sleep(0.5)
    writer.close()


# ---------------------------------------------------------------- Server header


def _websocket_upgrade(path: str = "/ws") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, id="page"),
        pytest.param(b"GET /static/kiosk/client.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, id="static file"),
        pytest.param(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, id="api"),
        pytest.param(b"GET /no/such/page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, id="router 404"),
        pytest.param(b"DELETE /screen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405, id="router 405"),
        pytest.param(b"GET /api/v1/announcements HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 401, id="problem"),
        pytest.param(b"GET /media/0123abcd.mp3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404, id="media"),
        pytest.param(_websocket_upgrade(), 101, id="websocket upgrade"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n", 400, id="malformed request"),
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, id="TLS to the HTTP port"),
    ],
)
async def test_every_response_names_the_server_without_versions(village, request_bytes, status):
    """`Server: village-broadcast` on pages, files, API answers, router errors, upgrades and parser errors alike."""
    got, headers = await _raw_head(village.server, request_bytes)
    assert got == status
    assert headers["server"] == "village-broadcast"


# ---------------------------------------------------------------- Content-Security-Policy


async def test_the_csp_lets_pages_connect_to_this_origin_only(village):
    """connect-src is 'self' alone: no WebSocket (ws:, wss:) or fetch to any other host."""
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    for path in ("/", "/screen", "/api/v1/openapi.json", "/no/such/page"):
        async with village.http.get(village.url + path) as resp:
            assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


# ---------------------------------------------------------------- file permissions


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _speech_settings(data_dir: Path):
    return load_settings(None, data_dir=data_dir, host="127.0.0.1", speech_enabled=True)


async def _speak(server, admin: str) -> None:
    """A preview: the speech worker writes its clip into the media folder."""
    async with ClientSession() as http:
        url = str(server.make_url("/api/v1/speech/preview"))
        async with http.post(url, json={"text": "今晚停水。", "language": "zh"}, headers={"Authorization": f"Bearer {admin}"}) as resp:
            assert resp.status == 200, await resp.text()


def _assert_private(data_dir: Path) -> None:
    assert _mode(data_dir) == 0o700 and _mode(data_dir / "media") == 0o700
    for name in ("village.db", "village.db-wal", "village.db-shm"):
        assert _mode(data_dir / name) == 0o600, name
    clips = list((data_dir / "media").iterdir())
    assert clips and all(_mode(p) == 0o600 for p in clips), {p.name: oct(_mode(p)) for p in clips}


async def test_a_fresh_data_dir_and_everything_in_it_is_the_servers_alone(tmp_path, aiohttp_server):
    """Under a common umask, the new data dir and media folder are 0700, the database, its -wal and -shm and each clip 0600."""
    previous = os.umask(0o022)
    try:
        data_dir = tmp_path / "new" / "data"
        settings = _speech_settings(data_dir)
        admin = await make_token(settings, Role.ADMIN)
        server = await aiohttp_server(create_app(settings))
        await _speak(server, admin)
        _assert_private(data_dir)
        assert _mode(tmp_path / "new") == 0o700  # a missing parent made for it too
    finally:
        os.umask(previous)


async def test_an_existing_deployment_is_tightened_at_start_and_says_so(tmp_path, aiohttp_server, caplog):
    """A data dir, database (with -wal and -shm) and clips left readable by others are made private, with a log line."""
    data_dir = tmp_path / "data"
    settings = _speech_settings(data_dir)
    admin = await make_token(settings, Role.ADMIN)
    (data_dir / "media").mkdir()
    (data_dir / "media" / "old.mp3").write_bytes(b"ID3")
    holder = sqlite3.connect(data_dir / "village.db")  # an open connection keeps -wal and -shm on disk
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE IF NOT EXISTS keep (x)")
    holder.execute("INSERT INTO keep VALUES (1)")
    holder.commit()
    try:
        for path in (data_dir, data_dir / "media"):
            path.chmod(0o755)
        for name in ("village.db", "village.db-wal", "village.db-shm", "media/old.mp3"):
            (data_dir / name).chmod(0o644)
        caplog.set_level(logging.WARNING, logger="announcements.files")
        server = await aiohttp_server(create_app(settings))
        await _speak(server, admin)
        _assert_private(data_dir)
    finally:
        holder.close()
    said = "\n".join(r.getMessage() for r in caplog.records if r.name == "announcements.files")
    assert f"{data_dir} was open to other users" in said and f"{data_dir / 'media'} was open to other users" in said
    for name in ("village.db,", "village.db-wal,", "village.db-shm were", "media/old.mp3 was"):
        assert f"{data_dir}/{name}" in said, (name, said)


def test_a_shared_folder_is_never_tightened(tmp_path, caplog):
    """A data dir set to a folder like /tmp (sticky, open to all) is left open, with a warning, not locked for everyone."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    caplog.set_level(logging.WARNING, logger="announcements.files")
    private_dir(shared)
    assert _mode(shared) == 0o1777 and "shared folder" in caplog.text
