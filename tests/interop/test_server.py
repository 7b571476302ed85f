"""Whole-server behaviour: sessions, accounts, permissions and command-line options.

Driven mostly with Python's ftplib, plus curl and lftp where a real client's
view matters (IPv6).
"""

from __future__ import annotations

import ftplib
import io
import os
import re
import signal
import socket
import subprocess
import threading
import time
import traceback

import pytest

from conftest import STANDARD_FLAGS
from support import (
    PASSWORD,
    UNICODE_NAME,
    USER,
    expect_refused,
    ferroftpd_bin,
    ftp_connect,
    ftp_session,
    random_bytes,
    raw_transfer,
    retr_bytes,
    run,
    run_curl,
    run_lftp,
    sha256,
)

pytestmark = pytest.mark.cli

ANON = ("anonymous", "guest@example.com")


# --------------------------------------------------------------------------
# sessions and login
# --------------------------------------------------------------------------


def test_user_and_anonymous_share_the_directory_at_once(server):
    (server.root / "shared.txt").write_bytes(b"from disk")
    with ftp_session(server) as user, ftp_session(server, *ANON) as anon:
        assert user.pwd() == "/" and anon.pwd() == "/"
        assert retr_bytes(user, "shared.txt") == b"from disk"
        assert retr_bytes(anon, "shared.txt") == b"from disk"
        # what the user writes, the anonymous session sees immediately
        user.storbinary(f"STOR {UNICODE_NAME}", io.BytesIO(b"written by user"))
        assert UNICODE_NAME in anon.nlst()
        assert retr_bytes(anon, UNICODE_NAME) == b"written by user"
        # and the anonymous session still cannot write while the user can
        expect_refused(anon.storbinary, "STOR anon.txt", io.BytesIO(b"x"), codes=(550, 553))
        user.mkd("made-by-user")
        assert "made-by-user" in anon.nlst()
        # both sessions are still alive
        assert user.voidcmd("NOOP").startswith("200")
        assert anon.voidcmd("NOOP").startswith("200")
    assert not (server.root / "anon.txt").exists()


def test_failed_login_then_success_on_same_connection(server):
    ftp = ftp_connect(server, user=None)
    try:
        assert ftp.sendcmd(f"USER {USER}").startswith("331")
        expect_refused(ftp.sendcmd, "PASS wrong-password", codes=(530,))
        # not logged in: commands are refused
        expect_refused(ftp.sendcmd, "PWD", codes=(530,))
        # unknown users get 331 too (no user enumeration), then 530
        assert ftp.sendcmd("USER no-such-user").startswith("331")
        expect_refused(ftp.sendcmd, "PASS whatever", codes=(530,))
        resp = ftp.login(USER, PASSWORD)
        assert resp.startswith("230"), resp
        assert ftp.pwd() == "/"
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"
    finally:
        ftp.close()
        print(ftp.transcript())


def test_commands_before_login_are_refused(server):
    ftp = ftp_connect(server, user=None)
    try:
        for cmd in ("PWD", "CWD /", "LIST", "RETR root-marker.txt", "STOR x", "MKD d", "PASV"):
            expect_refused(ftp.sendcmd, cmd, codes=(530,))
        expect_refused(ftp.sendcmd, "PASS 12345", codes=(503,))  # PASS before USER
    finally:
        ftp.close()
        print(ftp.transcript())
    assert not (server.root / "x").exists() and not (server.root / "d").exists()


def test_basic_commands_real_clients_send(server):
    with ftp_session(server) as ftp:
        assert ftp.sendcmd("SYST").startswith("215")
        feat = ftp.sendcmd("FEAT")
        assert feat.startswith("211"), feat
        advertised = {line.strip().split(" ")[0].upper() for line in feat.splitlines()[1:-1]}
        missing = {"EPSV", "EPRT", "MDTM", "SIZE", "MLST", "REST", "UTF8", "MFMT"} - advertised
        assert not missing, f"FEAT does not advertise {missing}:\n{feat}"
        assert ftp.sendcmd("OPTS UTF8 ON").startswith("200")
        assert ftp.sendcmd("TYPE I").startswith("200")
        assert ftp.sendcmd("TYPE A").startswith("200")
        assert ftp.sendcmd("MODE S").startswith("200")
        assert ftp.sendcmd("STRU F").startswith("200")
        assert ftp.sendcmd("NOOP").startswith("200")
        expect_refused(ftp.sendcmd, "XYZZY", codes=(500, 502))
        assert ftp.sendcmd("STAT").startswith("211")
        stat = ftp.sendcmd("STAT root-marker.txt")
        assert stat.startswith(("211", "212", "213")) and "root-marker.txt" in stat, stat
        help_ = ftp.sendcmd("HELP")
        assert help_.startswith("214"), help_


