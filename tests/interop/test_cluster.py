"""Three ferroftpd nodes behind a real HAProxy, one namespace in S3
(docs/deploy.md shows the same configuration for operators).

HAProxy listens on its own loopback address, balances the control port
over the three nodes, and forwards each node's passive range to that
node only; every server line sends the PROXY header (v1 to node 1, v2 to
nodes 2 and 3), and the nodes run ``--proxy-protocol required
--proxy-from <HAProxy's address>``. All nodes store in one SeaweedFS
bucket prefix (scripts/seaweedfs, started by scripts/test), and share
their bans and failed-login counts through one Redis (``--cluster-redis``;
redis-server started here). Besides the
balanced frontend, each node has a control frontend of its own here, so
that a test can choose which node serves a session.

Clients (curl, lftp, ftplib) bind to a client address of their own
(``.77``), which the nodes must log instead of HAProxy's. Without HAProxy
or the S3 variables the module is skipped with the reason; under CI it
is an error, never a silent skip (so is a missing redis-server)."""

from __future__ import annotations

import ftplib
import io
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from redis_server import REDIS_SERVER, Redis, start_redis
from support import Server, random_bytes, run_curl, run_lftp

ENDPOINT = os.environ.get("FERROFTPD_TEST_S3_ENDPOINT")
BUCKET = os.environ.get("FERROFTPD_TEST_S3_BUCKET")
HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)

if os.environ.get("CI") and not (ENDPOINT and BUCKET and HAPROXY):
    raise RuntimeError(
        "CI must run the cluster tests: they need haproxy (scripts/test installs it) and "
        "FERROFTPD_TEST_S3_ENDPOINT and _BUCKET (scripts/test starts SeaweedFS)"
    )
pytestmark = [
    pytest.mark.skipif(not (ENDPOINT and BUCKET),
                       reason="no S3 server: run scripts/seaweedfs start DIR and source DIR/env"),
    pytest.mark.skipif(not HAPROXY, reason="haproxy is not installed (apt-get install haproxy)"),
    pytest.mark.skipif(not REDIS_SERVER,
                       reason="redis-server is not installed (apt-get install redis-server)"),
]

if ENDPOINT and BUCKET:
    from test_s3 import s3_get

USER, PASSWORD = "alice", "pw"
NODES = 3
RANGE_SIZE = 10
# Uploads are throttled on the nodes so that a node can be killed in the
# middle of one; the small files of the other tests are not slowed much.
READ_LIMIT = "2M"
# Failed logins, counted across the nodes in Redis, that ban an address.
BAN_FAILURES = 3
# HAProxy's health checks: every 200 ms, two failures take a node out.
CHECK = "check check-send-proxy inter 200ms fall 2 rise 1"


@dataclass
class Endpoint:
    """A host and port that the support helpers (run_lftp) can connect to."""

    host: str
    port: int

    @property
    def url_host(self) -> str:
        return self.host


