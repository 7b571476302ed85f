"""rclone's FTP backend (subprocess) against the real ferroftpd binary.

The remote ``srv:`` is written to a config file in the test's own HOME (see
``support.run_rclone``). rclone runs with ``--dump headers``: its stderr (in
every assertion message) shows each command (``FTP Tx:``) and reply
(``FTP Rx:``). rclone's FTP backend is passive only (EPSV, or PASV with
``--ftp-disable-epsv``), lists with MLSD when FEAT offers it (LIST with
``--ftp-disable-mlsd``), and keeps modification times with MFMT.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from support import (
    UNICODE_DIR,
    UNICODE_NAME,
    client_home,
    file_sha256,
    random_bytes,
    received_commands,
    run_rclone,
    sha256,
    tree_digest,
)

pytestmark = pytest.mark.rclone


@pytest.fixture
def home(layout):
    return client_home(layout.base)


def ok(res):
    assert res.returncode == 0, res.transcript()
    return res


def failed(res):
    assert res.returncode != 0, "rclone unexpectedly succeeded\n" + res.transcript()
    return res


def sent(res, command: str) -> bool:
    """True if rclone sent ``command`` (a prefix) on a control connection."""
    return re.search(r'FTP Tx: "' + re.escape(command), res.stderr) is not None


def replied(res, code: str) -> bool:
    return re.search(rf'FTP Rx: "{code}[ -]', res.stderr) is not None


def make_tree(base):
    tree = base / "tree"
    (tree / "sub dir" / "deeper").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "a.txt").write_bytes(b"alpha\n")
    (tree / "sub dir" / UNICODE_NAME).write_bytes("été\n".encode())
    (tree / "sub dir" / "deeper" / "big.bin").write_bytes(random_bytes(1_500_000, seed=51))
    (tree / "sub dir" / "deeper" / "zero").write_bytes(b"")
    return tree


# --------------------------------------------------------------------------
# listings
# --------------------------------------------------------------------------

LISTINGS = {"mlsd": ([], "MLSD"), "list": (["--ftp-disable-mlsd"], "LIST")}


@pytest.mark.parametrize("listing", list(LISTINGS))
def test_ls_lsf_lsjson(server, home, listing):
    flags, command = LISTINGS[listing]
    root = server.root
    (root / UNICODE_DIR / "inner dir").mkdir(parents=True)
    (root / UNICODE_DIR / UNICODE_NAME).write_bytes(b"z" * 4321)
    (root / UNICODE_DIR / "inner dir" / "f.txt").write_bytes(b"f")

    res = ok(run_rclone(server, *flags, "ls", "srv:", home=home))
    assert sent(res, "USER user") and replied(res, "230") and sent(res, command), res.transcript()
    sizes = {line.strip().split(" ", 1)[1]: int(line.split()[0]) for line in res.out.splitlines()}
    assert sizes == {
        "root-marker.txt": 16,
        f"{UNICODE_DIR}/{UNICODE_NAME}": 4321,
        f"{UNICODE_DIR}/inner dir/f.txt": 1,
    }, res.transcript()

    res = ok(run_rclone(server, *flags, "lsf", "-R", f"srv:{UNICODE_DIR}", home=home))
    assert sorted(res.out.splitlines()) == sorted(
        ["inner dir/", "inner dir/f.txt", UNICODE_NAME]), res.transcript()

    # modification times from the listing (MLSD modify=, or LIST + MDTM)
    os.utime(root / UNICODE_DIR / UNICODE_NAME, (1_600_000_000, 1_600_000_000))
    res = ok(run_rclone(server, *flags, "lsjson", f"srv:{UNICODE_DIR}", home=home))
    entries = {e["Name"]: e for e in json.loads(res.out)}
    assert entries[UNICODE_NAME]["Size"] == 4321 and not entries[UNICODE_NAME]["IsDir"], res.transcript()
    assert entries["inner dir"]["IsDir"], res.transcript()
    assert entries[UNICODE_NAME]["ModTime"].startswith("2020-09-13T12:26:40"), res.transcript()
    assert command in {c.split(" ", 1)[0] for c in received_commands(server)}


def test_wrong_password_fails(server, home):
    res = failed(run_rclone(server, "lsf", "srv:", password="wrong", home=home))
    assert replied(res, "530"), res.transcript()


# --------------------------------------------------------------------------
# copy, sync, check
# --------------------------------------------------------------------------

PASSIVE = {"epsv": ([], "EPSV"), "pasv": (["--ftp-disable-epsv"], "PASV")}


@pytest.mark.parametrize("mode", list(PASSIVE))
def test_copy_up_check_and_down(server, layout, home, mode):
    flags, command = PASSIVE[mode]
    tree = make_tree(layout.clients)
    res = ok(run_rclone(server, *flags, "copy", "--create-empty-src-dirs", str(tree), "srv:remote tree",
                        home=home))
    assert sent(res, command) and sent(res, "STOR") and sent(res, "MKD"), res.transcript()
    other = {"EPSV": "PASV", "PASV": "EPSV"}[command]
    assert not sent(res, other), res.transcript()
    assert tree_digest(server.root / "remote tree") == tree_digest(tree), res.transcript()
    # rclone sets each file's time with MFMT after the upload
    assert sent(res, "MFMT"), res.transcript()
    local_mtime = int((tree / "a.txt").stat().st_mtime)
    assert int((server.root / "remote tree" / "a.txt").stat().st_mtime) == local_mtime, res.transcript()

    # check --download compares the contents byte for byte (FTP has no hashes)
    res = ok(run_rclone(server, *flags, "check", "--download", str(tree), "srv:remote tree", home=home))
    assert sent(res, "RETR"), res.transcript()

    # a second copy transfers nothing: sizes and times match
    res = ok(run_rclone(server, *flags, "copy", str(tree), "srv:remote tree", home=home))
    assert not sent(res, "STOR"), res.transcript()

    copy = layout.clients / "copy"
    res = ok(run_rclone(server, *flags, "copy", "--create-empty-src-dirs", "srv:remote tree", str(copy),
                        home=home))
    assert sent(res, "RETR"), res.transcript()
    assert tree_digest(copy) == tree_digest(tree), res.transcript()


def test_check_reports_a_difference(server, layout, home):
    tree = make_tree(layout.clients)
    ok(run_rclone(server, "copy", str(tree), "srv:t", home=home))
    (server.root / "t" / "a.txt").write_bytes(b"ALPHA\n")  # same size, other bytes
    res = failed(run_rclone(server, "check", "--download", str(tree), "srv:t", home=home))
    assert "1 differences found" in res.stderr, res.transcript()


def test_sync_deletes_and_updates(server, layout, home):
    tree = make_tree(layout.clients)
    ok(run_rclone(server, "sync", "--create-empty-src-dirs", str(tree), "srv:mirror", home=home))
    remote = server.root / "mirror"
    assert tree_digest(remote) == tree_digest(tree)

    (remote / "stray.txt").write_bytes(b"only on the server")
    (remote / "stray dir" / "deep").mkdir(parents=True)
    (remote / "stray dir" / "deep" / "x").write_bytes(b"x")
    (tree / "sub dir" / "deeper" / "zero").unlink()
    (tree / "empty").rmdir()
    (tree / "a.txt").write_bytes(b"alpha, longer now\n")
    (tree / "new é.txt").write_bytes(b"new")
    res = ok(run_rclone(server, "sync", "--create-empty-src-dirs", str(tree), "srv:mirror", home=home))
    assert sent(res, "DELE") and sent(res, "RMD"), res.transcript()
    assert tree_digest(remote) == tree_digest(tree), res.transcript()
    ok(run_rclone(server, "check", "--download", str(tree), "srv:mirror", home=home))


# --------------------------------------------------------------------------
# ranged downloads (REST): cat --offset and multi-thread downloads
# --------------------------------------------------------------------------


def test_cat_offset_count(server, home):
    data = random_bytes(2_000_000, seed=52)
    (server.root / UNICODE_NAME).write_bytes(data)
    res = ok(run_rclone(server, "cat", "--offset", "1234567", f"srv:{UNICODE_NAME}", home=home))
    assert sent(res, "REST 1234567") and replied(res, "350"), res.transcript()
    assert res.stdout == data[1_234_567:], f"{len(res.stdout)} bytes\n" + res.transcript()
    # --count stops reading early: rclone closes the data connection mid-transfer
    res = ok(run_rclone(server, "cat", "--offset", "1000", "--count", "5000", f"srv:{UNICODE_NAME}",
                        home=home))
    assert res.stdout == data[1000:6000], res.transcript()
    # the server took it in its stride
    res = ok(run_rclone(server, "cat", f"srv:{UNICODE_NAME}", home=home))
    assert sha256(res.stdout) == sha256(data), res.transcript()


def test_multi_thread_download(server, layout, home):
    # Several connections fetch ranges of the file at once (REST + RETR); all
    # but the last close their data connections once they have their part.
    # The server then answers 226 if it had already written the rest of the
    # file into the sockets' buffers, or 426 if the close cut its writing
    # short (RFC 959's reply for that, vsftpd's and pyftpdlib's too).
    # rclone 1.60 fails the whole copy on such a 426, so a run that failed
    # on nothing else is tried again, at most twice: which reply comes is
    # timing, a few percent of runs on this machine.
    data = random_bytes(4_000_000, seed=53)
    (server.root / "big.bin").write_bytes(data)
    for attempt in range(3):
        shutil.rmtree(layout.clients / "dl", ignore_errors=True)  # what a failed try left
        res = run_rclone(server, "copy", "--multi-thread-cutoff", "1M", "--multi-thread-streams", "3",
                         "srv:", str(layout.clients / "dl"), home=home)
        if res.returncode == 0 or not only_cut_short_streams_failed(res):
            break
        print(f"try {attempt + 1} failed on a 426 for a stream closed early; trying again:\n"
              + res.transcript())
    ok(res)
    m = re.search(r"Finished multi-thread copy with (\d+) parts of size", res.stderr)
    assert m and int(m.group(1)) >= 2, res.transcript()
    rests = re.findall(r'FTP Tx: "REST (\d+)"', res.stderr)
    assert len(rests) == int(m.group(1)) - 1 and all(int(r) > 0 for r in rests), res.transcript()
    assert file_sha256(layout.clients / "dl" / "big.bin") == sha256(data), res.transcript()
    assert server.alive()


def only_cut_short_streams_failed(res) -> bool:
    """True if the streams rclone reports failed either had finished reading
    their part and then got the server's 426 for the data connection they
    closed, or were cancelled because of such a one (at least one). The last
    stream reads to the end of the file: a 426 there is never expected."""
    failed_streams = re.findall(r"stream (\d+)/(\d+) failed: (?:1 error occurred:\s*\* )?(.*)",
                                res.stderr)

    def cut_short(n, total, reason):
        return (int(n) < int(total)
                and reason.startswith("426 Connection closed; transfer aborted")
                and re.search(rf"stream {n}/\d+ \(\d+-\d+\) size \S+ finished", res.stderr))

    return any(cut_short(*f) for f in failed_streams) and all(
        cut_short(*f) or f[2].strip() == "context canceled" for f in failed_streams)


# --------------------------------------------------------------------------
# moveto (rename), delete, mkdir, rmdir
# --------------------------------------------------------------------------


def test_moveto_renames_files_and_directories(server, home):
    root = server.root
    (root / "old name.txt").write_bytes(b"rename me")
    (root / "dir one" / "inner").mkdir(parents=True)
    (root / "dir one" / "inner" / "f.txt").write_bytes(b"f")

    res = ok(run_rclone(server, "moveto", "srv:old name.txt", f"srv:{UNICODE_DIR}/{UNICODE_NAME}",
                        home=home))
    assert sent(res, "RNFR old name.txt") and replied(res, "350"), res.transcript()
    assert sent(res, f"RNTO {UNICODE_DIR}/{UNICODE_NAME}") and replied(res, "250"), res.transcript()
    assert (root / UNICODE_DIR / UNICODE_NAME).read_bytes() == b"rename me"
    assert not (root / "old name.txt").exists()

    # a whole directory moves with one RNFR/RNTO (server-side DirMove)
    res = ok(run_rclone(server, "moveto", "srv:dir one", "srv:dir deux ü", home=home))
    assert sent(res, "RNFR dir one") and sent(res, "RNTO dir deux ü"), res.transcript()
    assert not sent(res, "STOR"), res.transcript()
    assert (root / "dir deux ü" / "inner" / "f.txt").read_bytes() == b"f"
    assert not (root / "dir one").exists()


def test_mkdir_rmdir_delete_purge(server, home):
    root = server.root
    res = ok(run_rclone(server, "mkdir", f"srv:{UNICODE_DIR}/nested", home=home))
    assert sent(res, "MKD") and replied(res, "257"), res.transcript()
    assert (root / UNICODE_DIR / "nested").is_dir()
    res = ok(run_rclone(server, "rmdir", f"srv:{UNICODE_DIR}/nested", home=home))
    assert sent(res, f"RMD {UNICODE_DIR}/nested"), res.transcript()
    assert not (root / UNICODE_DIR / "nested").exists()

    (root / UNICODE_DIR / UNICODE_NAME).write_bytes(b"1")
    (root / UNICODE_DIR / "keep.bin").write_bytes(b"2")
    (root / UNICODE_DIR / "sub").mkdir()
    (root / UNICODE_DIR / "sub" / "x.txt").write_bytes(b"3")
    # rmdir refuses a directory that is not empty
    failed(run_rclone(server, "rmdir", f"srv:{UNICODE_DIR}", home=home))
    res = ok(run_rclone(server, "deletefile", f"srv:{UNICODE_DIR}/{UNICODE_NAME}", home=home))
    assert sent(res, f"DELE {UNICODE_DIR}/{UNICODE_NAME}") and replied(res, "250"), res.transcript()
    assert not (root / UNICODE_DIR / UNICODE_NAME).exists()
    # delete removes files matching a filter, leaving the directories
    ok(run_rclone(server, "delete", "--include", "*.txt", f"srv:{UNICODE_DIR}", home=home))
    assert sorted(p.name for p in (root / UNICODE_DIR).iterdir()) == ["keep.bin", "sub"]
    assert list((root / UNICODE_DIR / "sub").iterdir()) == []
    ok(run_rclone(server, "rmdirs", f"srv:{UNICODE_DIR}", "--leave-root", home=home))
    assert not (root / UNICODE_DIR / "sub").exists()
    res = ok(run_rclone(server, "purge", f"srv:{UNICODE_DIR}", home=home))
    assert not (root / UNICODE_DIR).exists(), res.transcript()