def test_quit_replies_221(server):
    ftp = ftp_connect(server)
    try:
        assert ftp.quit().startswith("221")
    finally:
        ftp.close()


def _drain_until_noop_answered(ftp: ftplib.FTP) -> list[str]:
    """Sends NOOP and reads replies until its 200; returns the replies read."""
    ftp.putcmd("NOOP")
    replies: list[str] = []
    while len(replies) < 4:
        replies.append(ftp.getmultiline())
        if replies[-1].startswith("200"):
            return replies
    raise AssertionError(f"NOOP after ABOR never answered 200: {replies}")


def test_abort_inband_during_download(server):
    (server.root / "big.bin").write_bytes(random_bytes(20 * 1024 * 1024, seed=31))
    with ftp_session(server) as ftp:
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("RETR big.bin")
        assert conn.recv(65536)
        ftp.putcmd("ABOR")  # a plain ABOR line, no urgent data
        first = ftp.getline()
        assert first[:3] in ("426", "225", "226"), first
        conn.close()
        _drain_until_noop_answered(ftp)
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"


def test_abort_urgent_ftplib(server):
    # ftplib.FTP.abort() sends "ABOR\r\n" with MSG_OOB: the last byte (LF) is
    # TCP urgent data. A server must read urgent data inline (SO_OOBINLINE),
    # as pyftpdlib does, or it never sees the end of the ABOR line.
    (server.root / "big.bin").write_bytes(random_bytes(20 * 1024 * 1024, seed=31))
    with ftp_session(server) as ftp:
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("RETR big.bin")
        assert conn.recv(65536)
        try:
            ftp.abort()
        except (ftplib.error_proto, ftplib.error_reply):
            pass
        conn.close()
        _drain_until_noop_answered(ftp)
        # and another transfer works
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"


def test_parallel_sessions_and_transfers(server):
    blobs = {f"p{i}.bin": random_bytes(1_000_000, seed=40 + i) for i in range(6)}
    errors: list[str] = []

    def worker(name: str, data: bytes, passive: bool):
        try:
            with ftp_session(server, passive=passive) as ftp:
                ftp.storbinary(f"STOR {name}", io.BytesIO(data))
                assert sha256(retr_bytes(ftp, name)) == sha256(data)
        except BaseException:  # noqa: BLE001 - reported below
            errors.append(f"{name} ({'passive' if passive else 'active'}):\n{traceback.format_exc()}")

    threads = [threading.Thread(target=worker, args=(n, d, i % 2 == 0))
               for i, (n, d) in enumerate(blobs.items())]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
    assert not any(t.is_alive() for t in threads), "a transfer thread hung"
    assert not errors, "\n".join(errors)
    for name, data in blobs.items():
        assert sha256((server.root / name).read_bytes()) == sha256(data)


# --------------------------------------------------------------------------
# accounts and permissions
# --------------------------------------------------------------------------


def test_default_is_anonymous_read_only(start_server):
    srv = start_server("--auth-failed-delay", "0")  # no account flags
    (srv.root / "pub.txt").write_bytes(b"pub")
    with ftp_session(srv, *ANON) as ftp:
        assert retr_bytes(ftp, "pub.txt") == b"pub"
        expect_refused(ftp.storbinary, "STOR x.txt", io.BytesIO(b"x"), codes=(550, 553))
        expect_refused(ftp.mkd, "d", codes=(550, 553))
        expect_refused(ftp.delete, "pub.txt", codes=(550, 553))
    ftp = ftp_connect(srv, user=None)
    try:
        assert ftp.sendcmd(f"USER {USER}").startswith("331")
        expect_refused(ftp.sendcmd, f"PASS {PASSWORD}", codes=(530,))
    finally:
        ftp.close()
    assert sorted(p.name for p in srv.root.iterdir()) == ["pub.txt", "root-marker.txt"]


