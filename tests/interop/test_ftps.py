"""FTPS (RFC 4217): explicit (AUTH TLS) and implicit TLS with curl, lftp,
Python's ftplib and rclone, and the security properties: plain text sent
after AUTH is never executed, each TLS policy refuses what it should, and a
data connection must resume its own control connection's TLS session.

The certificate is made by ``openssl req`` for ``localhost`` and
``127.0.0.1``; clients verify it against that file (curl, ftplib, lftp) or,
where noted, skip verification (rclone).
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import re
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import (
    BIG_SIZE,
    FTP_TIMEOUT,
    PASSWORD,
    USER,
    Server,
    code_of,
    expect_refused,
    random_bytes,
    rclone_remote_config,
    run,
    run_curl,
    run_lftp,
    sha256,
)

pytestmark = pytest.mark.ftps

MODES = ("explicit", "implicit")
IMPLICIT_RE = re.compile(r"implicit FTPS on \S+:(\d+)")


@dataclass
class Certs:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    d = tmp_path_factory.mktemp("certs")
    cert, key = d / "cert.pem", d / "key.pem"
    res = run([
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ], timeout=60)
    assert res.returncode == 0, res.transcript()
    return Certs(cert, key)


def tls_flags(certs: Certs, *extra: str) -> tuple[str, ...]:
    return (
        "--user", f"{USER}:{PASSWORD}:elradfmwMT", "--anonymous", "--auth-failed-delay", "0",
        "--tls", "--certfile", str(certs.cert), "--keyfile", str(certs.key),
        "--tls-implicit-port", "0", *extra,
    )


def implicit_port(server: Server) -> int:
    m = IMPLICIT_RE.search(server.log)
    assert m, server.log
    return int(m.group(1))


@pytest.fixture
def tls_server(start_server, certs) -> Server:
    return start_server(*tls_flags(certs))


def client_context(certs: Certs) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.cert))


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS
    session, as curl, lftp, FileZilla and rclone do (ftplib itself does
    not: cpython#63699)."""

    # After CCC the control socket has no session any more: the one it had
    # is kept here.
    kept_session = None

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            session = self.kept_session or self.sock.session
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=session)
        return conn, size


class ImplicitFTP_TLS(ReusingFTP_TLS):
    """TLS from the first byte (ftplib has no implicit mode)."""

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        self.host, self.port = host, port
        self.timeout = FTP_TIMEOUT
        raw = socket.create_connection((host, port), timeout=FTP_TIMEOUT)
        self.af = raw.family
        self.sock = self.context.wrap_socket(raw, server_hostname=host)
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


def connect(server: Server, certs: Certs, mode: str, cls=None, login=True,
            context: ssl.SSLContext | None = None) -> ftplib.FTP_TLS:
    """A logged-in ftplib session over TLS, with PROT P."""
    context = context or client_context(certs)
    if mode == "implicit":
        ftp = ImplicitFTP_TLS(context=context, timeout=FTP_TIMEOUT)
        ftp.connect(server.host, implicit_port(server))
    else:
        ftp = (cls or ReusingFTP_TLS)(context=context, timeout=FTP_TIMEOUT)
        ftp.connect(server.host, server.port)
        ftp.auth()
    if login:
        ftp.login(USER, PASSWORD)
        ftp.prot_p()
    return ftp


def retr(ftp: ftplib.FTP, name: str, rest: int | None = None) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write, rest=rest)
    return buf.getvalue()


# --------------------------------------------------------------------------
# Interop: login, listing, upload, download and resume under PROT P
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_ftplib_prot_p_roundtrip(tls_server, certs, mode):
    data = random_bytes(BIG_SIZE, seed=4)
    ftp = connect(tls_server, certs, mode)
    try:
        assert ftp.sock.version() in ("TLSv1.2", "TLSv1.3")
        ftp.mkd("d")
        ftp.storbinary("STOR d/big.bin", io.BytesIO(data))
        assert (tls_server.root / "d" / "big.bin").read_bytes() == data
        assert "big.bin" in ftp.nlst("d")
        assert dict(ftp.mlsd("d"))["big.bin"]["size"] == str(BIG_SIZE)
        assert sha256(retr(ftp, "d/big.bin")) == sha256(data)
        # Resumed download and upload.
        assert retr(ftp, "d/big.bin", rest=1000) == data[1000:]
        ftp.storbinary("STOR d/half.bin", io.BytesIO(data[:4096]))
        ftp.storbinary("APPE d/half.bin", io.BytesIO(data[4096:8192]))
        ftp.storbinary("STOR d/half.bin", io.BytesIO(data[8192:]), rest=8192)
        assert (tls_server.root / "d" / "half.bin").read_bytes() == data
        assert ftp.voidcmd("NOOP").startswith("200")
    finally:
        ftp.quit()
    # Every data connection resumed the control session (the default policy
    # would have refused the others).
    assert "kind=Some(Resumed)" in tls_server.log
    assert "kind=Some(Full)" not in tls_server.log


