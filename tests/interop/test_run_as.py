"""``--run-as USER``: started as root on a privileged port, the server
becomes ``nobody`` once its sockets are bound (docs/security.md).

Checked from the outside: the process's uids, gids, groups and
capabilities in /proc, files written with nobody's uid, the kernel's
permission checks applying to nobody, a reload running as nobody, and the
combinations that cannot work refused with one line each.

Needs root; skipped with the reason for a developer who is not, an error
under CI (which runs as root)."""

from __future__ import annotations

import ftplib
import io
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support import Server, ferroftpd_bin, run_curl

if os.geteuid() != 0 and os.environ.get("CI"):
    raise RuntimeError("CI must run the --run-as tests as root")
pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="--run-as drops root: the server must start as root")

NOBODY = pwd.getpwnam("nobody")


def privileged_port() -> int:
    """A free port below 1024 on 127.0.0.1."""
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 1024")


def status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def tree():
    """A served tree: ``pub`` (nobody's own) and ``locked`` (root's, 755).
    Not under pytest's tmp_path, whose parents only root may search."""
    base = Path(tempfile.mkdtemp(prefix="ferroftpd-run-as-"))
    os.chmod(base, 0o755)
    try:
        yield make_tree(base / "srv")
    finally:
        shutil.rmtree(base)


def make_tree(root: Path) -> Path:
    (root / "pub").mkdir(parents=True)
    (root / "locked").mkdir()
    (root / "locked" / "notice.txt").write_text("read me\n")
    os.chown(root / "pub", NOBODY.pw_uid, NOBODY.pw_gid)
    for d in (root, root / "locked"):
        os.chmod(d, 0o755)
    return root


def start(tmp_path: Path, root: Path, *extra: str) -> Server:
    port = privileged_port()
    args = ["--run-as", "nobody", "-d", str(root), "-u", "alice", "-P", "pw", "-w",
            "-i", "127.0.0.1", "-p", str(port), "--auth-failed-delay", "0", "-D", *extra]
    return Server.start(args, tmp_path, tmp_path / "server.log")


def test_the_server_runs_as_the_user_with_no_capabilities(tmp_path, tree):
    srv = start(tmp_path, tree)
    try:
        assert srv.port < 1024
        fields = status(srv.proc.pid)
        uid, gid = str(NOBODY.pw_uid), str(NOBODY.pw_gid)
        assert fields["Uid"].split() == [uid] * 4, fields["Uid"]
        assert fields["Gid"].split() == [gid] * 4, fields["Gid"]
        assert fields["Groups"].split() == [gid], fields["Groups"]
        assert int(fields["CapPrm"], 16) == 0 and int(fields["CapEff"], 16) == 0, fields
        # Every thread, not only the main one.
        for task in Path(f"/proc/{srv.proc.pid}/task").iterdir():
            assert status(int(task.name))["Uid"].split() == [uid] * 4, task
        assert "running as nobody; no capabilities kept" in srv.log

        ftp = ftplib.FTP()
        ftp.connect(srv.host, srv.port, timeout=10)
        ftp.login("alice", "pw")
        ftp.storbinary("STOR pub/new.bin", io.BytesIO(b"x" * 1000))
        # Root's directory: readable, not writable by nobody.
        with pytest.raises(ftplib.error_perm, match="^55"):
            ftp.storbinary("STOR locked/new.bin", io.BytesIO(b"y"))
        got = io.BytesIO()
        ftp.retrbinary("RETR locked/notice.txt", got.write)
        ftp.quit()
        assert got.getvalue() == b"read me\n"
        st = (tree / "pub" / "new.bin").stat()
        assert (st.st_uid, st.st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid)
        assert not (tree / "locked" / "new.bin").exists()
    finally:
        srv.stop()


