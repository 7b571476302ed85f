"""--concurrency async|multi-thread|multi-proc, --threads and --workers
(pyftpdlib's --concurrency): each model serves curl, lftp and ftplib, and
runs on the threads and processes it says (counted in /proc). Multi-proc:
a killed worker is restarted, limits and bans hold across workers, SIGHUP
reaches every worker, SIGTERM lets transfers finish."""

from __future__ import annotations

import contextlib
import ftplib
import io
import os
import re
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager

import pytest

from support import (
    CLIENT_ENV,
    ferroftpd_bin,
    ftp_connect,
    ftp_session,
    random_bytes,
    retr_bytes,
    run_curl,
    run_lftp,
    sha256,
)

pytestmark = pytest.mark.cli

MODELS = {
    "async": ("--concurrency", "async"),
    "multi-thread": ("--concurrency", "multi-thread"),
    "multi-thread-3": ("--concurrency", "multi-thread", "--threads", "3"),
    "multi-proc-2": ("--concurrency", "multi-proc", "--workers", "2"),
}

MULTI_PROC = ("--concurrency", "multi-proc", "--workers", "2", "--auth-failed-delay", "0")


def runtime_threads(pid: int) -> list[str]:
    """The names of the process's threads: tokio's workers are
    `tokio-rt-worker`; an async runtime runs on the main thread."""
    names = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            names.append(f.read().strip())
    return names


