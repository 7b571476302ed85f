"""lftp (subprocess) against the real ferroftpd binary.

lftp runs with ``debug 5``: its stderr (in every assertion message) shows each
FTP command (``---> ``) and reply (``<--- ``). ``cmd:fail-exit`` makes it stop
with a non-zero status at the first failing command.
"""

from __future__ import annotations

import pytest

from support import (
    BIG_SIZE,
    SECRET,
    UNICODE_DIR,
    UNICODE_NAME,
    file_sha256,
    lftp_quote as q,
    random_bytes,
    run_lftp,
    sha256,
    tree_digest,
)

pytestmark = pytest.mark.lftp


def ok(res):
    assert res.returncode == 0, res.transcript()
    return res


def failed(res):
    assert res.returncode != 0, "lftp unexpectedly succeeded\n" + res.transcript()
    return res


def sent(res, command: str) -> bool:
    return any(line.lstrip().startswith(f"---> {command}") for line in res.stderr.splitlines())


def replied(res, code: str) -> bool:
    return any(line.lstrip().startswith(f"<--- {code}") for line in res.stderr.splitlines())


# --------------------------------------------------------------------------
# login and listing
# --------------------------------------------------------------------------


def test_ls_cls_nlist(server):
    (server.root / UNICODE_NAME).write_bytes(b"z" * 4321)
    (server.root / UNICODE_DIR).mkdir()
    res = ok(run_lftp(server, "ls"))
    assert replied(res, "230"), res.transcript()
    lines = res.out.splitlines()
    assert any(line.endswith(" " + UNICODE_NAME) and " 4321 " in line for line in lines), res.transcript()
    assert any(line.startswith("d") and line.endswith(" " + UNICODE_DIR) for line in lines), res.transcript()

    res = ok(run_lftp(server, "cls -1"))
    assert {UNICODE_NAME, UNICODE_DIR + "/", "root-marker.txt"} <= set(res.out.splitlines()), res.transcript()

    res = ok(run_lftp(server, "cls -l --sort=name"))
    assert any(UNICODE_NAME in line and "4321" in line for line in res.out.splitlines()), res.transcript()

    res = ok(run_lftp(server, "nlist"))
    assert {UNICODE_NAME, UNICODE_DIR, "root-marker.txt"} <= set(res.out.splitlines()), res.transcript()


def test_wrong_password_fails(server):
    res = failed(run_lftp(server, "ls", password="wrong"))
    assert replied(res, "530"), res.transcript()


def test_cd_and_pwd(server):
    (server.root / UNICODE_DIR / "inner").mkdir(parents=True)
    (server.root / UNICODE_DIR / "inner" / "f.txt").write_bytes(b"f")
    res = ok(run_lftp(server, f"cd {q(UNICODE_DIR + '/inner')}; pwd; cls -1; cd ..; cd ..; quote PWD"))
    assert replied(res, "250"), res.transcript()
    assert "f.txt" in res.out.splitlines(), res.transcript()
    assert '257 "/"' in res.out, res.transcript()
    failed(run_lftp(server, "cd does-not-exist"))


# --------------------------------------------------------------------------
# transfers in each data-connection mode
# --------------------------------------------------------------------------

