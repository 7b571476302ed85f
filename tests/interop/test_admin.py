"""The admin API (docs/admin.md) and the commands that use it, against the
real binary with its sandbox on: sessions with a transfer in progress,
kicking one mid-transfer, bans, the token, the Unix socket, reloads."""

from __future__ import annotations

import ftplib
import os
import stat
import subprocess
import urllib.request
from pathlib import Path

import pytest

from admin_support import (
    BIG_SIZE, TOKEN, SlowDownload, free_port, start_admin, transferring_session, wait_for,
    write_token,
)
from support import PASSWORD, USER, ferroftpd_bin, ftp_connect


def ferroftpd(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """The binary, with none of the caller's FERROFTPD_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROFTPD_")}
    return subprocess.run([str(ferroftpd_bin()), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def sandboxed(log: str) -> bool:
    return "sandbox: " in log and "sandbox: off" not in log


def test_api_is_off_by_default(server, start_server, layout):
    # The standard server listens on its FTP port and nothing else.
    assert listening_ports(server.proc.pid) == {server.port}
    assert "admin API" not in server.log and sandboxed(server.log)
    admin = start_admin(start_server, layout)
    port = int(admin.address.rsplit(":", 1)[1])
    assert listening_ports(admin.server.proc.pid) == {admin.server.port, port}
    assert f"admin API and dashboard on http://{admin.address}/" in admin.server.log


@pytest.mark.parametrize("flags,message", [
    (["--admin-address", "127.0.0.1:0"], "--admin-address: needs --admin-token-file"),
    (["--admin-token-file", "TOKEN"], "--admin-token-file: given without --admin-address"),
    (["--admin-address", "127.0.0.1:0", "--admin-token-file", "SHORT"], "too short"),
    (["--admin-address", "127.0.0.1:0", "--admin-token-file", "EMPTY"], "empty"),
    (["--admin-address", "127.0.0.1:0", "--admin-token-file", "MISSING"], "--admin-token-file"),
    (["--admin-address", "nowhere", "--admin-token-file", "TOKEN"], "--admin-address"),
])
def test_bad_admin_options_refuse_to_start(tmp_path, flags, message):
    files = {"TOKEN": write_token(tmp_path), "SHORT": tmp_path / "short", "EMPTY": tmp_path / "empty",
             "MISSING": tmp_path / "missing"}
    files["SHORT"].write_text("abc\n")
    files["EMPTY"].write_text("\n")
    argv = [str(files[f]) if f in files else f for f in flags]
    proc = ferroftpd("-d", str(tmp_path), "-i", "127.0.0.1", "-p", "0", *argv, timeout=10)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_a_transfer_in_progress_shows_its_bytes_and_a_kick_ends_it(start_server, layout):
    admin = start_admin(start_server, layout)
    assert sandboxed(admin.server.log)
    download = SlowDownload(admin.server).start()
    session = transferring_session(admin)
    assert session["user"] == USER and session["directory"] == "/"
    assert session["address"].startswith("127.0.0.1:")
    t = session["transfer"]
    assert (t["command"], t["direction"], t["size"]) == ("RETR", "download", BIG_SIZE)
    assert 0 < t["bytes"] < BIG_SIZE and 0 < t["progress"] < 1 and t["rate"] > 0
    # The same through `ferroftpd who`, bytes and all.
    who = ferroftpd("who", *admin.cli_args())
    assert who.returncode == 0, who.stderr
    line = next(line for line in who.stdout.splitlines() if "/big.bin" in line)
    assert line.split()[0] == str(session["id"]) and USER in line and "RETR" in line
    shown_bytes = int(line.rsplit(" bytes", 1)[0].rsplit(" ", 1)[1])
    assert shown_bytes >= t["bytes"] > 0
    top = ferroftpd("top", "--once", *admin.cli_args())
    assert top.returncode == 0 and "/big.bin" in top.stdout and "\x1b" not in top.stdout

    status, _, _ = admin.request("DELETE", f"/api/v1/sessions/{session['id']}")
    assert status == 204
    assert download.done.wait(5), "the download went on after the kick"
    assert download.received < BIG_SIZE
    assert download.error is not None
    assert "421" in str(download.error) or isinstance(download.error, (EOFError, OSError))
    wait_for("the session to leave the list",
             lambda: all(s["id"] != session["id"] for s in admin.get("sessions")))
    assert "session closed by the administrator" in admin.server.log
    status, body, _ = admin.request("DELETE", f"/api/v1/sessions/{session['id']}")
    assert status == 404 and body["error"] == "no such session"


def test_kick_command_sends_421_to_an_idle_client(start_server, layout):
    admin = start_admin(start_server, layout)
    ftp = ftp_connect(admin.server)
    [session] = admin.get("sessions")
    proc = ferroftpd("kick", *admin.cli_args(), str(session["id"]))
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(ftplib.error_temp, match="421 Session closed by the administrator"):
        ftp.voidcmd("NOOP")
    proc = ferroftpd("kick", *admin.cli_args(), "999")
    assert proc.returncode != 0 and "404" in proc.stderr and "no such session" in proc.stderr


def test_ban_refuses_new_connections_and_unban_lets_them_in(start_server, layout):
    admin = start_admin(start_server, layout)
    proc = ferroftpd("ban", *admin.cli_args(), "127.0.0.1", "--duration", "600")
    assert proc.returncode == 0, proc.stderr
    assert "127.0.0.1/32 banned until" in proc.stdout
    [ban] = admin.get("bans")
    assert ban["address"] == "127.0.0.1/32" and ban["reason"] == "operator" and ban["until"]
    with pytest.raises(ftplib.error_temp, match="421"):
        ftp_connect(admin.server)
    # The admin API itself is not behind the FTP bans.
    proc = ferroftpd("unban", *admin.cli_args(), "127.0.0.1")
    assert proc.returncode == 0, proc.stderr
    assert admin.get("bans") == []
    ftp = ftp_connect(admin.server)
    ftp.quit()
    # A network, through the API; it ends the sessions from it when asked.
    ftp = ftp_connect(admin.server)
    status, body, _ = admin.request("POST", "/api/v1/bans", {"address": "127.0.0.0/8", "kick": True})
    assert status == 201 and body == {"address": "127.0.0.0/8", "until": None, "kicked": 1}
    with pytest.raises((ftplib.error_temp, EOFError, OSError)):
        ftp.voidcmd("NOOP")
    status, _, _ = admin.request("DELETE", "/api/v1/bans/127.0.0.0%2F8")
    assert status == 204
    status, body, _ = admin.request("DELETE", "/api/v1/bans/127.0.0.0/8")
    assert status == 404
    ftp_connect(admin.server).quit()
    for bad in ({"address": "example.com"}, {"address": "1.2.3.4", "extra": 1}, {"duration": 5}):
        status, body, _ = admin.request("POST", "/api/v1/bans", bad)
        assert status == 400 and body["error"], bad


def test_failed_login_bans_are_listed_and_lifted(start_server, layout):
    admin = start_admin(start_server, layout, "--ban-failures", "2")
    for _ in range(2):
        with pytest.raises(ftplib.error_perm):
            ftp_connect(admin.server, password="wrong")
    [ban] = admin.get("bans")
    assert ban["reason"] == "failed-logins" and ban["address"] == "127.0.0.1/32"
    with pytest.raises(ftplib.error_temp, match="421"):
        ftp_connect(admin.server)
    assert ferroftpd("unban", *admin.cli_args(), "127.0.0.1").returncode == 0
    ftp_connect(admin.server).quit()


def test_the_token_is_required_and_guessing_is_slowed(start_server, layout):
    admin = start_admin(start_server, layout)
    for token in (None, "wrong-token-of-some-length", TOKEN + "x", TOKEN[:-1]):
        status, body, headers = admin.request("GET", "/api/v1/sessions", token=token)
        assert status == 401, token
        assert headers.get("www-authenticate", "").startswith("Bearer")
        assert body == {"error": "a valid bearer token is needed"}
    status, _, headers = admin.request("GET", "/api/v1/info")
    assert status == 200 and headers["cache-control"] == "no-store"
    # Another site's page cannot drive the API, token or not.
    status, _, _ = admin.request("DELETE", "/api/v1/sessions/1", headers={"Origin": "http://evil.example"})
    assert status == 403
    status, _, _ = admin.request("GET", "/api/v1/info", headers={"Origin": admin.url})
    assert status == 200
    # State changes take POST or DELETE; bodies are bounded.
    status, _, _ = admin.request("GET", "/api/v1/reload")
    assert status == 405
    status, _, _ = admin.request("POST", "/api/v1/bans", raw=b'{"address": "' + b"1" * 10000 + b'"}')
    assert status == 413
    # Ten wrong tokens a minute from one address (four above), then 429.
    wrong = [admin.request("GET", "/api/v1/info", token="not-the-token-at-all")[0] for _ in range(8)]
    assert wrong == [401] * 6 + [429] * 2
    status, _, headers = admin.request("GET", "/api/v1/info")
    assert status == 429 and int(headers["retry-after"]) > 0
    proc = ferroftpd("who", *admin.cli_args())
    assert proc.returncode != 0 and "429" in proc.stderr


def test_info_reload_and_no_secrets(start_server, layout):
    admin = start_admin(start_server, layout)
    info = admin.get("info")
    assert info["version"] and info["reload"] is True and info["uptime_seconds"] >= 0
    assert info["settings"]["listen"] == f"127.0.0.1:{admin.server.port}"
    text = str(info)
    assert PASSWORD not in text and TOKEN not in text
    status, body, _ = admin.request("POST", "/api/v1/reload")
    assert status == 200 and body == {"reloaded": True}
    wait_for("the reload's log line", lambda: "configuration reloaded" in admin.server.log)


def test_the_dashboard_page_is_served_with_a_strict_policy(start_server, layout):
    admin = start_admin(start_server, layout)
    with urllib.request.urlopen(admin.url + "/", timeout=10) as resp:
        page = resp.read().decode()
        csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert '<script src="/dashboard.js"' in page and "<script>" not in page
    assert "http://" not in page and "https://" not in page  # nothing from elsewhere
    with urllib.request.urlopen(admin.url + "/dashboard.js", timeout=10) as resp:
        assert "sessionStorage" in resp.read().decode()


def test_unix_socket_with_the_sandbox_on(start_server, layout):
    token_file = write_token(layout.base)
    sock = layout.base / "admin.sock"
    srv = start_server("--anonymous", "--admin-address", str(sock), "--admin-token-file", str(token_file))
    assert sandboxed(srv.log)
    wait_for("the socket", sock.exists)
    assert stat.S_ISSOCK(os.stat(sock).st_mode) and stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    ftp = ftp_connect(srv, user="anonymous", password="a@b")
    proc = ferroftpd("who", "--admin-address", str(sock), "--admin-token-file", str(token_file))
    assert proc.returncode == 0, proc.stderr
    assert "anonymous" in proc.stdout and "1 session(s)" in proc.stdout
    ftp.quit()
    # A file that is not a socket is never replaced.
    other = layout.base / "not-a-socket"
    other.write_text("keep me")
    proc = ferroftpd("-d", str(layout.root), "-i", "127.0.0.1", "-p", "0",
                     "--admin-address", str(other), "--admin-token-file", str(token_file), timeout=10)
    assert proc.returncode != 0 and "not a socket" in proc.stderr
    assert other.read_text() == "keep me"


def test_the_commands_read_the_servers_config_file(start_server, layout):
    token_file = write_token(layout.base)
    address = f"127.0.0.1:{free_port()}"
    config = layout.base / "ferroftpd.toml"
    config.write_text(f'anonymous = "elr"\nadmin_address = "{address}"\n'
                      f'admin_token_file = "{token_file}"\n')
    srv = start_server("--config", str(config))
    ftp = ftp_connect(srv, user="anonymous", password="a@b")
    proc = ferroftpd("who", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    assert "anonymous" in proc.stdout and "1 session(s)" in proc.stdout
    ftp.quit()
    proc = ferroftpd("who")
    assert proc.returncode != 0
    assert proc.stderr.strip() == ("ferroftpd: error: --admin-address: not given (nor "
                                   "FERROFTPD_ADMIN_ADDRESS, nor admin_address in a --config file)")


def test_the_admin_port_cannot_be_the_ftp_port(tmp_path):
    port = free_port()
    token_file = write_token(tmp_path)
    proc = ferroftpd("-d", str(tmp_path), "-i", "127.0.0.1", "-p", str(port),
                     "--admin-address", f"127.0.0.1:{port}", "--admin-token-file", str(token_file),
                     timeout=10)
    assert proc.returncode != 0 and "--admin-address" in proc.stderr