def worker_pids(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (the multi-proc workers)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after it
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def wait_for(predicate, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def serving_workers(srv, n: int = 2) -> set[int]:
    """Waits until the supervisor has ``n`` workers; their pids."""
    return wait_for(lambda: (p := worker_pids(srv.proc.pid)) and len(p) == n and p,
                    f"{n} workers\n{srv.log_tail()}")


@pytest.mark.parametrize("model", MODELS, ids=list(MODELS))
def test_each_model_serves_real_clients(start_server, layout, model):
    srv = start_server(*MODELS[model], "--user", "alice:pw", "--auth-failed-delay", "0")
    if model == "multi-proc-2":
        # A supervisor and two workers, each on one thread (no tokio
        # worker threads), counted before any transfer.
        said = re.search(r"concurrency: multi-proc, (\d+) worker processes", srv.log)
        assert said and said.group(1) == "2", srv.log_tail()
        workers = serving_workers(srv)
        for pid in workers:
            assert runtime_threads(pid).count("tokio-rt-worker") == 0, runtime_threads(pid)
        assert srv.log.count("worker serving on") == 2, srv.log_tail()
    else:
        # Counted before any transfer: tokio names its blocking threads, made
        # by the first transfer, as its workers.
        said = re.search(r"concurrency: (async|multi-thread, (\d+) threads)", srv.log)
        assert said, srv.log_tail()
        expected = 0 if model == "async" else int(said.group(2))
        if model == "multi-thread-3":
            assert expected == 3
        # A new thread takes its name once it first runs, which a busy
        # machine may delay: waited for, not sampled once.
        named = lambda: runtime_threads(srv.proc.pid).count("tokio-rt-worker")  # noqa: E731
        wait_for(lambda: named() == expected, f"{expected} runtime threads", timeout=10)
        time.sleep(0.2)
        assert named() == expected, runtime_threads(srv.proc.pid)

    data = random_bytes(3 * 1024 * 1024, seed=5)
    src = layout.clients / "up.bin"
    src.write_bytes(data)
    res = run_curl("-sS", "-T", str(src), f"ftp://alice:pw@{srv.host}:{srv.port}/curl.bin")
    assert res.returncode == 0, res.transcript()
    res = run_lftp(srv, f"put {src} -o lftp.bin; get lftp.bin -o {layout.clients / 'back.bin'}",
                   user="alice", password="pw")
    assert res.returncode == 0, res.transcript()
    assert sha256((layout.clients / "back.bin").read_bytes()) == sha256(data)
    with ftp_session(srv, "alice", "pw") as ftp:
        ftp.storbinary("STOR ftplib.bin", io.BytesIO(data))
        assert retr_bytes(ftp, "curl.bin") == data
        assert sorted(ftp.nlst()) == ["curl.bin", "ftplib.bin", "lftp.bin", "root-marker.txt"]


def test_threads_need_the_multi_thread_model():
    mp = ["--concurrency", "multi-proc"]
    for args, why in ((["--concurrency", "async", "--threads", "2"], "--threads is for"),
                      (["--concurrency", "multi-processes"], "invalid value"),
                      (["--threads", "0"], "--threads: 0 is not in 1..=1024"),
                      ([*mp, "--threads", "2"], "--threads is for --concurrency multi-thread"),
                      (["--workers", "2"], "--workers is for --concurrency multi-proc"),
                      ([*mp, "--workers", "0"], "--workers: 0 is not in 1..=256"),
                      ([*mp, "--metrics-address", "127.0.0.1:0"],
                       "--metrics-address does not go with --concurrency multi-proc"),
                      ([*mp, "--admin-address", "127.0.0.1:0"],
                       "--admin-address does not go with --concurrency multi-proc"),
                      ([*mp, "--cluster-redis", "redis://127.0.0.1:1"],
                       "--cluster-redis does not go with --concurrency multi-proc"),
                      ([*mp, "--storage", "memory"],
                       "--storage memory does not go with --concurrency multi-proc"),
                      ([*mp, "--tls-self-signed"],
                       "--tls-self-signed does not go with --concurrency multi-proc")):
        res = subprocess.run([str(ferroftpd_bin()), "-p", "0", *args], capture_output=True,
                             text=True, timeout=30, env=CLIENT_ENV)
        assert res.returncode != 0 and why in res.stderr, (args, res.stderr)


# --------------------------------------------------------------------------
# multi-proc: the supervisor and its workers
# --------------------------------------------------------------------------


@contextmanager
def stopped(pid: int):
    """Holds ``pid`` stopped (SIGSTOP): it accepts nothing meanwhile, so the
    other worker takes every new connection."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def greeting(srv, source: str | None = None) -> str:
    """The first line the server sends on a new connection."""
    with socket.create_connection((srv.host, srv.port), timeout=10,
                                  source_address=(source, 0) if source else None) as s:
        return s.makefile("rb").readline().decode().strip()


TOO_MANY_FROM_ADDRESS = "421 Too many connections from your address."
BANNED = "421 Too many failed logins from your address; try again later."


def test_a_killed_worker_is_restarted_and_the_server_keeps_serving(start_server):
    srv = start_server(*MULTI_PROC, "--user", "alice:pw")
    before = serving_workers(srv)
    victim = min(before)
    with ftp_session(srv, "alice", "pw") as ftp:
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"
        os.kill(victim, signal.SIGKILL)
        # The other worker serves meanwhile, and after.
        for _ in range(6):
            res = run_curl(f"ftp://alice:pw@{srv.host}:{srv.port}/root-marker.txt")
            assert res.returncode == 0 and res.stdout == b"inside the root\n", res.transcript()
        after = serving_workers(srv)
        assert victim not in after and len(after - before) == 1, (before, after)
    assert "killed by signal 9" in srv.log and "restarting the worker" in srv.log, srv.log_tail()
    wait_for(lambda: srv.log.count("worker serving on") == 3, "the new worker serving")
    for _ in range(4):
        res = run_curl(f"ftp://alice:pw@{srv.host}:{srv.port}/root-marker.txt")
        assert res.returncode == 0, res.transcript()


def test_a_killed_worker_gives_its_slots_back(start_server):
    # One worker holds both of 127.0.0.1's slots and is killed: its slots
    # are given back when its stream to the supervisor closes.
    srv = start_server("--concurrency", "multi-proc", "--workers", "1",
                       "--max-cons-per-ip", "2")
    (worker,) = serving_workers(srv, 1)
    held = [socket.create_connection((srv.host, srv.port), timeout=10) for _ in range(2)]
    try:
        for s in held:
            assert s.makefile("rb").readline().startswith(b"220")
        assert greeting(srv) == TOO_MANY_FROM_ADDRESS
        os.kill(worker, signal.SIGKILL)
        (new,) = wait_for(lambda: (p := worker_pids(srv.proc.pid)) and worker not in p and p,
                          f"a new worker\n{srv.log_tail()}")
        wait_for(lambda: srv.log.count("worker serving on") == 2, "the new worker serving")
        # The old connections died with their worker; the address has its
        # two slots again, and no more.
        again = [socket.create_connection((srv.host, srv.port), timeout=10) for _ in range(2)]
        try:
            for s in again:
                assert s.makefile("rb").readline().startswith(b"220")
            assert greeting(srv) == TOO_MANY_FROM_ADDRESS
        finally:
            for s in again:
                s.close()
    finally:
        for s in held:
            s.close()


def test_per_address_limit_holds_across_workers(start_server):
    srv = start_server(*MULTI_PROC, "--max-cons-per-ip", "2")
    a, b = sorted(serving_workers(srv))
    held = []
    try:
        with stopped(b):  # both connections go to worker a
            held = [socket.create_connection((srv.host, srv.port), timeout=10) for _ in range(2)]
            for s in held:
                assert s.makefile("rb").readline().startswith(b"220")
        with stopped(a):  # the third goes to worker b, which holds none
            assert greeting(srv) == TOO_MANY_FROM_ADDRESS, srv.log_tail()
            # another address still gets in there
            assert greeting(srv, source="127.0.0.2").startswith("220")
        # whichever worker takes it, the third is refused
        for _ in range(6):
            assert greeting(srv) == TOO_MANY_FROM_ADDRESS
    finally:
        for s in held:
            s.close()
    wait_for(lambda: greeting(srv).startswith("220"), "a slot once the two closed")


def test_a_user_cap_holds_across_workers(start_server):
    srv = start_server(*MULTI_PROC, "--user", "alice:pw", "--max-sessions-per-user", "1")
    a, b = sorted(serving_workers(srv))
    with stopped(b):
        ftp = ftp_connect(srv, "alice", "pw")
    try:
        with stopped(a):
            with pytest.raises(ftplib.Error) as refused:
                ftp_connect(srv, "alice", "pw").close()
            assert "530 Too many sessions" in str(refused.value), srv.log_tail()
        assert ftp.voidcmd("NOOP").startswith("200")
    finally:
        ftp.close()


def test_a_ban_holds_across_workers(start_server):
    srv = start_server(*MULTI_PROC, "--user", "alice:pw", "--ban-failures", "3",
                       "--max-login-attempts", "1")
    a, b = sorted(serving_workers(srv))
    with stopped(b):  # three failed logins, all on worker a
        for i in range(3):
            res = run_curl(f"ftp://alice:wrong{i}@{srv.host}:{srv.port}/root-marker.txt")
            assert res.returncode == 67, res.transcript()  # CURLE_LOGIN_DENIED
    with stopped(a):  # worker b never saw them, yet refuses the address
        assert greeting(srv) == BANNED, srv.log_tail()
        assert greeting(srv, source="127.0.0.2").startswith("220")


def test_sighup_reloads_every_worker(start_server, layout):
    conf = layout.base / "ferroftpd.toml"
    conf.write_text('banner = "first banner"\n')
    srv = start_server(*MULTI_PROC, "--config", str(conf))
    serving_workers(srv)
    assert "first banner" in greeting(srv)
    conf.write_text('banner = "second banner"\n')
    os.kill(srv.proc.pid, signal.SIGHUP)
    wait_for(lambda: srv.log.count("configuration reloaded") == 2,
             f"both workers reloaded\n{srv.log_tail()}")
    assert "SIGHUP sent to 2 workers" in srv.log
    for _ in range(8):
        assert "second banner" in greeting(srv)
    # A worker started after the reload reads the new settings too.
    victim = min(worker_pids(srv.proc.pid))
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: srv.log.count("worker serving on") == 3, "the new worker serving")
    for _ in range(8):
        assert "second banner" in greeting(srv)


def test_sigterm_lets_a_transfer_finish(start_server, layout):
    data = random_bytes(1024 * 1024, seed=9)
    (layout.root / "big.bin").write_bytes(data)
    # 1 MiB at 256 KiB/s: about 4 s
    srv = start_server(*MULTI_PROC, "--user", "alice:pw", "--write-limit", "256K")
    workers = serving_workers(srv)
    got: dict[str, object] = {}

    def download():
        try:
            with ftp_session(srv, "alice", "pw") as ftp:
                got["data"] = retr_bytes(ftp, "big.bin")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            got["error"] = exc

    idle = ftp_connect(srv, "alice", "pw")
    t = threading.Thread(target=download)
    t.start()
    wait_for(lambda: "RETR big.bin" in srv.log, "the download to start")
    time.sleep(0.5)
    # As systemd stops a unit (KillMode=control-group): SIGTERM to every
    # process at once. The workers take the supervisor's as the same stop.
    srv.proc.send_signal(signal.SIGTERM)
    for pid in workers:
        # A worker with no session left may have stopped already, on the
        # supervisor's SIGTERM.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    # An idle session is closed at once, with a 421 it reads unasked.
    try:
        with pytest.raises(ftplib.error_temp, match="421 Server shutting down"):
            idle.getresp()
    finally:
        idle.close()
    assert t.is_alive(), "the download is still under way"
    # New clients are refused at once: nobody listens any more.
    def refused():
        try:
            socket.create_connection((srv.host, srv.port), timeout=2).close()
            return False
        except ConnectionRefusedError:
            return True
    wait_for(refused, "the listener to close")
    t.join(timeout=30)
    assert not t.is_alive()
    assert "error" not in got, got
    assert got["data"] == data
    assert srv.proc.wait(timeout=30) == 0
    assert "worker stopping" in srv.log and "all workers stopped" in srv.log, srv.log_tail()


def test_restarts_back_off_when_a_worker_keeps_dying(start_server):
    srv = start_server("--concurrency", "multi-proc", "--workers", "1")
    for n in range(3):
        (victim,) = serving_workers(srv, 1)
        wait_for(lambda: srv.log.count("worker serving on") == n + 1, "the worker serving")
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: srv.log.count("restarting the worker") == n + 1, "the restart")
    # Each death in a row of a short-lived worker doubles the pause.
    pauses = re.findall(r"restarting the worker in (\d+)ms", srv.log)
    assert pauses == ["100", "200", "400"], srv.log_tail()
    serving_workers(srv, 1)
    wait_for(lambda: srv.log.count("worker serving on") == 4, "the fourth worker serving")
    assert greeting(srv).startswith("220")


def test_implicit_and_explicit_ftps_in_every_worker(start_server, layout):
    cert, key = layout.base / "cert.pem", layout.base / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        capture_output=True, timeout=60)
    assert made.returncode == 0, made.stderr
    srv = start_server(*MULTI_PROC, "--user", "alice:pw", "--tls", "--certfile", str(cert),
                       "--keyfile", str(key), "--tls-implicit-port", "0")
    serving_workers(srv)
    implicit = re.search(r"implicit FTPS on \S+:(\d+)", srv.log)
    assert implicit, srv.log_tail()
    # The supervisor alone says where it listens.
    assert srv.log.count("implicit FTPS on") == 1, srv.log_tail()
    for _ in range(4):
        res = run_curl("--cacert", str(cert),
                       f"ftps://alice:pw@127.0.0.1:{implicit.group(1)}/root-marker.txt")
        assert res.returncode == 0 and res.stdout == b"inside the root\n", res.transcript()
        res = run_curl("--cacert", str(cert), "--ssl-reqd",
                       f"ftp://alice:pw@127.0.0.1:{srv.port}/root-marker.txt")
        assert res.returncode == 0 and res.stdout == b"inside the root\n", res.transcript()


def test_a_second_sigterm_closes_transfers_at_once(start_server, layout):
    (layout.root / "big.bin").write_bytes(random_bytes(1024 * 1024, seed=3))
    srv = start_server(*MULTI_PROC, "--user", "alice:pw", "--write-limit", "128K")
    serving_workers(srv)
    with ftp_session(srv, "alice", "pw") as ftp:
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("RETR big.bin")
        try:
            conn.recv(1024)
            srv.proc.send_signal(signal.SIGTERM)
            wait_for(lambda: "worker stopping" in srv.log, "the workers draining")
            started = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            # 1 MiB at 128 KiB/s would take 8 s; it is cut at once.
            with pytest.raises(ftplib.error_temp, match="421"):
                ftp.voidresp()
            assert time.monotonic() - started < 4
        finally:
            conn.close()
    assert srv.proc.wait(timeout=30) == 0
    assert "closing the sessions left" in srv.log, srv.log_tail()
