"""`village-broadcast backup` while the server runs and writes, `restore` into a fresh deployment, and a server
there that serves the same notices, pictures and requests, to a screen that resumes where it was.

SQLite and PostgreSQL both (pg_dump and pg_restore are the PostgreSQL client tools; CI has them).
"""

import asyncio
import json
import os
import shutil
import uuid

import aiohttp
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from announcements.models import Role
from screen_client.client import ScreenClient
from tests.broadcast_server.test_cli import CLI, cli_env, run_cli
from tests.broadcast_server.test_pictures import picture
from tests.conftest import _asyncpg_dsn, app_settings, make_token
from tests.e2e.screens import ids, running
from tests.serverprocess import ServerProcess


class RecordingScreen(ScreenClient):
    """The real screen client, noting the seq of every event frame it is sent and whether each sync was a reset."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.seqs: list[int] = []
        self.resets: list[bool] = []

    async def _dispatch(self, link, raw):
        frame = json.loads(raw)
        if "seq" in frame:
            self.seqs.append(frame["seq"])
        if frame.get("type") == "synced":
            self.resets.append(frame.get("reset", False))
        await super()._dispatch(link, raw)


def recording_screen(url, token, data_dir):
    """A recording screen connected to `url`, stopped at the end (its store, with its last_seq, stays in `data_dir`)."""
    return running(url, token, data_dir, client_class=RecordingScreen)


@pytest.fixture
async def restored_fields(database_settings, tmp_path_factory):
    """Where the restore goes: a fresh data dir, and on PostgreSQL a fresh database (same schema name)."""
    fields = {"data_dir": tmp_path_factory.mktemp("restored")}
    if "database_url" not in database_settings:
        yield fields
        return
    url = make_url(database_settings["database_url"])
    name = f"vbrestore_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_asyncpg_dsn(database_settings["database_url"]))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**fields, "database_url": url.set(database=name).render_as_string(hide_password=False),
               "database_schema": database_settings["database_schema"]}
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def cli(*args, env):
    """The command as a process that runs beside the test's own writes; its (status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(*CLI, *args, env={**os.environ, **env},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_backup_while_serving_then_restore_serves_the_same_to_a_resuming_screen(
    settings, server_process, restored_fields, tmp_path, tmp_path_factory
):
    if settings.database_url and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed (the PostgreSQL client tools)")
    admin = await make_token(settings, Role.ADMIN, "/", "root")
    server_process.start()
    gate_dir = tmp_path_factory.mktemp("gate")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as http:
        api = server_process.url + "/api/v1"

        async def call(method, path, expect, **kw):
            async with http.request(method, api + path, **kw) as resp:
                assert resp.status == expect, await resp.text()
                return await resp.json()

        await call("POST", "/areas", 201, json={"path": "/hongqi/liujingtun", "name": "刘井屯"})
        screen = await call("POST", "/screens", 201, json={"name": "gate", "area": "/hongqi/liujingtun"})
        form = aiohttp.FormData()
        form.add_field("file", picture(), filename="well.jpg", content_type="image/jpeg")
        image_url = (await call("POST", "/media", 201, data=form))["url"]
        async with http.get(server_process.url + image_url) as resp:
            image_bytes = await resp.read()
        notice = await call("POST", "/announcements", 201, json={"title": "停水通知", "body": "明天上午停水。", "images": [image_url]})

        async with recording_screen(server_process.url, screen["token"], gate_dir) as first:
            await first.wait_for(lambda: notice["id"] in ids(first), timeout=15)
            await first.reply("help", "村口水井坏了")
            await first.wait_for(lambda: first.outbox()[0].ticket is not None, timeout=15)
            ticket, left_at = first.outbox()[0].ticket, first.last_seq

        posted: list[str] = []
        writing = True

        async def keep_writing():
            while writing:
                posted.append((await call("POST", "/announcements", 201, json={"title": f"通知{len(posted)}", "body": "b"}))["id"])

        writer = asyncio.create_task(keep_writing())
        while len(posted) < 2:
            await asyncio.sleep(0.02)
        acknowledged_before = set(posted)
        backup_file = tmp_path_factory.mktemp("backups") / "village.tar.gz"
        status, out, err = await cli("backup", "--to", str(backup_file), env=cli_env(settings))
        during = len(posted) - len(acknowledged_before)
        while len(posted) < len(acknowledged_before) + during + 1:
            await asyncio.sleep(0.02)
        writing = False
        await writer
    server_process.stop()
    assert status == 0, err
    assert [line[:4] for line in out.splitlines()] == ["1/3 ", "2/3 ", "3/3 "] and f"written {backup_file}" in out
    assert "media: 1 files" in out and during > 0  # the server kept writing while the backup ran
    assert not [p for p in backup_file.parent.iterdir() if p != backup_file]  # no temporary file left beside it

    restored = app_settings(restored_fields)
    restored_env = cli_env(restored)
    put_back = run_cli("restore", "--from", str(backup_file), env_settings=restored_env)
    assert [line[:4] for line in put_back.stdout.splitlines()] == ["1/3 ", "2/3 ", "3/3 "]
    again = run_cli("restore", "--from", str(backup_file), env_settings=restored_env, check=False)
    assert again.returncode == 1 and "already holds a deployment" in again.stderr and "--force" in again.stderr
    assert run_cli("restore", "--from", str(backup_file), "--force", env_settings=restored_env).returncode == 0

    server = ServerProcess(restored, tmp_path / "restored.log")
    server.start()
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as http:
            listed, params = {}, {"limit": 200}
            while params:  # every page: the writer may have posted hundreds while the backup ran
                async with http.get(server.url + "/api/v1/announcements", params=params) as resp:
                    page = await resp.json()
                listed |= {a["id"]: a for a in page["items"]}
                params = {"limit": 200, "cursor": page["next_cursor"]} if page["next_cursor"] else None
            assert [i["url"] for i in listed[notice["id"]]["images"]] == [image_url]
            async with http.get(server.url + image_url) as resp:
                assert resp.status == 200 and await resp.read() == image_bytes
            async with http.get(server.url + f"/api/v1/requests/{ticket}") as resp:
                assert resp.status == 200 and (await resp.json())["text"] == "村口水井坏了"
        assert acknowledged_before <= set(listed) <= {notice["id"], *posted}

        async with recording_screen(server.url, screen["token"], gate_dir) as resumed:
            await resumed.wait_for(lambda: resumed.synced, timeout=15)
            assert resumed.resets == [False]  # resumed from its last_seq, not asked to start over
            assert resumed.seqs == sorted(set(resumed.seqs)) and all(seq > left_at for seq in resumed.seqs)  # nothing twice
            assert ids(resumed) == set(listed)  # nothing missed
    finally:
        server.stop()