def curl_url(server: Server, mode: str, path: str = "") -> str:
    if mode == "implicit":
        return f"ftps://{USER}:{PASSWORD}@127.0.0.1:{implicit_port(server)}/{path}"
    return f"ftp://{USER}:{PASSWORD}@127.0.0.1:{server.port}/{path}"


def curl_tls(server: Server, certs: Certs, mode: str, *args: str):
    extra = ["--ssl-reqd"] if mode == "explicit" else []
    res = run_curl("--cacert", str(certs.cert), *extra, *args)
    assert res.returncode == 0, res.transcript()
    return res


@pytest.mark.curl
@pytest.mark.parametrize("mode", MODES)
def test_curl_roundtrip(tls_server, certs, layout, mode):
    data = random_bytes(BIG_SIZE, seed=5)
    local = layout.clients / "up.bin"
    local.write_bytes(data)
    res = curl_tls(tls_server, certs, mode, "-T", str(local), curl_url(tls_server, mode, "up.bin"))
    if mode == "explicit":
        assert "AUTH SSL" in res.stderr or "AUTH TLS" in res.stderr
    assert (tls_server.root / "up.bin").read_bytes() == data
    listing = curl_tls(tls_server, certs, mode, curl_url(tls_server, mode)).out
    assert "up.bin" in listing and str(BIG_SIZE) in listing
    got = layout.clients / "down.bin"
    curl_tls(tls_server, certs, mode, "-o", str(got), curl_url(tls_server, mode, "up.bin"))
    assert got.read_bytes() == data
    # Resume a download from a partial local file.
    got.write_bytes(data[:12345])
    curl_tls(tls_server, certs, mode, "-C", "-", "-o", str(got),
             curl_url(tls_server, mode, "up.bin"))
    assert got.read_bytes() == data
    # Resume an upload onto a partial remote file.
    (tls_server.root / "part.bin").write_bytes(data[:777])
    curl_tls(tls_server, certs, mode, "-C", "-", "-T", str(local),
             curl_url(tls_server, mode, "part.bin"))
    assert (tls_server.root / "part.bin").read_bytes() == data
    assert "kind=Some(Full)" not in tls_server.log


LFTP_TLS = ("set ftp:ssl-allow yes; set ftp:ssl-force yes; set ftp:ssl-protect-data yes; "
            "set ftp:ssl-protect-list yes; set ssl:verify-certificate yes; set ssl:check-hostname yes")


@pytest.mark.lftp
@pytest.mark.parametrize("mode", MODES)
def test_lftp_roundtrip(tls_server, certs, layout, mode):
    data = random_bytes(BIG_SIZE, seed=6)
    local = layout.clients / "up.bin"
    local.write_bytes(data)
    got = layout.clients / "down.bin"
    partial = layout.clients / "partial.bin"
    partial.write_bytes(data[:5000])
    (tls_server.root / "remote-partial.bin").write_bytes(data[:3000])
    kwargs = {"scheme": "ftps", "port": implicit_port(tls_server)} if mode == "implicit" else {}
    script = (
        f"put {local} -o up.bin; cls -l; get up.bin -o {got}; "
        f"get -c up.bin -o {partial}; put -c {local} -o remote-partial.bin"
    )
    res = run_lftp(tls_server, script, settings=f"{LFTP_TLS}; set ssl:ca-file {certs.cert}",
                   **kwargs)
    assert res.returncode == 0, res.transcript()
    if mode == "explicit":
        assert "---> AUTH TLS" in res.stderr, res.transcript()
    assert "---> PROT P" in res.stderr, res.transcript()
    assert "up.bin" in res.out
    assert got.read_bytes() == data
    assert partial.read_bytes() == data
    assert (tls_server.root / "remote-partial.bin").read_bytes() == data
    assert "kind=Some(Full)" not in tls_server.log


