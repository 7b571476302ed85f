"""Python's ftplib (in-process client) against the real ferroftpd binary."""

from __future__ import annotations

import ftplib
import io
import re
import socket

import pytest

from support import (
    BIG_SIZE,
    SECRET,
    UNICODE_DIR,
    UNICODE_NAME,
    expect_refused,
    ftp_session,
    random_bytes,
    raw_transfer,
    retr_bytes,
    sha256,
)

pytestmark = pytest.mark.ftplib

MODES = [pytest.param(True, id="passive"), pytest.param(False, id="active")]


def listing_names(ftp: ftplib.FTP) -> set[str]:
    return {name for name, facts in ftp.mlsd() if facts.get("type", "").lower() not in ("cdir", "pdir")}


# --------------------------------------------------------------------------
# login, listing, pwd/cwd
# --------------------------------------------------------------------------


def test_login_welcome_pwd_and_quit(server):
    with ftp_session(server) as ftp:
        assert ftp.welcome.startswith("220")
        assert ftp.pwd() == "/"
        assert ftp.voidcmd("NOOP").startswith("200")


def test_listing_nlst_mlsd_list_mlst(server):
    root = server.root
    (root / "plain.bin").write_bytes(b"x" * 1234)
    (root / UNICODE_NAME).write_bytes(b"unicode\n")
    (root / "sub dir").mkdir()
    with ftp_session(server) as ftp:
        names = set(ftp.nlst())
        assert {"plain.bin", UNICODE_NAME, "sub dir", "root-marker.txt"} <= {
            n.rsplit("/", 1)[-1] for n in names
        }

        facts = {name: f for name, f in ftp.mlsd()}
        assert facts["plain.bin"]["type"].lower() == "file"
        assert facts["plain.bin"]["size"] == "1234"
        assert facts["sub dir"]["type"].lower() == "dir"
        assert facts[UNICODE_NAME]["type"].lower() == "file"
        assert re.fullmatch(r"\d{14}(\.\d+)?", facts["plain.bin"]["modify"])

        lines: list[str] = []
        ftp.dir(lines.append)
        assert any(line.endswith(" plain.bin") and " 1234 " in line for line in lines), lines
        assert any(line.endswith(" " + UNICODE_NAME) for line in lines), lines
        assert any(line.startswith("d") and line.endswith(" sub dir") for line in lines), lines

        resp = ftp.sendcmd("MLST plain.bin")
        assert resp.startswith("250"), resp
        assert "size=1234;" in resp.lower(), resp
        assert "plain.bin" in resp

        ftp.voidcmd("TYPE I")
        assert ftp.size("plain.bin") == 1234
        mdtm = ftp.sendcmd("MDTM plain.bin")
        assert re.fullmatch(r"213 \d{14}(\.\d+)?", mdtm), mdtm


def test_cwd_pwd_cdup_and_list_subdir(server):
    (server.root / UNICODE_DIR).mkdir()
    (server.root / UNICODE_DIR / "inner.txt").write_bytes(b"inner\n")
    with ftp_session(server) as ftp:
        assert ftp.cwd(UNICODE_DIR).startswith("250")
        assert ftp.pwd() == "/" + UNICODE_DIR
        assert listing_names(ftp) == {"inner.txt"}
        assert retr_bytes(ftp, "inner.txt") == b"inner\n"
        assert ftp.voidcmd("CDUP").startswith(("200", "250"))
        assert ftp.pwd() == "/"
        expect_refused(ftp.cwd, "does-not-exist", codes=(550,))
        expect_refused(ftp.cwd, "root-marker.txt", codes=(550,))
        assert ftp.pwd() == "/"


# --------------------------------------------------------------------------
# transfers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("passive", MODES)
def test_upload_download_big_file(server, passive):
    data = random_bytes(BIG_SIZE, seed=1)
    with ftp_session(server, passive=passive) as ftp:
        resp = ftp.storbinary("STOR big.bin", io.BytesIO(data))
        assert resp.startswith("226"), resp
        on_disk = (server.root / "big.bin").read_bytes()
        assert len(on_disk) == len(data)
        assert sha256(on_disk) == sha256(data)
        got = retr_bytes(ftp, "big.bin")
        assert len(got) == len(data)
        assert sha256(got) == sha256(data)


