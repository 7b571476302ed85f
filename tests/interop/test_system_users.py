"""System users (``--system-users``, docs/system-users.md) with real clients.

Real accounts are made with ``useradd`` and ``chpasswd`` (and removed with
``userdel -r`` afterwards, whatever happens); passwords go through PAM (the
Debian default ``other`` service, as no /etc/pam.d/ferroftpd is installed).
Checked with curl and ftplib: who may log in, that files are written with the
user's uid and gid, and that the kernel's permission checks apply to the user.

Needs root: without it the whole module is skipped, with the reason shown.
"""

from __future__ import annotations

import ftplib
import io
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import (expect_refused, ferroftpd_bin, ftp_connect, ftp_session, random_bytes,
                     retr_bytes, run_curl, run_lftp)

# Skipped, with the reason shown, for a developer who is not root; in CI
# (which runs as root) a missing root is an error, never a silent skip.
if os.geteuid() != 0 and os.environ.get("CI"):
    raise RuntimeError("CI must run the system-users tests as root")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="system users need root: accounts are created with useradd and the server acts as them",
)


@dataclass
class Account:
    name: str
    password: str

    @property
    def pw(self) -> pwd.struct_passwd:
        return pwd.getpwnam(self.name)

    @property
    def home(self) -> Path:
        return Path(self.pw.pw_dir)


def run_root(*argv: str, input: str | None = None) -> None:
    res = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"{argv}: {res.stderr}"


@pytest.fixture(scope="module")
def accounts(request) -> dict[str, Account]:
    """alice and bob (bash), nolog (nologin shell), toor (a second uid 0),
    and anon, an unprivileged system account for anonymous logins.

    Each account gets a home of its own, made by useradd, so that
    ``userdel -r`` removes nothing else (an account sharing /root as its
    home would take /root with it).
    """
    suffix = os.getpid()
    made: dict[str, Account] = {}

    def remove_all():
        for acc in made.values():
            try:
                home = pwd.getpwnam(acc.name).pw_dir
            except KeyError:
                continue  # useradd failed: nothing to remove
            # -r only for the home useradd made for this very account. -f
            # because every root process counts as toor's (uid 0).
            remove_home = ["-r"] if home == f"/home/{acc.name}" else []
            res = subprocess.run(["userdel", "-f", *remove_home, acc.name],
                                 capture_output=True, text=True, timeout=60)
            if res.returncode != 0:
                print(f"userdel {acc.name}: {res.stderr}")
            # userdel keeps the home of a uid 0 account, even with -r.
            if remove_home and Path(home).is_dir():
                shutil.rmtree(home)

    request.addfinalizer(remove_all)
    specs = {
        "alice": ["-s", "/bin/bash"],
        "bob": ["-s", "/bin/bash"],
        "nolog": ["-s", "/usr/sbin/nologin"],
        "toor": ["-o", "-u", "0", "-s", "/bin/bash"],
        "anon": ["-r", "-s", "/usr/sbin/nologin"],
    }
    for key, flags in specs.items():
        acc = Account(f"ftpt_{key}_{suffix}", f"pw-{key}-{suffix}")
        home = Path("/home") / acc.name
        assert not home.exists(), f"{home} exists already"
        # Registered before useradd so that a half-made account goes too.
        made[key] = acc
        run_root("useradd", "-m", "-d", str(home), *flags, acc.name)
        run_root("chpasswd", input=f"{acc.name}:{acc.password}\n")
        assert acc.home == home
    (made["anon"].home / "welcome.txt").write_text("hello, anonymous\n")
    return made


def start(start_server, *flags: str):
    # No -d: a system user's root is their home. The delay between failed
    # logins is PAM's own (pam_unix); the server adds none here.
    return start_server("--system-users", "--auth-failed-delay", "0", *flags, directory=False)


def login_fails(srv, user: str, password: str) -> None:
    with pytest.raises(ftplib.error_perm) as exc:
        with ftp_session(srv, user, password):
            pass
    assert str(exc.value).startswith("530"), exc.value


