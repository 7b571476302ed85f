"""The PROXY protocol (--proxy-protocol, --proxy-from): the client a
balancer's header names is the client for limits, bans, the passive
address check, STAT and logs. curl sends a real v1 header
(--haproxy-protocol); headers naming other addresses (203.0.113.7,
documentation space) are written here byte for byte, v1 and v2."""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
import subprocess

import pytest

from support import CLIENT_ENV, ferroftpd_bin, run_curl

pytestmark = pytest.mark.cli

CLIENT = "203.0.113.7"
FLAGS = ("--proxy-protocol", "required", "--proxy-from", "127.0.0.1/32",
         "--user", "alice:pw", "--auth-failed-delay", "0")


def v1(source: str, port: int = 40000) -> bytes:
    return f"PROXY TCP4 {source} 127.0.0.1 {port} 21\r\n".encode()


def v2(source: str, port: int = 40000) -> bytes:
    addresses = (ipaddress.IPv4Address(source).packed + ipaddress.IPv4Address("127.0.0.1").packed
                 + struct.pack("!HH", port, 21))
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11])
            + struct.pack("!H", len(addresses)) + addresses)


class Control:
    """A control connection that sends `header` first, as a balancer does."""

    def __init__(self, srv, header: bytes = b"", source: str = "127.0.0.1"):
        self.sock = socket.socket()
        self.sock.bind((source, 0))
        self.sock.settimeout(10)
        self.sock.connect((srv.host, srv.port))
        self.sock.sendall(header)
        self.file = self.sock.makefile("rb")
        self.srv = srv

    def reply(self) -> str:
        lines = [self.file.readline().decode()]
        if lines[0][3:4] == "-":
            while not (lines[-1][:3] == lines[0][:3] and lines[-1][3:4] == " "):
                lines.append(self.file.readline().decode())
        return "".join(lines)

    def cmd(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("header", [v1, v2], ids=["v1", "v2"])
def test_the_header_names_the_client(start_server, header):
    srv = start_server(*FLAGS)
    c = Control(srv, header(CLIENT))
    assert c.reply().startswith("220")
    assert c.cmd("USER alice").startswith("331")
    assert c.cmd("PASS pw").startswith("230")
    stat = c.cmd("STAT")
    assert f"Connected to: {CLIENT}:40000" in stat, stat
    # A passive data connection must come through the balancer for the
    # same client: one with a header for another client is refused, one
    # for this client is taken.
    pasv = c.cmd("PASV")
    nums = [int(n) for n in re.search(r"\((\d+(?:,\d+){5})\)", pasv).group(1).split(",")]
    port = nums[4] * 256 + nums[5]
    intruder = socket.create_connection((srv.host, port), timeout=10)
    intruder.sendall(header("198.51.100.1", 50000))
    data = socket.create_connection((srv.host, port), timeout=10)
    data.sendall(header(CLIENT, 40001))
    assert c.cmd("LIST")[:3] in ("125", "150")
    listing = b""
    while chunk := data.recv(65536):
        listing += chunk
    assert b"root-marker.txt" in listing
    assert c.reply().startswith("226")
    intruder.close()
    data.close()
    c.cmd("QUIT")
    c.close()
    log = srv.log
    assert f"peer={CLIENT}:40000" in log, srv.log_tail()
    assert "rejected data connection from foreign address" in log, srv.log_tail()


def test_limits_and_bans_apply_to_the_named_client(start_server):
    srv = start_server(*FLAGS, "--max-cons-per-ip", "1", "--ban-failures", "2",
                       "--max-login-attempts", "5")
    first = Control(srv, v1(CLIENT))
    assert first.reply().startswith("220")
    # Same client through the balancer: over its limit.
    second = Control(srv, v1(CLIENT, 40001))
    assert second.reply().startswith("421")
    # Another client through the same balancer: its own limit.
    other = Control(srv, v1("198.51.100.2"))
    assert other.reply().startswith("220")
    for _ in range(2):
        assert first.cmd("USER alice").startswith("331")
        assert first.cmd("PASS wrong").startswith("530")
    first.close()
    second.close()
    banned = Control(srv, v1(CLIENT, 40002))
    refusal = banned.reply()
    assert refusal.startswith("421") and "failed logins" in refusal, refusal
    banned.close()
    # The balancer itself and the other client are not.
    assert other.cmd("USER alice").startswith("331")
    assert other.cmd("PASS pw").startswith("230")
    other.close()
    assert f'FAIL LOGIN: Client "{CLIENT}"' in srv.log, srv.log_tail()


def test_untrusted_sources_and_missing_headers_are_refused(start_server):
    srv = start_server("--proxy-protocol", "required", "--proxy-from", "127.0.0.2",
                       "--user", "alice:pw")
    # A trusted source without a header, an untrusted one with or without.
    for source, header in (("127.0.0.2", b""), ("127.0.0.1", v1(CLIENT)), ("127.0.0.1", b"")):
        c = Control(srv, header, source=source)
        assert c.closed(), (source, header)
        c.close()
    ok = Control(srv, v2(CLIENT), source="127.0.0.2")
    assert ok.reply().startswith("220")
    ok.close()
    assert "connection closed: not from a trusted proxy" in srv.log, srv.log_tail()


def test_optional_serves_direct_clients_and_refuses_untrusted_headers(start_server):
    srv = start_server("--proxy-protocol", "optional", "--proxy-from", "127.0.0.2",
                       "--user", "alice:pw")
    res = run_curl(f"ftp://alice:pw@{srv.host}:{srv.port}/")
    assert res.returncode == 0 and "root-marker.txt" in res.out, res.transcript()
    c = Control(srv, v1(CLIENT))
    assert c.reply().startswith("220")
    assert c.closed(), "an untrusted v1 header closes the connection"
    c.close()
    assert "PROXY header from a source not trusted" in srv.log, srv.log_tail()


def test_curl_through_a_v1_header(start_server, layout):
    """curl's --haproxy-protocol: a real client's v1 header, on the control
    connection (its data connections go direct, as from a trusted
    address in optional mode)."""
    srv = start_server("--proxy-protocol", "optional", "--proxy-from", "127.0.0.1",
                       "--user", "alice:pw")
    res = run_curl("--haproxy-protocol", f"ftp://alice:pw@{srv.host}:{srv.port}/root-marker.txt")
    assert res.returncode == 0 and res.out == "inside the root\n", res.transcript()


def test_bad_options_are_one_line_errors():
    for args, why in (
        (["--proxy-protocol", "required"], "--proxy-protocol required needs --proxy-from"),
        (["--proxy-from", "10.0.0.0/8"], "--proxy-from needs --proxy-protocol"),
        (["--proxy-protocol", "yes", "--proxy-from", "10.0.0.1"], "expected off, optional or required"),
        (["--proxy-protocol", "required", "--proxy-from", "10.0.0.0/33"], "expected an address or a network"),
    ):
        res = subprocess.run([str(ferroftpd_bin()), "-p", "0", *args], capture_output=True,
                             text=True, timeout=30, env=CLIENT_ENV)
        assert res.returncode != 0 and why in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) <= 3, res.stderr


def test_implicit_tls_after_the_header(start_server):
    """On the implicit-TLS port the header comes first, then the TLS
    handshake; the session's client is the one the header names."""
    import ssl
    srv = start_server(*FLAGS, "--tls-self-signed", "--tls-implicit-port", "0")
    port = int(re.search(r"implicit FTPS on \S+:(\d+)", srv.log).group(1))
    raw = socket.create_connection((srv.host, port), timeout=10)
    raw.sendall(v2(CLIENT))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    f = tls.makefile("rb")
    assert f.readline().startswith(b"220")
    tls.sendall(b"USER alice\r\n")
    assert f.readline().startswith(b"331")
    tls.sendall(b"PASS pw\r\n")
    assert f.readline().startswith(b"230")
    tls.sendall(b"STAT\r\n")
    stat = b""
    while not stat.endswith(b"211 End of status.\r\n"):
        stat += f.readline()
    assert f"Connected to: {CLIENT}:40000".encode() in stat, stat
    tls.close()