def test_unicode_name_upload_download_list(server):
    payload = "contenu été\n".encode() * 100
    with ftp_session(server) as ftp:
        assert ftp.storbinary(f"STOR {UNICODE_NAME}", io.BytesIO(payload)).startswith("226")
        assert (server.root / UNICODE_NAME).read_bytes() == payload
        assert UNICODE_NAME in listing_names(ftp)
        assert UNICODE_NAME in ftp.nlst()
        assert retr_bytes(ftp, UNICODE_NAME) == payload
        ftp.voidcmd("TYPE I")
        assert ftp.size(UNICODE_NAME) == len(payload)


def test_overwrite_truncates(server):
    (server.root / "f.txt").write_bytes(b"0123456789" * 100)
    with ftp_session(server) as ftp:
        ftp.storbinary("STOR f.txt", io.BytesIO(b"short"))
    assert (server.root / "f.txt").read_bytes() == b"short"


def test_empty_file_roundtrip(server):
    with ftp_session(server) as ftp:
        ftp.storbinary("STOR empty", io.BytesIO(b""))
        assert (server.root / "empty").read_bytes() == b""
        assert retr_bytes(ftp, "empty") == b""


def test_retr_missing_file_is_550(server):
    with ftp_session(server) as ftp:
        expect_refused(retr_bytes, ftp, "nope.txt", codes=(550,))
        # the session is still usable afterwards
        assert retr_bytes(ftp, "root-marker.txt") == b"inside the root\n"


def test_resume_download_with_rest(server):
    data = random_bytes(1_000_003, seed=2)
    (server.root / "resume.bin").write_bytes(data)
    with ftp_session(server) as ftp:
        for offset in (0, 1, 65536, 999_999, len(data)):
            got = retr_bytes(ftp, "resume.bin", rest=offset)
            assert got == data[offset:], f"REST {offset}: got {len(got)} bytes"


def test_resume_upload_with_rest_stor_and_appe(server):
    data = random_bytes(300_001, seed=3)
    with ftp_session(server) as ftp:
        # REST + STOR: write the tail at the given offset of an existing partial file.
        (server.root / "rest.bin").write_bytes(data[:100_000])
        ftp.voidcmd("TYPE I")
        resp = ftp.sendcmd("REST 100000")
        assert resp.startswith("350"), resp
        raw_transfer(ftp, "STOR rest.bin", data[100_000:])
        assert sha256((server.root / "rest.bin").read_bytes()) == sha256(data)

        # APPE: append the remainder.
        (server.root / "appe.bin").write_bytes(data[:123_456])
        ftp.storbinary("APPE appe.bin", io.BytesIO(data[123_456:]))
        assert sha256((server.root / "appe.bin").read_bytes()) == sha256(data)

        # APPE to a file that does not exist creates it.
        ftp.storbinary("APPE new-appe.bin", io.BytesIO(b"fresh"))
        assert (server.root / "new-appe.bin").read_bytes() == b"fresh"


def test_stou_creates_unique_file(server):
    (server.root / "taken").write_bytes(b"old")
    with ftp_session(server) as ftp:
        ftp.voidcmd("TYPE I")
        conn, _ = ftp.ntransfercmd("STOU")
        conn.sendall(b"unique content")
        conn.close()
        resp = ftp.voidresp()
        assert resp.startswith("226"), resp
    created = [p for p in server.root.iterdir() if p.is_file() and p.read_bytes() == b"unique content"]
    assert len(created) == 1, list(server.root.iterdir())
    assert (server.root / "taken").read_bytes() == b"old"


# --------------------------------------------------------------------------
# ASCII mode
# --------------------------------------------------------------------------


def test_ascii_download_converts_lf_to_crlf(server):
    (server.root / "lf.txt").write_bytes(b"a\nb\n")
    with ftp_session(server) as ftp:
        ftp.voidcmd("TYPE A")
        assert raw_transfer(ftp, "RETR lf.txt") == b"a\r\nb\r\n"
        lines: list[str] = []
        ftp.retrlines("RETR lf.txt", lines.append)
        assert lines == ["a", "b"]
        ftp.voidcmd("TYPE I")
        assert raw_transfer(ftp, "RETR lf.txt") == b"a\nb\n"


