"""Logs and metrics people can use: the xferlog file, JSON log lines, and
the Prometheus endpoint, read with real tools (curl, Python's json)."""

import ftplib
import io
import json
import re
import socket
import subprocess
import time

from support import ferroftpd_bin, run_curl

USER, PASSWORD = "user", "12345"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Observed:
    """A server whose logs go to files and whose metrics are served."""

    def __init__(self, tmp_path, *extra):
        self.root = tmp_path / "root"
        self.root.mkdir()
        self.log = tmp_path / "log.json"
        self.xferlog = tmp_path / "xferlog"
        self.port = free_port()
        self.metrics_port = free_port()
        self.proc = subprocess.Popen(
            [str(ferroftpd_bin()), "-d", str(self.root), "-i", "127.0.0.1", "-p", str(self.port),
             "--user", f"{USER}:{PASSWORD}", "--auth-failed-delay", "0",
             "--log-format", "json", "--log-file", str(self.log), "--xferlog", str(self.xferlog),
             "--metrics-address", f"127.0.0.1:{self.metrics_port}", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.log.exists() and "metrics on" in self.log.read_text():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.stderr.read().decode()}")
            time.sleep(0.05)
        self.stop()
        raise AssertionError("server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def metrics(self) -> dict[str, float]:
        res = run_curl("-sS", f"http://127.0.0.1:{self.metrics_port}/metrics")
        assert res.returncode == 0, res.transcript()
        values = {}
        for line in res.out.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def scripted_session(srv: Observed):
    """Two failed logins, one good one, one download, two uploads, QUIT."""
    (srv.root / "down.bin").write_bytes(b"x" * 1000)
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", srv.port, timeout=10)
    for _ in range(2):
        try:
            ftp.login(USER, "wrong")
        except ftplib.error_perm:
            pass
    ftp.login(USER, PASSWORD)
    ftp.retrbinary("RETR down.bin", lambda b: None)
    ftp.storbinary("STOR up one.bin", io.BytesIO(b"y" * 300))
    ftp.storbinary("STOR up2.bin", io.BytesIO(b"z" * 20))
    ftp.quit()


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_metrics_match_the_traffic(tmp_path):
    srv = Observed(tmp_path)
    try:
        scripted_session(srv)
        assert wait_for(lambda: srv.metrics().get("ferroftpd_sessions_active") == 0)
        m = srv.metrics()
        assert m['ferroftpd_logins_total{result="success"}'] == 1
        assert m['ferroftpd_logins_total{result="failure"}'] == 2
        assert m['ferroftpd_transfers_total{direction="download",result="complete"}'] == 1
        assert m['ferroftpd_transfers_total{direction="upload",result="complete"}'] == 2
        assert m['ferroftpd_transfer_bytes_total{direction="out"}'] == 1000
        assert m['ferroftpd_transfer_bytes_total{direction="in"}'] == 320
        assert m['ferroftpd_commands_total{verb="STOR"}'] == 2
        assert m['ferroftpd_commands_total{verb="USER"}'] == 3
        assert m["ferroftpd_bans_total"] == 0
        health = run_curl("-sS", f"http://127.0.0.1:{srv.metrics_port}/health")
        assert health.out.strip() == "ok"
        missing = run_curl("-sS", "-o", "/dev/null", "-w", "%{http_code}",
                           f"http://127.0.0.1:{srv.metrics_port}/nope")
        assert missing.out == "404"
    finally:
        srv.stop()


XFERLOG = re.compile(
    r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} (\d+) (\S+) (\d+) (\S+) ([ab]) _ ([oi]) ([ar]) (\S+) ftp 0 \* ([ci])$")


def test_xferlog_and_json_lines_parse(tmp_path):
    srv = Observed(tmp_path)
    try:
        scripted_session(srv)
        assert wait_for(lambda: srv.xferlog.exists() and len(srv.xferlog.read_text().splitlines()) == 3)
    finally:
        srv.stop()
    rows = [XFERLOG.match(line) for line in srv.xferlog.read_text().splitlines()]
    assert all(rows), srv.xferlog.read_text()
    parsed = [(r.group(3), r.group(4).rsplit("/", 1)[-1], r.group(6), r.group(7), r.group(8), r.group(9))
              for r in rows]
    assert parsed == [
        ("1000", "down.bin", "o", "r", USER, "c"),
        ("300", "up_one.bin", "i", "r", USER, "c"),
        ("20", "up2.bin", "i", "r", USER, "c"),
    ]
    assert all(r.group(2) == "127.0.0.1" and r.group(5) == "b" for r in rows)
    lines = srv.json_lines()
    messages = [line["fields"]["message"] for line in lines]
    assert any(m.startswith("listening on 127.0.0.1:") for m in messages)
    assert sum("FAIL LOGIN" in m for m in messages) == 2
    assert any(m.startswith("RETR /down.bin completed=1 bytes=1000") for m in messages)
    # Session lines carry the session's span with peer and user.
    login = next(line for line in lines if line["fields"]["message"] == "login")
    assert login["span"]["user"] == USER and login["span"]["peer"].startswith("127.0.0.1:")
    # Passwords never reach the log.
    text = srv.log.read_text()
    assert PASSWORD not in text and "wrong" not in text


def test_pyftpdlib_style_prefix(start_server):
    srv = start_server("--user", f"{USER}:{PASSWORD}", "--auth-failed-delay", "0",
                       "--log-prefix", "{ip}:{port}-[{user}]")
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", srv.port, timeout=10)
    ftp.login(USER, PASSWORD)
    ftp.quit()
    assert wait_for(lambda: "session closed" in srv.log)
    line = next(l for l in srv.log.splitlines() if l.rstrip().endswith(" login") or " login " in l)
    assert re.match(r"^\[I \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] 127\.0\.0\.1:\d+-\[user\] login", line), line
    opened = next(l for l in srv.log.splitlines() if "session opened" in l)
    assert re.search(r"127\.0\.0\.1:\d+-\[\] session opened", opened), opened


def test_logging_in_again_does_not_lengthen_log_lines(start_server):
    """Each login shows its user once: text logs once appended the user to
    the session's fields at every login, so lines grew with the number of
    logins and the log with its square."""
    srv = start_server("--user", f"{USER}:{PASSWORD}", "--anonymous", "--auth-failed-delay", "0")
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", srv.port, timeout=10)
    for _ in range(40):
        ftp.login("anonymous", "x")
        ftp.sendcmd("REIN")
        ftp.login(USER, PASSWORD)
        ftp.login(USER, PASSWORD)  # USER again, without REIN
    ftp.sendcmd("NOOP")
    ftp.quit()
    assert wait_for(lambda: "session closed" in srv.log)
    lines = srv.log.splitlines()
    session_lines = [l for l in lines if "session{" in l]
    assert len(session_lines) > 200
    for line in session_lines:
        assert line.count("user=") <= 2, line  # the span's, and the event's own
        assert len(line) < 400, line
    # The NOOP after the last login is logged under that user alone.
    noop = next(l for l in lines if "<- NOOP" in l)
    assert re.search(r"session\{id=\d+ peer=127\.0\.0\.1:\d+ user=\"user\"\}", noop), noop


def test_control_characters_from_clients_are_escaped_in_logs(start_server):
    """A carriage return or escape sequence in a command line or path reaches
    the log escaped, so a client cannot forge or hide log lines."""
    srv = start_server("--user", f"{USER}:{PASSWORD}", "--auth-failed-delay", "0")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        f = s.makefile("rwb")
        f.readline()
        for line in (f"USER {USER}", f"PASS {PASSWORD}", "MKD x\rFORGED LINE", "MKD y\x1b[2J",
                     "CWD z\rFORGED TOO", "QUIT"):
            f.write(line.encode() + b"\r\n")
            f.flush()
            f.readline()
    assert wait_for(lambda: "session closed" in srv.log)
    raw = srv.log_path.read_bytes()
    assert b"\r" not in raw and b"\x1b[2J" not in raw
    text = raw.decode()
    assert "<- MKD x\\rFORGED LINE" in text, text[-3000:]
    assert "path=/x\\rFORGED LINE" in text, text[-3000:]
    assert not any(l.startswith("FORGED") for l in text.splitlines())
