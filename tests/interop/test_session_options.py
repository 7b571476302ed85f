"""Options operators set daily, seen by real clients: --banner-file (the
220 greeting), --dir-message (text before the 250 of CWD and the 230 of a
login), --umask (modes of uploads and new directories on disk) and
--no-active and --no-passive (PORT and EPRT, or PASV and EPSV, refused),
with curl and Python's ftplib."""

from __future__ import annotations

import ftplib
import io
import os
import signal
import stat
import subprocess
import time

import pytest

from support import CLIENT_ENV, PASSWORD, USER, ferroftpd_bin, ftp_session, run_curl

pytestmark = pytest.mark.cli

FLAGS = ("--user", f"{USER}:{PASSWORD}", "--anonymous", "--auth-failed-delay", "0")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_banner_file_with_curl_and_ftplib(start_server, layout):
    banner = layout.base / "banner.txt"
    banner.write_bytes(b"Welcome to the archive.\n220 looks like an end\n\x1b[1mNo escapes\x07\n")
    srv = start_server(*FLAGS, "--banner-file", str(banner))
    with ftp_session(srv, user=None) as ftp:
        assert ftp.getwelcome() == (
            "220-Welcome to the archive.\n 220 looks like an end\n220 [1mNo escapes")
    res = run_curl("-l", f"{srv.url()}/")
    assert res.returncode == 0, res.transcript()
    for line in ["< 220-Welcome to the archive.", "<  220 looks like an end",
                 "< 220 [1mNo escapes"]:
        assert line in res.stderr, res.transcript()
    assert "\x1b" not in res.stderr and "\x07" not in res.stderr


def test_dir_message_with_ftplib_and_curl(start_server, layout):
    (layout.root / ".message").write_text("This is the top.\n")
    (layout.root / "pub").mkdir()
    (layout.root / "pub" / ".message").write_text("Public files.\nBe nice.\n")
    (layout.root / "pub" / "f.txt").write_text("file\n")
    srv = start_server(*FLAGS, "--dir-message", ".message")
    with ftp_session(srv, user=None) as ftp:
        assert ftp.login(USER, PASSWORD) == "230-This is the top.\n230 Login successful."
        assert ftp.cwd("pub") == (
            '250-Public files.\nBe nice.\n250 "/pub" is the current directory.')
        assert ftp.sendcmd("CDUP") == '250-This is the top.\n250 "/" is the current directory.'
        # Listings show the file like any other.
        assert ".message" in ftp.nlst("-a", "pub") or "pub/.message" in ftp.nlst("-a", "pub")
    res = run_curl(f"{srv.url()}/pub/f.txt")
    assert res.returncode == 0 and res.stdout == b"file\n", res.transcript()
    assert "< 250-Public files." in res.stderr, res.transcript()


def test_umask_with_curl_and_ftplib(start_server, layout):
    srv = start_server(*FLAGS, "--umask", "027")
    src = layout.clients / "up.txt"
    src.write_bytes(b"curl upload\n")
    res = run_curl("-T", str(src), "--ftp-create-dirs", f"{srv.url()}/made/by-curl.txt")
    assert res.returncode == 0, res.transcript()
    with ftp_session(srv) as ftp:
        ftp.storbinary("STOR by-ftplib.txt", io.BytesIO(b"ftplib upload\n"))
        ftp.mkd("by-ftplib")
    assert mode(layout.root / "made" / "by-curl.txt") == 0o640
    assert mode(layout.root / "made") == 0o750
    assert mode(layout.root / "by-ftplib.txt") == 0o640
    assert mode(layout.root / "by-ftplib") == 0o750


def test_no_active_refuses_curl_active_mode_and_ftplib_port(start_server, layout):
    (layout.root / "f.txt").write_text("passive still works\n")
    srv = start_server(*FLAGS, "--no-active")
    res = run_curl("-P", "-", f"{srv.url()}/f.txt")
    assert res.returncode != 0 and res.stdout == b"", res.transcript()
    assert "< 550 EPRT refused: active mode is off" in res.stderr, res.transcript()
    res = run_curl(f"{srv.url()}/f.txt")
    assert res.returncode == 0 and res.stdout == b"passive still works\n", res.transcript()
    with ftp_session(srv, passive=False) as ftp:
        with pytest.raises(ftplib.error_perm, match="^550 PORT refused"):
            ftp.retrbinary("RETR f.txt", lambda _: None)
        assert "EPRT" not in ftp.sendcmd("FEAT")


