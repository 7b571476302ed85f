"""Options from the command line, the environment and the config file
(docs/cli.md: flags, then FERROFTPD_* variables, then the file), and the
in-memory tree of ``--storage memory`` with its quotas, driven with curl,
lftp, ncftp, wget, rclone and Python's ftplib (suppaftp: in
crates/cli/tests/interop_suppaftp.rs)."""

from __future__ import annotations

import ftplib
import io
import socket
import subprocess

import pytest

from support import (
    CLIENT_ENV,
    Server,
    client_home,
    ferroftpd_bin,
    ftp_session,
    random_bytes,
    retr_bytes,
    run_curl,
    run_lftp,
    run_ncftp,
    run_ncftp_shell,
    run_rclone,
    run_wget,
    tree_digest,
)

pytestmark = pytest.mark.cli

USER, PASSWORD = "alice", "pw"
MEMORY_FLAGS = ("--storage", "memory", "-u", USER, "-P", PASSWORD, "-w",
                "--auth-failed-delay", "0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_port_from_the_environment(layout, monkeypatch):
    port = free_port()
    monkeypatch.setenv("FERROFTPD_PORT", str(port))
    monkeypatch.setenv("FERROFTPD_USER", f"{USER}:{PASSWORD}")
    # No -p: the port comes from FERROFTPD_PORT.
    srv = Server.start(["-d", str(layout.root), "-i", "127.0.0.1", "-D",
                        "--auth-failed-delay", "0"],
                       layout.root, layout.base / "ferroftpd-env.log")
    try:
        assert srv.port == port, srv.log_tail()
        with ftp_session(srv, USER, PASSWORD) as ftp:
            assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"
    finally:
        srv.stop()


def test_no_flag_overrides_true_in_the_config_file(start_server, layout):
    config = layout.base / "ferroftpd.toml"
    config.write_text(f'user = ["{USER}:{PASSWORD}"]\nauth_failed_delay = 0\n'
                      "tls_self_signed = true\ntls_control_required = true\n")
    strict = start_server("--config", str(config))
    with ftp_session(strict, user=None) as ftp:
        with pytest.raises(ftplib.error_perm, match="^534"):
            ftp.login(USER, PASSWORD)
    relaxed = start_server("--config", str(config), "--no-tls-control-required")
    with ftp_session(relaxed, USER, PASSWORD) as ftp:
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"


def test_errors_name_their_source(layout):
    config = layout.base / "bad.toml"
    config.write_text("port = 2121\n\nmax_cons = \"many\"\n")
    cases = [
        (["-p", "x"], {}, '--port: invalid value "x"'),
        ([], {"FERROFTPD_PORT": "x"}, 'FERROFTPD_PORT: invalid value "x"'),
        (["--config", str(config)], {}, f'{config}:3: max_cons: "many": expected a whole number, 1 or more'),
    ]
    for argv, env, needle in cases:
        res = subprocess.run([str(ferroftpd_bin()), *argv], capture_output=True, text=True,
                             timeout=30, env={**CLIENT_ENV, **env}, stdin=subprocess.DEVNULL)
        assert res.returncode == 2, (argv, env, res.stderr)
        assert f"ferroftpd: error: {needle}" in res.stderr, (argv, env, res.stderr)


# --------------------------------------------------------------------------
# --storage memory
# --------------------------------------------------------------------------


@pytest.fixture
def memory_server(start_server, layout):
    """alice with every permission on an empty in-memory tree. The server
    runs in layout.root, which must stay untouched."""
    return start_server(*MEMORY_FLAGS, directory=False)


def assert_disk_untouched(layout):
    assert sorted(p.name for p in layout.root.iterdir()) == ["root-marker.txt"]


def test_memory_tree_with_ftplib(memory_server, layout):
    data = random_bytes(200_000, seed=81)
    with ftp_session(memory_server, USER, PASSWORD) as ftp:
        assert ftp.nlst() == []
        ftp.mkd("docs")
        ftp.storbinary("STOR docs/a.bin", io.BytesIO(data))
        assert [name.rsplit("/", 1)[-1] for name in ftp.nlst("docs")] == ["a.bin"]
        assert dict(ftp.mlsd("docs"))["a.bin"]["size"] == str(len(data))
        ftp.rename("docs/a.bin", "docs/b.bin")
        assert retr_bytes(ftp, "docs/b.bin") == data
        ftp.delete("docs/b.bin")
        ftp.rmd("docs")
        assert ftp.nlst() == []
    assert_disk_untouched(layout)


def test_memory_tree_with_curl(memory_server, layout):
    src = layout.clients / "up.txt"
    src.write_bytes(b"curl in memory\n")
    base = f"ftp://{memory_server.url_host}:{memory_server.port}"
    auth = ("-u", f"{USER}:{PASSWORD}")
    res = run_curl(*auth, "--ftp-create-dirs", "-T", str(src), f"{base}/dir/up.txt")
    assert res.returncode == 0, res.transcript()
    res = run_curl(*auth, "-l", f"{base}/dir/")
    assert res.returncode == 0 and res.out.split() == ["up.txt"], res.transcript()
    res = run_curl(*auth, f"{base}/dir/up.txt")
    assert res.returncode == 0 and res.stdout == b"curl in memory\n", res.transcript()
    res = run_curl(*auth, "-Q", "MKD /other", "-Q", "RNFR /dir/up.txt",
                   "-Q", "RNTO /other/moved.txt", f"{base}/other/")
    assert res.returncode == 0, res.transcript()
    res = run_curl(*auth, f"{base}/other/moved.txt")
    assert res.returncode == 0 and res.stdout == b"curl in memory\n", res.transcript()
    res = run_curl(*auth, "-Q", "DELE /other/moved.txt", "-l", f"{base}/other/")
    assert res.returncode == 0 and res.out.split() == [], res.transcript()
    assert_disk_untouched(layout)


def test_memory_tree_with_lftp(memory_server, layout):
    src = layout.clients / "up.bin"
    data = random_bytes(100_000, seed=82)
    src.write_bytes(data)
    down = layout.clients / "down.bin"
    res = run_lftp(memory_server,
                   f"mkdir -p d/e; put {src} -o d/e/up.bin; cls -1 d/e; "
                   f"mv d/e/up.bin d/renamed.bin; get d/renamed.bin -o {down}; "
                   "rm d/renamed.bin; rmdir d/e; cls -1 d",
                   user=USER, password=PASSWORD)
    assert res.returncode == 0, res.transcript()
    assert "up.bin" in res.out, res.transcript()
    assert down.read_bytes() == data
    assert_disk_untouched(layout)


def client_ok(res):
    assert res.returncode == 0, res.transcript()
    return res


def test_memory_tree_with_ncftp(memory_server, layout):
    home = client_home(layout.base)
    src = layout.clients / "up.bin"
    data = random_bytes(150_000, seed=83)
    src.write_bytes(data)
    # ncftpput -m makes the directories; -S uploads under a temporary name
    # (STOR up.bin.part) and renames it (RNFR/RNTO) when complete.
    res = client_ok(run_ncftp("ncftpput", memory_server, "-m", "-S", ".part", memory_server.host,
                              "/d/e", str(src), home=home, user=USER, password=PASSWORD))
    assert "Cmd: RNFR up.bin.part" in res.stderr and "Cmd: RNTO up.bin" in res.stderr, res.transcript()
    res = client_ok(run_ncftp("ncftpls", memory_server, "-l", memory_server.url("d/e/", user=None),
                              home=home, user=USER, password=PASSWORD))
    lines = res.out.splitlines()
    assert len(lines) == 1 and lines[0].endswith(" up.bin"), res.transcript()
    assert f" {len(data)} " in lines[0], res.transcript()
    down = layout.clients / "down"
    down.mkdir()
    client_ok(run_ncftp("ncftpget", memory_server, memory_server.host, str(down), "/d/e/up.bin",
                        home=home, user=USER, password=PASSWORD))
    assert (down / "up.bin").read_bytes() == data
    # The shell: rename, delete, remove the directories.
    client_ok(run_ncftp_shell(memory_server, [
        'rename "d/e/up.bin" "d/moved.bin"',
        "rmdir d/e",
    ], home=home, user=USER, password=PASSWORD))
    moved = layout.clients / "moved"
    moved.mkdir()
    # -DD: deleted once downloaded.
    client_ok(run_ncftp("ncftpget", memory_server, "-DD", memory_server.host, str(moved),
                        "/d/moved.bin", home=home, user=USER, password=PASSWORD))
    assert (moved / "moved.bin").read_bytes() == data
    client_ok(run_ncftp_shell(memory_server, ["rmdir d"], home=home, user=USER, password=PASSWORD))
    res = client_ok(run_ncftp("ncftpls", memory_server, "-1", memory_server.url("", user=None),
                              home=home, user=USER, password=PASSWORD))
    assert res.out.split() == [], res.transcript()
    assert_disk_untouched(layout)


def test_memory_tree_with_wget(memory_server, layout):
    # wget only downloads: ftplib fills the tree.
    files = {
        "top.txt": b"top of the tree\n",
        "tree/a.bin": random_bytes(120_000, seed=84),
        "tree/sub dir/b.txt": b"deeper\n",
    }
    with ftp_session(memory_server, USER, PASSWORD) as ftp:
        ftp.mkd("tree")
        ftp.mkd("tree/sub dir")
        for name, data in files.items():
            ftp.storbinary(f"STOR {name}", io.BytesIO(data))
    home = client_home(layout.base)
    url = lambda path: memory_server.url(path, user=USER, password=PASSWORD)  # noqa: E731
    out = layout.clients / "a.bin"
    client_ok(run_wget("-O", str(out), url("tree/a.bin"), home=home))
    assert out.read_bytes() == files["tree/a.bin"]
    # a glob: LIST, then RETR of what matched
    glob_dir = layout.clients / "glob"
    glob_dir.mkdir()
    res = client_ok(run_wget(url("") + "*.txt", home=home, cwd=glob_dir))
    assert sorted(p.name for p in glob_dir.iterdir()) == ["top.txt"], res.transcript()
    assert (glob_dir / "top.txt").read_bytes() == files["top.txt"]
    # recursive
    rec = layout.clients / "rec"
    rec.mkdir()
    res = client_ok(run_wget("-r", "-np", "-nH", url("tree/"), home=home, cwd=rec))
    got = {p.relative_to(rec).as_posix(): p.read_bytes()
           for p in rec.rglob("*") if p.is_file() and p.name != ".listing"}
    assert got == {k: v for k, v in files.items() if k.startswith("tree/")}, res.transcript()
    assert_disk_untouched(layout)


def test_memory_tree_with_rclone(memory_server, layout):
    home = client_home(layout.base)
    tree = layout.clients / "tree"
    (tree / "sub dir").mkdir(parents=True)
    (tree / "a.bin").write_bytes(random_bytes(300_000, seed=85))
    (tree / "sub dir" / "b.txt").write_bytes(b"rclone in memory\n")
    (tree / "empty.txt").write_bytes(b"")

    def rclone(*args):
        return client_ok(run_rclone(memory_server, *args, home=home, user=USER, password=PASSWORD))

    rclone("copy", str(tree), "srv:remote")
    res = rclone("lsf", "-R", "srv:remote")
    assert sorted(res.out.split("\n")[:-1]) == ["a.bin", "empty.txt", "sub dir/", "sub dir/b.txt"], \
        res.transcript()
    rclone("check", "--download", str(tree), "srv:remote")
    copy = layout.clients / "copy"
    # One stream per file: a multi-thread download is not what is tested here.
    rclone("copy", "--multi-thread-streams", "0", "srv:remote", str(copy))
    assert tree_digest(copy) == tree_digest(tree)
    rclone("moveto", "srv:remote/a.bin", "srv:remote/sub dir/moved.bin")
    res = rclone("cat", "srv:remote/sub dir/moved.bin")
    assert res.stdout == (tree / "a.bin").read_bytes(), res.transcript()
    rclone("deletefile", "srv:remote/empty.txt")
    res = rclone("lsf", "-R", "srv:remote")
    assert sorted(res.out.split("\n")[:-1]) == ["sub dir/", "sub dir/b.txt", "sub dir/moved.bin"], \
        res.transcript()
    rclone("purge", "srv:remote")
    res = rclone("lsf", "srv:")
    assert res.out == "", res.transcript()
    assert_disk_untouched(layout)


def test_memory_tree_with_quotas(start_server, layout):
    srv = start_server(*MEMORY_FLAGS, "--quota-bytes", "64K", "--quota-files", "2",
                       "--memory-size", "1M", directory=False)
    with ftp_session(srv, USER, PASSWORD) as ftp:
        ftp.storbinary("STOR a.bin", io.BytesIO(random_bytes(40_000)))
        with pytest.raises(ftplib.error_perm, match="^552"):
            ftp.storbinary("STOR b.bin", io.BytesIO(random_bytes(40_000)))
        ftp.storbinary("STOR c.bin", io.BytesIO(b"small"))
        with pytest.raises(ftplib.error_perm, match="^552"):
            ftp.storbinary("STOR d.bin", io.BytesIO(b"one too many"))
        assert sorted(ftp.nlst()) == ["a.bin", "c.bin"]
    # Past the tree's capacity: 452.
    big = start_server(*MEMORY_FLAGS, "--memory-size", "100K", directory=False)
    with ftp_session(big, USER, PASSWORD) as ftp:
        with pytest.raises(ftplib.error_temp, match="^452"):
            ftp.storbinary("STOR big.bin", io.BytesIO(random_bytes(200_000)))
        assert ftp.nlst() == []
    assert_disk_untouched(layout)


def test_nat_address_takes_a_host_name(start_server):
    """-n NAME, resolved at startup: PASV announces its address, not the
    address the client connected to."""
    srv = start_server("-n", "localhost", "--user", f"{USER}:{PASSWORD}",
                       "--auth-failed-delay", "0", host="127.0.0.2")
    with ftp_session(srv, USER, PASSWORD) as ftp:
        assert "(127,0,0,1," in ftp.sendcmd("PASV")
    assert "--nat-address resolved" in srv.log, srv.log_tail()
    for bad, why in (("bad_name!", "expected an IPv4 address or a host name"),
                     ("::1", "IPv4 addresses only")):
        res = subprocess.run([str(ferroftpd_bin()), "-n", bad, "-p", "0"], capture_output=True,
                             text=True, timeout=30, env=CLIENT_ENV)
        assert res.returncode == 2 and why in res.stderr, res.stderr


def test_timeout_covers_data_connections(start_server):
    """As pyftpdlib's --timeout: a data connection that stalls longer is
    closed, unless --data-timeout says otherwise."""
    srv = start_server("--timeout", "2", "--user", f"{USER}:{PASSWORD}",
                       "--auth-failed-delay", "0")
    with ftp_session(srv, USER, PASSWORD) as ftp:
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("STOR stalled.bin")
        try:
            conn.sendall(b"x" * 1000)
            # Nothing more: the server gives up after about 2 seconds.
            ftp.sock.settimeout(15)
            reply = ftp.getline()
            assert reply.startswith("426"), reply
        finally:
            conn.close()
        # The session goes on.
        assert "root-marker.txt" in ftp.nlst()


def test_encoding_flag_converts_names_both_ways(start_server, layout):
    """--encoding latin1: a client speaking Latin-1 stores and lists names
    that are UTF-8 on disk (docs/cli.md)."""
    srv = start_server("--encoding", "latin1", "--user", f"{USER}:{PASSWORD}",
                       "--auth-failed-delay", "0")
    ftp = ftplib.FTP(encoding="latin-1")
    ftp.connect(srv.host, srv.port, timeout=10)
    ftp.login(USER, PASSWORD)
    ftp.storbinary("STOR café.txt", io.BytesIO(b"latin"))
    assert "café.txt" in ftp.nlst()
    assert retr_bytes(ftp, "café.txt") == b"latin"
    ftp.quit()
    assert (layout.root / "café.txt").read_bytes() == b"latin"