@pytest.mark.rclone
@pytest.mark.parametrize("mode", MODES)
def test_rclone_roundtrip(tls_server, layout, mode):
    home = layout.clients / "home"
    home.mkdir()
    conf = rclone_remote_config(tls_server, home)
    port = implicit_port(tls_server) if mode == "implicit" else tls_server.port
    text = conf.read_text().replace(f"port = {tls_server.port}", f"port = {port}")
    option = "tls = true" if mode == "implicit" else "explicit_tls = true"
    # rclone is given no CA option for FTP; the certificate is checked by
    # the other clients.
    conf.write_text(text + f"{option}\nno_check_certificate = true\n")
    src = layout.clients / "src"
    src.mkdir()
    files = {f"f{i}.bin": random_bytes(200_000 + i, seed=10 + i) for i in range(3)}
    for name, body in files.items():
        (src / name).write_bytes(body)
    # One control connection: rclone keeps one TLS session cache for all
    # its connections to a host, so with several control connections a data
    # connection may present a sibling's session, which the default policy
    # refuses (docs/ftps.md).
    base = ["rclone", "--config", str(conf), "--retries", "1", "--low-level-retries", "1",
            "--contimeout", "5s", "--timeout", "10s", "--ftp-concurrency", "1"]
    env = {"HOME": str(home)}
    res = run([*base, "copy", str(src), "srv:dir"], env=env, timeout=60)
    assert res.returncode == 0, res.transcript()
    for name, body in files.items():
        assert (tls_server.root / "dir" / name).read_bytes() == body
    res = run([*base, "lsf", "srv:dir"], env=env)
    assert res.returncode == 0, res.transcript()
    assert sorted(res.out.split()) == sorted(files)
    back = layout.clients / "back"
    res = run([*base, "copy", "srv:dir", str(back)], env=env, timeout=60)
    assert res.returncode == 0, res.transcript()
    for name, body in files.items():
        assert (back / name).read_bytes() == body
    assert "kind=Some(Full)" not in tls_server.log


# --------------------------------------------------------------------------
# Security properties
# --------------------------------------------------------------------------


def read_reply(f) -> str:
    """One (possibly multi-line) reply from a file-like control connection."""
    line = f.readline().decode()
    if line[3:4] == "-":
        code = line[:3]
        while True:
            more = f.readline().decode()
            line += more
            if more.startswith(code + " ") or not more:
                break
    return line


def test_plaintext_pipelined_after_auth_is_not_executed(tls_server, certs):
    ctx = client_context(certs)
    with socket.create_connection((tls_server.host, tls_server.port), timeout=FTP_TIMEOUT) as raw:
        f = raw.makefile("rb")
        assert read_reply(f).startswith("220")
        # An attacker on the path appends a command to the client's AUTH.
        raw.sendall(b"AUTH TLS\r\nUSER user\r\n")
        assert read_reply(f).startswith("234")
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tf = tls.makefile("rb")
            # Had USER run inside the TLS session, PASS would now log in.
            tls.sendall(b"PASS " + PASSWORD.encode() + b"\r\n")
            assert read_reply(tf).startswith("503"), "pipelined USER was executed"
            tls.sendall(b"USER user\r\n")
            assert read_reply(tf).startswith("331")
            tls.sendall(b"PASS " + PASSWORD.encode() + b"\r\n")
            assert read_reply(tf).startswith("230")
            tls.sendall(b"QUIT\r\n")
            assert read_reply(tf).startswith("221")
    assert "discarded plain-text bytes sent after AUTH" in tls_server.log


def test_data_connection_with_another_sessions_tls_session_is_refused(tls_server, certs):
    # One client context, so Python lets a session move between sockets.
    context = client_context(certs)
    victim = connect(tls_server, certs, "explicit", context=context)
    attacker = connect(tls_server, certs, "explicit", context=context)
    try:
        assert victim.nlst() is not None
        stolen = victim.sock.session
        assert stolen is not None
        # The attacker's data connection presents the victim's session.
        conn, _ = ftplib.FTP.ntransfercmd(attacker, "NLST")
        tls = attacker.context.wrap_socket(conn, server_hostname="127.0.0.1", session=stolen)
        assert not tls.session_reused
        # The server ends the refused connection with close_notify (a reset
        # would do as well): either way no data arrives.
        received = b""
        try:
            while chunk := tls.recv(4096):
                received += chunk
        except (ssl.SSLError, OSError):
            pass
        assert received == b""
        tls.close()
        with pytest.raises(ftplib.error_perm) as refused:
            attacker.voidresp()
        assert code_of(refused.value) == 522
        # Both sessions go on, each with its own TLS session.
        assert attacker.voidcmd("NOOP").startswith("200")
        assert isinstance(attacker.nlst(), list)
        assert isinstance(victim.nlst(), list)
    finally:
        victim.quit()
        attacker.quit()
    assert "data connection refused: TLS session not resumed" in tls_server.log


