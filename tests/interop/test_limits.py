"""Limits, timeouts, bans, bandwidth throttling and the fail2ban filter.

Real clients (ftplib, curl, lftp) against the real binary. Connections that
must count as coming from another address bind a different loopback source
address (127.0.0.2, 127.0.0.3, ...), which reaches a server on 127.0.0.1.

Timing assertions are lower bounds only (a slow machine may always take
longer); upper bounds come from the clients' own timeouts.
"""

from __future__ import annotations

import ast
import ftplib
import io
import re
import shutil
import socket
import time
from pathlib import Path

import pytest

from conftest import STANDARD_FLAGS
from support import (
    FTP_TIMEOUT,
    PASSWORD,
    REPO_ROOT,
    USER,
    TranscriptFTP,
    expect_refused,
    ferroftpd_bin,
    ftp_connect,
    ftp_session,
    random_bytes,
    retr_bytes,
    run,
    run_curl,
    run_lftp,
    sha256,
)

pytestmark = pytest.mark.cli

ANON = ("anonymous", "guest@example.com")
FAIL2BAN_DOCS = REPO_ROOT / "docs" / "fail2ban"
FILTER = FAIL2BAN_DOCS / "filter.d" / "ferroftpd.conf"
JAIL = FAIL2BAN_DOCS / "jail.d" / "ferroftpd.local"

