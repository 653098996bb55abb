from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from screen_client.cli import main
from screen_client.store import DataDirLock, Store

from .conftest import TOKEN, ann


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ([], {"msg_id": "消息编号 ", "queued": "已存入待发送队列", "unknown": "尚未与服务器连接过", "waiting": "等待发送",
              "category": "[求助]"}),
        (["--lang", "en"], {"msg_id": "client_msg_id ", "queued": "queued", "unknown": "not yet welcomed", "waiting": "waiting to be sent",
                            "category": "[help]"}),
    ],
)
def test_reply_without_a_client_stays_in_the_outbox(tmp_path: Path, capsys, lang, said):
    """`reply` stores the reply, prints its client_msg_id, and `status` shows it waiting: in Chinese unless --lang en."""
    data = str(tmp_path)
    assert main(["reply", "--data-dir", data, "--category", "help", "--text", "井水发浑", "--name", "李", "--phone", "139", *lang]) == 0
    out, err = capsys.readouterr()
    msg_id = out.split()[1]
    assert out.startswith(said["msg_id"]) and said["queued"] in err
    store = Store(tmp_path)
    (entry,) = store.outbox()
    store.close()
    assert entry.client_msg_id == msg_id and entry.reply.contact.name == "李"

    assert main(["status", "--data-dir", data, *lang]) == 0
    status = capsys.readouterr().out
    assert said["unknown"] in status and msg_id in status and said["waiting"] in status and said["category"] in status
    if not lang:
        assert not re.search(r"[A-Za-z]{3,}", status.replace(msg_id, "")), status  # no English on a Chinese screen


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reply", "--category", "gossip", "--text", "x"], "invalid choice: 'gossip'"),
        (["reply", "--category", "help", "--text", ""], "text"),
        (["reply", "--category", "help", "--text", "x", "--wait", "-1"], "不能是负数"),
        (["reply", "--category", "help", "--text", "x", "--wait", "-1", "--lang", "en"], "must not be negative"),
        (["run", "--server", "http://h:1"], "VB_SCREEN_TOKEN"),
        (["run", "--server", "h:1", "--token", "t"], "服务器地址有误：h:1"),
        (["run", "--server", "h:1", "--token", "t", "--lang", "en"], "server URL"),
        (["run", "--server", "http://h:1", "--token", "t", "--player", "no-such-player-xyz"], "找不到或不认识 no-such-player-xyz"),
        (["run", "--server", "http://h:1", "--token", "t", "--display", "hologram"], "invalid choice"),
        (["status", "--tz", "Mars/Base"], "不认识的时区：Mars/Base"),
        (["status", "--lang", "fr"], "invalid choice: 'fr'"),
    ],
)
def test_bad_input_is_a_usage_error(tmp_path, monkeypatch, capsys, argv, message):
    """Bad options exit with status 2 and a message naming the problem, in the chosen language."""
    monkeypatch.delenv("VB_SCREEN_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--data-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


async def test_reply_connects_itself_when_no_client_runs(stub, tmp_path, capsys, monkeypatch):
    """With --server and a token (from the environment) and no running client, `reply` sends and prints the ticket."""
    monkeypatch.setenv("VB_SCREEN_TOKEN", TOKEN)
    argv = ["reply", "--data-dir", str(tmp_path), "--category", "question", "--text", "几点开会？", "--server", stub.url]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] == "受理编号 T-1"
    assert stub.of_type("reply")[0]["client_msg_id"] == out.split()[1]


async def test_reply_with_a_running_client_waits_for_its_ticket(tmp_path, capsys):
    """When a client holds the data directory, `reply` leaves sending to it and prints the ticket it records."""
    lock = DataDirLock(tmp_path)
    assert lock.try_acquire()  # stands for the running client
    store = Store(tmp_path)
    argv = ["reply", "--data-dir", str(tmp_path), "--category", "other", "--text", "hi", "--wait", "5", "--lang", "en"]
    command = asyncio.create_task(asyncio.to_thread(main, argv))
    async with asyncio.timeout(5):
        while not store.outbox():
            await asyncio.sleep(0.02)
    store.mark_answered(store.outbox()[0].client_msg_id, "T-42")
    assert await command == 0
    assert capsys.readouterr().out.splitlines()[1] == "ticket T-42"
    store.close()
    lock.release()


async def _command(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "screen_client.cli", *args,
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_run_exits_cleanly_on_sigterm(stub, tmp_path):
    """`run` takes the token from VB_SCREEN_TOKEN, connects, and on SIGTERM closes and exits 0."""
    process = await _command("run", "--server", stub.url, "--data-dir", str(tmp_path), "--player", "null",
                             "--display", "none", env={"VB_SCREEN_TOKEN": TOKEN})
    await stub.wait_until(lambda: stub.connections, timeout=10)
    assert stub.hellos[0]["token"] == TOKEN
    process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, stderr.decode()
    assert TOKEN.encode() not in stderr
    await stub.wait_until(lambda: not stub.connections)


async def test_run_with_a_refused_token_exits_with_a_clear_error(stub, tmp_path):
    """`run` with a token the server refuses stops (no retrying) with status 1 and says why."""
    process = await _command("run", "--server", stub.url, "--data-dir", str(tmp_path), "--player", "null",
                             "--display", "none", "--token", "wrong", env={})
    _, stderr = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 1
    assert "服务器拒绝了本屏幕的令牌" in stderr.decode()


async def _read_until(stream: asyncio.StreamReader, wanted: str, timeout: float = 10) -> str:
    """What the process has printed, once it contains `wanted` (a TimeoutError after `timeout`)."""
    seen = ""
    async with asyncio.timeout(timeout):
        while wanted not in seen:
            chunk = await stream.read(4096)
            if not chunk:
                break
            seen += chunk.decode()
    return seen


@pytest.mark.parametrize(
    ("options", "env", "expected"),
    [
        ([], {"TZ": "Asia/Shanghai"}, ["村务公告 · /hongqi/liujingtun (显示屏) · 在线", "[通知] 村民大会", "发布于 2026-11-30 19:30"]),
        (["--tz", "Asia/Urumqi"], {"TZ": "UTC"}, ["[通知] 村民大会", "发布于 2026-11-30 17:30"]),
        (["--lang", "en"], {"TZ": "UTC"}, ["Village broadcast · /hongqi/liujingtun (screen) · online", "[normal] 村民大会",
                                          "published 2026-11-30 11:30"]),
    ],
)
async def test_run_shows_the_screen_in_the_chosen_language_and_local_time(stub, tmp_path, options, env, expected):
    """`run` draws the screen in Chinese by default (English with --lang en), times in --tz or the machine's zone."""
    stub.add({"type": "announcement", "announcement": {**ann("a1", title="村民大会"), "published_at": "2026-11-30T11:30:00Z"}})
    process = await _command("run", "--server", stub.url, "--data-dir", str(tmp_path), "--player", "null", *options,
                             env={"VB_SCREEN_TOKEN": TOKEN, **env})
    try:
        screen = await _read_until(process.stdout, expected[-1])
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 10)
    for text in expected:
        assert text in screen
