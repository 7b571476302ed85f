"""Listing rules operators set (vsftpd ``deny_file``/``hide_file``/``hide_ids``,
dot files hidden without ``-a``, bounded ``ls -R``) with real clients: curl,
lftp and Python's ftplib against the real ferroftpd binary.
"""

from __future__ import annotations

import ftplib
import grp
import io
import pwd

import pytest

from conftest import STANDARD_FLAGS
from support import expect_refused, ftp_session, retr_bytes, run_curl, run_lftp

pytestmark = pytest.mark.cli

# curl: "The file does not exist" (RETR refused) and "quote command returned error"
CURL_REMOTE_FILE_NOT_FOUND = 78
CURL_FTP_COULDNT_RETR_FILE = 19


def ok(res):
    assert res.returncode == 0, res.transcript()
    return res


def names_of(listing: str) -> set[str]:
    """The names in LIST lines (the last field; a link's name before ' -> ')."""
    return {line.split(" -> ")[0].rsplit(" ", 1)[-1] for line in listing.splitlines() if line.strip()}


@pytest.fixture
def tree(layout):
    root = layout.root
    (root / "song.mp3").write_bytes(b"music")
    (root / "ok.txt").write_bytes(b"fine\n")
    (root / "old.bak").write_bytes(b"backup\n")
    (root / ".profile").write_bytes(b"dot\n")
    (root / "secret").mkdir()
    (root / "secret" / "key.txt").write_bytes(b"key\n")
    (root / "pub" / "deep" / "deeper").mkdir(parents=True)
    (root / "pub" / "a.txt").write_bytes(b"a\n")
    (root / "pub" / ".hidden").write_bytes(b"h\n")
    (root / "pub" / "deep" / "b.txt").write_bytes(b"b\n")
    (root / "pub" / "deep" / "deeper" / "c.txt").write_bytes(b"c\n")
    return root


def test_deny_file_refuses_every_command_with_ftplib(start_server, tree):
    srv = start_server(*STANDARD_FLAGS, "--deny-file", "*.mp3,secret")
    with ftp_session(srv) as ftp:
        assert set(ftp.nlst()) == {"ok.txt", "old.bak", ".profile", "pub", "root-marker.txt"}
        mlsd = {name for name, _ in ftp.mlsd()}
        assert "song.mp3" not in mlsd and "secret" not in mlsd, mlsd
        for call in (
            lambda: retr_bytes(ftp, "song.mp3"),
            lambda: retr_bytes(ftp, "secret/key.txt"),
            lambda: retr_bytes(ftp, "pub/../song.mp3"),
            lambda: ftp.storbinary("STOR new.mp3", io.BytesIO(b"x")),
            lambda: ftp.storbinary("STOR secret/new.txt", io.BytesIO(b"x")),
            lambda: ftp.delete("song.mp3"),
            lambda: ftp.rename("song.mp3", "song.txt"),
            lambda: ftp.rename("ok.txt", "ok.mp3"),
            lambda: ftp.cwd("secret"),
            lambda: ftp.mkd("other.mp3"),
            lambda: ftp.rmd("secret"),
            lambda: ftp.size("song.mp3"),
            lambda: ftp.sendcmd("MLST secret/key.txt"),
            lambda: ftp.nlst("secret"),
        ):
            expect_refused(call, codes=(550,))
        assert retr_bytes(ftp, "ok.txt") == b"fine\n"
    assert (tree / "song.mp3").read_bytes() == b"music"
    assert not (tree / "new.mp3").exists() and not (tree / "ok.mp3").exists()
    assert [p.name for p in (tree / "secret").iterdir()] == ["key.txt"]


def test_deny_and_hide_with_curl(start_server, tree):
    srv = start_server(*STANDARD_FLAGS, "--deny-file", "{*.mp3,secret}", "--hide-file", "*.bak")
    listing = ok(run_curl("--list-only", srv.url(""))).out.splitlines()
    assert set(listing) == {"ok.txt", ".profile", "pub", "root-marker.txt"}, listing
    # Hidden, not denied: still downloadable by name.
    assert ok(run_curl(srv.url("old.bak"))).stdout == b"backup\n"
    res = run_curl(srv.url("song.mp3"))
    assert res.returncode in (CURL_REMOTE_FILE_NOT_FOUND, CURL_FTP_COULDNT_RETR_FILE), res.transcript()
    assert "< 550" in res.stderr, res.transcript()


