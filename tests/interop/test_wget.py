"""GNU wget (subprocess) against the real ferroftpd binary.

wget only downloads over FTP: single files, globs and recursive mirrors, with
resume (``-c``), time-stamping (``-N``) and active mode (``--no-passive-ftp``).
It runs with ``--debug``: its stderr (in every assertion message) shows each
command (``--> ``) and reply.
"""

from __future__ import annotations

import calendar
import os
import re
import time

import pytest

from support import (
    BIG_SIZE,
    UNICODE_DIR,
    UNICODE_NAME,
    client_home,
    file_sha256,
    random_bytes,
    run_wget,
    sha256,
    tree_digest,
)

pytestmark = pytest.mark.wget

# wget exit codes
WGET_AUTH_FAILED = 6
WGET_SERVER_ERROR = 8


@pytest.fixture
def home(layout):
    return client_home(layout.base)


def ok(res):
    assert res.returncode == 0, res.transcript()
    return res


def failed(res, code=None):
    assert res.returncode != 0, "wget unexpectedly succeeded\n" + res.transcript()
    if code is not None:
        assert res.returncode == code, res.transcript()
    return res


def sent(res, command: str) -> bool:
    return any(line.startswith(f"--> {command}") for line in res.stderr.splitlines())


def sent_count(res, command: str) -> int:
    return sum(line.startswith(f"--> {command}") for line in res.stderr.splitlines())


def replied(res, code: str) -> bool:
    return re.search(rf"(?m)^{code} ", res.stderr) is not None


# --------------------------------------------------------------------------
# single files, passive and active
# --------------------------------------------------------------------------

MODES = {"passive": ([], "PASV"), "active": (["--no-passive-ftp"], "PORT")}


@pytest.mark.parametrize("mode", list(MODES))
def test_download_big_file(server, layout, home, mode):
    flags, command = MODES[mode]
    data = random_bytes(BIG_SIZE, seed=41)
    (server.root / UNICODE_DIR).mkdir()
    (server.root / UNICODE_DIR / UNICODE_NAME).write_bytes(data)
    out = layout.clients / "big.bin"
    res = ok(run_wget(*flags, "-O", str(out), server.url(f"{UNICODE_DIR}/{UNICODE_NAME}"), home=home))
    assert sent(res, "USER user") and replied(res, "230"), res.transcript()
    assert sent(res, command) and sent(res, "TYPE I"), res.transcript()
    assert sent(res, f"CWD /{UNICODE_DIR}") and sent(res, f"RETR {UNICODE_NAME}"), res.transcript()
    other = {"PASV": "PORT", "PORT": "PASV"}[command]
    assert not sent(res, other), res.transcript()
    assert file_sha256(out) == sha256(data), res.transcript()


def test_download_keeps_remote_name(server, layout, home):
    (server.root / UNICODE_NAME).write_bytes("contenu été\n".encode())
    res = ok(run_wget(server.url(UNICODE_NAME), home=home, cwd=layout.clients))
    assert sent(res, f"SIZE {UNICODE_NAME}") and replied(res, "213"), res.transcript()
    assert (layout.clients / UNICODE_NAME).read_bytes() == "contenu été\n".encode(), res.transcript()


def test_anonymous_download(server, layout, home):
    (server.root / "pub.txt").write_bytes(b"public")
    res = ok(run_wget("-O", str(layout.clients / "pub.txt"), server.url("pub.txt", user=None), home=home))
    assert sent(res, "USER anonymous"), res.transcript()
    assert (layout.clients / "pub.txt").read_bytes() == b"public"


def test_wrong_password_and_missing_file(server, layout, home):
    out = layout.clients / "x"
    res = failed(run_wget("-O", str(out), server.url("root-marker.txt", password="wrong"), home=home),
                 WGET_AUTH_FAILED)
    assert replied(res, "530"), res.transcript()
    res = failed(run_wget(server.url("missing.txt"), home=home, cwd=layout.clients), WGET_SERVER_ERROR)
    assert replied(res, "550"), res.transcript()
    assert not (layout.clients / "missing.txt").exists()


# --------------------------------------------------------------------------
# listings: globs and recursion (wget reads LIST output)
# --------------------------------------------------------------------------


