from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from screen_client.cli import main
from screen_client.store import DataDirLock, Store

from .conftest import TOKEN


def test_reply_without_a_client_stays_in_the_outbox(tmp_path: Path, capsys):
    """`reply` stores the reply, prints its client_msg_id, and `status` shows it waiting."""
    data = str(tmp_path)
    assert main(["reply", "--data-dir", data, "--category", "help", "--text", "井水发浑", "--name", "李", "--phone", "139"]) == 0
    out, err = capsys.readouterr()
    msg_id = out.split()[1]
    assert out.startswith("client_msg_id ") and "queued" in err
    store = Store(tmp_path)
    (entry,) = store.outbox()
    store.close()
    assert entry.client_msg_id == msg_id and entry.reply.contact.name == "李"

    assert main(["status", "--data-dir", data]) == 0
    status = capsys.readouterr().out
    assert "not yet welcomed" in status and msg_id in status and "waiting to be sent" in status


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reply", "--category", "gossip", "--text", "x"], "invalid choice: 'gossip'"),
        (["reply", "--category", "help", "--text", ""], "text"),
        (["reply", "--category", "help", "--text", "x", "--wait", "-1"], "must not be negative"),
        (["run", "--server", "http://h:1"], "VB_SCREEN_TOKEN"),
        (["run", "--server", "h:1", "--token", "t"], "server URL"),
        (["run", "--server", "http://h:1", "--token", "t", "--player", "no-such-player-xyz"], "not found"),
        (["run", "--server", "http://h:1", "--token", "t", "--display", "hologram"], "invalid choice"),
    ],
)
def test_bad_input_is_a_usage_error(tmp_path, monkeypatch, capsys, argv, message):
    """Bad options exit with status 2 and a message naming the problem."""
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
    assert out.splitlines()[1] == "ticket T-1"
    assert stub.of_type("reply")[0]["client_msg_id"] == out.split()[1]


async def test_reply_with_a_running_client_waits_for_its_ticket(tmp_path, capsys):
    """When a client holds the data directory, `reply` leaves sending to it and prints the ticket it records."""
    lock = DataDirLock(tmp_path)
    assert lock.try_acquire()  # stands for the running client
    store = Store(tmp_path)
    argv = ["reply", "--data-dir", str(tmp_path), "--category", "other", "--text", "hi", "--wait", "5"]
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
    assert "refused this screen's token" in stderr.decode()
