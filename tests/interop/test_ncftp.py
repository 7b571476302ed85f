"""ncftp (ncftpls, ncftpget, ncftpput and the ncftp shell) against the real
ferroftpd binary.

The one-shot tools run with ``-d FILE``; that debug log (each command as
``Cmd: ...``, each reply as ``NNN: ...``) is part of every assertion message.
The ``ncftp`` shell reads its commands from standard input after ``debug 1``,
which prints the same lines on its stdout. Each test gives the clients a
private HOME (ncftp keeps ~/.ncftp there).
"""

from __future__ import annotations

import re

import pytest

from support import (
    BIG_SIZE,
    UNICODE_DIR,
    UNICODE_NAME,
    client_home,
    file_sha256,
    random_bytes,
    run_ncftp,
    run_ncftp_shell,
    sha256,
    tree_digest,
)

pytestmark = pytest.mark.ncftp

# exit codes shared by ncftpls, ncftpget and ncftpput
NCFTP_CONNECT_FAILED = 1  # login refused counts as "could not connect"
NCFTP_TRANSFER_FAILED = 3


@pytest.fixture
def home(layout):
    return client_home(layout.base)


def ok(res):
    assert res.returncode == 0, res.transcript()
    return res


def failed(res, code=None):
    assert res.returncode != 0, "ncftp unexpectedly succeeded\n" + res.transcript()
    if code is not None:
        assert res.returncode == code, res.transcript()
    return res


def _log(res) -> str:
    return res.stderr + "\n" + res.out


def sent(res, command: str) -> bool:
    """True if the client sent ``command`` (a prefix: 'STOR', 'REST 100')."""
    return re.search(r"(?m)(^|\s)Cmd: " + re.escape(command), _log(res)) is not None


def replied(res, code: str) -> bool:
    return re.search(r"(?m)(^|\s)" + code + r": ", _log(res)) is not None


# --------------------------------------------------------------------------
# login and listings
# --------------------------------------------------------------------------


def test_ncftpls_list_mlsd_and_nlst(server, home):
    root = server.root
    (root / UNICODE_NAME).write_bytes(b"z" * 4321)
    (root / UNICODE_DIR).mkdir()
    (root / UNICODE_DIR / "inner file.txt").write_bytes(b"inner")
    url = server.url("", user=None)

    # -l: LIST
    res = ok(run_ncftp("ncftpls", server, "-l", url, home=home))
    assert sent(res, "USER user") and replied(res, "230") and sent(res, "LIST"), res.transcript()
    lines = res.out.splitlines()
    assert any(line.endswith(" " + UNICODE_NAME) and " 4321 " in line for line in lines), res.transcript()
    assert any(line.startswith("d") and line.endswith(" " + UNICODE_DIR) for line in lines), res.transcript()

    # -x: ls flags for the server (ncftpls drops the "l": LIST is long already)
    res = ok(run_ncftp("ncftpls", server, "-x", "-la", url, home=home))
    assert sent(res, "LIST -a"), res.transcript()
    assert any(line.endswith(" " + UNICODE_NAME) for line in res.out.splitlines()), res.transcript()

    # -m: MLSD, printed as the raw facts
    res = ok(run_ncftp("ncftpls", server, "-m", url, home=home))
    assert sent(res, "MLSD"), res.transcript()
    facts = {}
    for line in res.out.splitlines():
        fact_text, _, name = line.partition("; ")
        facts[name] = dict(f.split("=", 1) for f in fact_text.split(";") if "=" in f)
    assert facts[UNICODE_NAME]["type"] == "file" and facts[UNICODE_NAME]["size"] == "4321", res.transcript()
    assert facts[UNICODE_DIR]["type"] == "dir", res.transcript()

    # the default (columns, -CF) is an NLST with options; names come back one per
    # line when stdout is not a terminal
    res = ok(run_ncftp("ncftpls", server, url, home=home))
    assert sent(res, "NLST -CF"), res.transcript()
    assert {UNICODE_NAME, UNICODE_DIR, "root-marker.txt"} <= set(res.out.splitlines()), res.transcript()

    # a subdirectory: the URL path is percent-encoded UTF-8, sent as CWD
    res = ok(run_ncftp("ncftpls", server, "-l", server.url(UNICODE_DIR + "/", user=None), home=home))
    assert sent(res, f"CWD {UNICODE_DIR}"), res.transcript()
    lines = res.out.splitlines()
    assert len(lines) == 1 and lines[0].endswith(" inner file.txt"), res.transcript()


def test_ncftpls_one_per_line(server, home):
    (server.root / UNICODE_NAME).write_bytes(b"x")
    res = run_ncftp("ncftpls", server, "-1", server.url("", user=None), home=home)
    assert sent(res, "NLST -1"), res.transcript()
    ok(res)
    assert {UNICODE_NAME, "root-marker.txt"} <= set(res.out.splitlines()), res.transcript()


