"""Logs and metrics people can use: the xferlog file, JSON log lines, and
the Prometheus endpoint, read with real tools (curl, Python's json)."""

import ftplib
import io
import json
import os
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

    def metrics_text(self) -> str:
        res = run_curl("-sS", f"http://127.0.0.1:{self.metrics_port}/metrics")
        assert res.returncode == 0, res.transcript()
        return res.out

    def metrics(self) -> dict[str, float]:
        return parse_samples(self.metrics_text())

    def get(self, path: str) -> tuple[int, str]:
        """GET ``path`` of the metrics endpoint: (status, body)."""
        res = run_curl("-sS", "-w", "\n%{http_code}", f"http://127.0.0.1:{self.metrics_port}{path}")
        assert res.returncode == 0, res.transcript()
        body, status = res.out.rsplit("\n", 1)
        return int(status), body

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def parse_samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value, for each sample line of the exposition."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-z_]+)="([^"]*)"')


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of each sample line."""
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, line
            out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def families(text: str) -> dict[str, str]:
    """Metric family -> type, from the ``# TYPE`` lines."""
    return {parts[2]: parts[3] for parts in (l.split() for l in text.splitlines())
            if len(parts) == 4 and parts[:2] == ["#", "TYPE"]}


DIRECTIONS = {"download", "upload", "listing"}
TRANSFER_OUTCOMES = {"success", "failure", "aborted", "no_connection"}
LOGIN_OUTCOMES = {"success", "failure", "refused"}


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
        assert m['ferroftpd_logins_total{outcome="success"}'] == 1
        assert m['ferroftpd_logins_total{outcome="failure"}'] == 2
        assert m['ferroftpd_logins_total{outcome="refused"}'] == 0
        assert m['ferroftpd_transfers_total{direction="download",outcome="success"}'] == 1
        assert m['ferroftpd_transfers_total{direction="upload",outcome="success"}'] == 2
        assert m['ferroftpd_transfers_total{direction="upload",outcome="failure"}'] == 0
        assert m['ferroftpd_transfer_bytes_total{direction="download"}'] == 1000
        assert m['ferroftpd_transfer_bytes_total{direction="upload"}'] == 320
        assert m['ferroftpd_transfer_bytes_total{direction="listing"}'] == 0
        assert m['ferroftpd_commands_total{verb="STOR"}'] == 2
        assert m['ferroftpd_commands_total{verb="USER"}'] == 3
        assert m['ferroftpd_commands_total{verb="DELE"}'] == 0
        assert m["ferroftpd_bans_total"] == 0
        # The histograms counted each transfer and login once.
        assert m['ferroftpd_transfer_duration_seconds_count{direction="download"}'] == 1
        assert m['ferroftpd_transfer_duration_seconds_count{direction="upload"}'] == 2
        assert m['ferroftpd_transfer_duration_seconds_bucket{le="+Inf",direction="upload"}'] == 2
        assert 0 < m['ferroftpd_transfer_duration_seconds_sum{direction="upload"}'] < 10
        assert m['ferroftpd_login_duration_seconds_count{outcome="success"}'] == 1
        assert m['ferroftpd_login_duration_seconds_count{outcome="failure"}'] == 2
        assert m['ferroftpd_transfers_active{direction="download"}'] == 0
        status, body = srv.get("/health")
        assert (status, body.strip()) == (200, "ok")
        missing = run_curl("-sS", "-o", "/dev/null", "-w", "%{http_code}",
                           f"http://127.0.0.1:{srv.metrics_port}/nope")
        assert missing.out == "404"
    finally:
        srv.stop()


def test_every_series_is_exported_before_any_traffic(tmp_path):
    """Names follow Prometheus' conventions, one label vocabulary is used
    throughout, and every series whose labels are known is there at 0
    before the first event (so rate() and alerts see the first one)."""
    srv = Observed(tmp_path)
    try:
        text = srv.metrics_text()
    finally:
        srv.stop()
    types = families(text)
    assert types == {
        "ferroftpd_build": "info",
        "ferroftpd_sessions_active": "gauge",
        "ferroftpd_connections_refused": "counter",
        "ferroftpd_logins": "counter",
        "ferroftpd_login_duration_seconds": "histogram",
        "ferroftpd_commands": "counter",
        "ferroftpd_transfers": "counter",
        "ferroftpd_transfer_bytes": "counter",
        "ferroftpd_transfer_duration_seconds": "histogram",
        "ferroftpd_transfers_active": "gauge",
        "ferroftpd_data_connection_errors": "counter",
        "ferroftpd_bans": "counter",
    }, types
    assert "# UNIT ferroftpd_transfer_bytes bytes" in text
    assert "# UNIT ferroftpd_transfer_duration_seconds seconds" in text
    rows = samples(text)
    for name, labels, value in rows:
        family = max((f for f in types if name == f or name.startswith(f + "_")), key=len)
        if types[family] == "counter":
            assert name == family + "_total", name
        if types[family] == "histogram":
            assert name in (family + "_bucket", family + "_sum", family + "_count"), name
        if name == "ferroftpd_build_info":
            assert re.fullmatch(r"\d+\.\d+\.\d+.*", labels["version"]) and value == 1
        else:
            assert value == 0, (name, labels, value)
        # One vocabulary: every direction and outcome label is one of these.
        assert labels.get("direction", "download") in DIRECTIONS, labels
        assert set(labels) <= {"direction", "outcome", "verb", "reason", "le", "version"}, labels

    def label_sets(metric, *keys):
        return {tuple(labels[k] for k in keys) for name, labels, _ in rows if name == metric}

    assert label_sets("ferroftpd_transfers_total", "direction", "outcome") == {
        (d, o) for d in DIRECTIONS for o in TRANSFER_OUTCOMES}
    for metric in ("ferroftpd_transfer_bytes_total", "ferroftpd_transfers_active",
                   "ferroftpd_transfer_duration_seconds_count"):
        assert label_sets(metric, "direction") == {(d,) for d in DIRECTIONS}, metric
    for metric in ("ferroftpd_logins_total", "ferroftpd_login_duration_seconds_count"):
        assert label_sets(metric, "outcome") == {(o,) for o in LOGIN_OUTCOMES}, metric
    assert label_sets("ferroftpd_connections_refused_total", "reason") == {
        ("max_connections",), ("max_connections_per_ip",), ("banned",)}
    verbs = {v for (v,) in label_sets("ferroftpd_commands_total", "verb")}
    assert {"USER", "PASS", "RETR", "STOR", "MLSD", "XSHA256", "SITE", "invalid"} <= verbs
    assert "XCWD" not in verbs  # aliases are counted under the main verb


def test_active_transfers_gauge_follows_running_transfers(tmp_path):
    """The gauge counts a transfer while its data connection is open, by
    direction, and drops back when it ends, whichever way."""
    srv = Observed(tmp_path, "--write-limit", "64K")
    active = 'ferroftpd_transfers_active{{direction="{}"}}'.format
    try:
        (srv.root / "big.bin").write_bytes(b"b" * (1 << 20))
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=10)
        ftp.login(USER, PASSWORD)
        # A download, throttled so that it is still running when scraped.
        conn = ftp.transfercmd("RETR big.bin")
        assert conn.recv(1024)
        assert wait_for(lambda: srv.metrics()[active("download")] == 1)
        assert srv.metrics()[active("upload")] == 0
        assert ftp.abort().startswith("426")  # the transfer's reply
        assert ftp.voidresp().startswith("226")  # ABOR's
        conn.close()
        assert wait_for(lambda: srv.metrics()[active("download")] == 0)
        m = srv.metrics()
        assert m['ferroftpd_transfers_total{direction="download",outcome="aborted"}'] == 1
        assert m['ferroftpd_transfer_duration_seconds_count{direction="download"}'] == 1
        # An upload, held open by the client.
        conn = ftp.transfercmd("STOR up.bin")
        conn.sendall(b"u" * 1000)
        assert wait_for(lambda: srv.metrics()[active("upload")] == 1)
        assert srv.metrics()[active("download")] == 0
        conn.close()
        ftp.voidresp()
        assert wait_for(lambda: srv.metrics()[active("upload")] == 0)
        m = srv.metrics()
        assert m['ferroftpd_transfers_total{direction="upload",outcome="success"}'] == 1
        assert m['ferroftpd_transfer_bytes_total{direction="upload"}'] == 1000
        # A listing is a direction of its own.
        ftp.retrlines("LIST", lambda line: None)
        assert wait_for(lambda: srv.metrics()[
            'ferroftpd_transfers_total{direction="listing",outcome="success"}'] == 1)
        assert srv.metrics()['ferroftpd_transfer_bytes_total{direction="listing"}'] > 0
        # A session that ends in the middle of a transfer leaves no
        # transfer counted as running.
        conn = ftp.transfercmd("RETR big.bin")
        assert conn.recv(1024)
        assert wait_for(lambda: srv.metrics()[active("download")] == 1)
        ftp.close()
        conn.close()
        assert wait_for(lambda: srv.metrics()["ferroftpd_sessions_active"] == 0)
        assert srv.metrics()[active("download")] == 0
    finally:
        srv.stop()


def test_refused_logins_have_an_outcome_of_their_own(tmp_path):
    """Good credentials refused (here: the home cannot be opened) are
    neither successes nor password failures."""
    home = tmp_path / "gone"
    home.mkdir()
    srv = Observed(tmp_path, "--user", f"bob:pw:elr:{home}")
    try:
        home.rmdir()
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=10)
        try:
            ftp.login("bob", "pw")
            raise AssertionError("login to a missing home succeeded")
        except ftplib.error_perm as e:
            assert str(e).startswith("530"), e
        ftp.close()
        m = srv.metrics()
        assert m['ferroftpd_logins_total{outcome="refused"}'] == 1
        assert m['ferroftpd_login_duration_seconds_count{outcome="refused"}'] == 1
        assert m['ferroftpd_logins_total{outcome="failure"}'] == 0
        assert m['ferroftpd_logins_total{outcome="success"}'] == 0
    finally:
        srv.stop()


