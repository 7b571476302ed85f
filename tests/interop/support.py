"""Shared helpers for the real-client interop suite.

Everything here talks to a real ferroftpd process over loopback: the server is
started as a subprocess (see ``Server``), and the clients are curl, lftp,
ncftp, wget and rclone (subprocesses, see ``run_curl``, ``run_lftp``,
``run_ncftp``, ``run_wget``, ``run_rclone``) and Python's ftplib (in-process,
see ``ftp_connect``). The crates/cli test ``interop_suppaftp.rs`` covers the
Rust suppaftp client the same way.

Every subprocess started here is bounded by a timeout and, on timeout, killed
by its own process-group id (it is started in a new session, so the group is
exactly that client and anything it spawned).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ftplib
import hashlib
import io
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "ferroftpd"

USER = "user"
PASSWORD = "12345"
# Content of the files placed *outside* the served directory. It must never
# show up in anything a client receives.
SECRET = b"TOP-SECRET-outside-the-ftp-root\n"
UNICODE_NAME = "été naïve.txt"
UNICODE_DIR = "dossier à accents"
BIG_SIZE = 5 * 1024 * 1024

STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CLIENT_TIMEOUT = 30.0
FTP_TIMEOUT = 10.0

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
LISTEN_RE = re.compile(r"listening on (\S+)")

# A clean locale for the client processes: UTF-8 so that lftp and curl pass
# non-ASCII file names through untouched.
CLIENT_ENV = {
    **os.environ,
    "LC_ALL": "C.UTF-8",
    "LANG": "C.UTF-8",
    "NO_COLOR": "1",
}
for _var in ("ftp_proxy", "FTP_PROXY", "all_proxy", "ALL_PROXY", "http_proxy", "HTTP_PROXY"):
    CLIENT_ENV.pop(_var, None)


def ferroftpd_bin() -> Path:
    return Path(os.environ.get("FERROFTPD_BIN", str(DEFAULT_BIN))).absolute()


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


def parse_listen_addr(log: str) -> tuple[str, int] | None:
    """Finds the ``listening on ADDR:PORT`` line; returns (host, port)."""
    for line in strip_ansi(log).splitlines():
        m = LISTEN_RE.search(line)
        if not m:
            continue
        addr = m.group(1).strip("\"'`,;.()")
        m2 = re.fullmatch(r"\[([0-9A-Fa-f:.%a-zA-Z]+)\]:(\d+)|([^:\[\]]+):(\d+)", addr)
        if not m2:
            continue
        if m2.group(1) is not None:
            return m2.group(1), int(m2.group(2))
        return m2.group(3), int(m2.group(4))
    return None


# --------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------


class ServerStartError(AssertionError):
    pass


# Servers still running, stopped at interpreter exit as a last resort (the
# fixtures stop them at teardown already).
_LIVE: set[Server] = set()


@atexit.register
def _stop_leftover_servers():
    for srv in list(_LIVE):
        srv.stop()


def _die_with_parent():  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort only
        pass


@dataclass(eq=False)
class Server:
    """A running ferroftpd process. Use through the conftest fixtures."""

    args: list[str]
    root: Path
    log_path: Path
    proc: subprocess.Popen
    host: str = ""
    port: int = 0
    needed_sigkill: bool = False

    @classmethod
    def start(cls, args: list[str], root: Path, log_path: Path) -> Server:
        binary = ferroftpd_bin()
        if not binary.is_file():
            raise ServerStartError(
                f"ferroftpd binary not found at {binary} "
                "(build it with `cargo build -p ferroftpd-cli` or set FERROFTPD_BIN)"
            )
        logf = open(log_path, "wb")
        try:
            proc = subprocess.Popen(
                [str(binary), *args],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                cwd=str(root),
                env={**os.environ, "NO_COLOR": "1", "RUST_BACKTRACE": "1"},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            logf.close()
        srv = cls(args=list(args), root=root, log_path=log_path, proc=proc)
        _LIVE.add(srv)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            found = parse_listen_addr(srv.log)
            if found:
                srv.host, srv.port = found
                return srv
            if proc.poll() is not None:
                raise ServerStartError(
                    f"ferroftpd exited with status {proc.returncode} before it "
                    f"logged 'listening on ADDR:PORT'\ncommand: {srv.command}\n"
                    f"--- log ---\n{srv.log}"
                )
            if time.monotonic() > deadline:
                srv.stop()
                raise ServerStartError(
                    f"ferroftpd did not log 'listening on ADDR:PORT' within "
                    f"{STARTUP_TIMEOUT:.0f}s\ncommand: {srv.command}\n--- log ---\n{srv.log}"
                )
            time.sleep(0.02)

    @property
    def command(self) -> str:
        return shlex.join([str(ferroftpd_bin()), *self.args])

    @property
    def log(self) -> str:
        try:
            return strip_ansi(self.log_path.read_bytes().decode("utf-8", "replace"))
        except FileNotFoundError:
            return ""

    def log_tail(self, max_chars: int = 30000) -> str:
        text = self.log
        if len(text) > max_chars:
            text = "[... log truncated ...]\n" + text[-max_chars:]
        return text

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def url(self, path: str = "", user: str | None = USER, password: str | None = PASSWORD) -> str:
        """An ftp:// URL; ``path`` is percent-encoded here (give it raw)."""
        cred = ""
        if user is not None:
            cred = urllib.parse.quote(user, safe="")
            if password is not None:
                cred += ":" + urllib.parse.quote(password, safe="")
            cred += "@"
        return f"ftp://{cred}{self.url_host}:{self.port}/" + urllib.parse.quote(path)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM by PID, then SIGKILL after STOP_TIMEOUT seconds."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.needed_sigkill = True
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
            except ProcessLookupError:
                pass
        _LIVE.discard(self)
        return self.proc.returncode