def test_multi_proc_workers_run_as_the_user_and_the_supervisor_stays_root(tmp_path, tree):
    srv = start(tmp_path, tree, "--concurrency", "multi-proc", "--workers", "2")
    try:
        deadline = time.monotonic() + 20
        while srv.log.count("running as nobody; no capabilities kept") < 2:
            assert time.monotonic() < deadline, srv.log
            time.sleep(0.05)
        # The supervisor restarts workers: it keeps root (docs/concurrency.md).
        assert status(srv.proc.pid)["Uid"].split()[0] == "0"
        workers = [int(p) for p in
                   Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()]
        assert len(workers) == 2, workers
        uid = str(NOBODY.pw_uid)
        for pid in workers:
            fields = status(pid)
            assert fields["Uid"].split() == [uid] * 4, fields["Uid"]
            assert int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0, fields
        ftp = ftplib.FTP()
        ftp.connect(srv.host, srv.port, timeout=10)
        ftp.login("alice", "pw")
        ftp.storbinary("STOR pub/worker.bin", io.BytesIO(b"w" * 100))
        ftp.quit()
        assert (tree / "pub" / "worker.bin").stat().st_uid == NOBODY.pw_uid
        # The drop cleared the workers' request to die with the supervisor;
        # they made it again: a supervisor killed outright takes them along.
        srv.proc.kill()
        srv.proc.wait(10)
        deadline = time.monotonic() + 20
        while any(running(pid) for pid in workers):
            assert time.monotonic() < deadline, "workers outlived their supervisor"
            time.sleep(0.05)
    finally:
        srv.stop()


def test_a_reload_runs_as_the_user(tmp_path, tree):
    config = tree.parent / "ferroftpd.toml"
    config.write_text('banner = "before"\n')
    os.chmod(config, 0o644)
    srv = start(tmp_path, tree, "--config", str(config))
    try:
        config.write_text('banner = "after"\n')
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "configuration reloaded" not in srv.log and time.monotonic() < deadline:
            time.sleep(0.05)
        res = run_curl("-v", f"ftp://alice:pw@127.0.0.1:{srv.port}/")
        assert res.returncode == 0 and "220 after" in res.stderr, res.transcript()
        # A file nobody cannot read: the reload fails, the server goes on.
        os.chmod(config, 0o600)
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "configuration not reloaded" not in srv.log and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "configuration not reloaded" in srv.log, srv.log_tail()
        assert "ermission denied" in srv.log.split("configuration not reloaded", 1)[1], \
            srv.log_tail()
        assert srv.alive()
        res = run_curl("-v", f"ftp://alice:pw@127.0.0.1:{srv.port}/")
        assert res.returncode == 0 and "220 after" in res.stderr, res.transcript()
    finally:
        srv.stop()


@pytest.mark.parametrize("args,message", [
    (["--run-as", "root"], "--run-as root: uid 0 is root; name an unprivileged account"),
    (["--run-as", "no-such-user-x"], "--run-as no-such-user-x: no such user"),
    (["--run-as", "nobody", "--system-users"], "--run-as cannot be used with --system-users"),
    (["--run-as", "nobody", "-r", "900-910"],
     "--range 900-910: ports below 1024 cannot be bound after --run-as drops root"),
])
def test_combinations_that_cannot_work_are_refused(tmp_path, tree, args, message):
    res = subprocess.run([str(ferroftpd_bin()), "-d", str(tree), "-p", "0", "-i", "127.0.0.1",
                          *args], capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    errors = [line for line in res.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0], res.stderr


def test_it_must_start_as_root(tmp_path, tree):
    res = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                          str(ferroftpd_bin()), "--run-as", "nobody", "-d", str(tree),
                          "-p", "0", "-i", "127.0.0.1"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert "the server must start as root to drop to another user" in res.stderr, res.stderr


def test_a_directory_the_user_cannot_read_is_refused_at_startup(tmp_path, tree):
    os.chmod(tree / "locked", 0o700)
    res = subprocess.run([str(ferroftpd_bin()), "--run-as", "nobody", "-d", str(tree / "locked"),
                          "-p", "0", "-i", "127.0.0.1"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert "--run-as: served directory" in res.stderr and "may not read" in res.stderr, res.stderr
