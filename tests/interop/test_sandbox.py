"""The sandbox (docs/security.md): Landlock and seccomp, on by default.

Checked against the real binary: the startup line says what applied; the
kernel shows a seccomp filter and no_new_privs on every thread
(``/proc/PID/task/*/status``); file commands, including SITE CHMOD and MFMT
(chmod and utimensat through ``/proc/self/fd``), work inside it; passive
ports of a range and active connections still bind; and a home that a
reloaded users file adds outside the directories allowed at startup stays
closed to the server itself (Landlock), while ``--no-sandbox`` serves it.
``--no-sandbox`` (flag or config file) logs that the sandbox is off.

Needs a kernel with Landlock and seccomp filters (Linux 5.13 or later);
fails, never skips, without them.
"""

from __future__ import annotations

import ftplib
import grp
import io
import os
import pwd
import re
import signal
import time
from pathlib import Path

import pytest

from conftest import STANDARD_FLAGS
from support import expect_refused, ftp_session, random_bytes, retr_bytes

pytestmark = pytest.mark.cli

SANDBOX_ON = re.compile(
    r"sandbox: landlock ABI (\d+) \(fully enforced\), seccomp filter \((\d+) calls allowed\)"
)
SANDBOX_OFF = "sandbox: off (--no-sandbox)"


def proc_status(pid: int, task: int | None = None) -> dict[str, str]:
    path = f"/proc/{pid}/status" if task is None else f"/proc/{pid}/task/{task}/status"
    fields = {}
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def thread_statuses(pid: int) -> dict[int, dict[str, str]]:
    statuses = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            statuses[int(task.name)] = proc_status(pid, int(task.name))
        except FileNotFoundError:
            pass  # the thread ended meanwhile
    return statuses


