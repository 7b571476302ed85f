"""A raw FTP client for the conformance harness: it sends exactly the
line it is given and reports the reply codes, nothing more. A reply is its
code; a connection the server closed is "closed"; no reply in time is
"timeout"."""

from __future__ import annotations

import re
import socket
import ssl

TIMEOUT = 5.0
PASV_RE = re.compile(rb"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)")
EPSV_RE = re.compile(rb"\(\|\|\|(\d+)\|\)")


class Closed(Exception):
    """The server closed the control connection."""


class Client:
    def __init__(self, port: int):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""
        self.tls: ssl.SSLContext | None = None
        self.protect_data = False
        self.user = ""

    # ---------------------------------------------------------------- replies
    def _line(self) -> bytes:
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except (ssl.SSLZeroReturnError, ConnectionResetError, ssl.SSLEOFError):
                chunk = b""
            if not chunk:
                raise Closed()
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self, timeout: float = TIMEOUT) -> tuple[str, bytes]:
        """One whole reply: (code, text), ("closed", b"") or ("timeout", b"")."""
        self.sock.settimeout(timeout)
        try:
            first = self._line()
            text = first
            if len(first) >= 4 and first[3:4] == b"-":
                end = first[:3] + b" "
                while True:
                    line = self._line()
                    text += b"\n" + line
                    if line.startswith(end):
                        break
            return first[:3].decode("ascii", "replace"), text
        except Closed:
            return "closed", b""
        except (socket.timeout, TimeoutError):
            return "timeout", b""

    def send(self, line: str, oob: bool = False) -> None:
        data = line.encode("utf-8") + b"\r\n"
        try:
            if oob and not isinstance(self.sock, ssl.SSLSocket):
                # As ftplib's abort(): the line as TCP urgent data, which
                # makes a server busy with a transfer look at it.
                self.sock.sendall(data, socket.MSG_OOB)
            else:
                self.sock.sendall(data)
        except OSError:
            pass

    def cmd(self, line: str) -> tuple[str, bytes]:
        self.send(line)
        return self.reply()

    def is_closed(self, wait: float = 2.0) -> bool:
        """True if the server closes the connection within `wait`."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True

    # -------------------------------------------------------------------- TLS
    def start_tls(self) -> str:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        except (OSError, ssl.SSLError) as e:
            return f"handshake failed ({type(e).__name__})"
        self.tls = ctx
        return "handshake"

    def tls_close(self) -> str:
        """Sends close_notify without CCC; reports whether the server
        answered with its own before closing."""
        assert isinstance(self.sock, ssl.SSLSocket)
        self.sock.settimeout(TIMEOUT)
        try:
            self.sock.unwrap()
            return "close_notify"
        except (OSError, ssl.SSLError):
            return "no close_notify"

    # ------------------------------------------------------------------- data
    def open_passive(self, verb: str) -> tuple[str, socket.socket | None]:
        code, text = self.cmd(verb)
        m = (PASV_RE if verb == "PASV" else EPSV_RE).search(text)
        if not code.startswith("2") or not m:
            return code, None
        port = int(m.group(5)) * 256 + int(m.group(6)) if verb == "PASV" else int(m.group(1))
        return code, socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)

    def open_active(self, verb: str) -> tuple[str, socket.socket | None]:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]
        line = (f"PORT 127,0,0,1,{port >> 8},{port & 255}" if verb == "PORT"
                else f"EPRT |1|127.0.0.1|{port}|")
        code, _ = self.cmd(line)
        return code, (listener if code.startswith("2") else None)

    def wrap_data(self, sock: socket.socket) -> socket.socket:
        if not (self.tls and self.protect_data):
            return sock
        session = self.sock.session if isinstance(self.sock, ssl.SSLSocket) else None
        return self.tls.wrap_socket(sock, server_hostname="localhost", session=session)