@pytest.mark.parametrize("wire", [b"a\r\nb\r\n", b"a\nb\n"], ids=["crlf", "lf"])
def test_ascii_upload_stores_lf(server, wire):
    with ftp_session(server) as ftp:
        ftp.voidcmd("TYPE A")
        raw_transfer(ftp, "STOR up.txt", wire)
    assert (server.root / "up.txt").read_bytes() == b"a\nb\n"


def test_ascii_storlines_retrlines(server):
    with ftp_session(server) as ftp:
        ftp.storlines(f"STOR {UNICODE_NAME}", io.BytesIO("ligne un\nligne été\n".encode()))
        assert (server.root / UNICODE_NAME).read_bytes() == "ligne un\nligne été\n".encode()
        lines: list[str] = []
        ftp.retrlines(f"RETR {UNICODE_NAME}", lines.append)
        assert lines == ["ligne un", "ligne été"]


def test_ascii_large_file_crlf_across_buffer_boundaries(server):
    # Many short lines: CR and LF of some CRLF pairs straddle the server's read buffers.
    text = b"".join(b"line %d %s\n" % (i, b"x" * (i % 37)) for i in range(60_000))
    with ftp_session(server) as ftp:
        ftp.voidcmd("TYPE A")
        raw_transfer(ftp, "STOR ascii-big.txt", text.replace(b"\n", b"\r\n"))
        assert sha256((server.root / "ascii-big.txt").read_bytes()) == sha256(text)
        got = raw_transfer(ftp, "RETR ascii-big.txt")
        assert sha256(got) == sha256(text.replace(b"\n", b"\r\n"))


# --------------------------------------------------------------------------
# rename, delete, mkdir, rmdir
# --------------------------------------------------------------------------


def test_rename_file_and_directory(server):
    (server.root / "old.txt").write_bytes(b"rename me")
    (server.root / "olddir").mkdir()
    with ftp_session(server) as ftp:
        assert ftp.rename("old.txt", UNICODE_NAME).startswith("250")
        assert not (server.root / "old.txt").exists()
        assert (server.root / UNICODE_NAME).read_bytes() == b"rename me"
        assert ftp.rename("olddir", UNICODE_DIR).startswith("250")
        assert (server.root / UNICODE_DIR).is_dir()
        # move into a subdirectory
        ftp.rename(UNICODE_NAME, f"{UNICODE_DIR}/moved.txt")
        assert (server.root / UNICODE_DIR / "moved.txt").read_bytes() == b"rename me"
        # RNFR of a missing file
        expect_refused(ftp.sendcmd, "RNFR missing.txt", codes=(550,))
        # RNTO without RNFR
        expect_refused(ftp.sendcmd, "RNTO x.txt", codes=(503,))


def test_delete_file(server):
    (server.root / UNICODE_NAME).write_bytes(b"bye")
    with ftp_session(server) as ftp:
        assert ftp.delete(UNICODE_NAME).startswith("250")
        assert not (server.root / UNICODE_NAME).exists()
        expect_refused(ftp.delete, UNICODE_NAME, codes=(550,))


def test_mkd_rmd(server):
    with ftp_session(server) as ftp:
        path = ftp.mkd(UNICODE_DIR)
        assert path.endswith(UNICODE_DIR)
        assert (server.root / UNICODE_DIR).is_dir()
        expect_refused(ftp.mkd, UNICODE_DIR, codes=(5,))
        ftp.mkd(f"{UNICODE_DIR}/nested")
        assert (server.root / UNICODE_DIR / "nested").is_dir()
        # a non-empty directory cannot be removed with RMD
        expect_refused(ftp.rmd, UNICODE_DIR, codes=(5,))
        assert ftp.rmd(f"{UNICODE_DIR}/nested").startswith("250")
        assert ftp.rmd(UNICODE_DIR).startswith("250")
        assert not (server.root / UNICODE_DIR).exists()
        expect_refused(ftp.rmd, "never-existed", codes=(550,))


# --------------------------------------------------------------------------
# passive / active variants on the wire
# --------------------------------------------------------------------------


