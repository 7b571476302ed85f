"""curl (subprocess) against the real ferroftpd binary.

Every assertion message carries curl's ``--verbose`` transcript, which shows
each FTP command (``> ``) and reply (``< ``).
"""

from __future__ import annotations

import re

import pytest

from support import (
    BIG_SIZE,
    SECRET,
    UNICODE_DIR,
    UNICODE_NAME,
    file_sha256,
    random_bytes,
    run_curl,
    sha256,
)

pytestmark = pytest.mark.curl

# curl exit codes used below
CURL_LOGIN_DENIED = 67
CURL_QUOTE_ERROR = 21


def ok(res):
    assert res.returncode == 0, res.transcript()
    return res


def failed(res, *codes):
    assert res.returncode != 0, "curl unexpectedly succeeded\n" + res.transcript()
    if codes:
        assert res.returncode in codes, res.transcript()
    return res


def sent(res, command: str) -> bool:
    """True if curl sent ``command`` (e.g. 'EPSV') on the control connection."""
    return any(line.startswith(f"> {command}") for line in res.stderr.splitlines())


def replied(res, code: str) -> bool:
    return any(line.startswith(f"< {code}") for line in res.stderr.splitlines())


# --------------------------------------------------------------------------
# login and listing
# --------------------------------------------------------------------------


def test_list_and_nlst(server):
    (server.root / UNICODE_NAME).write_bytes(b"x" * 77)
    (server.root / UNICODE_DIR).mkdir()
    res = ok(run_curl(server.url("")))
    assert sent(res, "USER user") and replied(res, "331") and replied(res, "230"), res.transcript()
    lines = res.out.splitlines()
    assert any(line.endswith(" " + UNICODE_NAME) and " 77 " in line for line in lines), res.transcript()
    assert any(line.startswith("d") and line.endswith(" " + UNICODE_DIR) for line in lines), res.transcript()

    res = ok(run_curl("--list-only", server.url("")))
    names = set(res.out.splitlines())
    assert {UNICODE_NAME, UNICODE_DIR, "root-marker.txt"} <= names, res.transcript()


def test_list_subdirectory(server):
    (server.root / UNICODE_DIR).mkdir()
    (server.root / UNICODE_DIR / "inner file.txt").write_bytes(b"i")
    res = ok(run_curl("--list-only", server.url(UNICODE_DIR + "/")))
    assert res.out.splitlines() == ["inner file.txt"], res.transcript()


def test_wrong_password_is_login_denied(server):
    res = failed(run_curl(server.url("", password="wrong")), CURL_LOGIN_DENIED)
    assert replied(res, "530"), res.transcript()
    res = failed(run_curl(server.url("", user="nobody", password="x")), CURL_LOGIN_DENIED)


# --------------------------------------------------------------------------
# transfers, in each data-connection mode
# --------------------------------------------------------------------------