def test_owner_names_hidden_from_anonymous_by_default_with_curl(start_server, tree):
    srv = start_server(*STANDARD_FLAGS)
    st = (tree / "ok.txt").stat()
    real = (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name)
    assert real != ("ftp", "ftp")

    def owner_group(user):
        out = ok(run_curl(srv.url("", user=user, password="a@b.c" if user else None))).out
        line = next(line for line in out.splitlines() if line.endswith(" ok.txt"))
        return tuple(line.split()[2:4])

    assert owner_group("anonymous") == ("ftp", "ftp")
    assert owner_group(None) == ("ftp", "ftp")  # curl's own anonymous login
    with ftp_session(srv) as ftp:
        lines = []
        ftp.retrlines("LIST ok.txt", lines.append)
        assert tuple(lines[0].split()[2:4]) == real, lines
    # --hide-ids everyone, with names of our own (proftpd's DirFakeUser/DirFakeGroup).
    srv2 = start_server(*STANDARD_FLAGS, "--hide-ids", "everyone",
                        "--fake-owner", "nobody", "--fake-group", "nogroup")
    with ftp_session(srv2) as ftp:
        lines = []
        ftp.retrlines("LIST ok.txt", lines.append)
        assert tuple(lines[0].split()[2:4]) == ("nobody", "nogroup"), lines
        facts = ftp.sendcmd("MLST ok.txt")
        assert "unix.uid" not in facts and "unix.mode" in facts, facts


def test_lftp_ls_R_and_dot_files(start_server, tree):
    srv = start_server(*STANDARD_FLAGS, "--hide-dotfiles", "--deny-file", "secret")
    res = ok(run_lftp(srv, "cd pub; ls -R"))
    text = res.out
    sections = {}
    for block in text.strip().split("\n\n"):
        heading, _, body = block.partition(":\n")
        sections[heading] = names_of(body)
    assert sections == {
        ".": {"a.txt", "deep"},
        "./deep": {"b.txt", "deeper"},
        "./deep/deeper": {"c.txt"},
    }, res.transcript()
    assert "---> LIST -R" in res.stderr, res.transcript()

    # Dot files: left out unless the client asks with -a.
    assert ".profile" not in names_of(ok(run_lftp(srv, "ls")).out)
    assert ".profile" in names_of(ok(run_lftp(srv, "ls -la")).out)
    assert ".profile" in ok(run_lftp(srv, "nlist -a")).out.splitlines()
    assert ".profile" not in ok(run_lftp(srv, "cls -a")).out.splitlines()  # over MLSD: no -a
    res = ok(run_lftp(srv, "cls -a", settings="set ftp:use-mlsd off; set ftp:list-options -a"))
    assert ".profile" in res.out.splitlines(), res.transcript()
    # By name, a dot file is there.
    assert ok(run_lftp(srv, "cat .profile")).stdout == b"dot\n"
    # ls -R never shows a denied directory.
    assert "secret" not in ok(run_lftp(srv, "ls -laR")).out


def test_ftplib_nlst_R_is_bounded(start_server, tree):
    srv = start_server(*STANDARD_FLAGS, "--max-list-depth", "1")
    with ftp_session(srv) as ftp:
        assert set(ftp.nlst("-R", "pub")) == {"a.txt", ".hidden", "deep", "deep/b.txt", "deep/deeper"}
        assert retr_bytes(ftp, "pub/deep/b.txt") == b"b\n"
    srv = start_server(*STANDARD_FLAGS, "--max-list-entries", "3")
    with ftp_session(srv) as ftp:
        assert len(ftp.nlst("-R", "pub")) == 3
    srv = start_server(*STANDARD_FLAGS, "--max-list-depth", "0")
    with ftp_session(srv) as ftp:
        assert set(ftp.nlst("-R", "pub")) == {"a.txt", ".hidden", "deep"}


def test_bad_patterns_name_their_source(start_server, layout):
    from support import ServerStartError

    with pytest.raises(ServerStartError) as err:
        start_server(*STANDARD_FLAGS, "--deny-file", "a/b")
    assert 'error: --deny-file: "a/b": a pattern matches one name' in str(err.value), err.value


def test_sighup_applies_new_listing_rules_to_new_sessions(start_server, tree, layout):
    import os
    import signal
    import time

    conf = layout.base / "ferroftpd.toml"
    conf.write_text('user = ["user:12345"]\nauth_failed_delay = 0\ndeny_file = ["*.mp3"]\n')
    srv = start_server("--config", str(conf))
    with ftp_session(srv) as old:
        expect_refused(retr_bytes, old, "song.mp3", codes=(550,))
        conf.write_text('user = ["user:12345"]\nauth_failed_delay = 0\n'
                        'deny_file = "*.bak"\nhide_dotfiles = true\n')
        os.kill(srv.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "configuration reloaded" not in srv.log:
            assert time.monotonic() < deadline, srv.log_tail()
            time.sleep(0.05)
        with ftp_session(srv) as new:
            assert retr_bytes(new, "song.mp3") == b"music"
            expect_refused(retr_bytes, new, "old.bak", codes=(550,))
            assert ".profile" not in new.nlst() and ".profile" in new.nlst("-a")
        # The session from before keeps the rules it started with.
        expect_refused(retr_bytes, old, "song.mp3", codes=(550,))
        assert retr_bytes(old, "old.bak") == b"backup\n"