MODES = {
    "pasv": (True, "set ftp:prefer-epsv no", "PASV"),
    "epsv": (True, "set ftp:prefer-epsv yes", "EPSV"),
    "active": (False, "", "PORT"),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_put_get_big_file(server, layout, mode):
    passive, settings, command = MODES[mode]
    data = random_bytes(BIG_SIZE, seed=21)
    src = layout.clients / "big.bin"
    src.write_bytes(data)
    dst = layout.clients / "big.out"
    res = ok(run_lftp(
        server, f"put {q(str(src))} -o big.bin; get big.bin -o {q(str(dst))}",
        passive=passive, settings=settings,
    ))
    assert sent(res, command) or (command == "PORT" and sent(res, "EPRT")), res.transcript()
    assert sha256((server.root / "big.bin").read_bytes()) == sha256(data), res.transcript()
    assert file_sha256(dst) == sha256(data), res.transcript()


def test_unicode_put_get_mv_rm(server, layout):
    src = layout.clients / "src.txt"
    src.write_bytes("naïve données\n".encode())
    dst = layout.clients / "dst.txt"
    ok(run_lftp(server, f"mkdir {q(UNICODE_DIR)}; put {q(str(src))} -o {q(UNICODE_DIR + '/' + UNICODE_NAME)}"))
    assert (server.root / UNICODE_DIR / UNICODE_NAME).read_bytes() == src.read_bytes()
    ok(run_lftp(server, f"get {q(UNICODE_DIR + '/' + UNICODE_NAME)} -o {q(str(dst))}"))
    assert dst.read_bytes() == src.read_bytes()
    ok(run_lftp(server, f"mv {q(UNICODE_DIR + '/' + UNICODE_NAME)} {q('renamed ü.txt')}"))
    assert (server.root / "renamed ü.txt").read_bytes() == src.read_bytes()
    assert not (server.root / UNICODE_DIR / UNICODE_NAME).exists()
    ok(run_lftp(server, f"rm {q('renamed ü.txt')}; rmdir {q(UNICODE_DIR)}"))
    assert not (server.root / "renamed ü.txt").exists()
    assert not (server.root / UNICODE_DIR).exists()


def test_mkdir_rmdir_rm_r(server):
    res = ok(run_lftp(server, "mkdir d1; mkdir -p 'a/b c/d'; put /dev/null -o 'a/b c/d/empty'; rmdir d1"))
    assert replied(res, "257"), res.transcript()
    assert not (server.root / "d1").exists()
    assert (server.root / "a" / "b c" / "d" / "empty").is_file()
    failed(run_lftp(server, "rmdir a"))  # not empty
    assert (server.root / "a").is_dir()
    ok(run_lftp(server, "rm -r a"))
    assert not (server.root / "a").exists()
    failed(run_lftp(server, "rm no-such-file"))
    failed(run_lftp(server, "mkdir root-marker.txt"))


def test_mv_file_and_dir(server):
    (server.root / "f.txt").write_bytes(b"move me")
    (server.root / "dir1").mkdir()
    res = ok(run_lftp(server, "mv f.txt dir1/g.txt; mv dir1 dir2"))
    assert sent(res, "RNFR") and replied(res, "350") and sent(res, "RNTO"), res.transcript()
    assert (server.root / "dir2" / "g.txt").read_bytes() == b"move me"
    assert not (server.root / "f.txt").exists() and not (server.root / "dir1").exists()
    failed(run_lftp(server, "mv missing.txt x.txt"))


def test_mirror_roundtrip(server, layout):
    tree = layout.clients / "tree"
    (tree / "sub dir" / "deeper").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "a.txt").write_bytes(b"alpha\n")
    (tree / "sub dir" / UNICODE_NAME).write_bytes("été\n".encode())
    (tree / "sub dir" / "deeper" / "big.bin").write_bytes(random_bytes(1_500_000, seed=22))
    (tree / "sub dir" / "deeper" / "zero").write_bytes(b"")
    copy = layout.clients / "copy"

    res = ok(run_lftp(server, f"mirror -R {q(str(tree))} remote-tree"))
    assert tree_digest(server.root / "remote-tree") == tree_digest(tree), res.transcript()

    res = ok(run_lftp(server, f"mirror remote-tree {q(str(copy))}"))
    assert tree_digest(copy) == tree_digest(tree), res.transcript()

    # a second mirror is a no-op that still succeeds; a changed file is re-sent
    (tree / "a.txt").write_bytes(b"alpha changed, longer\n")
    res = ok(run_lftp(server, f"mirror -R {q(str(tree))} remote-tree"))
    assert (server.root / "remote-tree" / "a.txt").read_bytes() == b"alpha changed, longer\n", res.transcript()

    # mirror --delete removes what's gone locally
    (tree / "sub dir" / "deeper" / "zero").unlink()
    res = ok(run_lftp(server, f"mirror -R --delete {q(str(tree))} remote-tree"))
    assert not (server.root / "remote-tree" / "sub dir" / "deeper" / "zero").exists(), res.transcript()
    assert tree_digest(server.root / "remote-tree") == tree_digest(tree), res.transcript()


