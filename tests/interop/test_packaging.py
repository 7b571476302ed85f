"""What packages install (docs/packaging.md), checked with the real tools.

- The systemd unit and its --system-users drop-in pass ``systemd-analyze
  verify`` without a warning, with ExecStart pointing at the binary under
  test and the man page its Documentation= names generated into a MANPATH.
- The man page renders with ``man`` and no groff warning.
- The bash completion script, sourced into bash, completes flags.
- The example config (packaging/ferroftpd.toml) is accepted by
  ``ferroftpd --config`` as it is, and the server then serves.
- The Docker image's health check script passes against a running server,
  and fails against a stopped one or a port that is not FTP (the image
  itself is built and run by packaging/docker/test-image, which needs a
  Docker daemon).
- The unit's CapabilityBoundingSet and NoNewPrivileges, applied with
  ``setpriv``, are enough for --system-users and a port below 1024, and
  CAP_SETUID is needed (as root only: accounts are made with useradd).

The sd_notify protocol itself is tested from Rust
(crates/cli/tests/notify.rs); the example config's freshness too
(crates/cli/src/generate.rs).
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
from pathlib import Path

import pytest

from support import REPO_ROOT, Server, ferroftpd_bin, ftp_session, run, run_curl
# Real accounts (useradd), removed afterwards.
from test_system_users import accounts  # noqa: F401 (a fixture)

PACKAGING = REPO_ROOT / "packaging"
UNIT = PACKAGING / "systemd" / "ferroftpd.service"
DROP_IN = PACKAGING / "systemd" / "system-users.conf"
EXAMPLE_CONFIG = PACKAGING / "ferroftpd.toml"
HEALTHCHECK = PACKAGING / "docker" / "healthcheck"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (scripts/test installs it)"
    return path


def generate(*what: str) -> str:
    res = run([str(ferroftpd_bin()), "generate", *what])
    assert res.returncode == 0 and not res.stderr, res.transcript()
    return res.stdout.decode()


def man_dir(base: Path) -> Path:
    """A MANPATH holding the generated ferroftpd(1) and the pages of its
    subcommands, ferroftpd-hash-password(1) and the rest."""
    (base / "man" / "man1").mkdir(parents=True)
    (base / "man" / "man1" / "ferroftpd.1").write_text(generate("man"))
    for sub in SUBCOMMAND_PAGES:
        (base / "man" / "man1" / f"ferroftpd-{sub}.1").write_text(generate("man", sub))
    return base / "man"


SUBCOMMAND_PAGES = ("hash-password", "who", "top", "kick", "ban", "unban")


def unit_settings(text: str) -> dict[str, list[str]]:
    """The unit's ``Key=value`` lines, by key (a key may repeat)."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_has_the_promised_settings():
    s = unit_settings(UNIT.read_text())
    assert s["Type"] == ["notify"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["NoNewPrivileges"] == ["yes"]
    assert s["ProtectSystem"] == ["strict"]
    assert s["PrivateTmp"] == ["yes"]
    assert s["ReadWritePaths"], "ProtectSystem=strict needs somewhere to write"
    # The exact set docs/packaging.md explains: binding ports below 1024,
    # and --system-users acting as each user.
    assert s["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID"]
    assert s["ExecStart"] == ["/usr/bin/ferroftpd --config /etc/ferroftpd/ferroftpd.toml"]


def test_unit_and_drop_in_pass_systemd_analyze_verify(tmp_path):
    unit_dir = tmp_path / "units"
    (unit_dir / "ferroftpd.service.d").mkdir(parents=True)
    text = UNIT.read_text().replace("/usr/bin/ferroftpd", str(ferroftpd_bin()))
    assert str(ferroftpd_bin()) in text
    (unit_dir / "ferroftpd.service").write_text(text)
    shutil.copy(DROP_IN, unit_dir / "ferroftpd.service.d" / DROP_IN.name)
    res = run(
        [tool("systemd-analyze"), "verify", str(unit_dir / "ferroftpd.service")],
        env={
            "MANPATH": str(man_dir(tmp_path)),
            # The directory, then the system's units (the trailing colon).
            "SYSTEMD_UNIT_PATH": f"{unit_dir}:",
        },
        timeout=120,
    )
    # verify exits 0 on unknown keys and bad values: it only warns.
    assert res.returncode == 0 and not res.stderr.strip(), res.transcript()


def test_systemd_analyze_verify_catches_a_bad_key(tmp_path):
    """The check above can fail: a misspelt key is reported."""
    text = UNIT.read_text().replace("/usr/bin/ferroftpd", str(ferroftpd_bin()))
    (tmp_path / "ferroftpd.service").write_text(text.replace("PrivateTmp=", "PrivateTemp="))
    res = run([tool("systemd-analyze"), "verify", str(tmp_path / "ferroftpd.service")],
              env={"MANPATH": str(man_dir(tmp_path))}, timeout=120)
    assert "Unknown key" in res.stderr and "PrivateTemp" in res.stderr, res.transcript()


@pytest.mark.parametrize("page, texts", [
    ("ferroftpd", ["--max-cons", "Turn --tls off", "FERROFTPD_PORT", "ferroftpd-hash-password(1)"]),
    ("ferroftpd-hash-password", ["ferroftpd hash-password [--scheme]", "argon2id"]),
    ("ferroftpd-who", ["--admin-address", "--admin-token-file", "--json"]),
    ("ferroftpd-top", ["--interval", "--once"]),
    ("ferroftpd-kick", ["421", "<ID>"]),
    ("ferroftpd-ban", ["--duration", "--keep-sessions", "<ADDRESS>"]),
    ("ferroftpd-unban", ["<ADDRESS>"]),
])
def test_man_pages_render_without_warnings(tmp_path, page, texts):
    res = run([tool("man"), "--warnings", page],
              env={"MANPATH": str(man_dir(tmp_path)), "MANPAGER": "cat", "MANWIDTH": "100"})
    assert res.returncode == 0, res.transcript()
    assert not res.stderr.strip(), res.transcript()
    for text in texts:
        assert text in res.out, f"{text!r} not in {page}(1)"
    # Pages exist only for what can be run.
    assert "ferroftpd-help" not in res.out and "ferroftpd-generate" not in res.out


def test_man_page_of_an_unknown_subcommand_is_refused():
    res = run([str(ferroftpd_bin()), "generate", "man", "nope"])
    assert res.returncode == 1, res.transcript()
    assert res.stderr.strip() == ('ferroftpd: error: generate man: no subcommand "nope" '
                                  'with a page (there are: hash-password, who, top, kick, ban, unban)'), res.transcript()


@pytest.mark.parametrize("partial, expected", [
    ("--max-co", {"--max-cons", "--max-cons-per-ip"}),
    ("--tls-sel", {"--tls-self-signed"}),
])
def test_bash_completion_completes_flags(tmp_path, partial, expected):
    script = tmp_path / "ferroftpd.bash"
    script.write_text(generate("completions", "bash"))
    res = run([tool("bash"), "--norc", "-c", f"""
        source {script}
        COMP_WORDS=(ferroftpd {partial}); COMP_CWORD=1; COMP_LINE="ferroftpd {partial}"
        COMP_POINT=${{#COMP_LINE}}
        _ferroftpd ferroftpd {partial} ferroftpd
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """])
    assert res.returncode == 0, res.transcript()
    assert set(res.out.split()) == expected, res.transcript()


@pytest.mark.parametrize("shell", ["zsh", "fish", "elvish", "powershell"])
def test_completions_for_other_shells_name_the_flags(shell):
    assert "max-cons-per-ip" in generate("completions", shell)


def test_example_config_is_accepted_as_it_is(start_server):
    # -i, -p and -d on the command line win over the file's defaults.
    srv = start_server("--config", str(EXAMPLE_CONFIG))
    assert f"--config {EXAMPLE_CONFIG}" in srv.command
    with ftp_session(srv, user="anonymous", password="guest") as ftp:
        assert "root-marker.txt" in ftp.nlst()
        assert ftp.voidcmd("NOOP").startswith("200")


def test_a_bad_generate_request_is_a_usage_error():
    res = run([str(ferroftpd_bin()), "generate", "completions", "tcsh"])
    assert res.returncode == 2, res.transcript()
    assert "tcsh" in res.stderr and "bash" in res.stderr, res.transcript()


def healthcheck(port: int) -> int:
    return run([str(HEALTHCHECK)], env={"FERROFTPD_PORT": str(port)}, timeout=30).returncode


def test_docker_healthcheck_passes_while_the_server_serves(start_server):
    srv = start_server("--anonymous")
    assert healthcheck(srv.port) == 0
    assert "NOOP" in srv.log
    port = srv.port
    srv.stop()
    assert healthcheck(port) == 1


def test_docker_healthcheck_fails_on_a_port_that_is_not_ftp():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        # Accepted by the kernel, never greeted: the 5 s read times out.
        assert healthcheck(silent.getsockname()[1]) == 1


def unit_capabilities() -> list[str]:
    return unit_settings(UNIT.read_text())["CapabilityBoundingSet"][0].split()


def confined(tmp_path: Path, caps: list[str]) -> Path:
    """A wrapper that runs the binary under test as systemd would run the
    unit: no_new_privs, and a bounding set of ``caps`` only (for root,
    every capability of the bounding set is permitted, and no other)."""
    bounding = ",".join(["-all", *(f"+{c.removeprefix('CAP_').lower()}" for c in caps)])
    wrapper = tmp_path / "ferroftpd-confined"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec {tool('setpriv')} --no-new-privs --bounding-set={bounding} --inh-caps=-all "
        f'{shlex.quote(str(ferroftpd_bin()))} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def free_privileged_port() -> int:
    for port in range(990, 600, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 1024")


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: useradd, and --system-users")


@root_only
def test_system_users_work_within_the_units_capabilities(tmp_path, layout, accounts, monkeypatch):
    alice = accounts["alice"]
    monkeypatch.setenv("FERROFTPD_BIN", str(confined(tmp_path, unit_capabilities())))
    port = free_privileged_port()
    srv = Server.start(["--system-users", "--auth-failed-delay", "0", "-i", "127.0.0.1",
                        "-p", str(port)], layout.root, layout.base / "confined.log")
    try:
        assert srv.port == port
        assert "sandbox: landlock" in srv.log, srv.log
        src = layout.clients / "up.txt"
        src.write_bytes(b"uploaded as alice\n")
        res = run_curl("-T", str(src), srv.url("up.txt", user=alice.name, password=alice.password))
        assert res.returncode == 0, res.transcript() + srv.log
        st = (alice.home / "up.txt").stat()
        assert (st.st_uid, st.st_gid) == (alice.pw.pw_uid, alice.pw.pw_gid)
    finally:
        srv.stop()


@root_only
def test_system_users_need_cap_setuid(tmp_path, layout, accounts, monkeypatch):
    alice = accounts["alice"]
    caps = [c for c in unit_capabilities() if c != "CAP_SETUID"]
    monkeypatch.setenv("FERROFTPD_BIN", str(confined(tmp_path, caps)))
    srv = Server.start(["--system-users", "--auth-failed-delay", "0", "-i", "127.0.0.1", "-p", "0"],
                       layout.root, layout.base / "confined.log")
    try:
        with pytest.raises(Exception) as refused:
            with ftp_session(srv, alice.name, alice.password):
                pass
        assert "530 Home directory not available" in str(refused.value)
    finally:
        srv.stop()
