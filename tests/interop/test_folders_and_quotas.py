"""One users-file user whose tree is a local home, a shared local folder
and an in-memory scratch folder, with a quota on the home (docs/users.md),
driven with curl, lftp and Python's ftplib."""

from __future__ import annotations

import ftplib
import io
from pathlib import Path

import pytest

from support import ftp_session, random_bytes, retr_bytes, run_curl, run_lftp, tree_digest

USER, PASSWORD = "alice", "alice-pw"
QUOTA = 64 * 1024


@pytest.fixture
def tree(layout):
    home = layout.base / "home"
    shared = layout.base / "shared"
    home.mkdir()
    shared.mkdir()
    (home / "mine.txt").write_bytes(b"home file\n")
    (shared / "team.txt").write_bytes(b"shared file\n")
    users = layout.base / "users.toml"
    users.write_text(f"""
allow_plaintext = true

[[user]]
name = "{USER}"
password = "plain:{PASSWORD}"
home = "{home}"
perms = "elradfmwMT"
quota_bytes = {QUOTA}

[[user.mount]]
path = "/shared"
storage = "{shared}"

[[user.mount]]
path = "/scratch"
storage = "memory"
size = "8M"
""")
    return home, shared, users


@pytest.fixture
def srv(start_server, tree):
    _, _, users = tree
    return start_server("--users", str(users), "--auth-failed-delay", "0", directory=False)


def test_ftplib_sees_one_tree_and_the_quota(srv, tree):
    home, shared, _ = tree
    with ftp_session(srv, USER, PASSWORD) as ftp:
        assert {"mine.txt", "shared", "scratch"} <= set(ftp.nlst("/"))
        assert retr_bytes(ftp, "/shared/team.txt") == b"shared file\n"
        ftp.storbinary("STOR /scratch/notes.txt", io.BytesIO(b"in memory"))
        assert retr_bytes(ftp, "/scratch/notes.txt") == b"in memory"
        assert not any(p.name == "notes.txt" for p in home.rglob("*"))
        ftp.storbinary("STOR fits.bin", io.BytesIO(random_bytes(QUOTA // 2)))
        with pytest.raises(ftplib.error_perm, match="^552"):
            ftp.storbinary("STOR crosses.bin", io.BytesIO(random_bytes(QUOTA)))
        assert not (home / "crosses.bin").exists()
        # Replacing with a crossing upload keeps the old file whole.
        with pytest.raises(ftplib.error_perm, match="^552"):
            ftp.storbinary("STOR mine.txt", io.BytesIO(random_bytes(QUOTA)))
        assert (home / "mine.txt").read_bytes() == b"home file\n"
        # Mounted folders are outside the home's quota.
        ftp.storbinary("STOR /shared/big.bin", io.BytesIO(random_bytes(QUOTA * 2)))
        assert (shared / "big.bin").stat().st_size == QUOTA * 2
        usage = ftp.sendcmd("SITE QUOTA")
        assert f"Bytes: {QUOTA // 2 + 10} of {QUOTA}" in usage, usage
        with pytest.raises(ftplib.error_perm, match="^550 Cannot move across folders"):
            ftp.rename("/shared/team.txt", "/team.txt")


def test_curl_crossing_upload_fails_and_leaves_nothing(srv, tree, layout):
    home, _, _ = tree
    src = layout.clients / "big.bin"
    src.write_bytes(random_bytes(QUOTA + 1))
    url = f"ftp://{srv.url_host}:{srv.port}/big.bin"
    res = run_curl("-sS", "-u", f"{USER}:{PASSWORD}", "-T", str(src), url)
    assert res.returncode != 0, res.transcript()
    assert "552" in res.transcript(), res.transcript()
    assert not (home / "big.bin").exists()
    small = layout.clients / "small.bin"
    small.write_bytes(random_bytes(1000))
    res = run_curl("-sS", "-u", f"{USER}:{PASSWORD}", "-T", str(small),
                   f"ftp://{srv.url_host}:{srv.port}/scratch/small.bin")
    assert res.returncode == 0, res.transcript()
    res = run_curl("-sS", "-u", f"{USER}:{PASSWORD}",
                   f"ftp://{srv.url_host}:{srv.port}/scratch/small.bin")
    assert res.returncode == 0 and res.stdout == small.read_bytes(), res.transcript()


def test_lftp_mirrors_across_folders(srv, tree, layout):
    home, shared, _ = tree
    up = layout.clients / "up"
    (up / "deep").mkdir(parents=True)
    (up / "a.txt").write_bytes(b"alpha\n")
    (up / "deep" / "b.bin").write_bytes(random_bytes(50_000))
    res = run_lftp(srv, f"mirror -R {up} /scratch/up", user=USER, password=PASSWORD)
    assert res.returncode == 0, res.transcript()
    down = layout.clients / "down"
    res = run_lftp(srv, f"mirror / {down}", user=USER, password=PASSWORD)
    assert res.returncode == 0, res.transcript()
    assert (down / "mine.txt").read_bytes() == b"home file\n"
    assert (down / "shared" / "team.txt").read_bytes() == b"shared file\n"
    assert tree_digest(down / "scratch" / "up") == tree_digest(up)
    # The quota holds for lftp too.
    big = layout.clients / "big.bin"
    big.write_bytes(random_bytes(QUOTA + 5))
    res = run_lftp(srv, f"put {big} -o /big.bin", user=USER, password=PASSWORD)
    assert res.returncode != 0, res.transcript()
    assert not (home / "big.bin").exists()