def wait_for_log(srv, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in srv.log:
        assert time.monotonic() < deadline, f"{text!r} not logged\n{srv.log_tail()}"
        time.sleep(0.05)


def exercise_files(ftp: ftplib.FTP, root: Path) -> None:
    """LIST, MKD, STOR, RETR, APPE, SITE CHMOD, MFMT, RNFR/RNTO, DELE, RMD."""
    data = random_bytes(300 * 1024, seed=91)
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    marker = next(line for line in lines if "root-marker.txt" in line)
    # Owner and group by name: /etc/passwd and /etc/group, closed by the
    # sandbox, were read before it.
    st = (root / "root-marker.txt").stat()
    owner, group = marker.split()[2:4]
    assert (owner, group) == (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name), marker
    ftp.mkd("sub")
    ftp.storbinary("STOR up.bin", io.BytesIO(data))
    assert (root / "up.bin").read_bytes() == data
    assert retr_bytes(ftp, "up.bin") == data
    ftp.storbinary("APPE up.bin", io.BytesIO(b"more"))
    assert (root / "up.bin").read_bytes() == data + b"more"
    ftp.sendcmd("SITE CHMOD 640 up.bin")
    assert (root / "up.bin").stat().st_mode & 0o777 == 0o640
    ftp.sendcmd("MFMT 20200102030405 up.bin")
    assert int((root / "up.bin").stat().st_mtime) == 1577934245
    ftp.rename("up.bin", "sub/moved.bin")
    assert (root / "sub" / "moved.bin").is_file()
    ftp.delete("sub/moved.bin")
    ftp.rmd("sub")
    assert not (root / "sub").exists()


def test_the_sandbox_is_on_by_default_and_files_still_work(start_server, layout):
    srv = start_server(*STANDARD_FLAGS)
    m = SANDBOX_ON.search(srv.log)
    assert m, f"no sandbox line in the log:\n{srv.log_tail()}"
    assert int(m.group(1)) >= 1 and int(m.group(2)) > 50, m.group(0)
    with ftp_session(srv) as ftp:
        exercise_files(ftp, layout.root)
    with ftp_session(srv, "anonymous", "a@b.c") as ftp:
        assert "root-marker.txt" in ftp.nlst()
    # seccomp mode 2 (filter), two filters (clone3 and the allow-list),
    # no_new_privs, on every thread, including those started for sessions
    # and transfers since.
    statuses = thread_statuses(srv.proc.pid)
    assert len(statuses) > 1
    for tid, status in statuses.items():
        assert status["Seccomp"] == "2", (tid, status)
        assert status["Seccomp_filters"] == "2", (tid, status)
        assert status["NoNewPrivs"] == "1", (tid, status)


def test_passive_range_and_active_connections_bind_inside_the_sandbox(start_server, layout):
    # Landlock allows binding port 0 (the kernel picks: active connections'
    # source) and the passive range, nothing else.
    srv = start_server(*STANDARD_FLAGS, "-r", "50700-50710")
    assert SANDBOX_ON.search(srv.log), srv.log_tail()
    with ftp_session(srv) as ftp:
        reply = ftp.sendcmd("EPSV")
        port = int(re.search(r"\(\|\|\|(\d+)\|\)", reply).group(1))
        assert 50700 <= port <= 50710, reply
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"
    with ftp_session(srv, passive=False) as ftp:
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"
        ftp.storbinary("STOR active.txt", io.BytesIO(b"active\n"))
    assert (layout.root / "active.txt").read_bytes() == b"active\n"


def test_no_sandbox_turns_it_off(start_server, layout):
    srv = start_server(*STANDARD_FLAGS, "--no-sandbox")
    assert SANDBOX_OFF in srv.log, srv.log_tail()
    assert not SANDBOX_ON.search(srv.log)
    status = proc_status(srv.proc.pid)
    assert status["Seccomp"] == "0" and status["NoNewPrivs"] == "0", status
    with ftp_session(srv) as ftp:
        exercise_files(ftp, layout.root)


def test_no_sandbox_in_the_config_file(start_server, layout):
    config = layout.base / "ferroftpd.toml"
    config.write_text("no_sandbox = true\n")
    srv = start_server(*STANDARD_FLAGS, "--config", str(config))
    assert SANDBOX_OFF in srv.log, srv.log_tail()
    assert proc_status(srv.proc.pid)["Seccomp"] == "0"


def users_toml(homes: dict[str, Path]) -> str:
    text = "allow_plaintext = true\n"
    for name, home in homes.items():
        text += (f'[[user]]\nname = "{name}"\npassword = "plain:{name}-pw"\n'
                 f'home = "{home}"\nperms = "elradfmwMT"\n')
    return text


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox", "no-sandbox"])
def test_a_home_added_by_a_reload_outside_the_sandbox_stays_closed(start_server, layout, sandbox):
    """Landlock seen from a client: the server itself cannot open what was
    not allowed at startup, whatever its configuration says later."""
    conf = layout.base / "conf"
    conf.mkdir()
    homes = {"alice": layout.base / "home-alice", "bob": layout.base / "home-bob"}
    for home in homes.values():
        home.mkdir()
    (homes["bob"] / "bob.txt").write_bytes(b"bob's file\n")
    users = conf / "users.toml"
    users.write_text(users_toml({"alice": homes["alice"]}))
    flags = ["--users", str(users), "--auth-failed-delay", "0"]
    if not sandbox:
        flags.append("--no-sandbox")
    srv = start_server(*flags, directory=False)
    assert bool(SANDBOX_ON.search(srv.log)) == sandbox, srv.log_tail()

    with ftp_session(srv, "alice", "alice-pw") as ftp:
        ftp.storbinary("STOR a.txt", io.BytesIO(b"alice\n"))
    assert (homes["alice"] / "a.txt").read_bytes() == b"alice\n"

    # bob arrives with a reload; his home was never allowed.
    users.write_text(users_toml(homes))
    os.kill(srv.proc.pid, signal.SIGHUP)
    wait_for_log(srv, "users file reloaded")
    outside = "this directory is outside the sandbox"
    if sandbox:
        wait_for_log(srv, outside)
        assert str(homes["bob"]) in srv.log
        with ftp_session(srv, "bob", "bob-pw") as ftp:
            # The login opens the home with O_PATH, which Landlock does not
            # check; reading, listing and writing in it are refused.
            expect_refused(retr_bytes, ftp, "bob.txt", codes=(4, 5))
            expect_refused(ftp.storbinary, "STOR b.txt", io.BytesIO(b"bob\n"), codes=(4, 5))
            expect_refused(ftp.mkd, "made", codes=(5,))
        assert not (homes["bob"] / "b.txt").exists()
        assert not (homes["bob"] / "made").exists()
        # alice, allowed at startup, goes on as before.
        with ftp_session(srv, "alice", "alice-pw") as ftp:
            assert retr_bytes(ftp, "a.txt") == b"alice\n"
    else:
        assert outside not in srv.log
        with ftp_session(srv, "bob", "bob-pw") as ftp:
            assert retr_bytes(ftp, "bob.txt") == b"bob's file\n"
            ftp.storbinary("STOR b.txt", io.BytesIO(b"bob\n"))
            ftp.mkd("made")
        assert (homes["bob"] / "b.txt").read_bytes() == b"bob\n"
        assert (homes["bob"] / "made").is_dir()


def test_mounted_folders_of_a_users_file_are_inside_the_sandbox(start_server, layout):
    conf = layout.base / "conf"
    conf.mkdir()
    home, shared = layout.base / "home-alice", layout.base / "shared"
    home.mkdir()
    shared.mkdir()
    (shared / "doc.txt").write_bytes(b"shared\n")
    users = conf / "users.toml"
    users.write_text(users_toml({"alice": home})
                     + f'[[user.mount]]\npath = "/shared"\nstorage = "{shared}"\n')
    srv = start_server("--users", str(users), "--auth-failed-delay", "0", directory=False)
    assert SANDBOX_ON.search(srv.log), srv.log_tail()
    with ftp_session(srv, "alice", "alice-pw") as ftp:
        assert retr_bytes(ftp, "/shared/doc.txt") == b"shared\n"
        ftp.storbinary("STOR /shared/up.txt", io.BytesIO(b"up\n"))
        ftp.storbinary("STOR home.txt", io.BytesIO(b"home\n"))
    assert (shared / "up.txt").read_bytes() == b"up\n"
    assert (home / "home.txt").read_bytes() == b"home\n"


def test_s3_storage_in_a_users_file_opens_the_s3_clients_files(start_server, layout):
    """A user whose storage is s3:// has a home in the bucket, not on disk:
    the sandbox opens no directory for it (``home = "/"`` would be the
    whole filesystem), and opens what the S3 client reads (the resolver's
    files, the system's certificates) as with --storage s3://. A reload
    that brings the first S3 storage to a sandbox made without it is
    refused with the reason (the certificates cannot be read), and the
    old users stay. No store is contacted."""
    home = layout.base / "home-alice"
    home.mkdir()
    s3_user = ('[[user]]\nname = "bob"\npassword = "plain:bob-pw"\nhome = "/"\n'
               'storage = "s3://some-bucket/ftp"\n'
               '[s3]\nendpoint = "http://127.0.0.1:9"\n')
    files = {}
    for name in ("with-s3", "without"):
        (layout.base / name).mkdir()
        files[name] = layout.base / name / "users.toml"
    files["with-s3"].write_text(users_toml({"alice": home}) + s3_user)
    files["without"].write_text(users_toml({"alice": home}))

    def rules(srv) -> list[tuple[str, str]]:
        return re.findall(r"sandbox rule path=(\S+) access=(\S+)", srv.log)

    srv = start_server("--users", str(files["with-s3"]), "--auth-failed-delay", "0",
                       directory=False)
    assert SANDBOX_ON.search(srv.log), srv.log_tail()
    assert ("/etc/hosts", "read") in rules(srv), rules(srv)
    assert not any(path == "/" for path, _ in rules(srv)), rules(srv)

    plain = start_server("--users", str(files["without"]), "--auth-failed-delay", "0",
                         directory=False)
    assert ("/etc/hosts", "read") not in rules(plain), rules(plain)
    files["without"].write_text(users_toml({"alice": home}) + s3_user)
    os.kill(plain.proc.pid, signal.SIGHUP)
    wait_for_log(plain, "configuration not reloaded")
    assert f'{files["without"]}:11:' in plain.log, plain.log_tail()
    assert "No CA certificates were loaded" in plain.log, plain.log_tail()
    with ftp_session(plain, "alice", "alice-pw") as ftp:
        ftp.storbinary("STOR a.txt", io.BytesIO(b"alice\n"))
    assert (home / "a.txt").read_bytes() == b"alice\n"
