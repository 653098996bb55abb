"""An nginx process serving the shipped site (deploy/nginx/village-broadcast.conf), rendered for a test.

Only what a district fills in is changed: the replicas in the upstream, the addresses it listens on (free
loopback ports instead of 80 and 443), the certificate (self-signed, made here with `openssl`) and the log
paths. Each change must match the shipped file exactly once, so a test never runs on a site that quietly
stopped looking like the one we ship.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.serverprocess import free_port

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "village-broadcast.conf"
REQUIRE_NGINX = os.environ.get("VB_TEST_REQUIRE_NGINX") == "1"


def nginx_binary() -> str:
    """nginx on PATH or where Debian puts it (/usr/sbin is not on every user's PATH); skip or fail without it."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found:
        return found
    problem = "nginx is not installed (Debian: apt-get install nginx; .ci/run installs it)"
    if REQUIRE_NGINX:
        pytest.fail(problem + "; VB_TEST_REQUIRE_NGINX=1 requires it")
    pytest.skip(problem)


def _substitute(text: str, pattern: str, replacement: str, *, count: int = 1) -> str:
    new, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert found == count, f"the shipped site no longer has {count} match(es) of {pattern!r} (found {found}): update tests/cluster/nginx.py"
    return new


def render_site(*, replicas: list[int], http_port: int, https_port: int, cert: Path, key: Path, logs: Path) -> str:
    """The shipped site with the district's blanks filled in for loopback: every replica in `village_broadcast`;
    in `village_broadcast_live` the first, and the second as its backup."""
    text = SITE.read_text()
    line = "    server 127.0.0.1:{} max_fails=1 fail_timeout=10s{};\n"
    upstream = "".join(line.format(port, "") for port in replicas)
    live = "".join(line.format(port, " backup" if n else "") for n, port in enumerate(replicas[:2]))
    text = _substitute(text, r"^    server 127\.0\.0\.1:\d+ max_fails=1 fail_timeout=10s( backup)?;\n", "", count=4)
    text = _substitute(text, r"^(    least_conn;\n)", r"\1" + upstream)
    text = _substitute(text, r"^(upstream village_broadcast_live \{\n)", r"\1" + live)
    text = _substitute(text, r"^    listen \[::\]:.*\n", "", count=2)  # IPv6 loopback may be missing on a CI machine
    text = _substitute(text, r"^    listen 80;", f"    listen 127.0.0.1:{http_port};")
    text = _substitute(text, r"^    listen 443 ssl", f"    listen 127.0.0.1:{https_port} ssl")
    text = _substitute(text, r"ssl_certificate     \S+;", f"ssl_certificate     {cert};")
    text = _substitute(text, r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};")
    return _substitute(text, r"access_log /var/log/nginx/\S+ ", f"access_log {logs / 'access.log'} ", count=2)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid for a day (the `cryptography` package is not installed: openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


class Nginx:
    """nginx in the foreground with its own prefix, config, pid file and logs under `prefix`. A screen through it
    holds two of its `worker_connections` (its own and the one to a replica); bench/cluster.py asks for more, and
    for more workers, each holding its share of the connections within the open-file limit."""

    def __init__(self, prefix: Path, replicas: list[int], worker_connections: int = 1024, worker_processes: int = 1):
        self.binary = nginx_binary()
        self.prefix = prefix
        prefix.mkdir(parents=True, exist_ok=True)
        self.http_port, self.https_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        cert, key = self_signed_certificate(prefix)
        (prefix / "site.conf").write_text(
            render_site(replicas=replicas, http_port=self.http_port, https_port=self.https_port, cert=cert, key=key, logs=prefix)
        )
        temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        # As root, nginx's workers would run as nobody, who cannot enter pytest's private temp folders.
        user = f"user {pwd.getpwuid(os.getuid()).pw_name};\n" if os.geteuid() == 0 else ""
        # Past the usual 1024 open files, the worker must raise its own limit (as root it may).
        files = f"worker_rlimit_nofile {worker_connections + 64};\n" if worker_connections > 1024 else ""
        (prefix / "nginx.conf").write_text(
            f"{user}worker_processes {worker_processes};\n{files}events {{ worker_connections {worker_connections}; }}\n"
            f"http {{\n{temp}\n    include {prefix / 'site.conf'};\n}}\n"
        )
        self.process: subprocess.Popen | None = None

    def _command(self, *extra: str) -> list[str]:
        return [self.binary, "-p", f"{self.prefix}/", "-c", str(self.prefix / "nginx.conf"), "-e", str(self.prefix / "error.log"), *extra]

    def start(self, timeout: float = 10) -> None:
        checked = subprocess.run(self._command("-t", "-q", "-g", f"pid {self.prefix / 'nginx.pid'};"), capture_output=True, text=True)
        assert checked.returncode == 0, f"nginx -t refused the rendered site:\n{checked.stderr}"
        self.process = subprocess.Popen(
            self._command("-g", f"daemon off; pid {self.prefix / 'nginx.pid'};"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}: {self.process.stderr.read().decode()}")
            try:
                with socket.create_connection(("127.0.0.1", self.https_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen within {timeout} s")

    def log_mark(self) -> int:
        """Where the access log ends now, for `answered_by`."""
        return (self.prefix / "access.log").stat().st_size

    def answered_by(self, since: int = 0) -> set[int]:
        """The replicas' ports that answered a request (2xx) logged after `since`: the ones nginx sends requests to.
        nginx names every replica it tried, the one that answered last."""
        with open(self.prefix / "access.log", "rb") as log:
            log.seek(since)
            text = log.read().decode()
        return {int(port) for port in re.findall(r'" 2\d\d .* upstream=(?:.*, )?127\.0\.0\.1:(\d+)$', text, re.MULTILINE)}

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # fast shutdown: open WebSockets and streams are cut
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()