def received_commands(server: Server) -> list[str]:
    """The commands ``server`` received so far, in order, from its ``-D`` log
    (``PASS`` is masked there)."""
    return [line.split(": <- ", 1)[1] for line in server.log.splitlines() if ": <- " in line]


def received_verbs(server: Server) -> set[str]:
    """The command verbs ``server`` received so far (``{"USER", "MLSD", ...}``)."""
    return {cmd.split(" ", 1)[0].upper() for cmd in received_commands(server)}


# --------------------------------------------------------------------------
# Subprocess clients
# --------------------------------------------------------------------------


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def transcript(self) -> str:
        return (
            f"$ {shlex.join(self.argv)}\n[exit {self.returncode}]\n"
            f"--- stdout ---\n{self.out[:4000]}\n--- stderr ---\n{self.stderr[-12000:]}"
        )


def run(argv: list[str], timeout: float = CLIENT_TIMEOUT, cwd: Path | None = None,
        input: bytes | None = None, env: dict[str, str] | None = None) -> Result:
    """Runs a client process with a hard timeout; kills its process group on timeout.

    ``env`` adds to (or overrides) ``CLIENT_ENV``.
    """
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(cwd) if cwd else None,
        env={**CLIENT_ENV, **(env or {})},
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=5)
        res = Result(argv, -9, out, err.decode("utf-8", "replace"))
        raise AssertionError(f"client timed out after {timeout}s\n{res.transcript()}")
    return Result(argv, proc.returncode, out, err.decode("utf-8", "replace"))


def run_curl(*args: str, timeout: float = CLIENT_TIMEOUT, cwd: Path | None = None) -> Result:
    """curl with verbose transcript on stderr, bounded in time."""
    argv = [
        "curl", "--disable",  # ignore ~/.curlrc; must come first
        "--silent", "--show-error", "--verbose",
        "--connect-timeout", "5", "--max-time", str(int(timeout) - 5),
        *args,
    ]
    return run(argv, timeout=timeout, cwd=cwd)