@dataclass
class Cluster:
    net: str  # "127.A.B.", the loopback /24 this run uses
    haproxy_addr: str
    client_addr: str
    balanced: Endpoint
    direct: list[Endpoint]  # per-node control frontends on HAProxy
    nodes: list[Server]
    prefix: str
    stats_socket: Path
    redis: Redis

    def url(self, endpoint: Endpoint, path: str = "") -> str:
        return f"ftp://{USER}:{PASSWORD}@{endpoint.host}:{endpoint.port}/{path}"

    def server_states(self) -> dict[str, str]:
        """Each balanced server's status from HAProxy's stats socket."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.stats_socket))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        states = {}
        for line in data.decode().splitlines():
            fields = line.split(",")
            if len(fields) > 17 and fields[0] == "ftp_nodes" and fields[1].startswith("node"):
                states[fields[1]] = fields[17]
        return states


def poll(condition, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        # 0 is an answer (a node's index); None and False are not yet.
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def bindable(addr: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((addr, port))
        except OSError:
            return False
    return True


def free_port(addr: str, taken: set[int]) -> int:
    """A free port outside the passive ranges already chosen."""
    while True:
        with socket.socket() as s:
            s.bind((addr, 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def free_range(addrs: list[str], size: int, taken: set[int]) -> tuple[int, int]:
    """Consecutive ports free on every address in ``addrs`` (HAProxy's and
    the node's: the passive frontend forwards a port to the same port)."""
    rng = random.Random()
    for _ in range(200):
        # Below Linux's ephemeral ports (32768 and up), which -p 0 and the
        # clients take.
        first = rng.randrange(20000, 32000)
        ports = range(first, first + size)
        if taken.isdisjoint(ports) and all(bindable(a, p) for a in addrs for p in ports):
            taken.update(ports)
            return first, first + size - 1
    raise AssertionError(f"no {size} free consecutive ports on {addrs}")


def haproxy_config(c: Cluster, node_ports: list[int], ranges: list[tuple[int, int]]) -> str:
    """The configuration docs/deploy.md explains, with this run's addresses."""
    lines = [
        "global",
        f"    stats socket {c.stats_socket} mode 600 level admin",
        "    maxconn 500",
        "defaults",
        "    mode tcp",
        "    timeout connect 2s",
        # Long: the control connection idles while a big file moves.
        "    timeout client 1h",
        "    timeout server 1h",
        # HAProxy connects to the nodes from its own address, the one
        # the nodes trust (--proxy-from).
        f"    source {c.haproxy_addr}",
        "frontend ftp",
        f"    bind {c.balanced.host}:{c.balanced.port}",
        "    default_backend ftp_nodes",
        "backend ftp_nodes",
        "    balance roundrobin",
        "    option redispatch",
        "    retries 2",
        # A node is healthy when it greets (the check sends the PROXY
        # header too: v2 LOCAL or v1 UNKNOWN, which the node accepts).
        "    option tcp-check",
        "    tcp-check expect rstring ^220",
        "    tcp-check send QUIT\\r\\n",
    ]
    for i in range(NODES):
        lines.append(f"    server node{i + 1} {node_addr(c, i)}:{node_ports[i]} "
                     f"{send_proxy(i)} {CHECK}")
    for i in range(NODES):
        first, last = ranges[i]
        lines += [
            # This node's passive ports: to this node, at the same port.
            f"frontend node{i + 1}_passive",
            f"    bind {c.haproxy_addr}:{first}-{last}",
            f"    default_backend node{i + 1}_passive",
            f"backend node{i + 1}_passive",
            f"    server node{i + 1} {node_addr(c, i)} {send_proxy(i)}",
            # This node's control port alone (so that a test can choose).
            f"frontend node{i + 1}_control",
            f"    bind {c.direct[i].host}:{c.direct[i].port}",
            f"    default_backend node{i + 1}_control",
            f"backend node{i + 1}_control",
            f"    server node{i + 1} {node_addr(c, i)}:{node_ports[i]} {send_proxy(i)}",
        ]
    return "\n".join(lines) + "\n"


def node_addr(c: Cluster, i: int) -> str:
    return f"{c.net}{21 + i}"


def send_proxy(i: int) -> str:
    """PROXY v1 to the first node, v2 to the others: both are exercised."""
    return "send-proxy" if i == 0 else "send-proxy-v2"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    # A loopback /24 of this run's own, so that parallel runs do not meet.
    net = f"127.{random.randrange(100, 250)}.{random.randrange(1, 250)}."
    haproxy_addr = f"{net}10"
    prefix = f"cluster-{uuid.uuid4().hex[:12]}"
    nodes: list[Server] = []
    haproxy = None
    redis = None
    try:
        redis = start_redis(f"{net}5", base)
        taken: set[int] = set()
        ranges = [free_range([haproxy_addr, f"{net}{21 + i}"], RANGE_SIZE, taken)
                  for i in range(NODES)]
        for i in range(NODES):
            first, last = ranges[i]
            args = ["--storage", f"s3://{BUCKET}/{prefix}", "--s3-endpoint", ENDPOINT,
                    "-u", USER, "-P", PASSWORD, "-w", "--auth-failed-delay", "0",
                    "--read-limit", READ_LIMIT,
                    "--proxy-protocol", "required", "--proxy-from", haproxy_addr,
                    "--cluster-redis", redis.url, "--ban-failures", str(BAN_FAILURES),
                    "-r", f"{first}-{last}", "-n", haproxy_addr,
                    "-i", f"{net}{21 + i}", "-p", "0", "-D"]
            nodes.append(Server.start(args, base, base / f"node{i + 1}.log"))
        c = Cluster(
            net=net, haproxy_addr=haproxy_addr, client_addr=f"{net}77",
            balanced=Endpoint(haproxy_addr, free_port(haproxy_addr, taken)),
            direct=[Endpoint(haproxy_addr, free_port(haproxy_addr, taken)) for _ in range(NODES)],
            nodes=nodes, prefix=prefix, stats_socket=base / "haproxy.sock", redis=redis)
        config = base / "haproxy.cfg"
        config.write_text(haproxy_config(c, [n.port for n in nodes], ranges))
        haproxy_log = open(base / "haproxy.log", "wb")
        haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdin=subprocess.DEVNULL,
                                   stdout=haproxy_log, stderr=haproxy_log, start_new_session=True)
        haproxy_log.close()

        def all_up():
            if haproxy.poll() is not None:
                raise AssertionError(f"haproxy exited ({haproxy.returncode}):\n"
                                     + (base / "haproxy.log").read_text())
            if not c.stats_socket.exists():
                return False
            states = c.server_states()
            return len(states) == NODES and all(s == "UP" for s in states.values())

        poll(all_up, 15, "HAProxy to see every node up")
        yield c
    finally:
        if haproxy is not None and haproxy.poll() is None:
            haproxy.send_signal(signal.SIGTERM)
            try:
                haproxy.wait(timeout=5)
            except subprocess.TimeoutExpired:
                haproxy.kill()
                haproxy.wait(timeout=5)
        for node in nodes:
            node.stop()
        if redis is not None:
            redis.stop()