def test_wrong_password_and_missing_file(server, layout, home):
    res = failed(run_ncftp("ncftpls", server, server.url("", user=None), password="wrong", home=home),
                 NCFTP_CONNECT_FAILED)
    assert replied(res, "530"), res.transcript()
    res = failed(run_ncftp("ncftpget", server, server.host, str(layout.clients), "/missing.txt",
                           home=home), NCFTP_TRANSFER_FAILED)
    assert replied(res, "550"), res.transcript()
    assert not (layout.clients / "missing.txt").exists()


def test_anonymous_read_only(server, layout, home):
    (server.root / "pub.txt").write_bytes(b"public")
    res = ok(run_ncftp("ncftpget", server, server.host, str(layout.clients), "/pub.txt",
                       user=None, home=home))
    assert sent(res, "USER anonymous"), res.transcript()
    assert (layout.clients / "pub.txt").read_bytes() == b"public"

    src = layout.clients / "evil.txt"
    src.write_bytes(b"evil")
    res = failed(run_ncftp("ncftpput", server, server.host, "/", str(src), user=None, home=home))
    assert replied(res, "550") or replied(res, "553"), res.transcript()
    assert not (server.root / "evil.txt").exists()


# --------------------------------------------------------------------------
# transfers, passive (-F) and active (-E)
# --------------------------------------------------------------------------

MODES = {"passive": ("-F", "PASV"), "active": ("-E", "PORT")}


@pytest.mark.parametrize("mode", list(MODES))
def test_put_get_big_file(server, layout, home, mode):
    flag, command = MODES[mode]
    data = random_bytes(BIG_SIZE, seed=31)
    src = layout.clients / UNICODE_NAME
    src.write_bytes(data)

    # -m creates the remote directory first
    res = ok(run_ncftp("ncftpput", server, flag, "-m", server.host, "/" + UNICODE_DIR, str(src),
                       home=home))
    assert sent(res, f"MKD /{UNICODE_DIR}") and sent(res, command), res.transcript()
    assert sent(res, "TYPE I") and sent(res, f"STOR {UNICODE_NAME}"), res.transcript()
    assert sha256((server.root / UNICODE_DIR / UNICODE_NAME).read_bytes()) == sha256(data), res.transcript()

    dst = layout.clients / "dl"
    dst.mkdir()
    res = ok(run_ncftp("ncftpget", server, flag, server.host, str(dst), f"/{UNICODE_DIR}/{UNICODE_NAME}",
                       home=home))
    assert sent(res, command) and sent(res, f"RETR /{UNICODE_DIR}/{UNICODE_NAME}"), res.transcript()
    assert file_sha256(dst / UNICODE_NAME) == sha256(data), res.transcript()
    other = {"PASV": "PORT", "PORT": "PASV"}[command]
    assert not sent(res, other), res.transcript()


def test_recursive_put_and_get(server, layout, home):
    tree = layout.clients / "tree"
    (tree / "sub dir" / "deeper").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "a.txt").write_bytes(b"alpha\n")
    (tree / "sub dir" / UNICODE_NAME).write_bytes("été\n".encode())
    (tree / "sub dir" / "deeper" / "big.bin").write_bytes(random_bytes(1_000_000, seed=32))
    (tree / "sub dir" / "deeper" / "zero").write_bytes(b"")

    res = ok(run_ncftp("ncftpput", server, "-R", "-m", server.host, "/remote", str(tree), home=home))
    assert tree_digest(server.root / "remote" / "tree") == tree_digest(tree), res.transcript()

    # -T: no on-the-fly TAR mode (ncftp would first try RETR /remote/tree.tar)
    copy = layout.clients / "copy"
    copy.mkdir()
    res = ok(run_ncftp("ncftpget", server, "-R", "-T", server.host, str(copy), "/remote/tree", home=home))
    assert sent(res, "MLSD"), res.transcript()
    assert tree_digest(copy / "tree") == tree_digest(tree), res.transcript()


# --------------------------------------------------------------------------
# resume
# --------------------------------------------------------------------------


def test_get_resumes_partial_file(server, layout, home):
    data = random_bytes(2_000_000, seed=33)
    (server.root / UNICODE_NAME).write_bytes(data)
    part = layout.clients / UNICODE_NAME
    part.write_bytes(data[:777_777])
    # -z (resume) is ncftpget's default; given here to make it explicit
    res = ok(run_ncftp("ncftpget", server, "-z", server.host, str(layout.clients), "/" + UNICODE_NAME,
                       home=home))
    assert sent(res, "REST 777777") and replied(res, "350"), res.transcript()
    assert file_sha256(part) == sha256(data), res.transcript()