MODES = {
    "epsv": ([], "EPSV", "229"),
    "pasv": (["--ftp-pasv", "--disable-epsv"], "PASV", "227"),
    "eprt": (["--ftp-port", "127.0.0.1"], "EPRT", "200"),
    "port": (["--ftp-port", "127.0.0.1", "--disable-eprt"], "PORT", "200"),
    "port-dash": (["-P", "-", "--disable-eprt"], "PORT", "200"),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_upload_download_big_file(server, layout, mode):
    flags, command, code = MODES[mode]
    data = random_bytes(BIG_SIZE, seed=11)
    src = layout.clients / "big.bin"
    src.write_bytes(data)

    res = ok(run_curl(*flags, "-T", str(src), server.url("big.bin")))
    assert sent(res, command) and replied(res, code), res.transcript()
    assert sha256((server.root / "big.bin").read_bytes()) == sha256(data), res.transcript()

    dst = layout.clients / "big.out"
    res = ok(run_curl(*flags, "-o", str(dst), server.url("big.bin")))
    assert sent(res, command), res.transcript()
    assert file_sha256(dst) == sha256(data), res.transcript()


def test_unicode_names_upload_download(server, layout):
    src = layout.clients / "src.txt"
    src.write_bytes("données été\n".encode())
    ok(run_curl("--ftp-create-dirs", "-T", str(src), server.url(f"{UNICODE_DIR}/{UNICODE_NAME}")))
    assert (server.root / UNICODE_DIR / UNICODE_NAME).read_bytes() == "données été\n".encode()
    dst = layout.clients / "dst.txt"
    ok(run_curl("-o", str(dst), server.url(f"{UNICODE_DIR}/{UNICODE_NAME}")))
    assert dst.read_bytes() == "données été\n".encode()


def test_ftp_create_dirs_nested(server, layout):
    src = layout.clients / "f.txt"
    src.write_bytes(b"deep")
    ok(run_curl("--ftp-create-dirs", "-T", str(src), server.url("a/b c/d/f.txt")))
    assert (server.root / "a" / "b c" / "d" / "f.txt").read_bytes() == b"deep"


def test_ftp_method_nocwd_and_singlecwd(server, layout):
    (server.root / "x").mkdir()
    (server.root / "x" / "y").mkdir()
    (server.root / "x" / "y" / "z.txt").write_bytes(b"zzz")
    for method in ("nocwd", "singlecwd", "multicwd"):
        res = ok(run_curl("--ftp-method", method, server.url("x/y/z.txt")))
        assert res.stdout == b"zzz", res.transcript()


def test_download_missing_file_fails(server):
    res = failed(run_curl(server.url("missing.txt")), 78)
    assert replied(res, "550"), res.transcript()


def test_resume_download(server, layout):
    data = random_bytes(2_000_000, seed=12)
    (server.root / "r.bin").write_bytes(data)
    part = layout.clients / "r.bin"
    part.write_bytes(data[:777_777])
    res = ok(run_curl("-C", "-", "-o", str(part), server.url("r.bin")))
    assert sent(res, "REST 777777") and replied(res, "350"), res.transcript()
    assert file_sha256(part) == sha256(data), res.transcript()


def test_resume_upload(server, layout):
    data = random_bytes(2_000_000, seed=13)
    (server.root / "u.bin").write_bytes(data[:555_555])
    src = layout.clients / "u.bin"
    src.write_bytes(data)
    res = ok(run_curl("-C", "-", "-T", str(src), server.url("u.bin")))
    assert sent(res, "APPE") or sent(res, "REST"), res.transcript()
    assert sha256((server.root / "u.bin").read_bytes()) == sha256(data), res.transcript()


def test_append_flag(server, layout):
    (server.root / "log.txt").write_bytes(b"one\n")
    src = layout.clients / "more.txt"
    src.write_bytes(b"two\n")
    res = ok(run_curl("--append", "-T", str(src), server.url("log.txt")))
    assert sent(res, "APPE"), res.transcript()
    assert (server.root / "log.txt").read_bytes() == b"one\ntwo\n"


# --------------------------------------------------------------------------
# ASCII
# --------------------------------------------------------------------------


def received_bytes(res) -> int:
    """Bytes curl received on the data connection, from its verbose '{ [N bytes data]' lines."""
    return sum(int(n) for n in re.findall(r"^\{ \[(\d+) bytes data\]", res.stderr, re.M))


def test_ascii_download_use_ascii(server, layout):
    # curl turns the CRLF it receives in ASCII mode back into LF locally, so the
    # wire format is checked through the byte count: "a\r\nb\r\n" is 6 bytes.
    (server.root / "lf.txt").write_bytes(b"a\nb\n")
    res = ok(run_curl("-B", server.url("lf.txt")))
    assert sent(res, "TYPE A"), res.transcript()
    assert received_bytes(res) == 6, res.transcript()
    assert res.stdout == b"a\nb\n", res.transcript()
    # ;type=a in the URL does the same
    res = ok(run_curl(server.url("lf.txt") + ";type=a"))
    assert sent(res, "TYPE A"), res.transcript()
    assert received_bytes(res) == 6, res.transcript()
    # and binary leaves it alone
    res = ok(run_curl(server.url("lf.txt")))
    assert sent(res, "TYPE I"), res.transcript()
    assert received_bytes(res) == 4 and res.stdout == b"a\nb\n", res.transcript()


def sent_bytes(res) -> int:
    """Bytes curl sent on the data connection, from its verbose '} [N bytes data]' lines."""
    return sum(int(n) for n in re.findall(r"^\} \[(\d+) bytes data\]", res.stderr, re.M))


@pytest.mark.parametrize("local", [b"a\nb\n", b"a\r\nb\r\n"], ids=["lf", "crlf"])
def test_ascii_upload_use_ascii(server, layout, local):
    # In ASCII mode curl sends every LF as CRLF (so a local CRLF goes out as
    # CR CR LF); the server turns each CRLF back into LF.
    src = layout.clients / "up.txt"
    src.write_bytes(local)
    res = ok(run_curl("-B", "-T", str(src), server.url(UNICODE_NAME)))
    assert sent(res, "TYPE A"), res.transcript()
    wire = local.replace(b"\n", b"\r\n")
    assert sent_bytes(res) == len(wire), res.transcript()
    stored = wire.replace(b"\r\n", b"\n")
    assert (server.root / UNICODE_NAME).read_bytes() == stored, res.transcript()


# --------------------------------------------------------------------------
# quote: rename, delete, mkdir, rmdir
# --------------------------------------------------------------------------


def test_quote_rename_delete_mkdir_rmdir(server):
    (server.root / "old name.txt").write_bytes(b"r")
    (server.root / "gone.txt").write_bytes(b"d")
    (server.root / "empty-dir").mkdir()
    res = ok(run_curl(
        "-Q", "RNFR old name.txt", "-Q", f"RNTO {UNICODE_NAME}",
        "-Q", f"MKD {UNICODE_DIR}",
        "-Q", "RMD empty-dir",
        "-Q", "-DELE gone.txt",
        "--list-only", server.url(""),
    ))
    assert replied(res, "350") and replied(res, "250") and replied(res, "257"), res.transcript()
    assert not (server.root / "old name.txt").exists()
    assert (server.root / UNICODE_NAME).read_bytes() == b"r"
    assert (server.root / UNICODE_DIR).is_dir()
    assert not (server.root / "empty-dir").exists()
    assert not (server.root / "gone.txt").exists()
    # the listing was taken before the post-transfer DELE
    assert "gone.txt" in res.out.splitlines(), res.transcript()


def test_quote_failure_is_reported(server):
    res = failed(run_curl("-Q", "DELE does-not-exist", server.url("")), CURL_QUOTE_ERROR)
    assert replied(res, "550"), res.transcript()
    res = failed(run_curl("-Q", "RMD does-not-exist", server.url("")), CURL_QUOTE_ERROR)
    assert replied(res, "550"), res.transcript()


# --------------------------------------------------------------------------
# anonymous
# --------------------------------------------------------------------------


def test_anonymous_read(server):
    (server.root / UNICODE_NAME).write_bytes(b"public")
    res = ok(run_curl(server.url(UNICODE_NAME, user=None)))
    assert sent(res, "USER anonymous"), res.transcript()
    assert res.stdout == b"public"


def test_anonymous_write_refused(server, layout):
    (server.root / "keep.txt").write_bytes(b"keep")
    src = layout.clients / "f.txt"
    src.write_bytes(b"evil")
    res = failed(run_curl("-T", str(src), server.url("new.txt", user=None)))
    assert replied(res, "550") or replied(res, "553"), res.transcript()
    res = failed(run_curl("-T", str(src), server.url("keep.txt", user=None)))
    res = failed(run_curl("--ftp-create-dirs", "-T", str(src), server.url("d/new.txt", user=None)))
    res = failed(run_curl("-Q", "MKD newdir", server.url("", user=None)), CURL_QUOTE_ERROR)
    assert replied(res, "550") or replied(res, "553"), res.transcript()
    res = failed(run_curl("-Q", "DELE keep.txt", server.url("", user=None)), CURL_QUOTE_ERROR)
    res = failed(run_curl("-Q", "RNFR keep.txt", "-Q", "RNTO x.txt", server.url("", user=None)),
                 CURL_QUOTE_ERROR)
    assert not (server.root / "new.txt").exists()
    assert not (server.root / "newdir").exists()
    assert not (server.root / "d").exists()
    assert not (server.root / "x.txt").exists()
    assert (server.root / "keep.txt").read_bytes() == b"keep"


# --------------------------------------------------------------------------
# confinement
# --------------------------------------------------------------------------


def no_secret(res):
    assert SECRET.strip() not in res.stdout, "secret leaked!\n" + res.transcript()
    assert b"secret.txt" not in res.stdout, "outside dir listed!\n" + res.transcript()


def test_traversal_refused(server, layout):
    for path in ("../outside.txt", "../../outside.txt", "sub/../../outside.txt"):
        res = run_curl("--path-as-is", server.url("") + path)
        failed(res)
        no_secret(res)
    for method in ("nocwd", "multicwd"):
        res = run_curl("--ftp-method", method, server.url("") + "%2F" + str(layout.outside_file).lstrip("/"))
        failed(res)
        no_secret(res)
        res = run_curl("--ftp-method", method, server.url("") + "%2Fetc/passwd")
        failed(res)
        assert b"root:" not in res.stdout, res.transcript()

    # the absolute path resolves inside the root
    (server.root / "etc").mkdir()
    (server.root / "etc" / "passwd").write_bytes(b"fake passwd\n")
    res = ok(run_curl("--ftp-method", "nocwd", server.url("") + "%2Fetc/passwd"))
    assert res.stdout == b"fake passwd\n", res.transcript()

    # listing "../.." shows the root itself (or is refused)
    res = run_curl("--path-as-is", "--list-only", server.url("") + "../../")
    no_secret(res)
    if res.returncode == 0:
        assert "outside.txt" not in res.out.splitlines(), res.transcript()

    # uploads that try to climb out
    src = layout.clients / "f.txt"
    src.write_bytes(b"escape")
    run_curl("--path-as-is", "-T", str(src), server.url("") + "../escape.txt")
    assert not (layout.base / "escape.txt").exists()
    assert layout.outside_file.read_bytes() == SECRET


def test_symlinks_outside_refused(server, layout):
    (server.root / "link_file").symlink_to(layout.outside_file)
    (server.root / "link_dir").symlink_to(layout.outside_dir)
    for path in ("link_file", "link_dir/secret.txt"):
        res = failed(run_curl(server.url(path)))
        no_secret(res)
    res = run_curl(server.url("link_dir/"))
    no_secret(res)
    res = run_curl("--list-only", server.url("link_dir/"))
    no_secret(res)

    src = layout.clients / "f.txt"
    src.write_bytes(b"overwrite")
    # STOR onto a link replaces the link itself with a file inside the root
    ok(run_curl("-T", str(src), server.url("link_file")))
    assert not (server.root / "link_file").is_symlink()
    failed(run_curl("-T", str(src), server.url("link_dir/new.txt")))
    failed(run_curl("-Q", "DELE link_dir/secret.txt", server.url("")))
    failed(run_curl("-Q", "MKD link_dir/sub", server.url("")))
    assert layout.outside_file.read_bytes() == SECRET
    assert sorted(p.name for p in layout.outside_dir.iterdir()) == ["secret.txt"]