def test_login_and_files_owned_by_the_user(start_server, layout, accounts):
    alice = accounts["alice"]
    srv = start(start_server)
    src = layout.clients / "up.bin"
    data = random_bytes(100 * 1024, seed=70)
    src.write_bytes(data)

    res = run_curl("-T", str(src), srv.url("up.bin", user=alice.name, password=alice.password))
    assert res.returncode == 0, res.transcript()
    st = (alice.home / "up.bin").stat()
    assert (st.st_uid, st.st_gid) == (alice.pw.pw_uid, alice.pw.pw_gid)
    assert (alice.home / "up.bin").read_bytes() == data

    with ftp_session(srv, alice.name, alice.password) as ftp:
        # Confined: the home is /.
        assert ftp.pwd() == "/"
        assert "up.bin" in ftp.nlst()
        assert retr_bytes(ftp, "up.bin") == data
        ftp.mkd("made")
        st = (alice.home / "made").stat()
        assert (st.st_uid, st.st_gid) == (alice.pw.pw_uid, alice.pw.pw_gid)
        # SITE CHMOD and MFMT change the user's own file.
        ftp.sendcmd("SITE CHMOD 640 up.bin")
        assert (alice.home / "up.bin").stat().st_mode & 0o777 == 0o640
        ftp.sendcmd("MFMT 20200102030405 up.bin")
        assert int((alice.home / "up.bin").stat().st_mtime) == 1577934245
        # Nothing outside the home: `..` at the top stays there.
        ftp.cwd("/..")
        assert ftp.pwd() == "/"
        assert "up.bin" in ftp.nlst()
    assert "login user=" + alice.name in srv.log


def test_who_is_refused(start_server, accounts):
    alice, nolog, toor = accounts["alice"], accounts["nolog"], accounts["toor"]
    # toor is uid 0 under another name: refused although no list names it.
    srv = start(start_server, "--system-rejected-users", "root")
    login_fails(srv, alice.name, "wrong password")
    login_fails(srv, f"ftpt_nosuchuser_{os.getpid()}", "whatever")
    login_fails(srv, "root", "whatever")
    login_fails(srv, nolog.name, nolog.password)
    login_fails(srv, toor.name, toor.password)
    # No anonymous access unless asked for.
    login_fails(srv, "anonymous", "me@example.com")
    log = srv.log
    assert f'user={alice.name} reason=PAM' in log
    assert "user=root" in log and "not allowed by the user lists" in log
    assert f"user={nolog.name} reason=login shell" in log
    assert f"user={toor.name} reason=uid 0" in log
    assert "login user=" not in log
    # The right password still works.
    with ftp_session(srv, alice.name, alice.password) as ftp:
        assert ftp.pwd() == "/"


def test_shell_check_can_be_turned_off(start_server, accounts):
    nolog = accounts["nolog"]
    srv = start(start_server, "--system-no-shell-check")
    with ftp_session(srv, nolog.name, nolog.password) as ftp:
        assert ftp.pwd() == "/"


