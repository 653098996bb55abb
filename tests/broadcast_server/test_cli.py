"""The `village-broadcast` command as a person uses it: tokens, screens and posts from the shell."""

import os
import subprocess
import sys

import pytest

from tests.serverprocess import ServerProcess

CLI = [sys.executable, "-m", "broadcast_server.cli"]


def run_cli(*args: str, env_settings=None, check=True) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_settings} if env_settings is not None else None
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def cli_env(settings) -> dict:
    env = {"VB_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["VB_DATABASE_URL"] = settings.database_url
        env["VB_DATABASE_SCHEMA"] = settings.database_schema
    return env


def test_token_create_and_screen_add_print_the_secret_last(settings, tmp_path):
    """Each command explains what it made and prints the secret alone on its last line."""
    env = cli_env(settings)
    token = run_cli("token", "create", "--role", "committee", "--area", "/hongqi/liujingtun", "--name", "王主任", env_settings=env)
    last = token.stdout.strip().splitlines()[-1]
    assert last.startswith("vb_") and " " not in last and "committee" in token.stdout
    screen = run_cli(
        "screen", "add", "--name", "gate", "--area", "/hongqi/liujingtun", "--kind", "speaker", "--tag", "gate", env_settings=env
    )
    assert screen.stdout.strip().splitlines()[-1].startswith("vb_") and "speaker" in screen.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["token", "create", "--role", "king", "--area", "/", "--name", "x"], "invalid choice"),
        (["token", "create", "--role", "admin", "--area", "nowhere", "--name", "x"], "area path"),
        (["screen", "add", "--name", "x", "--area", "/a", "--kind", "tv"], "invalid choice"),
        (["serve", "--config", "/does/not/exist.toml"], "does not exist"),
    ],
)
def test_bad_arguments_are_named(settings, args, words):
    """Bad arguments fail with a message naming the problem, and no traceback."""
    result = run_cli(*args, env_settings=cli_env(settings), check=False)
    assert result.returncode != 0
    assert words in result.stderr and "Traceback" not in result.stderr


def test_post_from_the_shell(settings, tmp_path):
    """`post` sends an announcement to a running server and says what became of it."""
    env = cli_env(settings)
    admin = run_cli("token", "create", "--role", "admin", "--area", "/", "--name", "root", env_settings=env).stdout.strip().splitlines()[-1]
    server = ServerProcess(settings, tmp_path / "server.log")
    server.start()
    try:
        posted = run_cli(
            "post", "--server", server.url, "--token", admin, "--title", "停电通知", "--body", "明天停电。", "--priority", "high"
        )
        assert "live" in posted.stdout and "停电通知" in posted.stdout
        refused = run_cli("post", "--server", server.url, "--token", "vb_bad", "--title", "t", "--body", "b", check=False)
        assert refused.returncode == 1 and "401" in refused.stderr
    finally:
        server.stop()