# --------------------------------------------------------------------------
# resume
# --------------------------------------------------------------------------


def test_get_continue_and_reget(server, layout):
    data = random_bytes(3_000_000, seed=23)
    (server.root / "r.bin").write_bytes(data)
    part = layout.clients / "r.bin"
    part.write_bytes(data[:1_234_567])
    res = ok(run_lftp(server, f"get -c r.bin -o {q(str(part))}"))
    assert sent(res, "REST 1234567") and replied(res, "350"), res.transcript()
    assert file_sha256(part) == sha256(data), res.transcript()

    part.write_bytes(data[:99])
    res = ok(run_lftp(server, f"lcd {q(str(layout.clients))}; reget r.bin"))
    assert sent(res, "REST 99"), res.transcript()
    assert file_sha256(part) == sha256(data), res.transcript()


def test_put_continue_and_reput(server, layout):
    data = random_bytes(3_000_000, seed=24)
    src = layout.clients / "u.bin"
    src.write_bytes(data)
    (server.root / "u.bin").write_bytes(data[:765_432])
    res = ok(run_lftp(server, f"put -c {q(str(src))} -o u.bin"))
    assert sent(res, "REST 765432") or sent(res, "APPE"), res.transcript()
    assert sha256((server.root / "u.bin").read_bytes()) == sha256(data), res.transcript()

    (server.root / "u.bin").write_bytes(data[:1000])
    res = ok(run_lftp(server, f"lcd {q(str(layout.clients))}; reput u.bin"))
    assert sha256((server.root / "u.bin").read_bytes()) == sha256(data), res.transcript()


# --------------------------------------------------------------------------
# ASCII
# --------------------------------------------------------------------------


@pytest.mark.parametrize("local", [b"x\ny\n", b"x\r\ny\r\n"], ids=["lf", "crlf"])
def test_put_ascii(server, layout, local):
    # lftp sends every line end as CRLF in ASCII mode (a CRLF in the local file
    # becomes CR CR LF); the server turns each CRLF back into LF. lftp relies on
    # ASCII being the default TYPE (RFC 959) and sends no TYPE A first.
    src = layout.clients / "up.txt"
    src.write_bytes(local)
    res = ok(run_lftp(server, f"put -a {q(str(src))} -o {q(UNICODE_NAME)}"))
    expected = local.replace(b"\n", b"\r\n").replace(b"\r\n", b"\n")
    assert (server.root / UNICODE_NAME).read_bytes() == expected, res.transcript()


def test_put_ascii_after_binary_transfer(server, layout):
    # after a binary transfer, lftp must switch back with an explicit TYPE A
    src = layout.clients / "up.txt"
    src.write_bytes(b"p\nq\n")
    (server.root / "bin.dat").write_bytes(b"\x00\r\n\x01")
    dst = layout.clients / "bin.dat"
    res = ok(run_lftp(server, f"get bin.dat -o {q(str(dst))}; put -a {q(str(src))} -o up.txt"))
    assert sent(res, "TYPE I") and sent(res, "TYPE A"), res.transcript()
    assert dst.read_bytes() == b"\x00\r\n\x01", res.transcript()
    assert (server.root / "up.txt").read_bytes() == b"p\nq\n", res.transcript()


def test_get_ascii_roundtrip(server, layout):
    (server.root / "lf.txt").write_bytes(b"a\nb\n")
    dst = layout.clients / "lf.txt"
    res = ok(run_lftp(server, f"get -a lf.txt -o {q(str(dst))}"))
    assert dst.read_bytes() == b"a\nb\n", res.transcript()


# --------------------------------------------------------------------------
# anonymous
# --------------------------------------------------------------------------


