"""--concurrency async|multi-thread and --threads (pyftpdlib's
--concurrency): each model serves curl, lftp and ftplib, and runs on the
threads it says (counted in /proc)."""

from __future__ import annotations

import io
import os
import re
import subprocess

import pytest

from support import (
    CLIENT_ENV,
    ferroftpd_bin,
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
}


def runtime_threads(pid: int) -> list[str]:
    """The names of the process's threads: tokio's workers are
    `tokio-rt-worker`; an async runtime runs on the main thread."""
    names = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            names.append(f.read().strip())
    return names


@pytest.mark.parametrize("model", MODELS, ids=list(MODELS))
def test_each_model_serves_real_clients(start_server, layout, model):
    srv = start_server(*MODELS[model], "--user", "alice:pw", "--auth-failed-delay", "0")
    # Counted before any transfer: tokio names its blocking threads, made
    # by the first transfer, as its workers.
    workers = runtime_threads(srv.proc.pid).count("tokio-rt-worker")
    said = re.search(r"concurrency: (async|multi-thread, (\d+) threads)", srv.log)
    assert said, srv.log_tail()
    expected = 0 if model == "async" else int(said.group(2))
    if model == "multi-thread-3":
        assert expected == 3
    assert workers == expected, runtime_threads(srv.proc.pid)

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
    for args, why in ((["--concurrency", "async", "--threads", "2"], "--threads is for"),
                      (["--concurrency", "multi-proc"], "invalid value"),
                      (["--threads", "0"], "--threads: 0 is not in 1..=1024")):
        res = subprocess.run([str(ferroftpd_bin()), "-p", "0", *args], capture_output=True,
                             text=True, timeout=30, env=CLIENT_ENV)
        assert res.returncode != 0 and why in res.stderr, (args, res.stderr)
