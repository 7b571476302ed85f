"""The library's examples, one per recipe of pyftpdlib's tutorial and
aioftp's server docs (the table in README.md, "Recipes"), each built by
scripts/test and run here against a real client (Python's ftplib, curl):
what the docs show must run, and do what they say.

Each example takes its address (port 0: a free one) and directory from its
arguments and prints ``listening on ADDR``. The system-users example needs
root and PAM, as tests/interop/test_system_users.py; the S3 one needs the
SeaweedFS server of tests/interop/test_s3.py. Without them those two say
they are skipped, and under CI they fail instead."""

from __future__ import annotations

import ftplib
import io
import os
import pwd
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from support import ferroftpd_bin, parse_listen_addr, raw_transfer, retr_bytes, run_curl

USER, PASSWORD = "user", "12345"


def example_bin(name: str) -> Path:
    path = ferroftpd_bin().parent / "examples" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with "
                    "cargo build -p ferroftpd --examples --all-features")
    return path


class Example:
    """Runs an example that prints ``listening on ADDR``; what it prints
    is in ``output``."""

    def __init__(self, name: str, *args: str, env: dict[str, str] | None = None):
        self.name = name
        self.proc = subprocess.Popen([str(example_bin(name)), *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        # A reader thread, so that an example that prints a lot never
        # blocks on a full pipe, and the lines can be waited for.
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (addr := parse_listen_addr(self.output)) is not None:
                self.host, self.port = addr
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise AssertionError(f"{name} did not start:\n{self.output}")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline, f"{text!r} not printed:\n{self.output}"
            time.sleep(0.02)

    def ftp(self, user: str = USER, password: str = PASSWORD) -> ftplib.FTP:
        ftp = ftplib.FTP()
        ftp.connect(self.host, self.port, timeout=10)
        ftp.login(user, password)
        return ftp

    def url(self, path: str = "", user: str = USER, password: str = PASSWORD) -> str:
        return f"ftp://{user}:{password}@{self.host}:{self.port}/{path}"

    def stop(self, sig: int = signal.SIGTERM) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return self.output


@pytest.fixture
def run_example():
    """Starts examples; stops them all at the end, whatever happened."""
    started: list[Example] = []

    def start(name: str, *args: str, **kw) -> Example:
        ex = Example(name, *args, **kw)
        started.append(ex)
        return ex

    yield start
    for ex in started:
        ex.stop()


def refused(fn, *args) -> str:
    with pytest.raises(ftplib.error_perm) as exc:
        fn(*args)
    return str(exc.value)


def test_basic(run_example, tmp_path):
    ex = run_example("basic", "127.0.0.1:0", str(tmp_path))
    ftp = ex.ftp()
    assert "pyftpdlib-style server" in ftp.getwelcome()
    ftp.storbinary("STOR a.txt", io.BytesIO(b"hello"))
    assert (tmp_path / "a.txt").read_bytes() == b"hello"
    ftp.quit()
    anon = ex.ftp("anonymous", "guest@")
    assert retr_bytes(anon, "a.txt") == b"hello"
    assert refused(anon.storbinary, "STOR b.txt", io.BytesIO(b"x")).startswith("550")
    anon.quit()


def test_users(run_example, tmp_path):
    ex = run_example("users", "127.0.0.1:0", str(tmp_path))
    (tmp_path / "pub" / "readme.txt").write_bytes(b"public")
    anon = ex.ftp("anonymous", "guest@")
    assert retr_bytes(anon, "readme.txt") == b"public"
    assert refused(anon.storbinary, "STOR x", io.BytesIO(b"x")).startswith("550")
    anon.quit()

    alice = ex.ftp("alice", "wonderland")
    alice.storbinary("STOR mine.txt", io.BytesIO(b"alice's"))
    assert (tmp_path / "alice" / "mine.txt").read_bytes() == b"alice's"
    alice.quit()

    bob = ftplib.FTP()
    bob.connect(ex.host, ex.port, timeout=10)
    assert "uploads go to /incoming" in bob.login("bob", "builder")
    assert refused(bob.storbinary, "STOR top.txt", io.BytesIO(b"x")).startswith("550")
    bob.storbinary("STOR incoming/drop.txt", io.BytesIO(b"bob's"))
    assert (tmp_path / "bob" / "incoming" / "drop.txt").read_bytes() == b"bob's"
    # At most two sessions for bob.
    second = ex.ftp("bob", "builder")
    with pytest.raises(ftplib.error_perm, match="^530"):
        ex.ftp("bob", "builder")
    second.quit()
    bob.quit()
    with pytest.raises(ftplib.error_perm, match="^530"):
        ex.ftp("alice", "wrong")


def test_logging_to_a_file_with_debug(run_example, tmp_path):
    log = tmp_path / "ftpd.log"
    (tmp_path / "root").mkdir()
    ex = run_example("logging", "127.0.0.1:0", str(tmp_path / "root"), str(log))
    ftp = ex.ftp()
    ftp.storbinary("STOR f.txt", io.BytesIO(b"data"))
    ftp.quit()
    deadline = time.monotonic() + 10
    while "QUIT" not in (text := log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    # DEBUG: commands and replies, the password masked; each line of the
    # session names it (the log prefix).
    assert "<- USER user" in text and "<- PASS ******" in text, text
    assert PASSWORD not in text
    assert re.search(r"session\{id=\d+ peer=127\.0\.0\.1:\d+ user=\"?user\"?\}.*STOR", text), text


def test_logging_with_the_cli_flags(tmp_path):
    """The same recipe with the binary, as docs/migrating-from-pyftpdlib.md
    shows it: --log-file, -D and pyftpdlib's log prefix."""
    log = tmp_path / "ftpd.log"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(ferroftpd_bin()), "-d", str(tmp_path), "-i", "127.0.0.1", "-p", str(port),
         "-u", USER, "-P", PASSWORD, "-w", "--auth-failed-delay", "0",
         "--log-file", str(log), "-D", "--log-prefix", "{ip}:{port}-[{user}]"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while "listening on" not in (log.read_text() if log.exists() else ""):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port, timeout=10)
        ftp.login(USER, PASSWORD)
        ftp.quit()
        deadline = time.monotonic() + 10
        while "QUIT" not in (text := log.read_text()):
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)
    # pyftpdlib's own line: [D 2026-11-22 05:22:09] 127.0.0.1:50532-[user] <- QUIT
    assert re.search(r"^\[D [\d-]+ [\d:]+\] 127\.0\.0\.1:\d+-\[user\] <- QUIT", text, re.M), text


def test_hashed_passwords(run_example, tmp_path):
    users = tmp_path / "users.toml"
    (tmp_path / "root").mkdir()
    ex = run_example("hashed_passwords", "127.0.0.1:0", str(tmp_path / "root"), str(users))
    text = users.read_text()
    assert "$argon2id$" in text and PASSWORD not in text, text
    ftp = ex.ftp()
    ftp.storbinary("STOR f.txt", io.BytesIO(b"x"))
    ftp.quit()
    with pytest.raises(ftplib.error_perm, match="^530"):
        ex.ftp(USER, "wrong")


@pytest.mark.parametrize("model", ["current-thread", "multi-thread"])
def test_concurrency_model(run_example, tmp_path, model):
    ex = run_example("runtime", model, "127.0.0.1:0", str(tmp_path))
    assert f"({model})" in ex.output
    data = os.urandom(1 << 20)
    (tmp_path / "big.bin").write_bytes(data)
    # Several clients at once, each downloading and uploading.
    errors: list[BaseException] = []

    def client(i: int):
        try:
            ftp = ex.ftp()
            assert retr_bytes(ftp, "big.bin") == data
            ftp.storbinary(f"STOR up{i}.bin", io.BytesIO(data))
            ftp.quit()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for i in range(4):
        assert (tmp_path / f"up{i}.bin").read_bytes() == data


def test_throttle(run_example, tmp_path):
    rate = 100 * 1024
    ex = run_example("throttle", "127.0.0.1:0", str(tmp_path), str(rate), str(rate))
    data = os.urandom(3 * rate)
    (tmp_path / "f.bin").write_bytes(data)
    ftp = ex.ftp()
    started = time.monotonic()
    assert retr_bytes(ftp, "f.bin") == data
    took = time.monotonic() - started
    # 300 KiB at 100 KiB/s: about 3 s (the first burst is free).
    assert 1.8 < took < 8, took
    started = time.monotonic()
    ftp.storbinary("STOR up.bin", io.BytesIO(data))
    took = time.monotonic() - started
    assert 1.8 < took < 8, took
    ftp.quit()


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS
    session, as the example requires (by default) and as curl, lftp and
    FileZilla do; ftplib itself does not (cpython#63699)."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


class ImplicitFTP_TLS(ReusingFTP_TLS):
    """ftplib speaks implicit FTPS once the socket is wrapped at connect."""

    def connect(self, host, port, timeout=10):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = self.context.wrap_socket(socket.create_connection((host, port), timeout),
                                             server_hostname=host)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


def test_ftps_explicit_implicit_and_required(run_example, tmp_path):
    ex = run_example("ftps", "127.0.0.1:0", "127.0.0.1:0", str(tmp_path))
    implicit_port = int(re.search(r"implicit TLS on [\d.]+:(\d+)", ex.output).group(1))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    # Required: no login in clear text.
    plain = ftplib.FTP()
    plain.connect(ex.host, ex.port, timeout=10)
    assert refused(plain.login, USER, PASSWORD).startswith("534")
    plain.close()

    # Explicit: AUTH TLS, then PROT P for the data (required too).
    ftps = ReusingFTP_TLS(context=context)
    ftps.connect(ex.host, ex.port, timeout=10)
    ftps.login(USER, PASSWORD)
    assert refused(ftps.storbinary, "STOR clear.txt", io.BytesIO(b"x")).startswith("521")
    ftps.prot_p()
    ftps.storbinary("STOR secret.txt", io.BytesIO(b"sealed"))
    ftps.quit()
    assert (tmp_path / "secret.txt").read_bytes() == b"sealed"

    # Implicit: TLS from the first byte, with curl and with ftplib.
    res = run_curl("-sS", "-k", f"ftps://{USER}:{PASSWORD}@127.0.0.1:{implicit_port}/secret.txt")
    assert res.returncode == 0 and res.out == "sealed", res.transcript()
    imp = ImplicitFTP_TLS(context=context)
    imp.connect(ex.host, implicit_port)
    imp.login(USER, PASSWORD)
    imp.prot_p()
    assert "secret.txt" in imp.nlst()
    imp.quit()


def abort_upload(ftp: ftplib.FTP, cmd: str, data: bytes) -> None:
    """Sends part of an upload, then ABOR: the upload does not complete."""
    conn = ftp.transfercmd(cmd)
    conn.sendall(data)
    time.sleep(0.3)  # let the bytes reach the file
    # The data connection stays open until the server has aborted: its
    # end before ABOR would be the end of a complete upload.
    ftp.putcmd("ABOR")
    assert ftp.getmultiline().startswith("426")
    assert ftp.getmultiline().startswith("226")
    conn.close()


def test_hooks_remove_only_partial_new_files(run_example, tmp_path):
    ex = run_example("hooks", "127.0.0.1:0", str(tmp_path))
    (tmp_path / "kept.txt").write_bytes(b"the original")
    (tmp_path / "log.txt").write_bytes(b"old lines\n")
    ftp = ex.ftp()
    ex.wait_for("user logged in")
    ftp.storbinary("STOR whole.txt", io.BytesIO(b"all of it"))
    ex.wait_for("received /whole.txt (9 bytes)")
    assert retr_bytes(ftp, "whole.txt") == b"all of it"
    ex.wait_for("sent /whole.txt (9 bytes)")
    ftp.voidcmd("TYPE I")
    # A partial new file: removed by the hook.
    abort_upload(ftp, "STOR new.bin", b"partial")
    ex.wait_for("removed partial upload /new.bin")
    assert not (tmp_path / "new.bin").exists()
    # An aborted overwrite: the server kept the original, so does the hook.
    abort_upload(ftp, "STOR kept.txt", b"half a new version")
    ex.wait_for("incomplete upload of /kept.txt kept: Some(Nothing)")
    assert (tmp_path / "kept.txt").read_bytes() == b"the original"
    # An aborted append: the old lines stay.
    abort_upload(ftp, "APPE log.txt", b"new li")
    ex.wait_for("incomplete upload of /log.txt kept: Some(InPlace)")
    assert (tmp_path / "log.txt").read_bytes().startswith(b"old lines\n")
    ftp.delete("whole.txt")
    ex.wait_for("deleted /whole.txt")
    ftp.quit()
    ex.wait_for("user logged out")
    with pytest.raises(ftplib.error_perm):
        ex.ftp(USER, "wrong")
    ex.wait_for("user failed to log in")


def test_custom_authorizer_sqlite(run_example, tmp_path):
    (tmp_path / "home").mkdir()
    ex = run_example("sqlite_users", str(tmp_path / "users.db"), str(tmp_path / "home"),
                     "127.0.0.1:0")
    ftp = ex.ftp("alice", "wonderland")
    ftp.storbinary("STOR a.txt", io.BytesIO(b"from alice"))
    ftp.quit()
    assert (tmp_path / "home" / "a.txt").read_bytes() == b"from alice"
    with pytest.raises(ftplib.error_perm, match="^530"):
        ex.ftp("alice", "wrong")
    with pytest.raises(ftplib.error_perm, match="^530"):
        ex.ftp("mallory", "wonderland")


def test_memory_storage(run_example, tmp_path):
    ex = run_example("memory_storage", "127.0.0.1:0")
    data = os.urandom(100_000)
    ftp = ex.ftp()
    ftp.mkd("dir")
    ftp.storbinary("STOR dir/f.bin", io.BytesIO(data))
    assert retr_bytes(ftp, "dir/f.bin") == data
    assert ftp.nlst("dir") == ["dir/f.bin"] or ftp.nlst("dir") == ["f.bin"]
    ftp.quit()
    # Nothing on disk: the current directory of the test holds no f.bin.
    assert not any(tmp_path.iterdir())
    res = run_curl("-sS", ex.url("dir/f.bin"))
    assert res.returncode == 0 and len(res.out.encode("latin-1", "replace")) > 0


def test_custom_storage_layer(run_example):
    ex = run_example("hashing_layer", "127.0.0.1:0")
    ftp = ex.ftp()
    ftp.storbinary("STOR a.txt", io.BytesIO(b"abc"))
    ftp.rename("a.txt", "b.txt")
    assert retr_bytes(ftp, "b.txt") == b"abc"
    ftp.quit()
    # SIGINT (Ctrl-C) stops it; it then prints the digests it recorded.
    out = ex.stop(signal.SIGINT)
    sha_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert f"{sha_abc}  /b.txt" in out, out


def test_custom_command_and_guard(run_example, tmp_path):
    ex = run_example("extend", "127.0.0.1:0", str(tmp_path))
    ftp = ex.ftp()
    assert ftp.sendcmd("SITE WHOAMI") == "200 You are user from 127.0.0.1."
    assert " WHOAMI" in ftp.sendcmd("SITE HELP")
    assert ftp.sendcmd("SITE HELP WHOAMI") == "214 Syntax: SITE WHOAMI (who you are)"
    with pytest.raises(ftplib.error_perm, match="^553 No executables here"):
        ftp.storbinary("STOR setup.exe", io.BytesIO(b"MZ..."))
    assert not (tmp_path / "setup.exe").exists()
    ftp.storbinary("STOR notes.txt", io.BytesIO(b"fine"))
    assert (tmp_path / "notes.txt").read_bytes() == b"fine"
    ftp.quit()


def test_virtual_folders(run_example, tmp_path):
    ex = run_example("virtual_folders", "127.0.0.1:0", str(tmp_path))
    (tmp_path / "shared" / "manual.pdf").write_bytes(b"%PDF")
    ftp = ex.ftp()
    assert "shared" in ftp.nlst()
    assert retr_bytes(ftp, "shared/manual.pdf") == b"%PDF"
    # Read-only there; the home is writable.
    assert refused(ftp.storbinary, "STOR shared/x.txt", io.BytesIO(b"x")).startswith("550")
    ftp.storbinary("STOR mine.txt", io.BytesIO(b"mine"))
    assert (tmp_path / "home" / "mine.txt").read_bytes() == b"mine"
    # Across folders, a rename is refused, as rename(2) across filesystems.
    assert refused(ftp.rename, "mine.txt", "shared/mine.txt").startswith("550")
    ftp.quit()


# --- Needs root and PAM: done as test_system_users.py does it. ---------------

def test_system_users(run_example, tmp_path):
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI must run the system-users example as root")
        pytest.skip("the system-users example needs root: accounts are made with useradd")
    name = f"ftpex_{os.getpid()}"
    password = f"pw-{uuid.uuid4().hex[:8]}"
    home = Path("/home") / name
    assert not home.exists()
    subprocess.run(["useradd", "-m", "-d", str(home), "-s", "/bin/bash", name], check=True,
                   capture_output=True, timeout=60)
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True,
                       capture_output=True, timeout=60)
        ex = run_example("system_users", "127.0.0.1:0")
        ftp = ex.ftp(name, password)
        assert ftp.pwd() == "/"
        ftp.storbinary("STOR up.txt", io.BytesIO(b"mine"))
        ftp.quit()
        st = (home / "up.txt").stat()
        pw = pwd.getpwnam(name)
        assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid)
        with pytest.raises(ftplib.error_perm, match="^530"):
            ex.ftp(name, "wrong")
        with pytest.raises(ftplib.error_perm, match="^530"):
            ex.ftp("root", "anything")
    finally:
        subprocess.run(["userdel", "-f", "-r", name], capture_output=True, timeout=60)


