"""Starting and stopping the three servers the harness compares, each on
a free loopback port, with the same user, files and TLS certificate.
Every process is stopped by its PID."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from scenarios import FIXTURES, PASSWORD, USER

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


class SetupError(Exception):
    """A server could not be set up; the message says why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(root: Path) -> None:
    for rel, data in FIXTURES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def make_certificate(dir: Path) -> tuple[Path, Path]:
    cert, key = dir / "cert.pem", dir / "key.pem"
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SetupError(f"openssl req failed: {r.stderr.strip()[-300:]}")
    return cert, key


def wait_for_port(port: int, proc: subprocess.Popen, name: str, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupError(f"{name} exited ({proc.returncode}) at startup: "
                             f"{log.read_text(errors='replace')[-800:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(5)
                if s.recv(3) == b"220":
                    return
        except OSError:
            time.sleep(0.1)
    raise SetupError(f"{name} did not greet on port {port} within 20 s")


class Server:
    def __init__(self, name: str, argv: list[str], port: int, log: Path, env=None):
        self.name, self.argv, self.port, self.log, self.env = name, argv, port, log, env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=self.env)
        try:
            wait_for_port(self.port, self.proc, self.name, self.log)
        except SetupError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def ferroftpd(base: Path, cert: Path, key: Path) -> Server:
    exe = os.environ.get("FERROFTPD_BIN") or str(REPO / "target" / "debug" / "ferroftpd")
    if not os.access(exe, os.X_OK):
        raise SetupError(f"ferroftpd binary not found at {exe} (set FERROFTPD_BIN)")
    root = base / "ferroftpd-root"
    fill(root)
    port = free_port()
    argv = [exe, "-i", "127.0.0.1", "-p", str(port), "-d", str(root),
            "--user", f"{USER}:{PASSWORD}:elradfmwMT", "--auth-failed-delay", "0",
            "--max-login-attempts", "3", "--no-ban", "--tls", "--certfile", str(cert),
            "--keyfile", str(key), "-D"]
    return Server("ferroftpd", argv, port, base / "ferroftpd.log")


def pyftpdlib(base: Path, cert: Path, key: Path) -> Server:
    try:
        import pyftpdlib  # noqa: F401
        import OpenSSL  # noqa: F401
    except ImportError as e:
        raise SetupError(f"{e.name} is not installed: "
                         f"python3 -m pip install -r {HERE / 'requirements.txt'}")
    root = base / "pyftpdlib-root"
    fill(root)
    port = free_port()
    argv = [sys.executable, str(HERE / "pyftpdlib_server.py"), str(port), str(root), USER,
            PASSWORD, str(cert), str(key)]
    return Server("pyftpdlib", argv, port, base / "pyftpdlib.log")


def find_vsftpd() -> str | None:
    return shutil.which("vsftpd") or next(
        (p for p in ("/usr/sbin/vsftpd", "/sbin/vsftpd") if os.access(p, os.X_OK)), None)


def vsftpd(base: Path, cert: Path, key: Path, cleanups: list) -> Server:
    """vsftpd from Debian (installed with apt-get if missing), as root, for
    a throwaway local user removed at exit."""
    if os.geteuid() != 0:
        raise SetupError("vsftpd needs root (apt-get, useradd, its own privilege separation)")
    if not find_vsftpd():
        if not shutil.which("apt-get"):
            raise SetupError("vsftpd is not installed and apt-get is not available")
        print("vsftpd: not installed; running apt-get update && apt-get install vsftpd",
              flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "vsftpd"]):
            r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=600)
            if r.returncode != 0:
                raise SetupError(f"{' '.join(cmd)} failed: {(r.stderr or r.stdout)[-400:]}")
    exe = find_vsftpd()
    if not exe:
        raise SetupError("vsftpd still not found after apt-get install")
    for tool in ("useradd", "userdel", "chpasswd"):
        if not shutil.which(tool):
            raise SetupError(f"{tool} not found (Debian package passwd)")
    root = base / "vsftpd-root"
    fill(root)
    user = f"ftpcompat{secrets.token_hex(3)}"
    r = subprocess.run(["useradd", "-M", "-d", str(root), "-s", "/bin/sh", user],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise SetupError(f"useradd failed: {r.stderr.strip()}")
    print(f"vsftpd: created the throwaway local user {user} (removed at exit)", flush=True)

    def remove_user():
        subprocess.run(["userdel", user], capture_output=True, timeout=30)
    cleanups.append(remove_user)
    r = subprocess.run(["chpasswd"], input=f"{user}:{PASSWORD}\n", capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        raise SetupError(f"chpasswd failed: {r.stderr.strip()}")
    subprocess.run(["chown", "-R", user, str(root)], check=True, timeout=30)
    # The walk down to the root must be open to the user.
    for parent in [root.parent, *root.parent.parents]:
        if parent == Path("/tmp") or parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o011)
    empty = base / "vsftpd-empty"
    empty.mkdir()
    port = free_port()
    settings = {
        "listen": "YES", "listen_ipv6": "NO", "listen_address": "127.0.0.1",
        "listen_port": port, "background": "NO", "anonymous_enable": "NO",
        "local_enable": "YES", "write_enable": "YES", "local_umask": "022",
        "chroot_local_user": "YES", "allow_writeable_chroot": "YES",
        "pam_service_name": "vsftpd", "userlist_enable": "NO", "tcp_wrappers": "NO",
        "seccomp_sandbox": "NO", "isolate": "NO", "isolate_network": "NO",
        "xferlog_enable": "NO", "dirmessage_enable": "NO", "connect_from_port_20": "NO",
        "secure_chroot_dir": empty, "max_login_fails": 3, "delay_failed_login": 0,
        "ssl_enable": "YES", "rsa_cert_file": cert, "rsa_private_key_file": key,
        "allow_anon_ssl": "NO", "force_local_logins_ssl": "NO", "force_local_data_ssl": "NO",
        "ssl_tlsv1": "YES", "ssl_sslv2": "NO", "ssl_sslv3": "NO", "require_ssl_reuse": "NO",
        "ssl_ciphers": "HIGH", "pasv_enable": "YES", "port_enable": "YES",
    }
    conf = base / "vsftpd.conf"
    conf.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    conf.chmod(0o600)
    srv = Server("vsftpd", [exe, str(conf)], port, base / "vsftpd.log")
    srv.user = user
    return srv