def _connect_epsv(ftp: ftplib.FTP) -> socket.socket:
    resp = ftp.sendcmd("EPSV")
    assert resp.startswith("229"), resp
    m = re.search(r"\(\|\|\|(\d+)\|\)", resp)
    assert m, resp
    return socket.create_connection((ftp.host, int(m.group(1))), timeout=10)


def test_epsv_retr(server):
    (server.root / "e.bin").write_bytes(b"epsv data" * 1000)
    with ftp_session(server) as ftp:
        ftp.voidcmd("TYPE I")
        data_sock = _connect_epsv(ftp)
        with data_sock:
            resp = ftp.sendcmd("RETR e.bin")
            assert resp.startswith(("125", "150")), resp
            chunks = []
            while chunk := data_sock.recv(65536):
                chunks.append(chunk)
        assert ftp.voidresp().startswith("226")
        assert b"".join(chunks) == b"epsv data" * 1000


def test_eprt_and_port_active(server):
    (server.root / "a.bin").write_bytes(b"active data" * 1000)
    with ftp_session(server) as ftp:
        ftp.voidcmd("TYPE I")
        for kind in ("EPRT", "PORT"):
            with socket.create_server(("127.0.0.1", 0)) as listener:
                listener.settimeout(10)
                port = listener.getsockname()[1]
                if kind == "EPRT":
                    resp = ftp.sendcmd(f"EPRT |1|127.0.0.1|{port}|")
                else:
                    resp = ftp.sendcmd("PORT 127,0,0,1,%d,%d" % (port >> 8, port & 255))
                assert resp.startswith("200"), resp
                resp = ftp.sendcmd("RETR a.bin")
                assert resp.startswith(("125", "150")), resp
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(10)
                    chunks = []
                    while chunk := conn.recv(65536):
                        chunks.append(chunk)
            assert ftp.voidresp().startswith("226")
            assert b"".join(chunks) == b"active data" * 1000, kind


def test_port_to_foreign_address_refused(server):
    with ftp_session(server) as ftp:
        # 127.0.0.2 is not the client's address: without
        # --permit-foreign-addresses this must be refused (FXP/bounce protection).
        expect_refused(ftp.sendcmd, "PORT 127,0,0,2,200,10", codes=(5,))
        expect_refused(ftp.sendcmd, "EPRT |1|127.0.0.2|51210|", codes=(5,))


# --------------------------------------------------------------------------
# anonymous
# --------------------------------------------------------------------------


def test_anonymous_can_read(server):
    (server.root / UNICODE_NAME).write_bytes(b"public")
    with ftp_session(server, user="anonymous", password="guest@example.com") as ftp:
        assert ftp.pwd() == "/"
        assert UNICODE_NAME in listing_names(ftp)
        assert retr_bytes(ftp, UNICODE_NAME) == b"public"


def test_anonymous_refused_on_writes(server):
    (server.root / "keep.txt").write_bytes(b"keep")
    (server.root / "keepdir").mkdir()
    with ftp_session(server, user="anonymous", password="guest@example.com") as ftp:
        expect_refused(ftp.storbinary, "STOR new.txt", io.BytesIO(b"x"), codes=(550, 553))
        expect_refused(ftp.storbinary, f"STOR {UNICODE_NAME}", io.BytesIO(b"x"), codes=(550, 553))
        expect_refused(ftp.storbinary, "STOR keep.txt", io.BytesIO(b"x"), codes=(550, 553))
        expect_refused(ftp.storbinary, "APPE keep.txt", io.BytesIO(b"x"), codes=(550, 553))
        expect_refused(ftp.mkd, "newdir", codes=(550, 553))
        expect_refused(ftp.delete, "keep.txt", codes=(550, 553))
        expect_refused(ftp.rmd, "keepdir", codes=(550, 553))
        expect_refused(ftp.rename, "keep.txt", "renamed.txt", codes=(550, 553))
    assert not (server.root / "new.txt").exists()
    assert not (server.root / UNICODE_NAME).exists()
    assert not (server.root / "newdir").exists()
    assert not (server.root / "renamed.txt").exists()
    assert (server.root / "keep.txt").read_bytes() == b"keep"
    assert (server.root / "keepdir").is_dir()


# --------------------------------------------------------------------------
# confinement to the root
# --------------------------------------------------------------------------


