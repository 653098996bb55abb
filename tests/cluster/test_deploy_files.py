"""The other files of deploy/ read by the programs that will read them: systemd, PostgreSQL and the kernel."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, _asyncpg_dsn, _postgres_problem

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def settings_in(path: Path) -> dict[str, str]:
    """`name = value` lines of a PostgreSQL or sysctl file, comments left out."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return dict(re.split(r"\s*=\s*", line, maxsplit=1) for line in lines if line)


def test_the_unit_passes_systemds_own_check(tmp_path):
    """`systemd-analyze verify` on an instance of the template, run from this checkout's venv."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (DEPLOY / "village-broadcast@.service").read_text()
    assert unit.count("/opt/village-broadcast/venv") == 1
    instance = tmp_path / "village-broadcast@8081.service"
    instance.write_text(unit.replace("/opt/village-broadcast/venv", str(Path(sys.prefix))))
    checked = subprocess.run(["systemd-analyze", "verify", str(instance)], capture_output=True, text=True, cwd=tmp_path)
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr


async def test_every_postgresql_setting_is_one_this_postgresql_knows_with_a_value_it_takes():
    problem = await _postgres_problem()
    if problem:
        pytest.fail(problem) if REQUIRE_POSTGRES else pytest.skip(problem)
    shipped = settings_in(DEPLOY / "postgresql.conf.d" / "village-broadcast.conf")
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        known = {row["name"]: row for row in await conn.fetch("SELECT name, vartype, enumvals FROM pg_settings")}
    finally:
        await conn.close()
    assert not set(shipped) - set(known), f"unknown to PostgreSQL: {set(shipped) - set(known)}"
    for name, value in shipped.items():
        if known[name]["vartype"] == "enum":
            assert value.strip("'") in known[name]["enumvals"], (name, value)
    assert shipped["synchronous_commit"] == "on" and shipped["idle_session_timeout"] == "0"


def test_every_kernel_setting_exists_here():
    shipped = settings_in(DEPLOY / "sysctl.d" / "60-village-broadcast.conf")
    missing = [name for name in shipped if not Path("/proc/sys", *name.split(".")).exists()]
    assert not missing, f"no such kernel setting: {missing}"
    assert int(shipped["net.core.somaxconn"]) >= 4096  # nginx asks for backlog=4096
