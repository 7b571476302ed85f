"""``--storage s3://BUCKET/PREFIX`` against a real S3 server (SeaweedFS,
started by scripts/test through scripts/seaweedfs; its address comes in
``FERROFTPD_TEST_S3_*`` and the ``AWS_*`` keys). Driven with curl, lftp,
rclone and Python's ftplib, resume both ways included; objects are also
read straight from S3 with curl, so what is checked is the bucket, not
the server's view of it.

Without the variables the module is skipped with the reason shown; under
CI it is an error instead, never a silent skip."""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest

from support import (
    expect_refused,
    client_home,
    ftp_session,
    random_bytes,
    retr_bytes,
    run,
    run_curl,
    run_lftp,
    run_rclone,
)

ENDPOINT = os.environ.get("FERROFTPD_TEST_S3_ENDPOINT")
BUCKET = os.environ.get("FERROFTPD_TEST_S3_BUCKET")
REGION = os.environ.get("FERROFTPD_TEST_S3_REGION", "us-east-1")

if not (ENDPOINT and BUCKET) and os.environ.get("CI"):
    raise RuntimeError(
        "CI must run the S3 tests: FERROFTPD_TEST_S3_ENDPOINT and _BUCKET are unset "
        "(scripts/test starts SeaweedFS with scripts/seaweedfs)"
    )
pytestmark = [
    pytest.mark.skipif(
        not (ENDPOINT and BUCKET),
        reason="no S3 server: run scripts/seaweedfs start DIR and source DIR/env",
    ),
]

USER, PASSWORD = "alice", "pw"


@pytest.fixture
def prefix() -> str:
    """A key prefix of the test's own, so tests never see each other's objects."""
    return f"interop-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_server(start_server, prefix):
    return start_server(*s3_flags(prefix), directory=False)


def s3_flags(prefix: str, *extra: str) -> tuple[str, ...]:
    return ("--storage", f"s3://{BUCKET}/{prefix}", "--s3-endpoint", ENDPOINT,
            "-u", USER, "-P", PASSWORD, "-w", "--auth-failed-delay", "0", *extra)


def s3_get(key: str) -> bytes | None:
    """The object at ``key`` read straight from S3, or None if there is none."""
    res = s3_request("GET", key)
    if res.returncode == 0:
        return res.stdout
    assert "404" in res.stderr or b"NoSuchKey" in res.stdout, res.transcript()
    return None


def s3_request(method: str, key: str, query: str = "") -> subprocess.CompletedProcess:
    """A signed request to the bucket (curl's SigV4). Fails on HTTP errors."""
    url = f"{ENDPOINT}/{BUCKET}/{key}{query}"
    keys = f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}"
    res = run(["curl", "-sS", "--fail-with-body", "-X", method,
               "--aws-sigv4", f"aws:amz:{REGION}:s3", "--user", keys, url], timeout=30)
    return res


def pending_uploads(prefix: str) -> list[str]:
    """Multipart uploads begun and neither completed nor aborted."""
    # Parameters sorted, each with "=": curl signs the query as written.
    res = s3_request("GET", "", f"?prefix={prefix}&uploads=")
    assert res.returncode == 0, res.transcript()
    body = res.stdout.decode()
    return [part.split("</Key>")[0] for part in body.split("<Key>")[1:]]


def test_curl_stores_lists_resumes_and_retrieves(s3_server, prefix, layout):
    data = random_bytes(6 * 1024 * 1024 + 123, seed=1)
    src = layout.clients / "up.bin"
    src.write_bytes(data[:2_000_000])
    url = f"ftp://{USER}:{PASSWORD}@{s3_server.url_host}:{s3_server.port}"
    res = run_curl("--ftp-create-dirs", "-T", str(src), f"{url}/d/up.bin")
    assert res.returncode == 0, res.transcript()
    assert s3_get(f"{prefix}/d/up.bin") == data[:2_000_000]
    # Resumed upload (SIZE, then APPE of the rest): the object grows in
    # place, and is never replaced by the new bytes alone.
    src.write_bytes(data)
    res = run_curl("-C", "-", "-T", str(src), f"{url}/d/up.bin")
    assert res.returncode == 0, res.transcript()
    assert s3_get(f"{prefix}/d/up.bin") == data
    res = run_curl("-l", f"{url}/d/")
    assert res.returncode == 0 and res.out.split() == ["up.bin"], res.transcript()
    # Resumed download (REST): a ranged read.
    down = layout.clients / "down.bin"
    down.write_bytes(data[:3_333_333])
    res = run_curl("-C", "-", "-o", str(down), f"{url}/d/up.bin")
    assert res.returncode == 0, res.transcript()
    assert down.read_bytes() == data
    assert pending_uploads(prefix) == []