def test_a_refused_data_handshake_leaves_nothing_to_resume(tls_server, certs):
    """TLS 1.2: a full handshake on a data connection (refused, 522) must not
    give its session to a later data connection to resume."""
    context = client_context(certs)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    ftp = connect(tls_server, certs, "explicit", context=context)
    try:
        assert ftp.sock.version() == "TLSv1.2"
        sessions = []
        for _ in range(2):
            conn, _ = ftplib.FTP.ntransfercmd(ftp, "NLST")
            # The first time no session (a full handshake), then the one the
            # refused connection got, if it got one.
            session = sessions[-1] if sessions else None
            try:
                tls = context.wrap_socket(conn, server_hostname="127.0.0.1", session=session)
                assert not tls.session_reused
                sessions.append(tls.session)
                try:
                    while tls.recv(4096):
                        pass
                except (ssl.SSLError, OSError):
                    pass
                tls.close()
            except (ssl.SSLError, OSError):
                conn.close()
            expect_refused(ftp.voidresp, codes=(522,))
        # The control connection's own session still works.
        assert isinstance(ftp.nlst(), list)
    finally:
        ftp.quit()


def test_session_reuse_required_by_default_and_optional_on_request(start_server, certs):
    strict = start_server(*tls_flags(certs))
    ftp = connect(strict, certs, "explicit", cls=ftplib.FTP_TLS)
    try:
        expect_refused(ftp.nlst, codes=(522,))
        assert ftp.voidcmd("NOOP").startswith("200")
    finally:
        ftp.close()
    relaxed = start_server(*tls_flags(certs, "--tls-session-reuse", "optional"))
    ftp = connect(relaxed, certs, "explicit", cls=ftplib.FTP_TLS)
    try:
        assert isinstance(ftp.nlst(), list)
    finally:
        ftp.quit()


def test_tls_control_required(start_server, certs):
    srv = start_server(*tls_flags(certs, "--tls-control-required"))
    plain = ftplib.FTP(timeout=FTP_TIMEOUT)
    plain.connect(srv.host, srv.port)
    try:
        expect_refused(plain.sendcmd, f"USER {USER}", codes=(534,))
        # Anonymous users are exempt by default.
        assert plain.login().startswith("230")
    finally:
        plain.close()
    ftp = connect(srv, certs, "explicit")
    try:
        assert ftp.pwd() == "/"
    finally:
        ftp.quit()

    strict = start_server(*tls_flags(certs, "--tls-control-required",
                                     "--tls-required-for-anonymous"))
    plain = ftplib.FTP(timeout=FTP_TIMEOUT)
    plain.connect(strict.host, strict.port)
    try:
        expect_refused(plain.sendcmd, "USER anonymous", codes=(534,))
        expect_refused(plain.sendcmd, f"USER {USER}", codes=(534,))
        assert plain.voidcmd("NOOP").startswith("200")
    finally:
        plain.close()


def test_tls_data_required(start_server, certs):
    srv = start_server(*tls_flags(certs, "--tls-data-required"))
    ftp = connect(srv, certs, "explicit", login=False)
    try:
        ftp.login(USER, PASSWORD)
        ftp.prot_p()  # PBSZ 0, PROT P
        ftp.prot_c()
        expect_refused(ftp.nlst, codes=(521,))
        expect_refused(retr, ftp, "nothing", codes=(521,))
        ftp.prot_p()
        assert isinstance(ftp.nlst(), list)
    finally:
        ftp.quit()
    # Anonymous users are exempt unless --tls-required-for-anonymous.
    anon = connect(srv, certs, "explicit", login=False)
    try:
        anon.login()
        anon.prot_p()
        anon.prot_c()
        assert isinstance(anon.nlst(), list)
    finally:
        anon.quit()
    strict = start_server(*tls_flags(certs, "--tls-data-required",
                                     "--tls-required-for-anonymous"))
    anon = connect(strict, certs, "explicit", login=False)
    try:
        anon.login()
        anon.prot_p()
        anon.prot_c()
        expect_refused(anon.nlst, codes=(521,))
    finally:
        anon.quit()


