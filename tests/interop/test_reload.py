"""SIGHUP and the operator's process options: the settings read again and
applied to new sessions while old ones go on, a broken file keeping the
old settings, log files reopened after rotation, a new TLS certificate
served, the pid file and syslog output (docs/cli.md, "Reloading")."""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from support import (
    CLIENT_ENV,
    expect_refused,
    ferroftpd_bin,
    ftp_session,
    retr_bytes,
    run_curl,
)

pytestmark = pytest.mark.cli


def wait_for(predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def hup_and_wait(srv, marker: str = "reloaded") -> str:
    """Sends SIGHUP and waits for one more reload line (success or not)."""
    def count(log):
        return log.count("configuration reloaded") + log.count("configuration not reloaded")
    before = count(srv.log)
    os.kill(srv.proc.pid, signal.SIGHUP)
    wait_for(lambda: count(srv.log) > before, f"a reload line after SIGHUP\n{srv.log_tail()}")
    return srv.log


def banner_of(srv) -> str:
    with socket.create_connection((srv.host, srv.port), timeout=10) as s:
        return s.makefile("rb").readline().decode()


def test_sighup_with_only_a_directory_keeps_serving(start_server):
    srv = start_server(debug=False)
    for _ in range(3):
        hup_and_wait(srv)
    assert srv.log.count("configuration reloaded") == 3, srv.log_tail()
    assert "not reloaded" not in srv.log, srv.log_tail()
    assert srv.alive()
    res = run_curl(srv.url("", user=None))
    assert res.returncode == 0 and "root-marker.txt" in res.out, res.transcript()


def test_new_sessions_get_the_new_settings_and_old_ones_go_on(start_server, layout):
    conf = layout.base / "ferroftpd.toml"
    conf.write_text('banner = "first banner"\nuser = ["alice:pw1"]\nauth_failed_delay = 0\n')
    srv = start_server("--config", str(conf))
    assert "first banner" in banner_of(srv)
    with ftp_session(srv, "alice", "pw1") as old:
        conf.write_text('banner = "second banner"\nuser = ["bob:pw2:elr"]\n'
                        'auth_failed_delay = 0\n')
        assert "configuration reloaded" in hup_and_wait(srv), srv.log_tail()
        assert "second banner" in banner_of(srv)
        with ftp_session(srv, "bob", "pw2") as new:
            assert retr_bytes(new, "root-marker.txt") == b"inside the root\n"
            expect_refused(new.storbinary, "STOR b.txt", io.BytesIO(b"b"), codes=(550, 553))
        with pytest.raises(ftplib.error_perm):
            ftp_session(srv, "alice", "pw1").__enter__()
        # alice's session started under the old settings: still hers.
        old.storbinary("STOR a.txt", io.BytesIO(b"written after the reload"))
        assert retr_bytes(old, "a.txt") == b"written after the reload"
    assert srv.alive()


def test_a_broken_config_file_keeps_the_old_settings(start_server, layout):
    conf = layout.base / "ferroftpd.toml"
    conf.write_text('banner = "kept banner"\n')
    srv = start_server("--config", str(conf))
    conf.write_text('banner = "never seen"\nmax_cons = "lots"\n')
    log = hup_and_wait(srv)
    assert "configuration not reloaded, keeping the old settings" in log, srv.log_tail()
    assert f"{conf}:2: max_cons" in log, srv.log_tail()
    assert "kept banner" in banner_of(srv)
    # Fixed, it applies at the next SIGHUP.
    conf.write_text('banner = "fixed banner"\n')
    hup_and_wait(srv)
    assert "fixed banner" in banner_of(srv)


def test_startup_only_options_wait_for_a_restart(start_server, layout):
    conf = layout.base / "ferroftpd.toml"
    conf.write_text('banner = "one"\n')
    srv = start_server("--config", str(conf), "--storage", "memory", "-u", "alice", "-P", "pw",
                       "-w", "--auth-failed-delay", "0", directory=False)
    with ftp_session(srv, "alice", "pw") as ftp:
        ftp.storbinary("STOR kept.txt", io.BytesIO(b"in memory"))
    conf.write_text('banner = "two"\nmemory_size = "1M"\nmetrics_address = "127.0.0.1:1"\n')
    log = hup_and_wait(srv)
    assert "--memory-size: changed; read at startup only" in log, srv.log_tail()
    assert "--metrics-address: changed; read at startup only" in log, srv.log_tail()
    assert "two" in banner_of(srv)
    # The in-memory tree is the same tree.
    with ftp_session(srv, "alice", "pw") as ftp:
        assert retr_bytes(ftp, "kept.txt") == b"in memory"


def test_a_directory_outside_the_sandbox_is_refused(start_server, layout):
    (layout.base / "conf").mkdir()
    conf = layout.base / "conf" / "ferroftpd.toml"
    conf.write_text(f'directory = "{layout.root}"\n')
    srv = start_server("--config", str(conf), directory=False)
    conf.write_text(f'directory = "{layout.outside_dir}"\n')
    log = hup_and_wait(srv)
    assert "configuration not reloaded" in log and "outside what the sandbox" in log, \
        srv.log_tail()
    res = run_curl(srv.url("", user=None))
    assert "root-marker.txt" in res.out and "secret.txt" not in res.out, res.transcript()


def make_cert(dir: Path, name: str) -> tuple[Path, Path]:
    cert, key = dir / f"{name}.pem", dir / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """Data connections resume the control connection's TLS session, as
    curl and lftp do (ftplib does not: cpython#63699)."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


def tls_session(srv) -> tuple[ftplib.FTP_TLS, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # TLS 1.2: a TLS 1.3 client gets two session tickets, and each
    # listing here takes one (fuzz/README.md).
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ftp = ReusingFTP_TLS(context=ctx, timeout=10)
    ftp.connect(srv.host, srv.port)
    ftp.auth()
    fingerprint = hashlib.sha256(ftp.sock.getpeercert(binary_form=True)).hexdigest()
    ftp.login("alice", "pw")
    ftp.prot_p()
    return ftp, fingerprint


def test_a_renewed_certificate_serves_new_connections(start_server, layout):
    tls_dir = layout.base / "tls"
    tls_dir.mkdir()
    cert, key = make_cert(tls_dir, "live")
    first = make_cert(tls_dir, "first")
    os.replace(first[0], cert)
    os.replace(first[1], key)
    srv = start_server("--tls", "--certfile", str(cert), "--keyfile", str(key),
                       "--user", "alice:pw", "--auth-failed-delay", "0")
    old, before = tls_session(srv)
    try:
        # Renewal writes new files and renames them over the old ones.
        second = make_cert(tls_dir, "second")
        os.replace(second[0], cert)
        os.replace(second[1], key)
        assert "configuration reloaded" in hup_and_wait(srv), srv.log_tail()
        new, after = tls_session(srv)
        try:
            assert after != before
            assert "root-marker.txt" in new.nlst()
        finally:
            new.quit()
        # The session from before keeps its TLS session and data connections.
        assert "root-marker.txt" in old.nlst()
    finally:
        old.quit()


def start_detached(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([str(ferroftpd_bin()), *args], cwd=str(cwd),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**CLIENT_ENV, "NO_COLOR": "1"},
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def listening_port(text: str) -> int | None:
    marker = "listening on 127.0.0.1:"
    if marker not in text:
        return None
    return int(text.split(marker, 1)[1].split()[0].rstrip(",\"'"))


def test_a_rotated_log_file_is_reopened(layout):
    logs = layout.base / "logs"
    logs.mkdir()
    log = logs / "ferroftpd.log"
    proc = start_detached(["-d", str(layout.root), "-i", "127.0.0.1", "-p", "0",
                           "--log-file", str(log)], layout.root)
    try:
        port = wait_for(lambda: log.exists() and listening_port(log.read_text()),
                        "the listening line in the log file")
        url = f"ftp://127.0.0.1:{port}/"
        assert run_curl(url).returncode == 0
        # logrotate's default: rename, then signal.
        log.rename(logs / "ferroftpd.log.1")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: log.exists() and "configuration reloaded" in log.read_text(),
                 "a new log file")
        assert run_curl(url).returncode == 0
        wait_for(lambda: "session opened" in log.read_text(), "a session in the new file")
        old = (logs / "ferroftpd.log.1").read_text()
        assert "listening on" in old and "configuration reloaded" not in old
        assert proc.poll() is None
    finally:
        stop(proc)


def test_the_pid_file_is_held_while_the_server_runs(layout):
    pidfile = layout.base / "ferroftpd.pid"
    args = ["-d", str(layout.root), "-i", "127.0.0.1", "-p", "0", "--pidfile", str(pidfile)]
    proc = start_detached(args, layout.root)
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), "the pid file")
        assert pidfile.read_text() == f"{proc.pid}\n"
        second = subprocess.run([str(ferroftpd_bin()), *args], capture_output=True,
                                text=True, timeout=30, env=CLIENT_ENV)
        assert second.returncode == 1, second.stderr
        assert f"--pidfile {pidfile}: another server (pid {proc.pid}) holds" in second.stderr
        assert pidfile.read_text() == f"{proc.pid}\n"
    finally:
        stop(proc)
    # Removed, or emptied where the sandbox does not let the server
    # remove it: never a stale id.
    assert not pidfile.exists() or pidfile.read_text() == ""


def test_syslog_output(layout):
    path = layout.base / "log.sock"
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    daemon.bind(str(path))
    daemon.settimeout(10)
    proc = start_detached(["-d", str(layout.root), "-i", "127.0.0.1", "-p", "0", "--syslog",
                           "--syslog-socket", str(path)], layout.root)
    try:
        lines = []
        port = None
        while port is None:
            lines.append(daemon.recv(65536).decode())
            port = listening_port(lines[-1])
        assert run_curl(f"ftp://127.0.0.1:{port}/").returncode == 0
        while not any("session closed" in line for line in lines):
            lines.append(daemon.recv(65536).decode())
        prefix = f"<30>ferroftpd[{proc.pid}]: "
        assert all(line.startswith(prefix) for line in lines), lines
        assert all("\n" not in line for line in lines), lines
    finally:
        stop(proc)
        daemon.close()
    out = proc.stdout.read().decode()
    assert "listening on" not in out, out