@pytest.mark.parametrize("argv, needle", [
    (["--umask", "0888"], '--umask: "0888": expected an octal umask from 000 to 777'),
    (["--dir-message", "../x"], '--dir-message: "../x": expected a file name, without /'),
    (["--banner", "hi", "--banner-file", "/etc/hostname"], None),
    (["--no-active", "--no-passive"], None),
])
def test_bad_values_are_one_line_errors(layout, argv, needle):
    res = subprocess.run([str(ferroftpd_bin()), "-d", str(layout.root), *argv],
                         capture_output=True, text=True, timeout=30, env=CLIENT_ENV,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 2, res.stderr
    if needle is None:
        # clap's own message for two options that exclude each other.
        assert "cannot be used with" in res.stderr, res.stderr
    else:
        assert res.stderr.startswith(f"ferroftpd: error: {needle}"), res.stderr
        assert res.stderr.count("\n") == 1, res.stderr


def test_missing_banner_file_stops_the_server_naming_the_flag(layout):
    res = subprocess.run([str(ferroftpd_bin()), "-d", str(layout.root), "-p", "0",
                          "-i", "127.0.0.1", "--banner-file", str(layout.base / "none.txt")],
                         capture_output=True, text=True, timeout=30, env=CLIENT_ENV,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 1, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("ferroftpd: error: --banner-file: "), res.stderr
    assert "none.txt: No such file or directory" in last, res.stderr


def test_no_passive_leaves_curl_and_ftplib_active_mode(start_server, layout):
    (layout.root / "f.txt").write_text("active still works\n")
    srv = start_server(*FLAGS, "--no-passive")
    res = run_curl(f"{srv.url()}/f.txt")
    assert res.returncode != 0 and res.stdout == b"", res.transcript()
    assert "< 550 EPSV refused: passive mode is off" in res.stderr, res.transcript()
    res = run_curl("-P", "-", f"{srv.url()}/f.txt")
    assert res.returncode == 0 and res.stdout == b"active still works\n", res.transcript()
    with ftp_session(srv, passive=False) as ftp:
        data = []
        ftp.retrbinary("RETR f.txt", data.append)
        assert b"".join(data) == b"active still works\n"
        ftp.set_pasv(True)
        with pytest.raises(ftplib.error_perm, match="^550 PASV refused"):
            ftp.retrbinary("RETR f.txt", lambda _: None)


def reloaded(srv, before: int) -> str:
    """Waits for a reload line after the ``before``-th; returns the log."""
    def count(log):
        return log.count("configuration reloaded") + log.count("configuration not reloaded")
    deadline = time.monotonic() + 10
    while count(srv.log) <= before:
        assert time.monotonic() < deadline, srv.log_tail()
        time.sleep(0.05)
    return srv.log


def test_sighup_reads_the_banner_file_again_under_the_sandbox(start_server, layout):
    motd = layout.base / "motd"
    motd.mkdir()
    banner = motd / "banner.txt"
    banner.write_text("Old news.\n")
    srv = start_server(*FLAGS, "--banner-file", str(banner))
    with ftp_session(srv, user=None) as ftp:
        assert ftp.getwelcome() == "220 Old news."
    # Replaced by a rename, as editors save files.
    (motd / "new.txt").write_text("New news.\n")
    (motd / "new.txt").rename(banner)
    os.kill(srv.proc.pid, signal.SIGHUP)
    assert "configuration reloaded" in reloaded(srv, 0)
    with ftp_session(srv, user=None) as ftp:
        assert ftp.getwelcome() == "220 New news."
    # A file that no longer passes keeps the old greeting, and says why.
    banner.write_bytes(b"\xff\xfe\n")
    os.kill(srv.proc.pid, signal.SIGHUP)
    log = reloaded(srv, 1)
    assert "configuration not reloaded" in log and "--banner-file: " in log, srv.log_tail()
    with ftp_session(srv, user=None) as ftp:
        assert ftp.getwelcome() == "220 New news."