def test_anonymous_read_ok_write_refused(server, layout):
    (server.root / "pub.txt").write_bytes(b"public")
    dst = layout.clients / "pub.txt"
    res = ok(run_lftp(server, f"get pub.txt -o {q(str(dst))}", user=None))
    assert sent(res, "USER anonymous"), res.transcript()
    assert dst.read_bytes() == b"public"

    src = layout.clients / "evil.txt"
    src.write_bytes(b"evil")
    for cmd in (
        f"put {q(str(src))} -o new.txt",
        f"put {q(str(src))} -o pub.txt",
        "mkdir newdir",
        "rm pub.txt",
        "mv pub.txt moved.txt",
        f"mirror -R {q(str(layout.clients))} up",
    ):
        res = failed(run_lftp(server, cmd, user=None))
        assert replied(res, "550") or replied(res, "553"), res.transcript()
    assert sorted(p.name for p in server.root.iterdir()) == ["pub.txt", "root-marker.txt"]
    assert (server.root / "pub.txt").read_bytes() == b"public"


# --------------------------------------------------------------------------
# confinement
# --------------------------------------------------------------------------


def test_traversal_refused(server, layout):
    out = layout.clients / "out.txt"
    for path in ("../outside.txt", "../../outside.txt", str(layout.outside_file), "/etc/passwd"):
        res = failed(run_lftp(server, f"get {q(path)} -o {q(str(out))}"))
        assert not out.exists() or SECRET not in out.read_bytes(), res.transcript()
        # (lftp 4.9 hangs after a failed `cat` when cmd:fail-exit is on)
        res = run_lftp(server, f"set cmd:fail-exit no; cat {q(path)}")
        assert SECRET.strip() not in res.stdout and b"root:" not in res.stdout, res.transcript()

    # cd above the root stays at the root (or fails)
    res = run_lftp(server, "cd ../..; cls -1")
    if res.returncode == 0:
        names = set(res.out.splitlines())
        assert "root-marker.txt" in names and "outside.txt" not in names, res.transcript()
    # lftp resolves "cd ../.." itself; send the raw CWD as well
    res = run_lftp(server, "set cmd:fail-exit no; quote CWD ../..; quote PWD; quote CWD /../../..; quote PWD")
    assert sent(res, "CWD ../..") and sent(res, "CWD /../../.."), res.transcript()
    assert res.out.count('257 "/"') == 2, res.transcript()

    src = layout.clients / "esc.txt"
    src.write_bytes(b"escape")
    run_lftp(server, f"put {q(str(src))} -o ../escape.txt")
    run_lftp(server, "mkdir ../escaped-dir")
    assert not (layout.base / "escape.txt").exists()
    assert not (layout.base / "escaped-dir").exists()
    assert layout.outside_file.read_bytes() == SECRET


def test_symlinks_outside_refused(server, layout):
    (server.root / "link_file").symlink_to(layout.outside_file)
    (server.root / "link_dir").symlink_to(layout.outside_dir)
    out = layout.clients / "out.txt"
    for path in ("link_file", "link_dir/secret.txt"):
        res = failed(run_lftp(server, f"get {q(path)} -o {q(str(out))}"))
        assert not out.exists() or SECRET not in out.read_bytes(), res.transcript()
    for cmd in ("cls -1 link_dir/", "ls link_dir/", "nlist link_dir", "cd link_dir; ls"):
        res = run_lftp(server, cmd)
        assert b"secret.txt" not in res.stdout, res.transcript()

    src = layout.clients / "w.txt"
    src.write_bytes(b"overwrite")
    # STOR onto a link replaces the link itself with a file inside the root
    ok(run_lftp(server, f"put {q(str(src))} -o link_file"))
    assert not (server.root / "link_file").is_symlink()
    failed(run_lftp(server, f"put {q(str(src))} -o link_dir/new.txt"))
    failed(run_lftp(server, "rm link_dir/secret.txt"))
    failed(run_lftp(server, "mkdir link_dir/sub"))
    failed(run_lftp(server, "mirror link_dir " + q(str(layout.clients / "m"))))
    assert not (layout.clients / "m" / "secret.txt").exists()
    assert layout.outside_file.read_bytes() == SECRET
    assert sorted(p.name for p in layout.outside_dir.iterdir()) == ["secret.txt"]