def test_put_resume_sends_rest(server, layout, home):
    data = random_bytes(2_000_000, seed=34)
    src = layout.clients / "u.bin"
    src.write_bytes(data)
    offset = 654_321
    (server.root / "u.bin").write_bytes(data[:offset])
    res = ok(run_ncftp("ncftpput", server, "-z", server.host, "/", str(src), home=home))
    assert sent(res, f"REST {offset}") and replied(res, "350"), res.transcript()
    assert sent(res, "STOR u.bin") and replied(res, "226"), res.transcript()
    stored = (server.root / "u.bin").read_bytes()
    # The server keeps the first `offset` bytes and writes what it receives
    # after them. ncftpput 3.2.6 then sends the *whole* file, not the part after
    # the offset ("Using sendfile for 2000000 bytes" in its log: its sendfile(2)
    # path starts at 0), so the result is partial + whole file. A fixed client
    # sends data[offset:] and the result is the original file.
    assert stored[:offset] == data[:offset], res.transcript()
    assert sha256(stored[offset:]) in (sha256(data[offset:]), sha256(data)), res.transcript()


# --------------------------------------------------------------------------
# rename, delete, mkdir, rmdir
# --------------------------------------------------------------------------


def test_put_with_temporary_suffix_renames(server, layout, home):
    (server.root / UNICODE_NAME).write_bytes(b"old content")
    src = layout.clients / UNICODE_NAME
    src.write_bytes("données neuves\n".encode())
    # -S: upload to NAME.part, then RNFR NAME.part / RNTO NAME
    res = ok(run_ncftp("ncftpput", server, "-S", ".part", server.host, "/", str(src), home=home))
    assert sent(res, f"STOR {UNICODE_NAME}.part"), res.transcript()
    assert sent(res, f"RNFR {UNICODE_NAME}.part") and replied(res, "350"), res.transcript()
    assert sent(res, f"RNTO {UNICODE_NAME}") and replied(res, "250"), res.transcript()
    assert (server.root / UNICODE_NAME).read_bytes() == "données neuves\n".encode()
    assert not (server.root / f"{UNICODE_NAME}.part").exists()


def test_get_then_delete_remote(server, layout, home):
    (server.root / UNICODE_NAME).write_bytes(b"fetch and delete")
    # -DD: delete the remote file after a successful download
    res = ok(run_ncftp("ncftpget", server, "-DD", server.host, str(layout.clients), "/" + UNICODE_NAME,
                       home=home))
    assert sent(res, f"DELE /{UNICODE_NAME}") and replied(res, "250"), res.transcript()
    assert (layout.clients / UNICODE_NAME).read_bytes() == b"fetch and delete"
    assert not (server.root / UNICODE_NAME).exists()


def test_shell_rename_rm_mkdir_rmdir_active(server, home):
    root = server.root
    (root / "old name.txt").write_bytes(b"rename me")
    (root / "gone.txt").write_bytes(b"delete me")
    (root / "empty dir").mkdir()
    res = ok(run_ncftp_shell(server, [
        "set passive off",
        f'mkdir "{UNICODE_DIR}"',
        f'rename "old name.txt" "{UNICODE_DIR}/{UNICODE_NAME}"',
        'rm "gone.txt"',
        'rmdir "empty dir"',
        f'cd "{UNICODE_DIR}"',
        "ls -l",
    ], home=home))
    assert sent(res, f"MKD {UNICODE_DIR}") and replied(res, "257"), res.transcript()
    assert sent(res, "RNFR old name.txt") and sent(res, f"RNTO {UNICODE_DIR}/{UNICODE_NAME}"), res.transcript()
    assert sent(res, "DELE gone.txt") and sent(res, "RMD empty dir"), res.transcript()
    assert sent(res, "PORT") and not sent(res, "PASV"), res.transcript()
    assert UNICODE_NAME in res.out, res.transcript()  # the listing
    assert (root / UNICODE_DIR / UNICODE_NAME).read_bytes() == b"rename me"
    assert not (root / "old name.txt").exists()
    assert not (root / "gone.txt").exists()
    assert not (root / "empty dir").exists()

    # removing what is left, and failures that must leave things alone
    res = ok(run_ncftp_shell(server, [
        f'rmdir "{UNICODE_DIR}"',  # not empty: refused
        'rm "no such file"',
        f'rm "{UNICODE_DIR}/{UNICODE_NAME}"',
        f'rmdir "{UNICODE_DIR}"',
    ], home=home))
    assert replied(res, "550"), res.transcript()
    assert not (root / UNICODE_DIR).exists(), res.transcript()
