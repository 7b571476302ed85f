"""Fixtures for the real-client interop suite.

``start_server(*flags)`` starts the real ferroftpd binary (``$FERROFTPD_BIN``,
default ``<repo>/target/debug/ferroftpd``) on 127.0.0.1 with ``-p 0`` and
``-d <fresh temp dir>``, waits for its ``listening on ADDR:PORT`` log line and
returns a ``support.Server`` (host, port, root, log). Every server started in a
test is stopped by PID at teardown (SIGTERM, SIGKILL after 5 s), and when the
test fails its log (``-D``: every command and reply) is added to the report.

``server`` is the standard configuration of the suite::

    ferroftpd -d DIR --user user:12345:elradfmwMT --anonymous --auth-failed-delay 0 \
              -i 127.0.0.1 -p 0 -D

Around DIR (``layout.root``) the ``layout`` fixture places files that must stay
unreachable: ``layout.outside_file`` (``DIR/../outside.txt``) and
``layout.outside_dir`` (``DIR/../outside_dir/secret.txt``), both holding
``support.SECRET``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import PASSWORD, SECRET, USER, Server, ferroftpd_bin

STANDARD_FLAGS = (
    "--user", f"{USER}:{PASSWORD}:elradfmwMT",
    "--anonymous",
    "--auth-failed-delay", "0",
)


def pytest_report_header(config):
    lines = [f"ferroftpd binary: {ferroftpd_bin()}"]
    for tool, flag in (("curl", "--version"), ("lftp", "--version"),
                       ("ncftpls", "-v"), ("wget", "--version"), ("rclone", "version"),
                       ("fail2ban-regex", "--version")):
        path = shutil.which(tool)
        if not path:
            lines.append(f"{tool}: NOT FOUND")
            continue
        try:
            proc = subprocess.run([path, flag], capture_output=True, timeout=10,
                                  stdin=subprocess.DEVNULL)
            out = (proc.stdout + proc.stderr).decode(errors="replace").strip()
            lines.append(f"{tool}: {out.splitlines()[0] if out else '?'}")
        except (OSError, subprocess.SubprocessError) as exc:
            lines.append(f"{tool}: {exc}")
    return lines


def pytest_sessionstart(session):
    binary = ferroftpd_bin()
    if not binary.is_file():
        pytest.exit(
            f"ferroftpd binary not found at {binary}: run `cargo build -p ferroftpd-cli` "
            "first or set FERROFTPD_BIN",
            returncode=3,
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, srv in enumerate(getattr(item, "_ferroftpd_servers", [])):
            report.sections.append((
                f"ferroftpd log #{i} [{report.when}] ({srv.command})",
                srv.log_tail(),
            ))


@dataclass
class Layout:
    base: Path
    root: Path
    outside_file: Path
    outside_dir: Path
    clients: Path  # scratch space for client-side files, outside the root


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    base = tmp_path.resolve()
    root = base / "root"
    root.mkdir()
    (root / "root-marker.txt").write_bytes(b"inside the root\n")
    outside_file = base / "outside.txt"
    outside_file.write_bytes(SECRET)
    outside_dir = base / "outside_dir"
    outside_dir.mkdir()
    (outside_dir / "secret.txt").write_bytes(SECRET)
    clients = base / "client"
    clients.mkdir()
    return Layout(base, root, outside_file, outside_dir, clients)


@pytest.fixture
def start_server(request, layout: Layout):
    servers: list[Server] = []
    request.node._ferroftpd_servers = servers

    def start(*flags: str, root: Path | None = None, host: str = "127.0.0.1",
              debug: bool = True, directory: bool = True) -> Server:
        root = root or layout.root
        args = ["-d", str(root)] if directory else []
        args += [*flags, "-i", host, "-p", "0"]
        if debug:
            args.append("-D")
        log_path = layout.base / f"ferroftpd-{len(servers)}.log"
        srv = Server.start(args, root, log_path)
        servers.append(srv)
        return srv

    try:
        yield start
    finally:
        for srv in servers:
            srv.stop()


@pytest.fixture
def server(start_server) -> Server:
    """The suite's standard server: user:12345 (all rights) + anonymous read-only."""
    return start_server(*STANDARD_FLAGS)