def test_lftp_mirrors_both_ways_and_resumes(s3_server, prefix, layout):
    tree = layout.clients / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    files = {
        "a.txt": b"alpha\n",
        "empty.bin": b"",
        "sub/b.bin": random_bytes(300_000, seed=2),
        "sub/deeper/c.bin": random_bytes(9 * 1024 * 1024, seed=3),
    }
    for name, content in files.items():
        (tree / name).write_bytes(content)
    (tree / "empty-dir").mkdir()
    back = layout.clients / "back"
    part = layout.clients / "part.bin"
    big = files["sub/deeper/c.bin"]
    part.write_bytes(big[:1_000_000])
    res = run_lftp(s3_server,
                   f"mirror -R {tree} up; mirror up {back}; "
                   f"get -c up/sub/deeper/c.bin -o {part}",
                   user=USER, password=PASSWORD, timeout=120)
    assert res.returncode == 0, res.transcript()
    for name, content in files.items():
        assert (back / name).read_bytes() == content, name
        assert s3_get(f"{prefix}/up/{name}") == content, name
    assert (back / "empty-dir").is_dir()
    assert part.read_bytes() == big
    # Resumed upload with lftp (put -c: SIZE, REST, STOR from the offset).
    half = layout.clients / "half.bin"
    half.write_bytes(big)
    res = run_lftp(s3_server, f"put {tree}/a.txt -o resumed.bin; put -c {half} -o resumed.bin",
                   user=USER, password=PASSWORD, timeout=120)
    assert res.returncode == 0, res.transcript()
    # "alpha\n" was there; put -c sends the rest of half.bin from offset 6.
    assert s3_get(f"{prefix}/resumed.bin") == b"alpha\n" + big[6:]
    res = run_lftp(s3_server, "mv up/a.txt up/sub/a2.txt; rm up/empty.bin; cls -1 up up/sub",
                   user=USER, password=PASSWORD)
    assert res.returncode == 0, res.transcript()
    assert s3_get(f"{prefix}/up/a.txt") is None
    assert s3_get(f"{prefix}/up/sub/a2.txt") == b"alpha\n"


def test_rclone_copies_both_ways(s3_server, prefix, layout):
    home = client_home(layout.base)
    src = layout.clients / "src"
    (src / "n").mkdir(parents=True)
    (src / "one.bin").write_bytes(random_bytes(1_500_000, seed=4))
    (src / "n" / "two.txt").write_bytes(b"two\n")
    res = run_rclone(s3_server, "copy", str(src), "srv:r", home=home, user=USER, password=PASSWORD, timeout=120)
    assert res.returncode == 0, res.transcript()
    assert s3_get(f"{prefix}/r/one.bin") == (src / "one.bin").read_bytes()
    dst = layout.clients / "dst"
    res = run_rclone(s3_server, "copy", "srv:r", str(dst), "--multi-thread-streams", "0",
                     home=home, user=USER, password=PASSWORD, timeout=120)
    assert res.returncode == 0, res.transcript()
    assert (dst / "one.bin").read_bytes() == (src / "one.bin").read_bytes()
    assert (dst / "n" / "two.txt").read_bytes() == b"two\n"
    res = run_rclone(s3_server, "check", str(src), "srv:r", home=home, user=USER, password=PASSWORD, timeout=120)
    assert res.returncode == 0, res.transcript()


