"""What IT sees when the server cannot start: one line saying what is wrong and what to do, exit status 2, no traceback.

Each runs the real `village-broadcast serve` (or another command) as a process, on the shipped settings.
"""

import os
import socket
import subprocess

import pytest

from tests.broadcast_server.test_cli import CLI
from tests.serverprocess import free_port


def run(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """`village-broadcast` as IT runs it: from a folder, with VB_* variables of its own (none of the test's settings)."""
    own = {k: v for k, v in os.environ.items() if not k.upper().startswith("VB_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env={**own, **(env or {})}, cwd=cwd, timeout=60)


def refused(*args: str, env: dict | None = None) -> str:
    """The command's stderr, having checked it stopped with status 2 and no traceback."""
    result = run(*args, env=env)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.splitlines()[-1].startswith("error: "), result.stderr
    return result.stderr


def test_a_port_in_use_is_named_before_anything_starts(tmp_path):
    """The speech workers (on by default) are not started for a server that cannot listen."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        said = refused("serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path))
    assert f"port {port} is in use; stop the other server or pass --port" in said
    assert "speech" not in said and not (tmp_path / "village.db").exists()


@pytest.mark.parametrize("where", ["a file", "unwritable"])
def test_a_data_dir_it_cannot_use_is_named_with_the_user(tmp_path, where):
    """A data dir that is a file, or one this user cannot write in (as root, where chmod stops nothing: one under a file)."""
    (tmp_path / "file").write_text("not a folder")
    if where == "a file":
        data_dir = tmp_path / "file"
    elif os.geteuid() == 0:
        data_dir = tmp_path / "file" / "data"
    else:
        data_dir = tmp_path / "locked"
        data_dir.mkdir(mode=0o500)
    said = refused("serve", "--port", str(free_port()), "--data-dir", str(data_dir))
    assert f"cannot use the data dir {data_dir} as user " in said and f"uid {os.getuid()}" in said
    assert ("Permission denied" if data_dir.name == "locked" else f"{tmp_path / 'file'} is a file, not a folder") in said


def test_postgres_out_of_reach_is_named_without_the_password(tmp_path):
    url = f"postgresql+asyncpg://village:s3cret-pw@127.0.0.1:{free_port()}/village"
    said = refused("serve", "--port", str(free_port()), "--data-dir", str(tmp_path), env={"VB_DATABASE_URL": url})
    assert f"cannot reach the database at postgresql+asyncpg://village:***@127.0.0.1:{url.split(':')[-1]}" in said
    assert "s3cret-pw" not in said and "check that PostgreSQL runs there" in said


def test_a_damaged_sqlite_file_is_named(tmp_path):
    """A file the migrations cannot open: its path and the way back (restore), not SQLAlchemy's traceback."""
    (tmp_path / "village.db").write_bytes(b"this is no database " * 300)
    said = refused("serve", "--port", str(free_port()), "--data-dir", str(tmp_path))
    assert f"cannot open the SQLite database {tmp_path / 'village.db'}: file is not a database" in said
    assert "village-broadcast restore" in said and len(said.strip().splitlines()) <= 3  # the line, at most two log lines


def test_a_bad_setting_names_itself_and_where_it_was_set(tmp_path):
    config = tmp_path / "village.toml"
    config.write_text('port = 70000\nspeech_rat = 200\n')
    said = refused("serve", "--config", str(config), "--data-dir", str(tmp_path))
    assert f"setting port (config file {config})" in said and f"setting speech_rat (config file {config})" in said
    said = refused("serve", "--data-dir", str(tmp_path), env={"VB_TIMEZONE": "Mars/Olympus"})
    assert "setting timezone (environment variable VB_TIMEZONE): " in said and "time zone" in said
    config.write_text("port = \n")
    assert f"the config file {config} is not valid TOML" in refused("serve", "--config", str(config))


def test_a_new_deployment_is_announced_with_its_absolute_path(tmp_path):
    """Run from the wrong folder, a command says it is starting an empty deployment there, by its full path."""
    made = run("token", "create", "--role", "admin", "--area", "/", "--name", "county", "--data-dir", "data", cwd=tmp_path)
    assert made.returncode == 0 and f"creating a new deployment in {tmp_path / 'data'} (no database was there)" in made.stderr
    again = run("token", "list", "--data-dir", "data", cwd=tmp_path)
    assert again.returncode == 0 and "creating" not in again.stderr and "county" in again.stdout