def test_directory_defaults_to_cwd(start_server):
    srv = start_server(directory=False)  # no -d: the server's cwd is the root
    with ftp_session(srv, *ANON) as ftp:
        assert "root-marker.txt" in ftp.nlst()


def test_write_flag_gives_anonymous_write(start_server):
    srv = start_server("-w")
    with ftp_session(srv, *ANON) as ftp:
        ftp.storbinary("STOR w.txt", io.BytesIO(b"anon wrote"))
        ftp.mkd("anon-dir")
        ftp.rename("w.txt", "anon-dir/w.txt")
    assert (srv.root / "anon-dir" / "w.txt").read_bytes() == b"anon wrote"


def test_username_is_read_only_without_write(start_server):
    """As ``python -m pyftpdlib -u alice -P x``: elr unless -w."""
    srv = start_server("-u", "alice", "-P", "s3cret", "--auth-failed-delay", "0")
    with ftp_session(srv, "alice", "s3cret") as ftp:
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"
        expect_refused(ftp.storbinary, "STOR a.txt", io.BytesIO(b"alice"), codes=(550, 553))
        expect_refused(ftp.mkd, "d", codes=(550,))
        expect_refused(ftp.delete, "root-marker.txt", codes=(550,))
    assert not (srv.root / "a.txt").exists()
    assert (srv.root / "root-marker.txt").exists()


def test_username_password_flags_disable_anonymous(start_server):
    srv = start_server("-u", "alice", "-P", "s3cret", "-w", "--auth-failed-delay", "0")
    with ftp_session(srv, "alice", "s3cret") as ftp:
        ftp.storbinary("STOR a.txt", io.BytesIO(b"alice"))
        ftp.mkd("d")
        ftp.rename("a.txt", "d/a.txt")
        ftp.delete("d/a.txt")
        ftp.rmd("d")
    ftp = ftp_connect(srv, user=None)
    try:
        assert ftp.sendcmd("USER anonymous").startswith("331")
        expect_refused(ftp.sendcmd, "PASS guest@example.com", codes=(530,))
        assert ftp.sendcmd("USER alice").startswith("331")
        expect_refused(ftp.sendcmd, "PASS wrong", codes=(530,))
    finally:
        ftp.close()


def test_username_password_with_anonymous_flag(start_server):
    srv = start_server("-u", "alice", "-P", "s3cret", "--anonymous", "--auth-failed-delay", "0")
    with ftp_session(srv, *ANON) as ftp:
        assert "root-marker.txt" in ftp.nlst()
        expect_refused(ftp.storbinary, "STOR x", io.BytesIO(b"x"), codes=(550, 553))


def test_anonymous_with_custom_perms(start_server):
    srv = start_server("--anonymous=elrm", "--auth-failed-delay", "0")
    with ftp_session(srv, *ANON) as ftp:
        ftp.mkd("allowed-dir")
        expect_refused(ftp.storbinary, "STOR x", io.BytesIO(b"x"), codes=(550, 553))
    assert (srv.root / "allowed-dir").is_dir()
    assert not (srv.root / "x").exists()


def test_user_with_own_home(start_server, layout):
    home = layout.base / "bob-home"
    home.mkdir()
    (home / "bob.txt").write_bytes(b"bob's")
    srv = start_server(*STANDARD_FLAGS, "--user", f"bob:pw:elrw:{home}")
    with ftp_session(srv, "bob", "pw") as ftp:
        assert ftp.pwd() == "/"
        assert set(ftp.nlst()) == {"bob.txt"}
        ftp.storbinary("STOR new.txt", io.BytesIO(b"n"))
        expect_refused(ftp.delete, "bob.txt", codes=(550, 553))
        expect_refused(retr_bytes, ftp, "../root/root-marker.txt", codes=(5,))
    assert (home / "new.txt").read_bytes() == b"n"
    assert not (layout.root / "new.txt").exists()
    with ftp_session(srv) as ftp:  # "user" still has the -d directory
        assert "root-marker.txt" in ftp.nlst()


# One user per permission letter, each lacking exactly that letter.
ALL_PERMS = "elradfmwMT"