def test_ftplib_semantics(s3_server, prefix):
    body = random_bytes(7 * 1024 * 1024, seed=5)
    with ftp_session(s3_server, USER, PASSWORD) as ftp:
        # Objects keep their own times: MFMT is not offered.
        assert " MFMT" not in ftp.sendcmd("FEAT").splitlines()
        ftp.mkd("docs")
        ftp.mkd("docs/empty")
        ftp.storbinary("STOR docs/f.bin", io.BytesIO(body[:5_500_000]))
        # REST + STOR from the current size: grows the object.
        ftp.storbinary("STOR docs/f.bin", io.BytesIO(body[5_500_000:]), rest=5_500_000)
        ftp.voidcmd("TYPE I")  # SIZE is refused in ASCII mode
        assert ftp.size("docs/f.bin") == len(body)
        assert s3_get(f"{prefix}/docs/f.bin") == body
        # APPE of a small object.
        ftp.storbinary("STOR docs/small.txt", io.BytesIO(b"head,"))
        ftp.storbinary("APPE docs/small.txt", io.BytesIO(b"tail"))
        assert retr_bytes(ftp, "docs/small.txt") == b"head,tail"
        assert retr_bytes(ftp, "docs/f.bin", rest=6_000_000) == body[6_000_000:]
        # Empty files, and empty directories that list.
        ftp.storbinary("STOR docs/zero", io.BytesIO(b""))
        ftp.voidcmd("TYPE I")  # SIZE is refused in ASCII mode
        assert ftp.size("docs/zero") == 0
        facts = dict(ftp.mlsd("docs"))
        assert facts["empty"]["type"] == "dir"
        assert facts["f.bin"]["size"] == str(len(body))
        assert ftp.sendcmd("MDTM docs/f.bin").startswith("213 ")
        # A directory that holds something is not removed.
        with pytest.raises(ftplib.error_perm, match="^550"):
            ftp.rmd("docs")
        # Files rename (copy, then delete); directories do not move.
        ftp.rename("docs/small.txt", "docs/renamed.txt")
        assert s3_get(f"{prefix}/docs/small.txt") is None
        assert s3_get(f"{prefix}/docs/renamed.txt") == b"head,tail"
        with pytest.raises(ftplib.error_perm, match="^5"):
            ftp.rename("docs", "moved")
        with pytest.raises(ftplib.error_perm, match="^5"):
            ftp.sendcmd("SITE CHMOD 600 docs/zero")
        ftp.rmd("docs/empty")
        assert "empty" not in ftp.nlst("docs")
    assert pending_uploads(prefix) == []