@pytest.fixture(autouse=True)
def node_logs_in_failure_reports(request, cluster):
    """A failing test's report shows the nodes' logs (conftest.py)."""
    request.node._ferroftpd_servers = cluster.nodes


SESSION_ID = re.compile(r"session\{id=(\d+) ")


def session_lines(node: Server, marker: str) -> list[str]:
    """The log lines of the session(s) whose lines contain ``marker``."""
    lines = node.log.splitlines()
    ids = {m.group(1) for line in lines if marker in line and (m := SESSION_ID.search(line))}
    return [line for line in lines if (m := SESSION_ID.search(line)) and m.group(1) in ids]


def received(node: Server, command: str) -> bool:
    return any(line.endswith(f": <- {command}") for line in node.log.splitlines())


def test_a_file_stored_through_one_node_is_served_by_the_others(cluster, tmp_path):
    c = cluster
    body = random_bytes(600_000, seed=31)
    src = tmp_path / "shared.bin"
    src.write_bytes(body)
    # curl stores through node 1 (PROXY v1)...
    res = run_curl("--interface", c.client_addr, "--ftp-create-dirs", "-T", str(src),
                   c.url(c.direct[0], "team/shared.bin"))
    assert res.returncode == 0, res.transcript()
    assert s3_get(f"{c.prefix}/team/shared.bin") == body
    # ... lftp lists it at once through node 2 (PROXY v2) ...
    res = run_lftp(c.direct[1], "cls -l team", user=USER, password=PASSWORD,
                   settings=f"set net:socket-bind-ipv4 {c.client_addr}")
    assert res.returncode == 0 and "shared.bin" in res.out and str(len(body)) in res.out, \
        res.transcript()
    # ... and ftplib fetches it through node 3 (PROXY v2).
    ftp = ftplib.FTP()
    ftp.connect(c.direct[2].host, c.direct[2].port, timeout=10, source_address=(c.client_addr, 0))
    try:
        ftp.login(USER, PASSWORD)
        got = io.BytesIO()
        ftp.retrbinary("RETR team/shared.bin", got.write)
        assert got.getvalue() == body
        ftp.quit()
    finally:
        ftp.close()
    # Each session ran on the node it was sent to, and each node logged
    # the client's address, not HAProxy's, on control and data alike
    # (a data connection from any other address would be refused).
    markers = ("STOR path=/team/shared.bin", "<- MLSD", "RETR path=/team/shared.bin")
    for i, marker in enumerate(markers):
        assert [bool(session_lines(node, marker)) for node in c.nodes] == \
            [j == i for j in range(NODES)], marker
        lines = session_lines(c.nodes[i], marker)
        assert all(f"peer={c.client_addr}:" in line for line in lines), "\n".join(lines)
        assert not any("rejected data connection" in line for line in lines), "\n".join(lines)
    for marker in markers[::2]:
        [done] = [line for node in c.nodes for line in node.log.splitlines() if marker in line]
        assert 'outcome="success"' in done and f"client={c.client_addr}" in done, done