def test_security_command_replies(tls_server, certs):
    plain = ftplib.FTP(timeout=FTP_TIMEOUT)
    plain.connect(tls_server.host, tls_server.port)
    try:
        feat = plain.sendcmd("FEAT")
        for line in (" AUTH TLS", " PBSZ", " PROT"):
            assert line in feat.splitlines()
        expect_refused(plain.sendcmd, "PBSZ 0", codes=(503,))
        expect_refused(plain.sendcmd, "PROT P", codes=(503,))
        expect_refused(plain.sendcmd, "CCC", codes=(533,))
        expect_refused(plain.sendcmd, "AUTH KERBEROS_V4", codes=(504,))
        expect_refused(plain.sendcmd, "ADAT x", codes=(502,))
        expect_refused(plain.sendcmd, "AUTH", codes=(501,))
    finally:
        plain.close()
    ftp = connect(tls_server, certs, "explicit", login=False)
    try:
        expect_refused(ftp.sendcmd, "AUTH TLS", codes=(503,))
        expect_refused(ftp.sendcmd, "PROT P", codes=(503,))  # before PBSZ
        expect_refused(ftp.sendcmd, "PBSZ x", codes=(501,))
        assert ftp.sendcmd("PBSZ 0").startswith("200")
        expect_refused(ftp.sendcmd, "PROT S", codes=(536,))
        expect_refused(ftp.sendcmd, "PROT E", codes=(536,))
        expect_refused(ftp.sendcmd, "PROT Q", codes=(504,))
        assert ftp.sendcmd("PROT C").startswith("200")
        expect_refused(ftp.sendcmd, "CCC", codes=(534,))
        ftp.login(USER, PASSWORD)
        # REIN keeps TLS but starts PBSZ/PROT over.
        assert ftp.sendcmd("REIN").startswith("220")
        expect_refused(ftp.sendcmd, "PROT P", codes=(503,))
        ftp.login(USER, PASSWORD)
        ftp.prot_p()
        assert isinstance(ftp.nlst(), list)
    finally:
        ftp.quit()


def test_ccc_refused_by_default_and_clears_the_control_connection_when_allowed(
        start_server, certs):
    srv = start_server(*tls_flags(certs))
    ftp = connect(srv, certs, "explicit")
    try:
        expect_refused(ftp.sendcmd, "CCC", codes=(534,))
        assert ftp.pwd() == "/"
    finally:
        ftp.quit()
    allowing = start_server(*tls_flags(certs, "--tls-allow-ccc"))
    ftp = connect(allowing, certs, "explicit", login=False)
    try:
        expect_refused(ftp.sendcmd, "CCC", codes=(503,))  # not before login
        ftp.login(USER, PASSWORD)
        ftp.prot_p()
        ftp.kept_session = ftp.sock.session
        ftp.ccc()  # 200, then both sides send close_notify
        assert ftp.sock.version() is None  # no TLS layer any more
        # Plain text from here on, right after the client's close_notify...
        assert ftp.pwd() == "/"
        # ...while data connections stay protected (PROT P).
        ftp.storbinary("STOR after-ccc.txt", io.BytesIO(b"still private\n"))
        assert retr(ftp, "after-ccc.txt") == b"still private\n"
        expect_refused(ftp.sendcmd, "CCC", codes=(533,))
    finally:
        ftp.quit()
    assert "control connection back in plain text (CCC)" in allowing.log


def test_auth_without_tls_configured_is_refused(server):
    plain = ftplib.FTP(timeout=FTP_TIMEOUT)
    plain.connect(server.host, server.port)
    try:
        assert " AUTH TLS" not in plain.sendcmd("FEAT")
        expect_refused(plain.sendcmd, "AUTH TLS", codes=(502,))
        assert plain.login(USER, PASSWORD).startswith("230")
    finally:
        plain.close()


def test_failed_data_handshake_gets_a_reply_and_the_session_goes_on(tls_server, certs):
    ftp = connect(tls_server, certs, "explicit")
    try:
        ftp.sendcmd("TYPE I")
        host, port = ftplib.parse227(ftp.sendcmd("PASV"))
        with socket.create_connection((host, port), timeout=FTP_TIMEOUT) as data:
            ftp.putcmd("LIST")
            assert ftp.getresp().startswith(("125", "150"))
            data.sendall(b"this is not a TLS ClientHello\r\n" * 4)
            data.shutdown(socket.SHUT_WR)
            with pytest.raises(ftplib.error_perm) as failed:
                ftp.voidresp()
            assert code_of(failed.value) == 522
        # And a client that connects and leaves at once.
        host, port = ftplib.parse227(ftp.sendcmd("PASV"))
        socket.create_connection((host, port), timeout=FTP_TIMEOUT).close()
        ftp.putcmd("LIST")
        assert ftp.getresp().startswith(("125", "150"))
        expect_refused(ftp.voidresp, codes=(522,))
        assert ftp.voidcmd("NOOP").startswith("200")
        assert isinstance(ftp.nlst(), list)
    finally:
        ftp.quit()


