"""The `village-broadcast` command as a person uses it: tokens, screens and posts from the shell."""

import json
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
        drill = run_cli("post", "--server", server.url, "--token", admin, "--title", "防汛演练", "--body", "十点防汛演练。", "--drill")
        answer = json.loads(drill.stdout.splitlines()[-1])
        assert (answer["drill"], answer["priority"], answer["status"]) == (True, "emergency", "live")
        refused = run_cli("post", "--server", server.url, "--token", "vb_bad", "--title", "t", "--body", "b", check=False)
        assert refused.returncode == 1 and "401" in refused.stderr
    finally:
        server.stop()


def test_user_commands_from_the_shell(settings, tmp_path):
    """The first admin is made with `user create`; the password comes from stdin and never shows; list, password, disable."""
    env = cli_env(settings)
    made = subprocess.run(
        [*CLI, "user", "create", "--name", "Li", "--display-name", "李主任", "--role", "admin", "--area", "/", "--password-stdin"],
        input="村口大槐树-2026\n", capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert "li" in made.stdout and "村口大槐树" not in made.stdout + made.stderr
    listed = run_cli("user", "list", env_settings=env).stdout
    assert "li\t李主任\tadmin\t/\tactive" in listed
    short = subprocess.run([*CLI, "user", "password", "--name", "li", "--password-stdin"], input="short\n",
                           capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert short.returncode == 2 and "password" in short.stderr and "short" not in short.stderr  # named, never echoed
    run_cli("user", "disable", "--name", "li", env_settings=env)
    assert "disabled" in run_cli("user", "list", env_settings=env).stdout
    unknown = run_cli("user", "disable", "--name", "nobody", env_settings=env, check=False)
    assert unknown.returncode == 1 and "no user nobody" in unknown.stderr and "Traceback" not in unknown.stderr


def test_token_and_screen_list_and_revoke_from_the_shell(settings):
    env = cli_env(settings)
    run_cli("token", "create", "--role", "worker", "--area", "/hongqi", "--name", "网格员小张", env_settings=env)
    run_cli("screen", "add", "--name", "村口大屏", "--area", "/hongqi", env_settings=env)
    tokens = run_cli("token", "list", env_settings=env).stdout.strip().splitlines()
    worker = next(line for line in tokens if "网格员小张" in line)
    assert "vb_" not in "\n".join(tokens)
    run_cli("token", "revoke", worker.split("\t")[0], env_settings=env)
    assert "网格员小张" not in run_cli("token", "list", env_settings=env).stdout
    [screen] = run_cli("screen", "list", env_settings=env).stdout.strip().splitlines()
    assert "村口大屏" in screen and "never seen" in screen
    run_cli("screen", "remove", screen.split("\t")[0], env_settings=env)
    assert run_cli("screen", "list", env_settings=env).stdout.strip() == ""
    again = run_cli("screen", "remove", screen.split("\t")[0], env_settings=env, check=False)
    assert again.returncode == 1 and "no screen" in again.stderr


def test_area_add_rename_and_list_from_the_shell(settings):
    """Areas get names from the shell; a rename keeps the path; a missing area or a too-long name is refused, naming why."""
    env = cli_env(settings)
    made = run_cli("area", "add", "/hongqi/liujingtun", "--name", "刘井屯", env_settings=env)
    assert "/hongqi/liujingtun" in made.stdout and "刘井屯" in made.stdout
    run_cli("area", "rename", "/hongqi/liujingtun", "--name", "刘井屯村", env_settings=env)
    listed = run_cli("area", "list", env_settings=env).stdout.strip().splitlines()
    assert "/hongqi/liujingtun\t刘井屯村" in listed and any(line.startswith("/hongqi\t") for line in listed)
    missing = run_cli("area", "rename", "/nowhere", "--name", "无名", env_settings=env, check=False)
    assert missing.returncode == 1 and "no area /nowhere" in missing.stderr
    too_long = run_cli("area", "rename", "/hongqi/liujingtun", "--name", "长" * 500, env_settings=env, check=False)
    assert too_long.returncode == 2 and "name" in too_long.stderr and "Traceback" not in too_long.stderr
    assert "/hongqi/liujingtun\t刘井屯村" in run_cli("area", "list", env_settings=env).stdout