def test_traversal_dotdot_and_absolute(server, layout):
    with ftp_session(server) as ftp:
        expect_refused(retr_bytes, ftp, "../outside.txt", codes=(5,))
        expect_refused(retr_bytes, ftp, "../../outside.txt", codes=(5,))
        expect_refused(retr_bytes, ftp, str(layout.outside_file), codes=(5,))
        expect_refused(retr_bytes, ftp, "/etc/passwd", codes=(550,))

        # CWD above the root either fails or stays at "/"
        try:
            ftp.cwd("../..")
        except ftplib.error_perm:
            pass
        assert ftp.pwd() == "/"
        names = listing_names(ftp)
        assert "root-marker.txt" in names
        assert "outside.txt" not in names and "root" not in names

        # the absolute path is resolved inside the root: create DIR/etc/passwd
        (server.root / "etc").mkdir()
        (server.root / "etc" / "passwd").write_bytes(b"not the real one\n")
        assert retr_bytes(ftp, "/etc/passwd") == b"not the real one\n"
        assert retr_bytes(ftp, "../../../etc/passwd") == b"not the real one\n"

        # writes that try to escape land inside the root or are refused
        for target in ("../escape.txt", "../../escape.txt"):
            try:
                ftp.storbinary(f"STOR {target}", io.BytesIO(b"escape"))
            except ftplib.error_perm:
                pass
        assert not (layout.base / "escape.txt").exists()
        assert not (layout.base.parent / "escape.txt").exists()
        try:
            ftp.mkd("../escaped-dir")
        except ftplib.error_perm:
            pass
        assert not (layout.base / "escaped-dir").exists()
    assert layout.outside_file.read_bytes() == SECRET


def test_symlinks_pointing_outside_are_unusable(server, layout):
    root = server.root
    (root / "link_file").symlink_to(layout.outside_file)
    (root / "link_dir").symlink_to(layout.outside_dir)
    (root / "rel_link").symlink_to("../outside.txt")
    with ftp_session(server) as ftp:
        ftp.voidcmd("TYPE I")
        for name in ("link_file", "rel_link", "link_dir/secret.txt"):
            expect_refused(retr_bytes, ftp, name, codes=(5,))
            expect_refused(ftp.size, name, codes=(5,))
        # listing through the directory link must not reveal its contents
        for cmd in ("NLST", "LIST", "MLSD"):
            try:
                out = raw_transfer(ftp, f"{cmd} link_dir")
            except ftplib.error_perm:
                continue
            assert b"secret.txt" not in out, f"{cmd} link_dir listed the outside directory: {out!r}"
        try:
            resp = ftp.sendcmd("MLST link_dir/secret.txt")
        except ftplib.error_perm:
            pass
        else:
            raise AssertionError(f"MLST through link_dir accepted: {resp}")
        # CWD into it either fails or shows nothing from outside
        try:
            ftp.cwd("link_dir")
        except ftplib.error_perm:
            pass
        else:
            assert "secret.txt" not in ftp.nlst()
            ftp.cwd("/")

        # writes through the links
        expect_refused(ftp.storbinary, "STOR link_dir/new.txt", io.BytesIO(b"x"), codes=(5,))
        expect_refused(ftp.storbinary, "APPE link_file", io.BytesIO(b"x"), codes=(5,))
        # STOR onto a link replaces the link itself with a file inside the root
        ftp.storbinary("STOR link_file", io.BytesIO(b"x"))
        assert not (root / "link_file").is_symlink()
        expect_refused(ftp.mkd, "link_dir/newdir", codes=(5,))
        expect_refused(ftp.delete, "link_dir/secret.txt", codes=(5,))
        expect_refused(ftp.sendcmd, "RNFR link_dir/secret.txt", codes=(5,))
        (root / "mine.txt").write_bytes(b"mine")
        try:
            ftp.rename("mine.txt", "link_dir/stolen.txt")
        except ftplib.error_perm:
            pass
        # deleting the link itself may succeed or not, but never touches its target
        try:
            ftp.delete("link_file")
        except ftplib.error_perm:
            pass

    assert layout.outside_file.read_bytes() == SECRET
    assert sorted(p.name for p in layout.outside_dir.iterdir()) == ["secret.txt"]
    assert (layout.outside_dir / "secret.txt").read_bytes() == SECRET
