"""What packages install (docs/packaging.md), checked with the real tools.

- The systemd unit and its --system-users drop-in pass ``systemd-analyze
  verify`` without a warning, with ExecStart pointing at the binary under
  test and the man page its Documentation= names generated into a MANPATH.
- The man page renders with ``man`` and no groff warning.
- The bash completion script, sourced into bash, completes flags.
- The example config (packaging/ferroftpd.toml) is accepted by
  ``ferroftpd --config`` as it is, and the server then serves.

The sd_notify protocol itself is tested from Rust
(crates/cli/tests/notify.rs); the example config's freshness too
(crates/cli/src/generate.rs).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support import REPO_ROOT, ferroftpd_bin, ftp_session, run

PACKAGING = REPO_ROOT / "packaging"
UNIT = PACKAGING / "systemd" / "ferroftpd.service"
DROP_IN = PACKAGING / "systemd" / "system-users.conf"
EXAMPLE_CONFIG = PACKAGING / "ferroftpd.toml"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (scripts/test installs it)"
    return path


def generate(*what: str) -> str:
    res = run([str(ferroftpd_bin()), "generate", *what])
    assert res.returncode == 0 and not res.stderr, res.transcript()
    return res.stdout.decode()


def man_dir(base: Path) -> Path:
    """A MANPATH holding the generated ferroftpd(1)."""
    (base / "man" / "man1").mkdir(parents=True)
    (base / "man" / "man1" / "ferroftpd.1").write_text(generate("man"))
    return base / "man"


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


def test_man_page_renders_without_warnings(tmp_path):
    page = man_dir(tmp_path) / "man1" / "ferroftpd.1"
    res = run([tool("man"), "--warnings", "-l", str(page)], env={"MANPAGER": "cat", "MANWIDTH": "100"})
    assert res.returncode == 0, res.transcript()
    assert not res.stderr.strip(), res.transcript()
    out = res.out
    for text in ("--max-cons", "--no-tls", "FERROFTPD_PORT", "--config"):
        assert text in out, f"{text} not in the man page"


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