def test_uploads_without_close_notify(start_server, certs):
    def cut_upload(ftp, name):
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd(f"STOR {name}")
        conn.sendall(b"x" * 1000)
        conn.close()  # no unwrap(): no close_notify, as a cut connection

    # By default, like most servers: the end of the stream ends the upload.
    tolerant = start_server(*tls_flags(certs))
    ftp = connect(tolerant, certs, "explicit")
    try:
        cut_upload(ftp, "cut.bin")
        assert ftp.voidresp().startswith("226")
        assert (tolerant.root / "cut.bin").read_bytes() == b"x" * 1000
    finally:
        ftp.quit()
    strict = start_server(*tls_flags(certs, "--tls-strict-upload-eof"))
    ftp = connect(strict, certs, "explicit")
    try:
        # A client that ends with close_notify (ftplib does) is served.
        ftp.storbinary("STOR whole.bin", io.BytesIO(b"y" * 1000))
        assert (strict.root / "whole.bin").read_bytes() == b"y" * 1000
        # A cut one fails, and the file it was replacing is untouched.
        cut_upload(ftp, "whole.bin")
        expect_refused(ftp.voidresp, codes=(426,))
        assert (strict.root / "whole.bin").read_bytes() == b"y" * 1000
        assert ftp.voidcmd("NOOP").startswith("200")
    finally:
        ftp.quit()


def test_abor_under_tls(start_server, certs, layout):
    data = random_bytes(BIG_SIZE, seed=7)
    srv = start_server(*tls_flags(certs, "--write-limit", "256K"))
    (srv.root / "slow.bin").write_bytes(data)
    ftp = connect(srv, certs, "explicit")
    try:
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("RETR slow.bin")
        assert conn.recv(1024)
        # ftplib's abort() sends urgent data, which TLS sockets refuse.
        ftp.putcmd("ABOR")
        first = ftp.getline()
        assert first.startswith(("426", "226")), first
        if first.startswith("426"):
            assert ftp.getline().startswith("226")
        conn.close()
        assert ftp.voidcmd("NOOP").startswith("200")
        assert sha256(retr(ftp, "slow.bin", rest=BIG_SIZE - 1000)) == sha256(data[-1000:])
    finally:
        ftp.quit()


def test_self_signed_certificate_fingerprint_is_logged(start_server):
    srv = start_server("--anonymous", "--tls-self-signed", "--tls-implicit-port", "0")
    m = re.search(r"fingerprint=\"?([0-9A-F:]{95})", srv.log)
    assert m, srv.log
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((srv.host, implicit_port(srv)), timeout=FTP_TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            assert tls.recv(1024).startswith(b"220")
    served = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert served == m.group(1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_old_tls_versions_are_refused(tls_server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"this OpenSSL cannot offer TLS 1.0/1.1: {exc}")
    with socket.create_connection((tls_server.host, implicit_port(tls_server)),
                                  timeout=FTP_TIMEOUT) as raw:
        with pytest.raises(ssl.SSLError) as refused:
            ctx.wrap_socket(raw, server_hostname="localhost")
        # An alert from the server, not a client that could not even try.
        assert "ALERT" in str(refused.value), refused.value
    # The server is unharmed.
    with socket.create_connection((tls_server.host, tls_server.port), timeout=FTP_TIMEOUT) as s:
        assert s.recv(1024).startswith(b"220")


def test_cli_refuses_incomplete_tls_settings(layout, certs):
    from support import ferroftpd_bin

    cases = [
        (["--tls"], "--certfile"),
        (["--certfile", str(certs.cert)], "--tls"),
        (["--tls-control-required"], "--tls"),
        (["--tls", "--certfile", str(layout.root / "missing.pem")], "missing.pem"),
        (["--tls-self-signed", "--tls-session-reuse", "sometimes"], "required"),
    ]
    for flags, needle in cases:
        proc = subprocess.run([str(ferroftpd_bin()), "-d", str(layout.root), "-p", "0",
                               "-i", "127.0.0.1", *flags],
                              capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
        err = proc.stderr.decode(errors="replace")
        assert proc.returncode != 0, (flags, err)
        assert needle in err, (flags, err)