# --- Needs the S3 server of test_s3.py (SeaweedFS). ----------------------------

S3_ENDPOINT = os.environ.get("FERROFTPD_TEST_S3_ENDPOINT")
S3_BUCKET = os.environ.get("FERROFTPD_TEST_S3_BUCKET")


def test_s3(run_example):
    if not (S3_ENDPOINT and S3_BUCKET):
        if os.environ.get("CI"):
            pytest.fail("CI must run the S3 example: FERROFTPD_TEST_S3_ENDPOINT is unset")
        pytest.skip("no S3 server: run scripts/seaweedfs start DIR and source DIR/env")
    prefix = f"example-{uuid.uuid4().hex[:12]}"
    ex = run_example("s3", "127.0.0.1:0", f"s3://{S3_BUCKET}/{prefix}", S3_ENDPOINT,
                     env={"AWS_REGION": os.environ.get("FERROFTPD_TEST_S3_REGION", "us-east-1")})
    data = os.urandom(200_000)
    ftp = ex.ftp()
    ftp.storbinary("STOR f.bin", io.BytesIO(data))
    assert "f.bin" in ftp.nlst()
    assert retr_bytes(ftp, "f.bin") == data
    ftp.quit()
    # The object is in the bucket, under PREFIX/HOME/: read it from S3.
    res = subprocess.run(
        ["curl", "-sS", "--fail", "--aws-sigv4", "aws:amz:us-east-1:s3",
         "--user", f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}",
         f"{S3_ENDPOINT}/{S3_BUCKET}/{prefix}/user/f.bin"],
        capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout == data