def test_logins_refused_for_want_of_tls_count_as_refused(tmp_path):
    srv = Observed(tmp_path, "--tls-self-signed", "--tls-control-required")
    try:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", srv.port, timeout=10)
        try:
            ftp.login(USER, PASSWORD)  # in plain text
            raise AssertionError("a plain-text login succeeded")
        except ftplib.error_perm:
            pass
        ftp.close()
        m = srv.metrics()
        assert m['ferroftpd_logins_total{outcome="refused"}'] == 1
        assert m['ferroftpd_logins_total{outcome="failure"}'] == 0
    finally:
        srv.stop()


def test_ready_answers_503_while_the_served_directory_is_unusable(tmp_path):
    """/health is liveness (the process answers); /ready is readiness: 503
    with the reason while the served directory is gone, replaced by a
    file, or (for a user other than root) unreadable; 200 once it is back."""
    srv = Observed(tmp_path)
    aside = tmp_path / "aside"
    try:
        assert srv.get("/ready") == (200, "ready\n")
        srv.root.rename(aside)
        status, body = srv.get("/ready")
        assert status == 503 and body.startswith("not ready: storage of ") and str(srv.root) in body, body
        assert srv.get("/health") == (200, "ok\n")
        srv.root.write_text("not a directory")
        assert srv.get("/ready")[0] == 503
        srv.root.unlink()
        aside.rename(srv.root)
        assert srv.get("/ready") == (200, "ready\n")
        if os.geteuid() != 0:  # root reads any directory whatever its mode
            srv.root.chmod(0)
            try:
                assert srv.get("/ready")[0] == 503
            finally:
                srv.root.chmod(0o755)
            assert srv.get("/ready") == (200, "ready\n")
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
    # Each transfer's figures are fields of its own line, not text.
    transfers = [line["fields"] for line in lines if line["fields"]["message"] in ("RETR", "STOR")]
    assert len(transfers) == 3, transfers
    retr = transfers[0]
    assert retr["message"] == "RETR" and retr["path"] == "/down.bin"
    assert retr["bytes"] == 1000 and retr["direction"] == "download" and retr["outcome"] == "success"
    assert retr["user"] == USER and retr["client"] == "127.0.0.1"
    assert isinstance(retr["duration_seconds"], float) and 0 <= retr["duration_seconds"] < 10
    stor = transfers[1]
    assert (stor["path"], stor["bytes"], stor["direction"], stor["outcome"]) == (
        "/up one.bin", 300, "upload", "success")
    # Session lines carry the session's span with peer and user.
    login = next(line for line in lines if line["fields"]["message"] == "login")
    assert login["span"]["user"] == USER and login["span"]["peer"].startswith("127.0.0.1:")
    # Passwords never reach the log.
    text = srv.log.read_text()
    assert PASSWORD not in text and "wrong" not in text


def test_text_transfer_lines_read_as_the_verb_then_the_fields(start_server):
    """The text format keeps a line people can read, with the same fields
    as the JSON one, values escaped."""
    srv = start_server("--user", f"{USER}:{PASSWORD}", "--auth-failed-delay", "0")
    (srv.root / "a b.txt").write_bytes(b"hello")
    res = run_curl("-sS", f"ftp://{USER}:{PASSWORD}@127.0.0.1:{srv.port}/a%20b.txt")
    assert res.out == "hello", res.transcript()
    assert wait_for(lambda: "RETR path=" in srv.log)
    line = next(l for l in srv.log.splitlines() if "RETR path=" in l)
    assert re.search(r'RETR path=/a b\.txt bytes=5 duration_seconds=[0-9.e-]+ direction="download" '
                     r'outcome="success" user="user" client=127\.0\.0\.1$', line), line


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
