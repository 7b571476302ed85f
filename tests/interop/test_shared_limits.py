"""Limits and bans shared by two nodes through a real Redis
(``--cluster-redis``): failed logins counted across nodes, a ban given
through one holding on the other, a user's session cap counting the
sessions on both, and each node serving on alone, saying so, while Redis
is down. (tests/interop/test_cluster.py checks the ban through HAProxy
with three nodes.)"""

from __future__ import annotations

import ftplib
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from redis_server import REDIS_SERVER, Redis, start_redis
from support import Server, run_curl

pytestmark = pytest.mark.skipif(not REDIS_SERVER,
                                reason="redis-server is not installed (apt-get install redis-server)")

USER, PASSWORD = "alice", "pw"
HOST = "127.0.0.1"
BAN_FAILURES = 3
MAX_SESSIONS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Node:
    server: Server
    metrics_port: int

    def get(self, path: str) -> tuple[int, str]:
        res = run_curl("-sS", "-w", "\n%{http_code}", f"http://{HOST}:{self.metrics_port}{path}")
        assert res.returncode == 0, res.transcript()
        body, status = res.out.rsplit("\n", 1)
        return int(status), body

    def gauge(self) -> str | None:
        _, text = self.get("/metrics")
        for line in text.splitlines():
            if line.startswith("ferroftpd_shared_limits_up "):
                return line.split()[1]
        return None


@dataclass
class Pair:
    redis: Redis
    nodes: list[Node]


@pytest.fixture
def pair(tmp_path: Path, request):
    redis = start_redis(HOST, tmp_path)
    nodes: list[Node] = []
    try:
        for i in range(2):
            root = tmp_path / f"root{i}"
            root.mkdir()
            metrics_port = free_port()
            server = Server.start(
                ["-d", str(root), "-u", USER, "-P", PASSWORD, "-w", "-i", HOST, "-p", "0",
                 "--auth-failed-delay", "0", "--ban-failures", str(BAN_FAILURES),
                 "--max-sessions-per-user", str(MAX_SESSIONS), "--cluster-redis", redis.url,
                 "--metrics-address", f"{HOST}:{metrics_port}", "-D"],
                root, tmp_path / f"node{i}.log")
            nodes.append(Node(server, metrics_port))
        request.node._ferroftpd_servers = [n.server for n in nodes]
        yield Pair(redis, nodes)
    finally:
        for node in nodes:
            node.server.stop()
        redis.stop()


def connect(node: Node, client: str) -> ftplib.FTP:
    ftp = ftplib.FTP()
    ftp.connect(node.server.host, node.server.port, timeout=10, source_address=(client, 0))
    return ftp


def fail_login(node: Node, client: str) -> None:
    ftp = connect(node, client)
    try:
        with pytest.raises(ftplib.error_perm, match="^530"):
            ftp.login(USER, "wrong")
    finally:
        ftp.close()


def refused_as_banned(node: Node, client: str) -> bool:
    try:
        ftp = connect(node, client)
    except ftplib.error_temp as e:
        assert str(e).startswith("421 Too many failed logins"), e
        return True
    ftp.close()
    return False


def poll(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def test_failed_logins_count_across_nodes_and_a_ban_holds_on_both(pair):
    a, b = pair.nodes
    guesser = "127.0.0.201"
    # Two failures on one node, one on the other: neither node alone has
    # seen BAN_FAILURES, together they have.
    fail_login(a, guesser)
    fail_login(b, guesser)
    assert not refused_as_banned(a, guesser) and not refused_as_banned(b, guesser)
    fail_login(a, guesser)
    assert refused_as_banned(a, guesser)
    assert refused_as_banned(b, guesser)
    assert "banned after repeated failed logins across servers" in a.server.log
    assert pair.redis.count_keys(f"ferroftpd:ban:{guesser}") == 1
    # Other clients are not touched.
    ftp = connect(b, "127.0.0.202")
    ftp.login(USER, PASSWORD)
    ftp.quit()


def test_a_users_session_cap_counts_the_sessions_on_every_node(pair):
    a, b = pair.nodes
    first = connect(a, "127.0.0.203")
    first.login(USER, PASSWORD)
    second = connect(b, "127.0.0.204")
    second.login(USER, PASSWORD)
    third = connect(a, "127.0.0.205")
    with pytest.raises(ftplib.error_perm, match="^530 Too many sessions"):
        third.login(USER, PASSWORD)
    third.close()
    assert "the user's sessions on other servers fill the cap" not in b.server.log
    # Node A holds one session: the refusal came from the shared count.
    assert "the user's sessions on other servers fill the cap" in a.server.log
    second.quit()

    def third_logs_in() -> bool:
        ftp = connect(a, "127.0.0.205")
        try:
            ftp.login(USER, PASSWORD)
            ftp.quit()
            return True
        except ftplib.error_perm:
            return False
        finally:
            ftp.close()

    # The slot is given back as the session ends (by a task: soon after).
    poll(third_logs_in, 5, "the ended session's slot to be given back")
    first.quit()


def test_without_redis_each_node_serves_alone_and_says_so(pair):
    a, b = pair.nodes
    status, body = a.get("/health")
    assert status == 200 and f"shared limits: Redis {pair.redis.url}" in body, body
    assert ": ok" in body, body
    assert a.gauge() == "1"

    pair.redis.kill()
    started = time.monotonic()
    ftp = connect(a, "127.0.0.206")
    ftp.login(USER, PASSWORD)
    ftp.quit()
    # At most one wait for an answer (500 ms) per question, not a hang.
    assert time.monotonic() - started < 5
    assert "unreachable" in a.server.log and "limits and bans are per server" in a.server.log
    status, body = a.get("/health")
    assert status == 200 and "unreachable since" in body, body
    assert a.gauge() == "0"
    # Bans are per node meanwhile: A bans, B does not know.
    guesser = "127.0.0.207"
    for _ in range(BAN_FAILURES):
        fail_login(a, guesser)
    assert refused_as_banned(a, guesser)
    assert not refused_as_banned(b, guesser)

    # Redis back on the same address: the next question after the retry
    # pause finds it.
    pair.redis.start()
    time.sleep(2.2)

    def shared_again() -> bool:
        ftp = connect(a, "127.0.0.208")
        ftp.login(USER, PASSWORD)
        ftp.quit()
        return "answers again" in a.server.log

    poll(shared_again, 10, "node A to find Redis again")
    status, body = a.get("/health")
    assert status == 200 and ": ok" in body, body
    assert a.gauge() == "1"
