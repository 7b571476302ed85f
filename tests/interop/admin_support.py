"""Helpers for the admin API tests: a server with --admin-address, requests
with or without the token, and a download slow enough to watch."""

from __future__ import annotations

import ftplib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from support import PASSWORD, USER, Server, random_bytes

TOKEN = "s3cret-admin-token-0123456789"
# The download rate of a session (--write-limit): an 8 MiB file takes 32 s,
# time enough to watch it, and the tests end it sooner.
SLOW_RATE = "256K"
BIG_SIZE = 8 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Admin:
    server: Server
    url: str
    token_file: Path
    address: str

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = TOKEN,
                headers: dict | None = None, raw: bytes | None = None) -> tuple[int, object, dict]:
        """(status, JSON body or None, headers in lower case) of one request."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, text, hdrs = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            status, text, hdrs = e.code, e.read(), dict(e.headers)
        hdrs = {k.lower(): v for k, v in hdrs.items()}
        return status, (json.loads(text) if text else None), hdrs

    def get(self, path: str):
        status, body, _ = self.request("GET", "/api/v1/" + path)
        assert status == 200, (path, status, body)
        return body

    def cli_args(self) -> list[str]:
        return ["--admin-address", self.address, "--admin-token-file", str(self.token_file)]


def write_token(directory: Path, token: str = TOKEN) -> Path:
    path = directory / "admin-token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def start_admin(start_server, layout, *extra: str) -> Admin:
    """The standard users, a slow download rate, and the admin API on a free
    loopback port; the sandbox stays on."""
    token_file = write_token(layout.base)
    port = free_port()
    address = f"127.0.0.1:{port}"
    (layout.root / "big.bin").write_bytes(random_bytes(BIG_SIZE))
    srv = start_server(
        "--user", f"{USER}:{PASSWORD}:elradfmwMT", "--anonymous", "--auth-failed-delay", "0",
        "--write-limit", SLOW_RATE,
        "--admin-address", address, "--admin-token-file", str(token_file), *extra)
    return Admin(srv, f"http://{address}", token_file, address)


@dataclass
class SlowDownload:
    """RETR of big.bin in a thread; ``error`` is what ended it early."""
    server: Server
    received: int = 0
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> SlowDownload:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self):
        try:
            with ftplib.FTP() as ftp:
                ftp.connect(self.server.host, self.server.port, timeout=60)
                ftp.login(USER, PASSWORD)
                ftp.cwd("/")

                def got(chunk):
                    self.received += len(chunk)

                ftp.retrbinary("RETR big.bin", got)
        except BaseException as e:  # noqa: BLE001 - reported to the test
            self.error = e
        finally:
            self.done.set()


def wait_for(what: str, predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def transferring_session(admin: Admin) -> dict:
    """The session with a RETR of big.bin that has moved bytes."""
    def find():
        for s in admin.get("sessions"):
            t = s.get("transfer")
            if t and t["path"] == "/big.bin" and t["bytes"] > 0:
                return s
        return None
    return wait_for("a transfer in progress with bytes", find)