TOO_MANY_FROM_ADDRESS = "421 Too many connections from your address."
TOO_MANY_SESSIONS = "530 Too many sessions for this user."
IDLE_TIMEOUT = "421 Control connection timed out."
LOGIN_TIMEOUT = "421 Login timed out; closing connection."
BANNED = "421 Too many failed logins from your address; try again later."


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def wait_until(predicate, what: str, timeout: float = 5.0):
    """Polls ``predicate`` until it returns something true; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def greeting(server, source: str | None = None) -> str:
    """Connects, returns the greeting (or the refusal) and closes."""
    ftp = TranscriptFTP(timeout=FTP_TIMEOUT, encoding="utf-8")
    try:
        return ftp.connect(server.host, server.port, timeout=FTP_TIMEOUT,
                           source_address=(source, 0) if source else None)
    except ftplib.Error as exc:
        return str(exc)
    finally:
        ftp.close()


def unsolicited_reply(ftp: ftplib.FTP, timeout: float = FTP_TIMEOUT) -> str:
    """Waits for a reply the client did not ask for (a timeout's 421), then
    checks that the server closed the connection after it."""
    ftp.sock.settimeout(timeout)
    line = ftp.getline()
    try:
        rest = ftp.getline()
    except (EOFError, OSError):
        return line
    raise AssertionError(f"connection still open after {line!r}: got {rest!r}")


def fail_login(ftp: ftplib.FTP, user: str = USER, password: str = "wrong") -> str:
    assert ftp.sendcmd(f"USER {user}").startswith("331")
    return expect_refused(ftp.sendcmd, f"PASS {password}", codes=(530,))


def min_seconds(nbytes: int, rate: int) -> float:
    """The least time a transfer of ``nbytes`` at ``rate`` bytes/s may take,
    allowing a burst of 10% of the bytes."""
    return nbytes * 0.9 / rate


def curl_seconds(res) -> float:
    """Transfer time from curl's ``-w '%{time_pretransfer} %{time_total}'``."""
    pre, total = (float(x) for x in res.out.split()[-2:])
    return total - pre


CURL_TIMES = ("-w", "%{time_pretransfer} %{time_total}")


# --------------------------------------------------------------------------
# connection and session limits
# --------------------------------------------------------------------------


def test_max_cons_per_ip(start_server):
    srv = start_server(*STANDARD_FLAGS, "--max-cons-per-ip", "2")
    first = ftp_connect(srv, user=None)
    second = ftp_connect(srv, user=None)
    try:
        assert first.welcome.startswith("220") and second.welcome.startswith("220")
        # a third and fourth connection from 127.0.0.1 are refused at connect
        for _ in range(2):
            assert greeting(srv) == TOO_MANY_FROM_ADDRESS
        # another address still gets in, and may log in and transfer...
        with ftp_session(srv, source="127.0.0.2") as other, \
                ftp_session(srv, user=None, source="127.0.0.2"):
            assert retr_bytes(other, "root-marker.txt") == b"inside the root\n"
            # ... up to its own limit
            assert greeting(srv, source="127.0.0.2") == TOO_MANY_FROM_ADDRESS
        # the refused connections took no slot: the first two still work
        first.login(USER, PASSWORD)
        assert first.voidcmd("NOOP").startswith("200")
        assert second.voidcmd("NOOP").startswith("200")
        # a closed connection gives its slot back
        first.quit()
        wait_until(lambda: greeting(srv).startswith("220"), "the slot of a closed connection")
    finally:
        for ftp in (first, second):
            ftp.close()
            print(ftp.transcript())


def test_max_cons(start_server):
    srv = start_server(*STANDARD_FLAGS, "--max-cons", "2")
    with ftp_session(srv), ftp_session(srv, source="127.0.0.2"):
        reply = greeting(srv, source="127.0.0.3")
        assert reply.startswith("421"), reply
    wait_until(lambda: greeting(srv, source="127.0.0.3").startswith("220"),
               "a free slot after both sessions quit")


def test_max_sessions_per_user(start_server):
    srv = start_server(*STANDARD_FLAGS, "--max-sessions-per-user", "1")
    with ftp_session(srv) as first:
        # a second ftplib session of the same user is refused...
        ftp = ftp_connect(srv, user=None)
        try:
            assert ftp.sendcmd(f"USER {USER}").startswith("331")
            msg = expect_refused(ftp.sendcmd, f"PASS {PASSWORD}", codes=(530,))
            assert msg == TOO_MANY_SESSIONS
            # ... but the connection may log in as someone else
            assert ftp.login(*ANON).startswith("230")
            assert "root-marker.txt" in ftp.nlst()
        finally:
            ftp.close()
            print(ftp.transcript())
        # lftp as the same user is refused too (lftp takes this 530 as
        # temporary; net:max-retries 1 keeps it from retrying)
        res = run_lftp(srv, "ls")
        assert res.returncode != 0, res.transcript()
        assert "Too many sessions for this user" in res.stderr, res.transcript()
        # the first session is untouched
        assert first.voidcmd("NOOP").startswith("200")
        assert retr_bytes(first, "root-marker.txt") == b"inside the root\n"
    # once the first session has quit, its slot is free again

    def lftp_logs_in():
        res = run_lftp(srv, "ls")
        return res.returncode == 0 and "root-marker.txt" in res.out

    wait_until(lftp_logs_in, "lftp to log in after the first session quit")


# --------------------------------------------------------------------------
# timeouts
# --------------------------------------------------------------------------


def test_idle_timeout(start_server):
    srv = start_server(*STANDARD_FLAGS, "--timeout", "1")
    with ftp_session(srv) as ftp:
        # commands keep the session alive past the timeout
        for _ in range(4):
            time.sleep(0.4)
            assert ftp.voidcmd("NOOP").startswith("200")
        # then idle: the server says why and closes
        t0 = time.monotonic()
        assert unsolicited_reply(ftp) == IDLE_TIMEOUT
        assert time.monotonic() - t0 >= 0.8
    assert "timed out" in srv.log


def test_idle_timeout_not_counted_during_transfer(start_server):
    # docs/cli.md: --timeout is "idle time allowed between commands, not
    # counted during a transfer"
    srv = start_server(*STANDARD_FLAGS, "--timeout", "1", "--write-limit", "512K")
    data = random_bytes(768 * 1024, seed=70)
    (srv.root / "slow.bin").write_bytes(data)
    with ftp_session(srv) as ftp:
        # 768 KiB at 512 KiB/s: longer than the timeout
        t0 = time.monotonic()
        assert sha256(retr_bytes(ftp, "slow.bin")) == sha256(data)
        assert time.monotonic() - t0 >= min_seconds(len(data), 512 * 1024)
        # the session is not idle yet: the transfer just ended
        time.sleep(0.2)
        assert ftp.voidcmd("NOOP").startswith("200")
        # and the idle timeout counts from the end of the transfer
        t0 = time.monotonic()
        assert unsolicited_reply(ftp) == IDLE_TIMEOUT
        assert time.monotonic() - t0 >= 0.8


def test_login_timeout(start_server):
    srv = start_server(*STANDARD_FLAGS, "--login-timeout", "1")
    t0 = time.monotonic()
    slow = ftp_connect(srv, user=None)
    quick = ftp_connect(srv)  # logs in at once
    try:
        # sending commands does not extend the time to log in
        assert slow.sendcmd(f"USER {USER}").startswith("331")
        assert unsolicited_reply(slow) == LOGIN_TIMEOUT
        assert time.monotonic() - t0 >= 0.9
        # the logged-in session is not affected
        time.sleep(0.3)
        assert quick.voidcmd("NOOP").startswith("200")
        assert retr_bytes(quick, "root-marker.txt") == b"inside the root\n"
    finally:
        for ftp in (slow, quick):
            ftp.close()
            print(ftp.transcript())


def test_passive_and_data_timeouts(start_server):
    srv = start_server(*STANDARD_FLAGS, "--passive-timeout", "1", "--data-timeout", "1")
    # far more than the socket buffers of both ends hold (sparse: no disk)
    with open(srv.root / "huge.bin", "wb") as f:
        f.truncate(64 * 1024 * 1024)
    with ftp_session(srv) as ftp:
        ftp.voidcmd("TYPE I")
        # PASV, then the client never connects: 425
        assert ftp.sendcmd("PASV").startswith("227")
        t0 = time.monotonic()
        first = ftp.sendcmd("RETR root-marker.txt")
        assert first.startswith(("125", "150")), first
        expect_refused(ftp.getresp, codes=(425,))
        assert time.monotonic() - t0 >= 0.9
        assert ftp.voidcmd("NOOP").startswith("200")
        # a download the client stops reading: 426, and the session goes on
        conn = ftp.transfercmd("RETR huge.bin")
        try:
            t0 = time.monotonic()
            ftp.sock.settimeout(30)
            expect_refused(ftp.getresp, codes=(426,))
            assert time.monotonic() - t0 >= 0.9
        finally:
            conn.close()
        ftp.sock.settimeout(FTP_TIMEOUT)
        assert ftp.voidcmd("NOOP").startswith("200")
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"


# --------------------------------------------------------------------------
# bans and pre-login abuse
# --------------------------------------------------------------------------


def test_ban_after_failed_logins(start_server):
    srv = start_server(*STANDARD_FLAGS, "--ban-failures", "3", "--ban-window", "60",
                       "--ban-time", "60")
    # three failed logins with curl, each on its own connection
    for i in range(3):
        res = run_curl(srv.url("root-marker.txt", password=f"wrong{i}"))
        assert res.returncode == 67, res.transcript()  # CURLE_LOGIN_DENIED
    # the next connection from the address is refused at once, whoever it is
    assert greeting(srv) == BANNED
    res = run_curl(srv.url("root-marker.txt"))
    assert res.returncode != 0, res.transcript()
    assert BANNED in res.stderr, res.transcript()
    # other addresses are not banned
    with ftp_session(srv, source="127.0.0.2") as ftp:
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"
    res = run_curl("--interface", "127.0.0.3", srv.url("root-marker.txt"))
    assert res.returncode == 0 and res.stdout == b"inside the root\n", res.transcript()
    assert "banned" in srv.log


def test_ban_counts_failures_on_one_connection(start_server):
    srv = start_server(*STANDARD_FLAGS, "--ban-failures", "3", "--max-login-attempts", "5")
    ftp = ftp_connect(srv, user=None)
    try:
        for _ in range(3):
            fail_login(ftp)
    finally:
        ftp.close()
        print(ftp.transcript())
    assert greeting(srv) == BANNED


def test_no_ban(start_server):
    srv = start_server(*STANDARD_FLAGS, "--no-ban", "--ban-failures", "3")
    for i in range(5):
        res = run_curl(srv.url("root-marker.txt", password=f"wrong{i}"))
        assert res.returncode == 67, res.transcript()
    assert greeting(srv).startswith("220")
    res = run_curl(srv.url("root-marker.txt"))
    assert res.returncode == 0 and res.stdout == b"inside the root\n", res.transcript()


def test_max_unknown_commands(start_server):
    srv = start_server(*STANDARD_FLAGS, "--max-unknown-commands", "2")
    ftp = ftp_connect(srv, user=None)
    try:
        for _ in range(2):
            expect_refused(ftp.sendcmd, "XYZZY", codes=(500,))
        # known commands do not count
        assert ftp.sendcmd(f"USER {USER}").startswith("331")
        expect_refused(ftp.sendcmd, "XYZZY", codes=(421,))
        with pytest.raises((EOFError, OSError)):
            ftp.sendcmd("NOOP")
    finally:
        ftp.close()
        print(ftp.transcript())
    # after login there is no such limit
    with ftp_session(srv) as ftp:
        for _ in range(5):
            expect_refused(ftp.sendcmd, "XYZZY", codes=(500,))
        assert ftp.voidcmd("NOOP").startswith("200")


def test_http_request_closes_at_once(start_server):
    srv = start_server(*STANDARD_FLAGS, "--max-unknown-commands", "10")
    with socket.create_connection((srv.host, srv.port), timeout=FTP_TIMEOUT) as sock:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"220")
        sock.sendall(b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\n\r\n")
        try:
            rest = f.read()  # until the server closes
        except ConnectionResetError:  # it closed with the header lines unread
            rest = b""
    assert rest == b"" or rest.startswith(b"421"), rest
    assert b"500" not in rest, rest  # the header lines were not read as commands


# --------------------------------------------------------------------------
# bandwidth
# --------------------------------------------------------------------------


def test_write_limit_slows_downloads_curl(start_server, layout):
    rate = 512 * 1024
    srv = start_server(*STANDARD_FLAGS, "--write-limit", "512K")
    data = random_bytes(1024 * 1024, seed=71)
    (srv.root / "big.bin").write_bytes(data)
    out = layout.clients / "big.out"
    res = run_curl("-o", str(out), *CURL_TIMES, srv.url("big.bin"))
    assert res.returncode == 0, res.transcript()
    assert sha256(out.read_bytes()) == sha256(data)
    assert curl_seconds(res) >= min_seconds(len(data), rate), res.transcript()
    # uploads are not limited by --write-limit
    res = run_curl("-T", str(out), *CURL_TIMES, srv.url("up.bin"))
    assert res.returncode == 0, res.transcript()
    assert sha256((srv.root / "up.bin").read_bytes()) == sha256(data)


def test_read_limit_slows_uploads_curl(start_server, layout):
    rate = 512 * 1024
    srv = start_server(*STANDARD_FLAGS, "--read-limit", "512K")
    data = random_bytes(1024 * 1024, seed=72)
    src = layout.clients / "up.bin"
    src.write_bytes(data)
    res = run_curl("-T", str(src), *CURL_TIMES, srv.url("up.bin"))
    assert res.returncode == 0, res.transcript()
    assert sha256((srv.root / "up.bin").read_bytes()) == sha256(data)
    assert curl_seconds(res) >= min_seconds(len(data), rate), res.transcript()


# --------------------------------------------------------------------------
# the same settings from a TOML --config file
# --------------------------------------------------------------------------


def test_limits_from_config_file(start_server, layout):
    rate = 256 * 1024
    config = layout.base / "ferroftpd.toml"
    config.write_text(f"""\
user = ["{USER}:{PASSWORD}"]
anonymous = "elr"
auth_failed_delay = 0
max_cons_per_ip = 2
max_sessions_per_user = 1
max_unknown_commands = 1
login_timeout = 1
ban_failures = 2
ban_window = 60
ban_time = 60
write_limit = "256K"
""")
    srv = start_server("--config", str(config))
    data = random_bytes(384 * 1024, seed=73)
    (srv.root / "cfg.bin").write_bytes(data)

    # max_cons_per_ip, from 127.0.0.2
    with ftp_session(srv, user=None, source="127.0.0.2"), \
            ftp_session(srv, user=None, source="127.0.0.2"):
        assert greeting(srv, source="127.0.0.2") == TOO_MANY_FROM_ADDRESS

    # max_sessions_per_user
    with ftp_session(srv):
        ftp = ftp_connect(srv, user=None)
        try:
            assert ftp.sendcmd(f"USER {USER}").startswith("331")
            msg = expect_refused(ftp.sendcmd, f"PASS {PASSWORD}", codes=(530,))
            assert msg == TOO_MANY_SESSIONS
        finally:
            ftp.close()
            print(ftp.transcript())

    # max_unknown_commands, from 127.0.0.3
    ftp = ftp_connect(srv, user=None, source="127.0.0.3")
    try:
        expect_refused(ftp.sendcmd, "XYZZY", codes=(500,))
        expect_refused(ftp.sendcmd, "XYZZY", codes=(421,))
    finally:
        ftp.close()
        print(ftp.transcript())

    # login_timeout, from 127.0.0.4
    t0 = time.monotonic()
    ftp = ftp_connect(srv, user=None, source="127.0.0.4")
    try:
        assert unsolicited_reply(ftp) == LOGIN_TIMEOUT
        assert time.monotonic() - t0 >= 0.9
    finally:
        ftp.close()

    # ban_failures, from 127.0.0.5
    for i in range(2):
        ftp = ftp_connect(srv, user=None, source="127.0.0.5")
        try:
            fail_login(ftp, password=f"wrong{i}")
        finally:
            ftp.close()
    assert greeting(srv, source="127.0.0.5") == BANNED

    # write_limit, with curl from 127.0.0.1 (the user's slot is free again)
    out = layout.clients / "cfg.out"

    def download():
        return run_curl("-o", str(out), *CURL_TIMES, srv.url("cfg.bin"))

    for _ in range(5):
        res = download()
        if res.returncode != 67:
            break
        time.sleep(0.2)  # the session above has not given its slot back yet
    assert res.returncode == 0, res.transcript()
    assert sha256(out.read_bytes()) == sha256(data)
    assert curl_seconds(res) >= min_seconds(len(data), rate), res.transcript()


def test_config_file_no_ban_timeout_and_flag_precedence(start_server, layout):
    config = layout.base / "ferroftpd.toml"
    config.write_text(f"""\
user = ["{USER}:{PASSWORD}"]
auth_failed_delay = 0
no_ban = true
ban_failures = 1
timeout = 1
max_cons_per_ip = 1
read_limit = "512K"
""")
    # the command line wins over the file
    srv = start_server("--config", str(config), "--max-cons-per-ip", "2")
    # no_ban: failures do not ban
    for i in range(3):
        ftp = ftp_connect(srv, user=None)
        try:
            fail_login(ftp, password=f"wrong{i}")
        finally:
            ftp.close()
    # timeout (idle), from 127.0.0.2
    with ftp_session(srv, source="127.0.0.2") as ftp:
        t0 = time.monotonic()
        assert unsolicited_reply(ftp) == IDLE_TIMEOUT
        assert time.monotonic() - t0 >= 0.8
    # max_cons_per_ip from the command line (2), not the file (1)
    data = random_bytes(512 * 1024, seed=74)
    with ftp_session(srv) as ftp, ftp_session(srv, user=None):
        assert greeting(srv) == TOO_MANY_FROM_ADDRESS
        # read_limit
        t0 = time.monotonic()
        ftp.storbinary("STOR cfg-up.bin", io.BytesIO(data))
        assert time.monotonic() - t0 >= min_seconds(len(data), 512 * 1024)
    assert sha256((srv.root / "cfg-up.bin").read_bytes()) == sha256(data)


def test_config_file_unknown_key_is_an_error(layout):
    config = layout.base / "bad.toml"
    config.write_text("max_cons_per_ipp = 3\n")
    res = run([str(ferroftpd_bin()), "--config", str(config), "-p", "0", "-i", "127.0.0.1"],
              timeout=10)
    assert res.returncode != 0, res.transcript()
    assert "max_cons_per_ipp" in res.stderr, res.transcript()


# --------------------------------------------------------------------------
# fail2ban
# --------------------------------------------------------------------------


def _fail2ban_tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: install fail2ban (scripts/test does)"
    return path


def test_fail2ban_filter_matches_failed_logins(start_server, layout):
    fail2ban_regex = _fail2ban_tool("fail2ban-regex")
    # logged as in production: no -D, stderr to a file
    srv = start_server(*STANDARD_FLAGS, debug=False)
    hostile = 'x" FAIL LOGIN: Client "203.0.113.66", user "y'
    failures = 0
    # curl: a wrong password, an unknown user
    for user, password in ((USER, "wrong"), ("nobody", "pw")):
        res = run_curl(srv.url("root-marker.txt", user=user, password=password))
        assert res.returncode == 67, res.transcript()
        failures += 1
    # ftplib: two failures on one connection, one with a name that tries to
    # forge another address into the line; then a good login
    ftp = ftp_connect(srv, user=None)
    try:
        fail_login(ftp)
        fail_login(ftp, user=hostile)
        failures += 2
        assert ftp.login(USER, PASSWORD).startswith("230")
    finally:
        ftp.close()
        print(ftp.transcript())
    # successful logins are not failures
    with ftp_session(srv, *ANON):
        pass
    res = run_curl(srv.url("root-marker.txt"))
    assert res.returncode == 0, res.transcript()

    wait_until(lambda: srv.log.count("FAIL LOGIN:") >= failures, "the FAIL LOGIN lines")
    started = time.time()
    res = run([fail2ban_regex, str(srv.log_path), str(FILTER)], timeout=30)
    assert res.returncode == 0, res.transcript()
    m = re.search(r"Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", res.out)
    assert m, res.transcript()
    assert int(m.group(3)) == failures, res.transcript()
    # every line had its date recognised
    assert re.search(r"\[(\d+)\] \^Year-Month-DayT24hour", res.out), res.transcript()
    dated = int(re.search(r"\[(\d+)\] \^Year-Month-DayT24hour", res.out).group(1))
    assert dated == int(m.group(1)), res.transcript()

    # what fail2ban takes from each match: host, time, user; in a time zone
    # five hours from UTC, so that reading the UTC time as local would show
    res = run(["env", "TZ=EST5", fail2ban_regex, "-o", "row", str(srv.log_path), str(FILTER)],
              timeout=30)
    assert res.returncode == 0, res.transcript()
    rows = [ast.literal_eval(line.rstrip(",")) for line in res.out.splitlines()
            if line.startswith("[")]
    assert len(rows) == failures, res.transcript()
    assert {host for host, _, _ in rows} == {"127.0.0.1"}, res.transcript()
    for _, when, _ in rows:
        # the RFC 3339 time was read as UTC, not as local time
        assert abs(when - started) < 600, (when, started, res.transcript())
    users = sorted(info["user"] for _, _, info in rows)
    assert users == sorted([USER, "nobody", USER, hostile.replace('"', '\\"')]), users


def test_fail2ban_doc_shows_the_filter():
    def settings(text: str) -> list[str]:
        return [line for line in text.splitlines()
                if line.startswith(("failregex =", "datepattern ="))]

    in_filter = settings(FILTER.read_text())
    assert len(in_filter) == 2, in_filter
    assert settings((REPO_ROOT / "docs" / "fail2ban.md").read_text()) == in_filter


def test_fail2ban_example_jail_loads(layout):
    fail2ban_client = _fail2ban_tool("fail2ban-client")
    etc = Path("/etc/fail2ban")
    assert (etc / "jail.conf").is_file(), "fail2ban's /etc/fail2ban/jail.conf is missing"
    conf = layout.base / "fail2ban"
    shutil.copytree(etc, conf, symlinks=True)
    # only our jail: the distribution's may name logs this machine lacks
    shutil.rmtree(conf / "jail.d")
    (conf / "jail.d").mkdir()
    (conf / "jail.local").unlink(missing_ok=True)
    log = layout.base / "ferroftpd.log"  # fail2ban checks that the log exists
    log.write_text("")
    shutil.copy(FILTER, conf / "filter.d" / "ferroftpd.conf")
    jail = JAIL.read_text()
    assert "logpath  = /var/log/ferroftpd.log" in jail
    (conf / "jail.d" / "ferroftpd.local").write_text(
        jail.replace("/var/log/ferroftpd.log", str(log)))
    res = run([fail2ban_client, "-c", str(conf), "-t"], timeout=30)
    assert res.returncode == 0, res.transcript()
    res = run([fail2ban_client, "-c", str(conf), "-d"], timeout=30)
    assert res.returncode == 0, res.transcript()
    assert "['add', 'ferroftpd'" in res.out, res.transcript()
    assert "FAIL LOGIN" in res.out, res.transcript()