def test_glob_download(server, layout, home):
    for name in ("one.txt", "two.txt", UNICODE_NAME, "skip.bin"):
        (server.root / name).write_bytes(name.encode())
    res = ok(run_wget(server.url("") + "*.txt", home=home, cwd=layout.clients))
    assert sent(res, "LIST"), res.transcript()
    got = sorted(p.name for p in layout.clients.iterdir())
    assert got == sorted(["one.txt", "two.txt", UNICODE_NAME, "root-marker.txt"]), res.transcript()
    assert (layout.clients / UNICODE_NAME).read_bytes() == UNICODE_NAME.encode()


def make_tree(base):
    tree = base / "tree"
    (tree / "sub dir" / "deeper").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "a.txt").write_bytes(b"alpha\n")
    (tree / "sub dir" / UNICODE_NAME).write_bytes("été\n".encode())
    (tree / "sub dir" / "deeper" / "big.bin").write_bytes(random_bytes(1_500_000, seed=42))
    (tree / "sub dir" / "deeper" / "zero").write_bytes(b"")
    return tree


def test_recursive_no_parent(server, layout, home):
    tree = make_tree(server.root)
    (server.root / "sibling").mkdir()
    (server.root / "sibling" / "not-this.txt").write_bytes(b"no")
    res = ok(run_wget("-r", "-np", "-nH", server.url("tree/"), home=home, cwd=layout.clients))
    assert sent(res, "LIST -a"), res.transcript()
    assert sent(res, "CWD /tree/sub dir/deeper"), res.transcript()
    assert tree_digest(layout.clients / "tree") == tree_digest(tree), res.transcript()
    assert not (layout.clients / "sibling").exists(), res.transcript()


def test_mirror_timestamps_then_skips(server, layout, home):
    tree = make_tree(server.root)
    # An old date: LIST shows it as "Jan 02  2020" (UTC, no time of day), and
    # wget sets that day (local midnight) on its copies.
    old = calendar.timegm((2020, 1, 2, 12, 0, 0))
    for p in tree.rglob("*"):
        if p.is_file():
            os.utime(p, (old, old))
    res = ok(run_wget("-m", "-np", "-nH", server.url("tree/"), home=home, cwd=layout.clients))
    copy = layout.clients / "tree"
    assert (copy / ".listing").is_file(), res.transcript()  # -m keeps LIST's output
    assert re.search(r" Jan +0?2 +2020 a\.txt$", (copy / ".listing").read_text(), re.M), res.transcript()
    for p in ("a.txt", "sub dir/deeper/big.bin"):
        assert time.localtime((copy / p).stat().st_mtime)[:3] == (2020, 1, 2), (p, res.transcript())
    listings = {p.relative_to(copy) for p in copy.rglob(".listing")}
    for p in listings:
        (copy / p).unlink()
    assert tree_digest(copy) == tree_digest(tree), res.transcript()

    # a second run fetches nothing: the remote times are not newer
    res = ok(run_wget("-m", "-np", "-nH", server.url("tree/"), home=home, cwd=layout.clients))
    assert sent_count(res, "RETR") == 0, res.transcript()
    assert "no newer than local file" in res.stderr, res.transcript()

    # a changed remote file is fetched again
    (tree / "a.txt").write_bytes(b"alpha, changed\n")
    res = ok(run_wget("-m", "-np", "-nH", server.url("tree/"), home=home, cwd=layout.clients))
    assert sent_count(res, "RETR") == 1 and sent(res, "RETR a.txt"), res.transcript()
    assert (copy / "a.txt").read_bytes() == b"alpha, changed\n"


# --------------------------------------------------------------------------
# resume
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
def test_continue_partial_download(server, layout, home, mode):
    flags, command = MODES[mode]
    data = random_bytes(3_000_000, seed=43)
    (server.root / UNICODE_NAME).write_bytes(data)
    part = layout.clients / UNICODE_NAME
    part.write_bytes(data[:1_234_567])
    res = ok(run_wget(*flags, "-c", server.url(UNICODE_NAME), home=home, cwd=layout.clients))
    assert sent(res, command) and sent(res, "REST 1234567") and replied(res, "350"), res.transcript()
    assert file_sha256(part) == sha256(data), res.transcript()

    # complete already: nothing is fetched
    res = ok(run_wget(*flags, "-c", server.url(UNICODE_NAME), home=home, cwd=layout.clients))
    assert not sent(res, "RETR"), res.transcript()
    assert file_sha256(part) == sha256(data), res.transcript()
