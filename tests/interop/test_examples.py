"""The library's examples, built by scripts/test and driven by a real
client (Python's ftplib): what the docs show must run."""

import ftplib
import io
import subprocess
import time

import pytest

from support import ferroftpd_bin, parse_listen_addr


def example_bin(name: str):
    path = ferroftpd_bin().parent / "examples" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with cargo build -p ferroftpd --examples")
    return path


class Example:
    """Runs an example that prints `listening on ADDR` on standard output."""

    def __init__(self, name: str, *args: str):
        self.proc = subprocess.Popen([str(example_bin(name)), *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 10
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            line = self.proc.stdout.readline()
            if (addr := parse_listen_addr(line)) is not None:
                self.host, self.port = addr
                return
        self.stop()
        raise AssertionError(f"{name} did not start: {line!r}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def test_extend_example_adds_a_site_command_and_refuses_executables(tmp_path):
    ex = Example("extend", "127.0.0.1:0", str(tmp_path))
    try:
        ftp = ftplib.FTP()
        ftp.connect(ex.host, ex.port, timeout=10)
        ftp.login("user", "12345")
        assert ftp.sendcmd("SITE WHOAMI") == "200 You are user from 127.0.0.1."
        assert " WHOAMI" in ftp.sendcmd("SITE HELP")
        assert ftp.sendcmd("SITE HELP WHOAMI") == "214 Syntax: SITE WHOAMI (who you are)"
        with pytest.raises(ftplib.error_perm, match="^553 No executables here"):
            ftp.storbinary("STOR setup.exe", io.BytesIO(b"MZ..."))
        assert not (tmp_path / "setup.exe").exists()
        ftp.storbinary("STOR notes.txt", io.BytesIO(b"fine"))
        assert (tmp_path / "notes.txt").read_bytes() == b"fine"
        ftp.quit()
    finally:
        ex.stop()