def test_allowed_users_and_permissions(start_server, layout, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    srv = start(start_server, "--system-allowed-users", alice.name,
                "--system-user-perm", f"{alice.name}:elr")
    login_fails(srv, bob.name, bob.password)
    assert f"user={bob.name}" in srv.log and "not allowed by the user lists" in srv.log
    src = layout.clients / "ro.txt"
    src.write_bytes(b"x\n")
    with ftp_session(srv, alice.name, alice.password) as ftp:
        with src.open("rb") as f:
            expect_refused(ftp.storbinary, "STOR ro.txt", f, codes=(550,))
    assert not (alice.home / "ro.txt").exists()


def test_the_kernel_checks_apply(start_server, layout, accounts):
    alice = accounts["alice"]
    secret = alice.home / "secret.txt"
    secret.write_bytes(b"root only\n")
    os.chmod(secret, 0o600)  # owned by root, the test's user
    locked = alice.home / "locked"
    locked.mkdir()
    os.chmod(locked, 0o755)
    (locked / "file.txt").write_bytes(b"root's\n")
    os.chmod(locked / "file.txt", 0o666)
    src = layout.clients / "new.txt"
    src.write_bytes(b"replacement\n")
    srv = start(start_server)
    try:
        with ftp_session(srv, alice.name, alice.password) as ftp:
            # Listed (the home is readable), but not readable.
            assert "secret.txt" in ftp.nlst()
            expect_refused(retr_bytes, ftp, "secret.txt", codes=(550,))
            # The directory is root's: its files can be neither deleted,
            # renamed nor replaced, and nothing can be created in it.
            expect_refused(ftp.delete, "locked/file.txt", codes=(550,))
            expect_refused(ftp.rename, "locked/file.txt", "stolen.txt", codes=(550,))
            with src.open("rb") as f:
                expect_refused(ftp.storbinary, "STOR locked/file.txt", f, codes=(550,))
            with src.open("rb") as f:
                expect_refused(ftp.storbinary, "STOR locked/new.txt", f, codes=(550,))
            expect_refused(ftp.mkd, "locked/dir", codes=(550,))
            # The file itself is world-writable: appending to it is allowed.
            with src.open("rb") as f:
                ftp.storbinary("APPE locked/file.txt", f)
        assert secret.read_bytes() == b"root only\n"
        assert (locked / "file.txt").read_bytes() == b"root's\nreplacement\n"
        assert sorted(os.listdir(locked)) == ["file.txt"]
    finally:
        secret.unlink()
        (locked / "file.txt").unlink()
        locked.rmdir()


def test_unconfined_shows_real_paths(start_server, accounts):
    alice = accounts["alice"]
    srv = start(start_server, "--system-unconfined")
    with ftp_session(srv, alice.name, alice.password) as ftp:
        assert ftp.pwd() == str(alice.home)
        ftp.cwd("/etc")
        assert ftp.pwd() == "/etc"
        assert retr_bytes(ftp, "/etc/passwd") == Path("/etc/passwd").read_bytes()
        # /etc/shadow exists but is not readable by the user.
        assert "shadow" in ftp.nlst("/etc")
        expect_refused(retr_bytes, ftp, "/etc/shadow", codes=(550,))
        expect_refused(ftp.mkd, "/etc/ftpt-should-not-exist", codes=(550,))
        # The server's own /proc (other sessions' open files) and sysfs are
        # refused to system users whatever the mode.
        for path in ("/proc/self/fd", "/proc/self/task", "/proc", "/sys/kernel"):
            expect_refused(ftp.cwd, path, codes=(550,))
            expect_refused(ftp.nlst, path, codes=(550,))
        expect_refused(retr_bytes, ftp, "/proc/self/status", codes=(550,))
        expect_refused(retr_bytes, ftp, "/proc/self/maps", codes=(550,))
    assert not Path("/etc/ftpt-should-not-exist").exists()


def test_anonymous_maps_to_a_system_account(start_server, layout, accounts):
    anon = accounts["anon"]
    srv = start(start_server, "--anonymous", "--system-anonymous-account", anon.name)
    src = layout.clients / "anon-up.txt"
    src.write_bytes(b"x\n")
    with ftp_session(srv, "anonymous", "me@example.com") as ftp:
        assert ftp.pwd() == "/"
        assert retr_bytes(ftp, "welcome.txt") == b"hello, anonymous\n"
        # Read-only by default.
        with src.open("rb") as f:
            expect_refused(ftp.storbinary, "STOR anon-up.txt", f, codes=(550,))
    assert not (anon.home / "anon-up.txt").exists()
    # Other system users still log in as themselves.
    alice = accounts["alice"]
    with ftp_session(srv, alice.name, alice.password) as ftp:
        assert "welcome.txt" not in ftp.nlst()


def test_bad_combinations_are_refused():
    from support import ferroftpd_bin

    for argv in (
        ["--system-users", "--user", "a:b"],
        ["--system-users", "--username", "a", "--password", "b"],
        ["--system-perm", "elr"],
        ["--system-users", "--anonymous", "--system-anonymous-account",
         f"ftpt_nosuchuser_{os.getpid()}"],
    ):
        res = subprocess.run([str(ferroftpd_bin()), *argv, "-i", "127.0.0.1", "-p", "0"],
                             capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
        assert res.returncode != 0, (argv, res.stderr)
        assert "error" in res.stderr.lower(), (argv, res.stderr)


def test_a_user_cannot_signal_the_server(start_server, accounts):
    """The session's file-access thread acts as the user for files only: its
    real and saved uid stay 0, so the user's own processes cannot signal (or
    prlimit, or ptrace) it, which would reach the whole server."""
    alice = accounts["alice"]
    srv = start(start_server)
    with ftp_session(srv, alice.name, alice.password) as ftp:
        assert ftp.pwd() == "/"
        tasks = Path(f"/proc/{srv.proc.pid}/task")
        user_threads = [t.name for t in tasks.iterdir()
                        if (t / "comm").read_text().strip() == f"ftp-uid-{alice.pw.pw_uid}"]
        assert user_threads, "no file-access thread for the session"
        for tid in user_threads:
            status = (tasks / tid / "status").read_text()
            uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()
            # real, effective, saved, filesystem
            assert uids[1:] == ["0", str(alice.pw.pw_uid), "0", str(alice.pw.pw_uid)], uids
            probe = subprocess.run(
                ["python3", "-c", f"import os; os.kill({tid}, 0)"],
                user=alice.pw.pw_uid, group=alice.pw.pw_gid, extra_groups=[],
                capture_output=True, text=True, timeout=30)
            assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe
        assert srv.alive()


def test_uploads_are_written_without_root_privileges(start_server, layout, accounts):
    """APPE writes into the user's own set-user-ID file: a writer without
    CAP_FSETID makes the kernel clear the bit, a root writer would keep it
    (the same privilege would also bypass disk quotas)."""
    alice = accounts["alice"]
    srv = start(start_server)
    target = alice.home / "setuid.bin"
    with ftp_session(srv, alice.name, alice.password) as ftp:
        ftp.storbinary("STOR setuid.bin", io.BytesIO(b"first part\n"))
        os.chmod(target, 0o4755)
        assert target.stat().st_mode & 0o4000
        ftp.storbinary("APPE setuid.bin", io.BytesIO(b"second part\n"))
    assert target.read_bytes() == b"first part\nsecond part\n"
    assert not target.stat().st_mode & 0o4000, oct(target.stat().st_mode)


def test_a_home_that_is_the_root_directory_is_refused_when_confined(start_server, accounts):
    """Confinement to a home of `/` would confine nothing."""
    name, password = f"ftpt_slash_{os.getpid()}", f"pw-slash-{os.getpid()}"
    # -M: no home is made, and no -r when removing it: the home is `/`.
    run_root("useradd", "-M", "-d", "/", "-s", "/bin/bash", name)
    try:
        run_root("chpasswd", input=f"{name}:{password}\n")
        srv = start(start_server)
        login_fails(srv, name, password)
        assert f"user={name} reason=home directory" in srv.log
        assert "is the root directory" in srv.log
        unconfined = start(start_server, "--system-unconfined")
        with ftp_session(unconfined, name, password) as ftp:
            assert ftp.pwd() == "/"
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=60)


def test_umask_and_dir_message_for_system_users(start_server, accounts):
    alice = accounts["alice"]
    (alice.home / ".message").write_text("Alice's home.\n")
    srv = start(start_server, "--umask", "077", "--dir-message", ".message")
    with ftp_session(srv, user=None) as ftp:
        # The message is read as alice, through her storage.
        assert ftp.login(alice.name, alice.password).startswith("230-Alice's home.\n")
        ftp.storbinary("STOR private.txt", io.BytesIO(b"mine\n"))
        ftp.mkd("private")
    for name, want in [("private.txt", 0o600), ("private", 0o700)]:
        st = (alice.home / name).stat()
        assert (st.st_mode & 0o777, st.st_uid) == (want, alice.pw.pw_uid), name


# --isolate-sessions: a process per session, the user's for good after login.


def session_processes(srv) -> dict[int, dict[str, str]]:
    """The server's child processes: pid -> their /proc status lines."""
    pid = srv.proc.pid
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    out = {}
    for child in children:
        try:
            lines = Path(f"/proc/{child}/status").read_text().splitlines()
        except FileNotFoundError:
            continue
        out[child] = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    return out


def process_of(srv, uid: int) -> tuple[int, dict[str, str]]:
    """The one session process whose uids are all `uid`."""
    found = [(pid, st) for pid, st in session_processes(srv).items()
             if st["Uid"].split() == [str(uid)] * 4]
    assert len(found) == 1, session_processes(srv)
    return found[0]


def test_isolated_sessions_run_as_the_user(start_server, layout, accounts):
    alice, bob = accounts["alice"], accounts["bob"]
    srv = start(start_server, "--isolate-sessions", "--max-sessions-per-user", "1")
    first = ftp_connect(srv, alice.name, alice.password)
    second = ftp_connect(srv, bob.name, bob.password)
    try:
        # Each session is a process of its own with every uid and gid the
        # user's, no capabilities, and the user's groups.
        pid_a, st_a = process_of(srv, alice.pw.pw_uid)
        pid_b, st_b = process_of(srv, bob.pw.pw_uid)
        for pid, st, acc in ((pid_a, st_a, alice), (pid_b, st_b, bob)):
            assert st["Gid"].split() == [str(acc.pw.pw_gid)] * 4
            assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
            assert st["Groups"].split() == [str(acc.pw.pw_gid)]
            # Not dumpable: its /proc files stay root's, so the user cannot
            # read its memory (the TLS key); and under the seccomp filter.
            assert os.stat(f"/proc/{pid}/mem").st_uid == 0
            assert st["Seccomp"] == "2", st
        # The per-user limit holds across processes: the supervisor keeps it.
        msg = expect_refused(ftp_connect, srv, alice.name, alice.password)
        assert msg.startswith("530"), msg

        # A session whose process dies takes no one else with it.
        os.kill(pid_a, 9)
        with pytest.raises((EOFError, OSError, ftplib.Error)):
            first.nlst()
        assert ".profile" in second.nlst()
        second.storbinary("STOR from-bob.txt", io.BytesIO(b"bob's\n"))
    finally:
        for ftp in (first, second):
            ftp.close()
    st = (bob.home / "from-bob.txt").stat()
    assert (st.st_uid, st.st_gid) == (bob.pw.pw_uid, bob.pw.pw_gid)

    # Its user slot went with it: alice logs in again, with curl and lftp.
    src = layout.clients / "iso.bin"
    data = random_bytes(300 * 1024, seed=71)
    src.write_bytes(data)
    res = run_curl("-T", str(src), srv.url("iso.bin", user=alice.name, password=alice.password))
    assert res.returncode == 0, res.transcript()
    st = (alice.home / "iso.bin").stat()
    assert (st.st_uid, st.st_gid) == (alice.pw.pw_uid, alice.pw.pw_gid)
    res = run_lftp(srv, "cls -1; get iso.bin -o " + str(layout.clients / "back.bin"),
                   user=alice.name, password=alice.password)
    assert res.returncode == 0, res.transcript()
    assert "iso.bin" in res.out
    assert (layout.clients / "back.bin").read_bytes() == data
    # Logged in, a session cannot log in again as anyone else: PAM, no
    # longer root, cannot check another user's password.
    with ftp_session(srv, alice.name, alice.password) as ftp:
        msg = expect_refused(ftp.login, bob.name, bob.password)
        assert msg.startswith("530"), msg
    assert "session process ended: signal: 9" in srv.log
    # A session open at shutdown is closed, and the supervisor exits cleanly.
    last = ftp_connect(srv, bob.name, bob.password)
    try:
        assert srv.stop() == 0
    finally:
        last.close()
    # No session process but the killed one ended abnormally.
    assert srv.log.count("session process ended:") == 1, srv.log_tail()


def test_an_isolated_session_that_cannot_start_answers_421(start_server, layout, accounts):
    """Each session process reads the config file as it starts: one that no
    longer reads, or no longer asks for isolation, gets the client a 421
    rather than a silent close, and the supervisor goes on."""
    import socket
    alice = accounts["alice"]
    config = layout.base / "isolate.toml"
    config.write_text("isolate_sessions = true\n")
    srv = start(start_server, "--config", str(config))

    def greeting() -> bytes:
        with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
            sock.settimeout(10)
            return sock.recv(200)

    assert greeting().startswith(b"220")
    for broken in ("isolate_sessions = [\n", "isolate_sessions = false\n"):
        config.write_text(broken)
        assert greeting().startswith(b"421 "), broken
    config.write_text("isolate_sessions = true\n")
    with ftp_session(srv, alice.name, alice.password) as ftp:
        assert ftp.pwd() == "/"


def test_isolated_sessions_refuse_what_cannot_work():
    for flags, said in (
        (["--isolate-sessions", "-d", "/tmp"], "--isolate-sessions needs --system-users"),
        (["--system-users", "--isolate-sessions", "--concurrency", "multi-proc"],
         "does not go with --concurrency"),
        (["--system-users", "--isolate-sessions", "--run-as", "nobody"],
         "--run-as does not go with --isolate-sessions"),
    ):
        res = subprocess.run([str(ferroftpd_bin()), *flags, "-p", "0", "-i", "127.0.0.1"],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode != 0
        assert said in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