def lftp_quote(s: str) -> str:
    """Quotes one argument for an lftp command line."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_lftp(server: Server, script: str, *, user: str | None = USER,
             password: str | None = PASSWORD, passive: bool = True,
             settings: str = "", cwd: Path | None = None,
             timeout: float = CLIENT_TIMEOUT, scheme: str = "ftp",
             port: int | None = None) -> Result:
    """Runs ``lftp -c`` with bounded retries/timeouts and a debug transcript.

    ``user=None`` logs in anonymously (lftp's default). ``scheme="ftps"`` with
    the implicit-TLS ``port`` speaks implicit FTPS.
    """
    login = f"open -u {lftp_quote(user)},{lftp_quote(password or '')} " if user else "open "
    pre = "; ".join([
        "set cmd:fail-exit yes",
        "set cmd:interactive no",
        "set net:max-retries 1",
        "set net:persist-retries 0",
        "set net:timeout 5",
        "set net:reconnect-interval-base 1",
        "set ftp:ssl-allow no",
        f"set ftp:passive-mode {'on' if passive else 'off'}",
        "set ftp:charset utf-8",
        "set file:charset utf-8",
        "set cache:enable no",
        "set xfer:clobber on",
        "debug 5",
    ])
    full = f"{pre}; {settings + '; ' if settings else ''}{login}{scheme}://{server.url_host}:{port or server.port}; {script}"
    return run(["lftp", "-c", full], timeout=timeout, cwd=cwd)


def client_home(base: Path) -> Path:
    """A private HOME under ``base`` for clients that read or write dot files
    there (ncftp's ~/.ncftp, wget's ~/.wget-hsts, rclone's cache)."""
    home = base / "home"
    home.mkdir(exist_ok=True)
    return home


_ncftp_runs = 0


def run_ncftp(tool: str, server: Server, *args: str, home: Path, user: str | None = USER,
              password: str | None = PASSWORD, cwd: Path | None = None,
              timeout: float = CLIENT_TIMEOUT) -> Result:
    """Runs ncftpls, ncftpget or ncftpput (``tool``) against ``server``.

    ``args`` are the tool's own arguments after the login flags: ncftpls takes
    a URL (``server.url(path, user=None)``), ncftpget ``HOST LOCAL-DIR REMOTE...``
    and ncftpput ``HOST REMOTE-DIR LOCAL...`` (HOST is ``server.host``; the port
    is given here with -P). The tool's debug log (``-d``: every command and
    reply, as ``Cmd: ...`` and ``NNN: ...`` lines) is appended to the result's
    stderr. ``user=None`` logs in anonymously (the tools' default).
    """
    global _ncftp_runs
    _ncftp_runs += 1
    debug_log = home / f"{tool}-{_ncftp_runs}.debug"
    argv = [tool, "-t", "10", "-P", str(server.port), "-d", str(debug_log)]
    if tool != "ncftpls":
        argv.append("-V")  # no progress meter
    if user is not None:
        argv += ["-u", user, "-p", password or ""]
    res = run([*argv, *args], timeout=timeout, cwd=cwd, env={"HOME": str(home)})
    try:
        debug = debug_log.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        debug = "(no debug log)"
    res.stderr += f"\n--- {tool} -d log ---\n{debug}"
    return res


def run_ncftp_shell(server: Server, commands: list[str], *, home: Path,
                    user: str = USER, password: str = PASSWORD,
                    timeout: float = CLIENT_TIMEOUT) -> Result:
    """Runs the interactive ``ncftp`` client with ``commands`` on its standard
    input, after ``debug 1`` (so that stdout shows each ``Cmd:`` and reply).

    ncftp exits 0 whatever its commands did: check their effects.
    """
    script = "\n".join(["debug 1", *commands, "quit", ""]).encode()
    return run(["ncftp", "-u", user, "-p", password, "-P", str(server.port), server.host],
               timeout=timeout, input=script, env={"HOME": str(home)})


def run_wget(*args: str, home: Path, cwd: Path | None = None,
             timeout: float = CLIENT_TIMEOUT) -> Result:
    """wget without any wgetrc, one try, short timeouts, and ``--debug``: its
    stderr shows each command (``--> ``) and reply (the password included:
    only the suite's test password)."""
    argv = ["wget", "--no-config", "--debug", "--tries=1", "--timeout=5",
            "--no-hsts", *args]
    return run(argv, timeout=timeout, cwd=cwd, env={"HOME": str(home)})


_rclone_obscured: str | None = None


def rclone_remote_config(server: Server, home: Path, name: str = "srv",
                         user: str = USER, password: str = PASSWORD) -> Path:
    """Writes an rclone config file with one FTP remote ``name`` for ``server``."""
    global _rclone_obscured
    if _rclone_obscured is None or password != PASSWORD:
        res = run(["rclone", "obscure", password], timeout=10)
        assert res.returncode == 0, res.transcript()
        obscured = res.out.strip()
        if password == PASSWORD:
            _rclone_obscured = obscured
    else:
        obscured = _rclone_obscured
    conf = home / f"rclone-{name}.conf"
    conf.write_text(
        f"[{name}]\ntype = ftp\nhost = {server.host}\nport = {server.port}\n"
        f"user = {user}\npass = {obscured}\n"
    )
    return conf


def run_rclone(server: Server, *args: str, home: Path, user: str = USER,
               password: str = PASSWORD, cwd: Path | None = None,
               timeout: float = CLIENT_TIMEOUT) -> Result:
    """rclone with the FTP remote ``srv:`` pointing at ``server``.

    One try (``--retries 1 --low-level-retries 1``), short timeouts, at most 4
    FTP connections, and ``--dump headers``: stderr shows each command
    (``FTP Tx:``) and reply (``FTP Rx:``), the password masked.
    """
    conf = rclone_remote_config(server, home, user=user, password=password)
    argv = [
        "rclone", "--config", str(conf), "--cache-dir", str(home / "rclone-cache"),
        "--retries", "1", "--low-level-retries", "1",
        "--contimeout", "5s", "--timeout", "10s",
        "--ftp-concurrency", "4", "--dump", "headers",
        *args,
    ]
    return run(argv, timeout=timeout, cwd=cwd, env={"HOME": str(home)})


# --------------------------------------------------------------------------
# ftplib
# --------------------------------------------------------------------------


class TranscriptFTP(ftplib.FTP):
    """ftplib.FTP that keeps a transcript of commands and replies."""

    def __init__(self, *a, **kw):
        self.log: list[str] = []
        super().__init__(*a, **kw)

    def putline(self, line):
        shown = "PASS ****" if line.upper().startswith("PASS ") else line
        self.log.append(f"> {shown}")
        super().putline(line)

    def getline(self):
        line = super().getline()
        self.log.append(f"< {line}")
        return line

    def transcript(self) -> str:
        return "\n".join(self.log)


def ftp_connect(server: Server, user: str | None = USER, password: str = PASSWORD,
                passive: bool = True, source: str | None = None) -> TranscriptFTP:
    """Connects (and logs in unless ``user`` is None) with ftplib.

    ``source`` binds the client's address (e.g. ``"127.0.0.2"``: any 127.x
    address reaches a server on 127.0.0.1 over loopback).
    """
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    ftp = TranscriptFTP(timeout=FTP_TIMEOUT, encoding="utf-8")
    ftp.connect(server.host, server.port, timeout=FTP_TIMEOUT,
                source_address=(source, 0) if source else None)
    assert ftp.af == family
    ftp.set_pasv(passive)
    if user is not None:
        ftp.login(user, password)
    return ftp


@contextlib.contextmanager
def ftp_session(server: Server, user: str | None = USER, password: str = PASSWORD,
                passive: bool = True, source: str | None = None):
    ftp = ftp_connect(server, user, password, passive, source)
    try:
        yield ftp
    finally:
        with contextlib.suppress(Exception):
            ftp.quit()
        ftp.close()
        # Make the transcript visible in pytest's captured output on failure.
        print(f"--- ftplib transcript ({server.host}:{server.port}) ---")
        print(ftp.transcript())


def retr_bytes(ftp: ftplib.FTP, name: str, rest: int | None = None) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write, rest=rest)
    return buf.getvalue()


def raw_transfer(ftp: ftplib.FTP, cmd: str, upload: bytes | None = None) -> bytes:
    """A data transfer in the current TYPE, byte-exact (no client conversion)."""
    conn = ftp.transfercmd(cmd)
    try:
        if upload is not None:
            conn.sendall(upload)
            data = b""
        else:
            chunks = []
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            data = b"".join(chunks)
    finally:
        conn.close()
    ftp.voidresp()
    return data


def code_of(exc: ftplib.Error) -> int:
    return int(str(exc)[:3])


def expect_refused(fn, *args, codes=(5,), **kwargs) -> str:
    """Calls fn expecting an ftplib error whose reply code starts with one of ``codes``
    (a leading digit like 5, or exact codes like 550)."""
    try:
        res = fn(*args, **kwargs)
    except (ftplib.error_perm, ftplib.error_temp, ftplib.error_reply) as exc:
        code = code_of(exc)
        ok = any(code == c or (c < 10 and code // 100 == c) for c in codes)
        assert ok, f"expected reply {codes}, got {exc}"
        return str(exc)
    raise AssertionError(f"expected a refusal {codes}, but the server accepted: {res!r}")


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic pseudo-random bytes (fast, incompressible)."""
    import random

    return random.Random(seed).randbytes(size)


def tree_digest(root: Path) -> dict[str, str]:
    """relative path -> sha256 (files) or 'dir' for every entry under root."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "symlink"
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = file_sha256(p)
    return out
