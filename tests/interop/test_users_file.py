"""The users file (``--users FILE``, docs/users.md) with real clients.

Several users with different homes, permissions and hash schemes, logged in
with curl and lftp; ``ferroftpd hash-password``; and a SIGHUP reload that
adds a user while a throttled download is in progress.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from support import (
    CLIENT_ENV,
    ferroftpd_bin,
    random_bytes,
    run_curl,
    run_lftp,
    sha256,
)

PASSWORDS = {
    "alice": ("argon2id", "alice-pw"),
    "bob": ("bcrypt", "bob-pw"),
    "carol": ("sha512-crypt", "carol-pw"),
    "dave": ("sha256-crypt", "dave-pw"),
}


def hash_password(password: str, scheme: str | None = None) -> str:
    argv = [str(ferroftpd_bin()), "hash-password"]
    if scheme:
        argv += ["--scheme", scheme]
    res = subprocess.run(argv, input=password + "\n", capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def user_table(name: str, home: Path, extra: str = "") -> str:
    scheme, password = PASSWORDS[name]
    return (
        f'[[user]]\nname = "{name}"\npassword = "{hash_password(password, scheme)}"\n'
        f'home = "{home}"\n{extra}\n'
    )


@pytest.fixture
def homes(layout):
    made = {}
    for name in PASSWORDS:
        home = layout.base / f"home-{name}"
        home.mkdir()
        (home / f"{name}.txt").write_bytes(f"{name}'s file\n".encode())
        made[name] = home
    (made["bob"] / "incoming").mkdir()
    (made["carol"] / "pub").mkdir()
    return made


@pytest.fixture
def users_file(layout, homes) -> Path:
    path = layout.base / "users.toml"
    path.write_text(
        user_table("alice", homes["alice"], 'perms = "elradfmwMT"')
        + user_table("bob", homes["bob"],
                     'perms = "elr"\nrules = [ { path = "/incoming", readable = true, writable = true } ]')
        + user_table("carol", homes["carol"],
                     'overrides = [ { dir = "/pub", perms = "elrwm" } ]\nlogin_message = "Welcome, Carol."')
    )
    return path


def url(srv, path: str, user: str) -> str:
    return srv.url(path, user=user, password=PASSWORDS[user][1])


def test_hash_password_schemes():
    prefixes = {"argon2id": "$argon2id$", "bcrypt": "$2b$", "sha512-crypt": "$6$",
                "sha256-crypt": "$5$"}
    for scheme, prefix in prefixes.items():
        assert hash_password("pw", scheme).startswith(prefix), scheme
    assert hash_password("pw").startswith("$argon2id$")
    res = subprocess.run([str(ferroftpd_bin()), "hash-password", "--scheme", "md5"],
                         input="pw\n", capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "unknown hash scheme" in res.stderr, res.stderr


def test_users_homes_and_permissions(start_server, layout, homes, users_file):
    srv = start_server("--users", str(users_file), "--auth-failed-delay", "0")
    assert "users file loaded" in srv.log

    # Each user sees their own home.
    for name in ("alice", "bob", "carol"):
        res = run_curl(url(srv, f"{name}.txt", name))
        assert res.returncode == 0, res.transcript()
        assert res.stdout == f"{name}'s file\n".encode()
        res = run_curl(url(srv, "", name))
        assert res.returncode == 0, res.transcript()
        assert f"{name}.txt" in res.out and "root-marker" not in res.out
    # Another user's file is not in this home.
    res = run_curl(url(srv, "alice.txt", "bob"))
    assert res.returncode != 0, res.transcript()

    # Wrong passwords and unknown users: curl's "login denied" (67).
    for user, password in (("alice", "bob-pw"), ("bob", "x"), ("nobody", "x")):
        res = run_curl(srv.url("", user=user, password=password))
        assert res.returncode == 67, res.transcript()
    # No anonymous user in this file.
    res = run_curl(srv.url("", user="anonymous", password="me@example.com"))
    assert res.returncode == 67, res.transcript()

    src = layout.clients / "up.bin"
    src.write_bytes(random_bytes(64 * 1024, seed=90))
    # alice may write anywhere in her home.
    res = run_curl("-T", str(src), url(srv, "up.bin", "alice"))
    assert res.returncode == 0, res.transcript()
    assert sha256((homes["alice"] / "up.bin").read_bytes()) == sha256(src.read_bytes())
    # bob is read-only except in /incoming (an aioftp-style rule).
    res = run_curl("-T", str(src), url(srv, "up.bin", "bob"))
    assert res.returncode != 0, res.transcript()
    assert "< 550" in res.stderr, res.transcript()
    assert not (homes["bob"] / "up.bin").exists()
    res = run_curl("-T", str(src), url(srv, "incoming/up.bin", "bob"))
    assert res.returncode == 0, res.transcript()
    assert (homes["bob"] / "incoming" / "up.bin").is_file()

    # carol with lftp: read-only home, writable /pub, her login message.
    res = run_lftp(srv, "mkdir pub/new; cls -1 pub; put " + str(src) + " -o pub/c.bin",
                   user="carol", password=PASSWORDS["carol"][1])
    assert res.returncode == 0, res.transcript()
    assert (homes["carol"] / "pub" / "new").is_dir()
    assert (homes["carol"] / "pub" / "c.bin").is_file()
    assert "Welcome, Carol." in res.stderr, res.transcript()
    res = run_lftp(srv, "mkdir top", user="carol", password=PASSWORDS["carol"][1])
    assert res.returncode != 0, res.transcript()
    assert not (homes["carol"] / "top").exists()


def test_sighup_reload_during_throttled_download(start_server, layout, homes, users_file):
    rate = 256 * 1024
    srv = start_server("--users", str(users_file), "--auth-failed-delay", "0",
                       "--write-limit", "256K")
    data = random_bytes(4 * rate, seed=91)  # about 4 seconds at 256K
    (homes["alice"] / "big.bin").write_bytes(data)
    out = layout.clients / "big.out"

    # dave does not exist yet.
    res = run_curl(url(srv, "", "dave"))
    assert res.returncode == 67, res.transcript()

    result = {}

    def download():
        result["res"] = run_curl("-o", str(out), url(srv, "big.bin", "alice"), timeout=60)

    t0 = time.monotonic()
    thread = threading.Thread(target=download)
    thread.start()
    # Wait until the transfer is under way.
    deadline = time.monotonic() + 10
    while not ("RETR" in srv.log or "150" in srv.log) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert thread.is_alive(), "the throttled download ended too soon"

    users_file.write_text(users_file.read_text() + user_table("dave", homes["dave"]))
    os.kill(srv.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "users file reloaded" not in srv.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "users file reloaded" in srv.log, srv.log_tail()

    # The new user logs in (lftp) while the download still runs.
    res = run_lftp(srv, "cls -1", user="dave", password=PASSWORDS["dave"][1])
    assert res.returncode == 0, res.transcript()
    assert "dave.txt" in res.out
    assert thread.is_alive(), "the download should still be in progress"

    thread.join(timeout=60)
    res = result["res"]
    assert res.returncode == 0, res.transcript()
    assert "< 226" in res.stderr, res.transcript()
    assert sha256(out.read_bytes()) == sha256(data)
    assert time.monotonic() - t0 >= 0.8 * len(data) / rate
    assert srv.alive()


def test_sighup_with_a_broken_file_keeps_the_users(start_server, homes, users_file):
    srv = start_server("--users", str(users_file), "--auth-failed-delay", "0")
    good = users_file.read_text()
    users_file.write_text(good + '[[user]]\nname = "eve"\npasword = "x"\n')
    os.kill(srv.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "not reloaded" not in srv.log and time.monotonic() < deadline:
        time.sleep(0.05)
    log = srv.log
    assert "not reloaded" in log, srv.log_tail()
    assert f"{users_file}:" in log and "pasword" in log, srv.log_tail()
    assert srv.alive()
    res = run_curl(url(srv, "alice.txt", "alice"))
    assert res.returncode == 0, res.transcript()


def test_users_is_exclusive_with_other_users(layout, users_file):
    res = subprocess.run(
        [str(ferroftpd_bin()), "--users", str(users_file), "--user", "x:y", "-p", "0"],
        capture_output=True, text=True, timeout=30, env=CLIENT_ENV)
    assert res.returncode == 2 and "cannot be used with" in res.stderr, res.stderr
    config = layout.base / "ferroftpd.toml"
    config.write_text(f'users = "{users_file}"\nuser = ["x:y"]\nport = 0\n')
    res = subprocess.run([str(ferroftpd_bin()), "--config", str(config)],
                         capture_output=True, text=True, timeout=30, env=CLIENT_ENV)
    assert res.returncode == 1, res.stderr
    assert "--users cannot be combined with --user" in res.stderr, res.stderr


def test_broken_users_file_at_startup(layout, homes):
    path = layout.base / "users.toml"
    path.write_text(f'[[user]]\nname = "x"\npassword = "secret"\nhome = "{homes["alice"]}"\n')
    res = subprocess.run([str(ferroftpd_bin()), "--users", str(path), "-p", "0"],
                         capture_output=True, text=True, timeout=30, env=CLIENT_ENV)
    assert res.returncode == 1, res.stderr
    assert f"{path}:3:" in res.stderr and "hash-password" in res.stderr, res.stderr