def test_the_balanced_port_spreads_sessions_over_every_node(cluster):
    c = cluster
    for n in range(NODES):
        ftp = ftplib.FTP()
        ftp.connect(c.balanced.host, c.balanced.port, timeout=10,
                    source_address=(c.client_addr, 0))
        try:
            ftp.login(USER, PASSWORD)
            ftp.mkd(f"balanced-{n}")
            ftp.quit()
        finally:
            ftp.close()
    # Round robin: one session each, every one logged with the client.
    for n in range(NODES):
        serving = [node for node in c.nodes if received(node, f"MKD balanced-{n}")]
        assert len(serving) == 1, n
    for node in c.nodes:
        lines = [line for n in range(NODES)
                 for line in session_lines(node, f"<- MKD balanced-{n}")]
        assert lines and all(f"peer={c.client_addr}:" in line for line in lines), \
            node.log_tail(5000)
    # One namespace: every node sees the directories all three made.
    res = run_curl("--interface", c.client_addr, "-l", c.url(c.direct[0]))
    assert res.returncode == 0, res.transcript()
    assert {f"balanced-{n}" for n in range(NODES)} <= set(res.out.split()), res.out


def test_a_header_from_an_untrusted_source_is_refused(cluster):
    """A client that reaches a node directly and sends a header of its own
    (claiming to be someone else) is closed without a greeting."""
    c = cluster
    for node, header in ((c.nodes[0], b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 21\r\n"),
                         (c.nodes[1], b"")):
        with socket.socket() as s:
            s.bind((c.client_addr, 0))
            s.settimeout(10)
            s.connect((node.host, node.port))
            s.sendall(header)
            try:
                assert s.recv(100) == b""
            except ConnectionResetError:
                pass
    for node in c.nodes[:2]:
        poll(lambda node=node: "not from a trusted proxy" in node.log, 5,
             "the node to log the refusal")
    assert "203.0.113.7" not in c.nodes[0].log


def test_a_ban_triggered_through_one_node_holds_on_all(cluster):
    c = cluster
    guesser = f"{c.net}88"

    def attempt(endpoint: Endpoint, password: str) -> str:
        """The reply to a login from the guesser: 230, 530, or the 421 of a ban."""
        ftp = ftplib.FTP()
        try:
            ftp.connect(endpoint.host, endpoint.port, timeout=10, source_address=(guesser, 0))
            ftp.login(USER, password)
            ftp.quit()
            return "230"
        except ftplib.Error as e:
            return str(e)[:3]
        finally:
            ftp.close()

    # One failure through each node: no node alone reaches BAN_FAILURES.
    assert [attempt(c.direct[i], "wrong") for i in range(NODES)] == ["530"] * NODES
    # Every node refuses the address now, the balanced port too; the
    # address in the PROXY header is what was banned, not HAProxy's.
    assert [attempt(c.direct[i], PASSWORD) for i in range(NODES)] == ["421"] * NODES
    assert attempt(c.balanced, PASSWORD) == "421"
    assert c.redis.count_keys(f"ferroftpd:ban:{guesser}") == 1
    assert c.redis.count_keys(f"ferroftpd:ban:{c.haproxy_addr}") == 0
    # The other client goes on.
    res = run_curl("--interface", c.client_addr, "-l", c.url(c.balanced))
    assert res.returncode == 0, res.transcript()


def test_a_node_killed_mid_upload_loses_only_that_transfer(cluster, tmp_path):
    c = cluster
    old = random_bytes(300_000, seed=32)
    ftp = ftplib.FTP()
    ftp.connect(c.balanced.host, c.balanced.port, timeout=10, source_address=(c.client_addr, 0))
    ftp.login(USER, PASSWORD)
    ftp.storbinary("STOR big.bin", io.BytesIO(old))
    ftp.quit()
    ftp.close()
    assert s3_get(f"{c.prefix}/big.bin") == old

    # A large upload over it through the balancer, throttled by the node
    # (READ_LIMIT) so that it is still running when its node dies.
    new = random_bytes(8 * 1024 * 1024, seed=33)
    sent = 0
    outcome: list[BaseException | str] = []

    def upload():
        nonlocal sent

        def count(block):
            nonlocal sent
            sent += len(block)

        ftp = ftplib.FTP()
        try:
            ftp.connect(c.balanced.host, c.balanced.port, timeout=10,
                        source_address=(c.client_addr, 0))
            ftp.login(USER, PASSWORD)
            ftp.storbinary("STOR big.bin", io.BytesIO(new), blocksize=64 * 1024, callback=count)
            outcome.append("completed")
        except (OSError, EOFError, ftplib.Error) as exc:
            outcome.append(exc)
        finally:
            ftp.close()

    before = [stores(n) for n in c.nodes]
    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    # The node serving it: the one whose log gains a STOR.
    victim = poll(lambda: next((i for i, n in enumerate(c.nodes) if stores(n) > before[i]), None),
                  10, "a node to receive the STOR")
    poll(lambda: sent >= 1024 * 1024, 10, "the first MiB of the upload to leave the client")
    os.kill(c.nodes[victim].proc.pid, signal.SIGKILL)
    c.nodes[victim].proc.wait(timeout=5)
    thread.join(timeout=20)
    # Killed mid-upload: the client never got its 226, and no node logged
    # a finished transfer besides the first one (the client's socket
    # buffers and HAProxy's may well hold the rest of the file by then).
    assert outcome and outcome[0] != "completed", (outcome, sent)
    assert stored_big(c) == 1

    # HAProxy's health checks take the dead node out, and only it.
    name = f"node{victim + 1}"
    poll(lambda: c.server_states().get(name) == "DOWN", 10, f"HAProxy to mark {name} down")
    assert [state for node, state in c.server_states().items() if node != name] == ["UP"] * 2
    # The object is still the old one, whole: in the bucket, and through
    # another node.
    assert s3_get(f"{c.prefix}/big.bin") == old
    survivor = next(i for i in range(NODES) if i != victim)
    res = run_curl("--interface", c.client_addr, c.url(c.direct[survivor], "big.bin"))
    assert res.returncode == 0 and res.stdout == old, res.transcript()[:3000]
    # The client's retry through the balancer goes to a live node.
    before = [stores(n) for n in c.nodes]
    src = tmp_path / "new.bin"
    src.write_bytes(new)
    res = run_curl("--interface", c.client_addr, "-T", str(src), c.url(c.balanced, "big.bin"),
                   timeout=30)
    assert res.returncode == 0, res.transcript()
    assert s3_get(f"{c.prefix}/big.bin") == new
    assert stored_big(c) == 2
    assert [stores(n) > b for n, b in zip(c.nodes, before)].count(True) == 1
    assert stores(c.nodes[victim]) == before[victim]


def stores(node: Server) -> int:
    """How many times ``node`` was asked to store big.bin (ftplib and curl
    both send ``STOR big.bin``)."""
    return sum(1 for line in node.log.splitlines() if line.endswith(": <- STOR big.bin"))


def stored_big(c: Cluster) -> int:
    """Uploads of big.bin that the nodes logged as finished."""
    return sum(1 for n in c.nodes for line in n.log.splitlines()
               if "STOR path=/big.bin " in line and 'outcome="success"' in line)
