"""A throwaway redis-server (Debian's package, installed by scripts/test) for
the shared-limits tests: no persistence, its own port, stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server")

if os.environ.get("CI") and not REDIS_SERVER:
    raise RuntimeError("CI must run the shared-limits tests: scripts/test installs redis-server")


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def command(host: str, port: int, *args: str) -> str:
    """One command in Redis's inline protocol; the first line of the reply."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall((" ".join(args) + "\r\n").encode())
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode().strip()


@dataclass
class Redis:
    host: str
    port: int
    directory: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> Redis:
        assert REDIS_SERVER, "redis-server is not installed (apt-get install redis-server)"
        log = open(self.directory / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--bind", self.host, "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), "--protected-mode", "no"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                if command(self.host, self.port, "PING") == "+PONG":
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("redis-server did not start:\n"
                                     + (self.directory / "redis.log").read_text())
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: gone at once, as a crashed Redis would be."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def count_keys(self, pattern: str) -> int:
        """How many keys match ``pattern`` (the reply's ``*N`` header)."""
        reply = command(self.host, self.port, "KEYS", pattern)
        assert reply.startswith("*"), reply
        return int(reply[1:].split()[0])


def start_redis(host: str, directory: Path) -> Redis:
    return Redis(host=host, port=free_port(host), directory=directory).start()