def test_a_killed_upload_leaves_the_old_object(s3_server, prefix):
    old = random_bytes(1_000_000, seed=6)
    with ftp_session(s3_server, USER, PASSWORD) as ftp:
        ftp.storbinary("STOR keep.bin", io.BytesIO(old))
    # A client that dies mid-upload: its sockets reset, no end of file.
    ftp = ftplib.FTP()
    ftp.connect(s3_server.host, s3_server.port, timeout=10)
    ftp.login(USER, PASSWORD)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("STOR keep.bin")
    conn.sendall(random_bytes(12 * 1024 * 1024, seed=7))
    for sock in (conn, ftp.sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    # The server notices, aborts the multipart upload, and keeps the object.
    deadline = time.monotonic() + 20
    while pending_uploads(prefix) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pending_uploads(prefix) == []
    assert s3_get(f"{prefix}/keep.bin") == old
    with ftp_session(s3_server, USER, PASSWORD) as ftp:
        assert retr_bytes(ftp, "keep.bin") == old


def test_a_large_upload_streams_with_bounded_memory(start_server, prefix):
    """1 GiB through the server with the default 8 MiB parts: its peak
    resident memory stays far below the file's size."""
    srv = start_server(*s3_flags(prefix), directory=False, debug=False)
    size, block = 1 << 30, 1 << 20
    seed_block = random_bytes(block, seed=8)
    sent = hashlib.sha256()

    class Source(io.RawIOBase):
        """1 GiB of blocks, each the seed block with its number in front."""

        def __init__(self):
            self.n = 0

        def readable(self):
            return True

        def read(self, _size=-1):
            if self.n * block >= size:
                return b""
            chunk = self.n.to_bytes(8, "big") + seed_block[8:]
            self.n += 1
            sent.update(chunk)
            return chunk

    with ftp_session(srv, USER, PASSWORD) as ftp:
        ftp.storbinary("STOR big.bin", Source(), blocksize=block)
        ftp.voidcmd("TYPE I")  # SIZE is refused in ASCII mode
        assert ftp.size("big.bin") == size
        got = hashlib.sha256()
        ftp.retrbinary("RETR big.bin", got.update, blocksize=block)
    assert got.hexdigest() == sent.hexdigest()
    peak_kib = peak_rss_kib(srv.proc.pid)
    print(f"server peak RSS after a 1 GiB STOR and RETR: {peak_kib / 1024:.0f} MiB")
    assert peak_kib < 256 * 1024, f"peak RSS {peak_kib} KiB"


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/PID/status")


def test_bad_s3_options_are_refused_at_startup(layout):
    from support import ferroftpd_bin

    cases = [
        (["--storage", "s3://Bad_Bucket"], "--storage"),
        (["--storage", "s3://ok-bucket", "--s3-endpoint", "ftp://x"], "--s3-endpoint"),
        (["--storage", "s3://ok-bucket", "--s3-part-size", "1M"], "--s3-part-size"),
        (["--s3-region", "eu-west-1"], "--s3-region needs --storage s3://"),
    ]
    for argv, needle in cases:
        res = subprocess.run([str(ferroftpd_bin()), *argv, "-p", "0"], capture_output=True,
                             text=True, timeout=10, cwd=layout.root)
        assert res.returncode != 0, (argv, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (argv, res.stderr)


def test_the_sandbox_lets_the_s3_client_resolve_its_endpoint(start_server, prefix):
    """With the sandbox on (the default), an endpoint given by name is
    resolved (NSS and /etc/hosts) and reached."""
    port = ENDPOINT.rsplit(":", 1)[1]
    flags = list(s3_flags(prefix))
    flags[flags.index("--s3-endpoint") + 1] = f"http://localhost:{port}"
    srv = start_server(*flags, directory=False)
    assert "sandbox: landlock" in srv.log, srv.log_tail()
    with ftp_session(srv, USER, PASSWORD) as ftp:
        ftp.storbinary("STOR named.txt", io.BytesIO(b"by name"))
        assert retr_bytes(ftp, "named.txt") == b"by name"
    assert s3_get(f"{prefix}/named.txt") == b"by name"


def test_an_unreachable_store_gets_a_short_reply(start_server, prefix):
    """A store that cannot be reached: 450, with nothing of the endpoint,
    bucket or keys in the reply (they are in the log)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    flags = list(s3_flags(prefix))
    flags[flags.index("--s3-endpoint") + 1] = f"http://127.0.0.1:{closed_port}"
    srv = start_server(*flags, directory=False)
    with ftp_session(srv, USER, PASSWORD) as ftp:
        text = expect_refused(ftp.storbinary, "STOR x.txt", io.BytesIO(b"x"), codes=(4,))
        assert BUCKET not in text and "http" not in text and prefix not in text, text
        text = expect_refused(ftp.sendcmd, "SIZE x.txt", codes=(4, 5))
        assert BUCKET not in text and "http" not in text, text
    assert "object storage" in srv.log


# ---- S3 storage in the users file (docs/users.md) ----


def s3_table(endpoint: str = ENDPOINT, part_size: str = "5M") -> str:
    """The users file's ``[s3]`` table; credentials come from the environment."""
    return (f'[s3]\nendpoint = "{endpoint}"\nregion = "{REGION}"\nvirtual_host = false\n'
            f'part_size = "{part_size}"\n')


def users_server(start_server, path):
    return start_server("--users", str(path), "--auth-failed-delay", "0", directory=False)


def test_users_file_mounts_an_s3_folder_beside_a_local_home(start_server, prefix, layout):
    """A local home with a quota, an S3 folder at /archive and the same
    location read-only at /ro: lftp mirrors a tree into /archive and back,
    the objects are in the bucket, and the quota covers the home only."""
    from test_users_file import PASSWORDS, user_table

    home = layout.base / "home-alice"
    home.mkdir()
    quota = 256 * 1024
    users = layout.base / "users.toml"
    users.write_text(
        user_table("alice", home, f'perms = "elradfmwMT"\nquota_bytes = {quota}\n'
                   f'[[user.mount]]\npath = "/archive"\nstorage = "s3://{BUCKET}/{prefix}"\n'
                   f'[[user.mount]]\npath = "/ro"\nstorage = "s3://{BUCKET}/{prefix}"\n'
                   'perms = "elr"\n')
        + s3_table())
    srv = users_server(start_server, users)
    password = PASSWORDS["alice"][1]
    tree = layout.clients / "tree"
    (tree / "sub").mkdir(parents=True)
    files = {
        "a.txt": b"alpha\n",
        "empty.bin": b"",
        # Larger than the quota and than one 5 MiB part.
        "sub/big.bin": random_bytes(6 * 1024 * 1024 + 7, seed=20),
    }
    for name, content in files.items():
        (tree / name).write_bytes(content)
    back = layout.clients / "back"
    res = run_lftp(srv, f"mirror -R {tree} /archive/up; mirror /archive/up {back}",
                   user="alice", password=password, timeout=120)
    assert res.returncode == 0, res.transcript()
    for name, content in files.items():
        assert (back / name).read_bytes() == content, name
        assert s3_get(f"{prefix}/up/{name}") == content, name
    assert not (home / "up").exists()
    with ftp_session(srv, "alice", password) as ftp:
        assert {"archive", "ro"} <= set(ftp.nlst("/"))
        # The same objects through the read-only mount, which refuses writes.
        assert retr_bytes(ftp, "/ro/up/a.txt") == b"alpha\n"
        expect_refused(ftp.storbinary, "STOR /ro/x.txt", io.BytesIO(b"x"), codes=(5,))
        assert s3_get(f"{prefix}/x.txt") is None
        # The quota is the home's: the S3 folder holds more than it.
        ftp.storbinary("STOR fits.bin", io.BytesIO(random_bytes(quota // 2, seed=21)))
        with pytest.raises(ftplib.error_perm, match="^552"):
            ftp.storbinary("STOR crosses.bin", io.BytesIO(random_bytes(quota, seed=22)))
        assert not (home / "crosses.bin").exists()
        assert (home / "fits.bin").stat().st_size == quota // 2
        ftp.storbinary("STOR /archive/more.bin", io.BytesIO(random_bytes(quota, seed=22)))
        assert s3_get(f"{prefix}/more.bin") == random_bytes(quota, seed=22)
        usage = ftp.sendcmd("SITE QUOTA")
        assert f"Bytes: {quota // 2} of {quota}" in usage, usage
    assert pending_uploads(prefix) == []


def test_users_file_user_whose_home_is_in_s3(start_server, prefix, layout):
    """``storage = "s3://..."`` with ``home = "/alice"``: the user's whole
    tree is PREFIX/alice/ in the bucket, under a quota, with a local folder
    mounted in it. The endpoint is given by name, so the sandbox must let
    the S3 client resolve it although no --storage s3:// says so."""
    from test_users_file import PASSWORDS, user_table

    local = layout.base / "local"
    local.mkdir()
    (local / "l.txt").write_bytes(b"on disk\n")
    quota = 1024 * 1024
    users = layout.base / "users.toml"
    users.write_text(
        user_table("alice", "/alice",
                   f'storage = "s3://{BUCKET}/{prefix}"\nperms = "elradfmwMT"\n'
                   f'quota_bytes = {quota}\n'
                   f'[[user.mount]]\npath = "/local"\nstorage = "{local}"\n')
        + s3_table(endpoint=f"http://localhost:{ENDPOINT.rsplit(':', 1)[1]}"))
    srv = users_server(start_server, users)
    assert "sandbox: landlock" in srv.log, srv.log_tail()
    password = PASSWORDS["alice"][1]
    body = random_bytes(700_000, seed=23)
    with ftp_session(srv, "alice", password) as ftp:
        assert ftp.pwd() == "/"
        ftp.mkd("docs")
        ftp.storbinary("STOR docs/f.bin", io.BytesIO(body))
        ftp.storbinary("STOR top.txt", io.BytesIO(b"top\n"))
        assert set(ftp.nlst("/")) >= {"docs", "top.txt", "local"}
        assert ftp.nlst("docs") in (["f.bin"], ["docs/f.bin"])
        ftp.voidcmd("TYPE I")  # SIZE is refused in ASCII mode
        assert ftp.size("docs/f.bin") == len(body)
        assert retr_bytes(ftp, "/local/l.txt") == b"on disk\n"
        with pytest.raises(ftplib.error_perm, match="^552"):
            ftp.storbinary("STOR over.bin", io.BytesIO(random_bytes(quota, seed=24)))
    assert s3_get(f"{prefix}/alice/docs/f.bin") == body
    assert s3_get(f"{prefix}/alice/top.txt") == b"top\n"
    assert s3_get(f"{prefix}/alice/over.bin") is None
    assert s3_get(f"{prefix}/top.txt") is None
    assert not any(p.name == "top.txt" for p in local.rglob("*"))
    # lftp sees the same tree.
    res = run_lftp(srv, "cls -1 /docs", user="alice", password=password)
    assert res.returncode == 0, res.transcript()
    assert res.out.split() == ["/docs/f.bin"] or res.out.split() == ["f.bin"], res.out
    assert pending_uploads(prefix) == []


def test_users_file_users_sharing_an_s3_location(start_server, prefix, layout):
    """alice and bob name the same location and home: each sees the
    other's files; carol's home beside them does not. A reload that adds
    dave at the same home keeps serving everyone."""
    from test_users_file import PASSWORDS, user_table

    storage = f'storage = "s3://{BUCKET}/{prefix}"\nperms = "elradfmwMT"\n'
    users = layout.base / "users.toml"
    text = (user_table("alice", "/team", storage)
            + user_table("bob", "/team", storage)
            + user_table("carol", "/carol", storage))
    users.write_text(text + s3_table())
    srv = users_server(start_server, users)

    def pw(name: str) -> str:
        return PASSWORDS[name][1]

    with ftp_session(srv, "alice", pw("alice")) as ftp:
        ftp.storbinary("STOR from-alice.txt", io.BytesIO(b"alice\n"))
    with ftp_session(srv, "bob", pw("bob")) as ftp:
        assert retr_bytes(ftp, "from-alice.txt") == b"alice\n"
        ftp.storbinary("STOR from-bob.txt", io.BytesIO(b"bob\n"))
    with ftp_session(srv, "carol", pw("carol")) as ftp:
        assert ftp.nlst() == []
        ftp.storbinary("STOR carol.txt", io.BytesIO(b"carol\n"))
    with ftp_session(srv, "alice", pw("alice")) as ftp:
        assert sorted(ftp.nlst()) == ["from-alice.txt", "from-bob.txt"]
    assert s3_get(f"{prefix}/team/from-bob.txt") == b"bob\n"
    assert s3_get(f"{prefix}/carol/carol.txt") == b"carol\n"

    users.write_text(text + user_table("dave", "/team", storage) + s3_table())
    os.kill(srv.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "users file reloaded" not in srv.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "users file reloaded" in srv.log, srv.log_tail()
    with ftp_session(srv, "dave", pw("dave")) as ftp:
        assert sorted(ftp.nlst()) == ["from-alice.txt", "from-bob.txt"]
    with ftp_session(srv, "bob", pw("bob")) as ftp:
        assert retr_bytes(ftp, "from-alice.txt") == b"alice\n"


def test_users_file_s3_values_are_checked_at_startup(layout):
    """A bad s3:// value or [s3] key stops the server with one line naming
    the file and the line."""
    from support import ferroftpd_bin
    from test_users_file import user_table

    home = layout.base / "home"
    home.mkdir()
    cases = [
        (user_table("alice", "/", 'storage = "s3://Bad_Bucket"'), 5, "not an S3 bucket name"),
        (user_table("alice", home, f'[[user.mount]]\npath = "/a"\nstorage = "s3://{BUCKET}"\n'
                    'size = "1M"'), 5, "size is for storage"),
        (user_table("alice", home) + '[s3]\npart_size = "1M"\n', 7, "5 MiB to 5 GiB"),
        (user_table("alice", home) + '[s3]\nendpoint = "ftp://x"\n', 7, "http://"),
    ]
    path = layout.base / "users.toml"
    for text, line, needle in cases:
        path.write_text(text)
        res = subprocess.run([str(ferroftpd_bin()), "--users", str(path), "-p", "0"],
                             capture_output=True, text=True, timeout=30, cwd=layout.root)
        assert res.returncode != 0, (text, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{path}:{line}:" in lines[0] and needle in lines[0], \
            (text, res.stderr)


def test_ready_reaches_the_bucket(start_server, prefix):
    """/ready lists the bucket: 200 while it answers, 503 with the reason
    for a bucket that is not there (/health, liveness, stays 200)."""
    def ready(bucket: str) -> tuple[str, str]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        start_server("--storage", f"s3://{bucket}/{prefix}", "--s3-endpoint", ENDPOINT,
                     "--anonymous", "--metrics-address", f"127.0.0.1:{port}", directory=False)
        url = f"http://127.0.0.1:{port}"
        health = run_curl("-sS", f"{url}/health")
        assert health.out == "ok\n", health.transcript()
        res = run_curl("-sS", "-w", "\n%{http_code}", f"{url}/ready")
        assert res.returncode == 0, res.transcript()
        body, status = res.out.rsplit("\n", 1)
        return status, body

    assert ready(BUCKET) == ("200", "ready\n")
    status, body = ready(f"{BUCKET}-missing-{uuid.uuid4().hex[:8]}")
    assert status == "503" and body.startswith("not ready: storage of /"), body