def _denied_actions(letter: str):
    """(description, callable(ftp)) pairs that need permission ``letter``."""
    def stor(ftp):
        ftp.storbinary("STOR new.txt", io.BytesIO(b"x"))

    def stou(ftp):
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("STOU")
        conn.close()
        ftp.voidresp()

    return {
        "e": [("CWD", lambda f: f.cwd("sub"))],
        "l": [("NLST", lambda f: raw_transfer(f, "NLST sub")),
              ("LIST", lambda f: raw_transfer(f, "LIST sub")),
              ("MLSD", lambda f: raw_transfer(f, "MLSD sub")),
              ("MLST", lambda f: f.sendcmd("MLST file.txt")),
              ("SIZE", lambda f: (f.voidcmd("TYPE I"), f.sendcmd("SIZE file.txt"))),
              ("MDTM", lambda f: f.sendcmd("MDTM file.txt"))],
        "r": [("RETR", lambda f: retr_bytes(f, "file.txt"))],
        "a": [("APPE", lambda f: f.storbinary("APPE file.txt", io.BytesIO(b"more")))],
        "d": [("DELE", lambda f: f.delete("file.txt")),
              ("RMD", lambda f: f.rmd("empty"))],
        "f": [("RNFR", lambda f: f.sendcmd("RNFR file.txt"))],
        "m": [("MKD", lambda f: f.mkd("newdir"))],
        "w": [("STOR", stor), ("STOU", stou)],
        "M": [("SITE CHMOD", lambda f: f.sendcmd("SITE CHMOD 600 file.txt"))],
        "T": [("MFMT", lambda f: f.sendcmd("MFMT 20200102030405 file.txt"))],
    }[letter]


def test_each_permission_letter_is_enforced(start_server):
    users = [f"--user=no{c}:pw:{ALL_PERMS.replace(c, '')}" for c in ALL_PERMS]
    srv = start_server(*STANDARD_FLAGS, *users)
    root = srv.root

    def reset():
        (root / "sub").mkdir(exist_ok=True)
        (root / "empty").mkdir(exist_ok=True)
        (root / "file.txt").write_bytes(b"original")
        (root / "file.txt").chmod(0o644)

    failures = []
    for letter in ALL_PERMS:
        for what, action in _denied_actions(letter):
            reset()
            before = sorted(p.name for p in root.iterdir())
            mtime = (root / "file.txt").stat().st_mtime
            with ftp_session(srv, f"no{letter}", "pw") as ftp:
                try:
                    action(ftp)
                except ftplib.error_perm as exc:
                    if int(str(exc)[:3]) not in (550, 553):
                        failures.append(f"{what} without '{letter}': {exc} (expected 550)")
                else:
                    failures.append(f"{what} without '{letter}' was allowed")
            after = sorted(p.name for p in root.iterdir())
            if after != before:
                failures.append(f"{what} without '{letter}' changed the directory: {before} -> {after}")
            if (root / "file.txt").read_bytes() != b"original":
                failures.append(f"{what} without '{letter}' changed file.txt")
            if (root / "file.txt").stat().st_mode & 0o777 != 0o644:
                failures.append(f"{what} without '{letter}' changed file.txt's mode")
            if (root / "file.txt").stat().st_mtime != mtime:
                failures.append(f"{what} without '{letter}' changed file.txt's mtime")
    assert not failures, "\n".join(failures)

    # positive control: the full user may do all of it
    reset()
    with ftp_session(srv) as ftp:
        ftp.cwd("sub")
        ftp.cwd("/")
        raw_transfer(ftp, "MLSD sub")
        assert retr_bytes(ftp, "file.txt") == b"original"
        ftp.storbinary("APPE file.txt", io.BytesIO(b"+"))
        assert ftp.sendcmd("SITE CHMOD 600 file.txt").startswith("200")
        assert ftp.sendcmd("MFMT 20200102030405 file.txt").startswith("213")
        ftp.rename("file.txt", "renamed.txt")
        ftp.delete("renamed.txt")
        ftp.rmd("empty")
        ftp.mkd("newdir")
    assert not (root / "renamed.txt").exists()


def test_site_chmod_and_mfmt(server):
    (server.root / "f.txt").write_bytes(b"f")
    (server.root / "f.txt").chmod(0o644)
    with ftp_session(server) as ftp:
        assert ftp.sendcmd("SITE CHMOD 600 f.txt").startswith("200")
        assert ftp.sendcmd("MFMT 20200102030405 f.txt").startswith("213")
        assert ftp.sendcmd("MDTM f.txt") == "213 20200102030405"
    st = (server.root / "f.txt").stat()
    assert st.st_mode & 0o777 == 0o600
    assert time.gmtime(st.st_mtime)[:6] == (2020, 1, 2, 3, 4, 5)


# --------------------------------------------------------------------------
# command-line options
# --------------------------------------------------------------------------


def test_version_flag():
    for flag in ("-v", "--version"):
        res = run([str(ferroftpd_bin()), flag], timeout=10)
        assert res.returncode == 0, res.transcript()
        assert re.search(r"\d+\.\d+\.\d+", res.out + res.stderr), res.transcript()


def test_banner(start_server):
    srv = start_server(*STANDARD_FLAGS, "--banner", "Welcome to the ferroftpd interop test")
    ftp = ftp_connect(srv, user=None)
    try:
        assert ftp.welcome.startswith("220")
        assert "Welcome to the ferroftpd interop test" in ftp.welcome
    finally:
        ftp.close()


def _free_port_range(n: int) -> tuple[int, int]:
    """A run of n ports that are free right now (best effort)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base, base + n - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


def test_passive_port_range(start_server):
    lo, hi = _free_port_range(5)
    srv = start_server(*STANDARD_FLAGS, "-r", f"{lo}-{hi}")
    (srv.root / "f.bin").write_bytes(b"r" * 10000)
    with ftp_session(srv) as ftp:
        for _ in range(3):
            resp = ftp.sendcmd("PASV")
            nums = [int(x) for x in re.search(r"(\d+,\d+,\d+,\d+,\d+,\d+)", resp).group(1).split(",")]
            assert lo <= nums[4] * 256 + nums[5] <= hi, resp
            resp = ftp.sendcmd("EPSV")
            port = int(re.search(r"\|\|\|(\d+)\|", resp).group(1))
            assert lo <= port <= hi, resp
    with ftp_session(srv) as ftp:
        assert retr_bytes(ftp, "f.bin") == b"r" * 10000


def test_nat_address_in_pasv_reply(start_server):
    srv = start_server(*STANDARD_FLAGS, "-n", "127.0.0.2")
    with ftp_session(srv) as ftp:
        resp = ftp.sendcmd("PASV")
        assert "127,0,0,2," in resp, resp
        # ftplib ignores the PASV address and uses the control host, so
        # transfers still work on loopback
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"


def test_privileged_and_foreign_data_ports_refused_by_default(server):
    with ftp_session(server) as ftp:
        expect_refused(ftp.sendcmd, "PORT 127,0,0,1,0,21", codes=(5,))
        expect_refused(ftp.sendcmd, "EPRT |1|127.0.0.1|21|", codes=(5,))
        expect_refused(ftp.sendcmd, "PORT 127,0,0,2,200,10", codes=(5,))
        assert ftp.voidcmd("NOOP").startswith("200")


def test_permit_foreign_addresses(start_server):
    srv = start_server(*STANDARD_FLAGS, "--permit-foreign-addresses")
    (srv.root / "f.bin").write_bytes(b"fxp" * 1000)
    with ftp_session(srv) as ftp, socket.create_server(("127.0.0.2", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]
        ftp.voidcmd("TYPE I")
        assert ftp.sendcmd("PORT 127,0,0,2,%d,%d" % (port >> 8, port & 255)).startswith("200")
        assert ftp.sendcmd("RETR f.bin").startswith(("125", "150"))
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        assert ftp.voidresp().startswith("226")
    assert b"".join(chunks) == b"fxp" * 1000


def test_disable_sendfile_big_transfer(start_server):
    srv = start_server(*STANDARD_FLAGS, "--disable-sendfile", "--use-localtime")
    data = random_bytes(5 * 1024 * 1024, seed=60)
    (srv.root / "big.bin").write_bytes(data)
    with ftp_session(srv) as ftp:
        assert sha256(retr_bytes(ftp, "big.bin")) == sha256(data)
        assert sha256(retr_bytes(ftp, "big.bin", rest=4_000_000)) == sha256(data[4_000_000:])


def test_max_login_attempts(start_server):
    srv = start_server(*STANDARD_FLAGS, "--max-login-attempts", "2")
    ftp = ftp_connect(srv, user=None)
    logged_in = False
    try:
        ftp.sendcmd(f"USER {USER}")
        expect_refused(ftp.sendcmd, "PASS wrong", codes=(530,))
        ftp.sendcmd(f"USER {USER}")
        # the last allowed failure: 530, then the connection closes (as
        # pyftpdlib and vsftpd do)
        expect_refused(ftp.sendcmd, "PASS wrong", codes=(530,))
        closed = False
        try:
            ftp.sendcmd(f"USER {USER}")
            logged_in = ftp.sendcmd(f"PASS {PASSWORD}").startswith("230")
        except (EOFError, OSError):
            closed = True
        except ftplib.Error:
            pass
    finally:
        ftp.close()
        print(ftp.transcript())
    assert not logged_in, "login succeeded after --max-login-attempts failures on one connection"
    assert closed, "the connection stayed open after the last allowed failed login"
    # a new connection may log in
    with ftp_session(srv) as ftp:
        assert ftp.pwd() == "/"


def test_auth_failed_delay_default_slows_failures(start_server):
    # the default delay is 3 s; only check that it is there at all (>= 1 s)
    srv = start_server("--user", f"{USER}:{PASSWORD}")
    ftp = ftp_connect(srv, user=None)
    try:
        ftp.sendcmd(f"USER {USER}")
        t0 = time.monotonic()
        expect_refused(ftp.sendcmd, "PASS wrong", codes=(530,))
        assert time.monotonic() - t0 >= 1.0
    finally:
        ftp.close()


def test_sigterm_stops_the_server(start_server):
    srv = start_server(*STANDARD_FLAGS)
    with ftp_session(srv) as ftp:
        ftp.pwd()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        srv.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        raise AssertionError("ferroftpd did not exit within 5 s of SIGTERM") from None


def test_bad_flags_exit_nonzero():
    for argv in (["--no-such-flag"], ["-p", "notaport"], ["--user", "missing-password"]):
        res = run([str(ferroftpd_bin()), *argv], timeout=10)
        assert res.returncode != 0, res.transcript()


# --------------------------------------------------------------------------
# IPv6
# --------------------------------------------------------------------------


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_available(), reason="no IPv6 loopback on this machine")
def test_ipv6_all_clients(start_server, layout):
    srv = start_server(*STANDARD_FLAGS, host="::1")
    assert srv.host == "::1", srv.log
    assert f"[::1]:{srv.port}" in srv.log
    data = random_bytes(1_000_000, seed=50)
    # ftplib: EPSV (passive) and EPRT (active) are used on IPv6
    for passive in (True, False):
        with ftp_session(srv, passive=passive) as ftp:
            ftp.storbinary("STOR v6.bin", io.BytesIO(data))
            assert sha256(retr_bytes(ftp, "v6.bin")) == sha256(data)
    # curl, passive and active
    for flags in ([], ["--ftp-port", "::1"]):
        res = run_curl(*flags, srv.url("v6.bin"))
        assert res.returncode == 0 and sha256(res.stdout) == sha256(data), res.transcript()
    # lftp
    out = layout.clients / "v6.out"
    res = run_lftp(srv, f"get v6.bin -o {out}")
    assert res.returncode == 0, res.transcript()
    assert sha256(out.read_bytes()) == sha256(data)


def test_use_localtime_shows_the_servers_time_zone(start_server, monkeypatch):
    """Listings are in UTC; with --use-localtime, in the server's time zone
    (here TZ=UTC-05:00, five hours ahead of UTC in POSIX's notation)."""
    monkeypatch.setenv("TZ", "UTC-05:00")
    stamp = int(time.time()) - 86400  # recent: LIST shows the time of day
    lines = {}
    for flags in ((), ("--use-localtime",)):
        srv = start_server(*STANDARD_FLAGS, *flags)
        path = srv.root / "dated.txt"
        path.write_bytes(b"x")
        os.utime(path, (stamp, stamp))
        with ftp_session(srv) as ftp:
            listing: list[str] = []
            ftp.retrlines("LIST dated.txt", listing.append)
        lines[flags] = listing[0]
    # `ls -l` columns: month, day, time of day, name.
    def shown(t: int) -> str:
        return time.strftime("%b %d %H:%M", time.gmtime(t))
    assert f" {shown(stamp)} dated.txt" in lines[()], lines
    assert f" {shown(stamp + 5 * 3600)} dated.txt" in lines[("--use-localtime",)], lines
