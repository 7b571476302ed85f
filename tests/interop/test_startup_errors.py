"""What the real binary says when it cannot start (docs/cli.md, "Errors
at startup"): one line that names where the bad value came from (the
flag, the FERROFTPD_ variable, or the config file and its line) and says
what is wrong, without Rust type names. Certificates and keys are made
here with openssl; the directory and port checks run the server as an
unprivileged user (setpriv, when the tests run as root)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from support import CLIENT_ENV, ferroftpd_bin

pytestmark = pytest.mark.cli

# Loopback, on a port the kernel picks: a server that starts by mistake
# serves nobody until the timeout stops it.
BASE_ARGS = ["-i", "127.0.0.1", "-p", "0"]

# What a message must not show: Rust paths, type and variant names, Debug
# output of values.
RUST_NAMES = re.compile(r"::|Error\b|Some\(|None\b|Mismatch|ParseInt|Utf8|\bOs \{|\bkind:")

NOBODY = 65534

# Exit codes: 2 for options that cannot be read (as clap's own), 1 for
# settings that cannot be served.
USAGE, FAILURE = 2, 1


def run_server(argv: list[str], env: dict[str, str] | None = None, as_uid: int | None = None,
               base: list[str] = BASE_ARGS) -> subprocess.CompletedProcess:
    cmd = [str(ferroftpd_bin()), *base, *argv]
    if as_uid is not None and os.geteuid() == 0:
        cmd = ["setpriv", f"--reuid={as_uid}", f"--regid={as_uid}", "--clear-groups", *cmd]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                              env={**CLIENT_ENV, **(env or {})}, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{argv}: the server started instead of refusing: {e.stderr!r}")


def assert_refused(argv, env, code, expected, as_uid=None, base=BASE_ARGS):
    res = run_server(argv, env, as_uid, base)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == code, (argv, env, res.stderr)
    assert lines == [f"ferroftpd: error: {expected}"], (argv, env, res.stderr)
    assert not RUST_NAMES.search(res.stderr), (argv, env, res.stderr)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def pki(layout) -> Path:
    """A certificate and its key (PEM), the same in DER, the key encrypted
    (PKCS#8 and the older OpenSSL form), and a second key."""
    d = layout.base / "pki"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem",
            "-out", "cert.pem", "-days", "1", "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-in", "cert.pem", "-outform", "der", "-out", "cert.der", cwd=d)
    openssl("pkey", "-in", "key.pem", "-outform", "der", "-out", "key.der", cwd=d)
    openssl("pkcs8", "-topk8", "-in", "key.pem", "-out", "encrypted.pem",
            "-passout", "pass:secret", cwd=d)
    openssl("rsa", "-in", "key.pem", "-aes256", "-traditional", "-out", "legacy.pem",
            "-passout", "pass:secret", cwd=d)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", "other.pem", cwd=d)
    return d


def test_certificate_and_key_files(pki, layout):
    cert, key = pki / "cert.pem", pki / "key.pem"
    config = layout.base / "tls.toml"
    config.write_text(f'tls = true\n\n# the server\'s key\nkeyfile = "{pki / "encrypted.pem"}"\n')
    cases = [
        (["--tls", "--certfile", str(pki / "cert.der"), "--keyfile", str(key)], {},
         f"--certfile: {pki}/cert.der: a DER (binary) certificate; ferroftpd reads PEM: "
         f"convert it with openssl x509 -inform der -in {pki}/cert.der -out {pki}/cert.pem"),
        (["--tls", "--certfile", str(cert), "--keyfile", str(pki / "key.der")], {},
         f"--keyfile: {pki}/key.der: a DER (binary) private key; ferroftpd reads PEM: "
         f"convert it with openssl pkey -inform der -in {pki}/key.der -out {pki}/key.pem"),
        (["--tls", "--certfile", str(cert), "--keyfile", str(pki / "encrypted.pem")], {},
         f"--keyfile: {pki}/encrypted.pem: an encrypted private key; ferroftpd needs it "
         f"unencrypted: openssl pkey -in {pki}/encrypted.pem -out {pki}/encrypted-unencrypted.pem "
         f"(asks for the passphrase; keep {pki}/encrypted-unencrypted.pem mode 0600)"),
        (["--tls", "--certfile", str(cert)], {"FERROFTPD_KEYFILE": str(pki / "legacy.pem")},
         f"FERROFTPD_KEYFILE: {pki}/legacy.pem: an encrypted private key; ferroftpd needs it "
         f"unencrypted: openssl pkey -in {pki}/legacy.pem -out {pki}/legacy-unencrypted.pem "
         f"(asks for the passphrase; keep {pki}/legacy-unencrypted.pem mode 0600)"),
        (["--tls", "--certfile", str(cert), "--keyfile", str(pki / "other.pem")], {},
         f"--keyfile: {pki}/other.pem: this private key does not match the certificate "
         f"of {cert}"),
        (["--tls", "--certfile", str(cert)], {},
         f"--certfile: {cert}: holds a certificate but no private key; expected a PEM "
         "private key (-----BEGIN PRIVATE KEY-----), in this file or a file of its own"),
        (["--tls", "--certfile", str(key), "--keyfile", str(key)], {},
         f"--certfile: {key}: holds a private key but no certificate; expected a PEM "
         "certificate (-----BEGIN CERTIFICATE-----)"),
        (["--tls", "--certfile", str(pki / "none.pem")], {},
         f"--certfile: {pki}/none.pem: cannot read: no such file"),
        (["--config", str(config), "--certfile", str(cert)], {},
         f"{config}:4: keyfile: {pki}/encrypted.pem: an encrypted private key; ferroftpd "
         f"needs it unencrypted: openssl pkey -in {pki}/encrypted.pem -out "
         f"{pki}/encrypted-unencrypted.pem (asks for the passphrase; keep "
         f"{pki}/encrypted-unencrypted.pem mode 0600)"),
    ]
    for argv, env, expected in cases:
        assert_refused(["-d", str(layout.root), *argv], env, FAILURE, expected)


def test_option_values_name_their_source(layout):
    config = layout.base / "bad.toml"
    cases = [
        # (config file text or None, argv, env, exit code, message after the source)
        ("port = 2121\nprot = 21\n", [], {}, USAGE, "2: prot: unknown key; did you mean port?"),
        ("directroy = '/srv'\n", [], {}, USAGE,
         "1: directroy: unknown key; did you mean directory?"),
        ("listen_port = 21\n", [], {}, USAGE,
         "1: listen_port: unknown key (the keys are the long flags with _ for -, "
         "see ferroftpd --help)"),
        ("\nanonymous = 5\n", [], {}, USAGE,
         "2: anonymous: unknown permission letter '5' (expected letters from \"elradfmwMT\")"),
        ("max_cons = 0\n", [], {}, USAGE, '1: max_cons: "0": expected a whole number, 1 or more'),
        ("range = \"5-1\"\n", [], {}, USAGE,
         "1: range: passive port range 5-1: need 1 <= FROM <= TO <= 65535"),
        ("log_prefix = \"{ip} {usr}\"\n", [], {}, USAGE,
         '1: log_prefix: "{ip} {usr}": unknown placeholder {usr}; expected {ip}, {port}, '
         "{user} or {id}"),
        ("# comment\nencoding = \"klingon\"\n", [], {}, FAILURE,
         '2: encoding: unknown encoding "klingon"'),
        ("directory = \"/nonexistent/srv\"\n", [], {}, FAILURE,
         "1: directory: /nonexistent/srv: no such directory"),
        ("user = [\"bob:pw:elr:/nonexistent/bob\"]\n", [], {}, FAILURE,
         "1: user bob: home /nonexistent/bob: no such directory"),
    ]
    for text, argv, env, code, expected in cases:
        config.write_text(text)
        # -d on the command line would hide the file's directory.
        directory = [] if "directory" in text else ["-d", str(layout.root)]
        assert_refused([*directory, "--config", str(config), *argv], env, code,
                       f"{config}:{expected}")
    flag_cases = [
        (["--max-cons", "0"], {}, USAGE, '--max-cons: "0": expected a whole number, 1 or more'),
        ([], {"FERROFTPD_MAX_CONS": "0"}, USAGE,
         'FERROFTPD_MAX_CONS: "0": expected a whole number, 1 or more'),
        (["--data-timeout", "0"], {}, USAGE,
         '--data-timeout: "0": expected 1 to 316224000 seconds'),
        (["--log-prefix", "[{user]"], {}, USAGE,
         "--log-prefix: \"[{user]\": '{' at character 2 is never closed (write {{ for a brace)"),
        (["--anonymous=elrq"], {}, USAGE,
         "--anonymous: invalid value \"elrq\": unknown permission letter 'q' (expected "
         "letters from \"elradfmwMT\")"),
        ([], {"FERROFTPD_ENCODING": "klingon"}, FAILURE,
         'FERROFTPD_ENCODING: unknown encoding "klingon"'),
        ([], {"FERROFTPD_DIRECTORY": str(layout.outside_file)}, FAILURE,
         f"FERROFTPD_DIRECTORY: {layout.outside_file}: not a directory"),
    ]
    for argv, env, code, expected in flag_cases:
        directory = [] if "FERROFTPD_DIRECTORY" in env else ["-d", str(layout.root)]
        assert_refused([*directory, *argv], env, code, expected)


@pytest.fixture
def shared_dir():
    """A directory an unprivileged user can reach (pytest's own is private
    to the user running the tests)."""
    d = Path(tempfile.mkdtemp(prefix="ferroftpd-startup-", dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        for p in d.iterdir():
            p.chmod(0o755)
        shutil.rmtree(d)


def unprivileged_uid() -> int | None:
    """The uid to run the server as so the kernel checks its access: nobody
    when the tests run as root, else the tests' own."""
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        pytest.fail("running as root without setpriv (util-linux): cannot run the server "
                    "as an unprivileged user")
    return NOBODY


def test_served_directories_must_be_readable_and_searchable(shared_dir):
    uid = unprivileged_uid()
    shown_uid = NOBODY if uid is not None else os.geteuid()
    # Modes that refuse the server both as the owner (not root) and as
    # "others" (root's directories, the server as nobody).
    modes = {"open": 0o755, "locked": 0o000, "unlistable": 0o311, "unsearchable": 0o644}
    dirs = {}
    for name, mode in modes.items():
        dirs[name] = shared_dir / name
        dirs[name].mkdir()
        if uid is not None:
            os.chown(dirs[name], 0, 0)
        dirs[name].chmod(mode)
    who = f"ferroftpd, running as uid {shown_uid},"
    cases = [
        (["-d", str(dirs["locked"])], {},
         f"--directory: {dirs['locked']}: permission denied: {who} may not read (list) "
         "or search (open files in) it"),
        ([], {"FERROFTPD_DIRECTORY": str(dirs["unlistable"])},
         f"FERROFTPD_DIRECTORY: {dirs['unlistable']}: permission denied: {who} may not "
         "read (list) it"),
        (["-d", str(dirs["unsearchable"])], {},
         f"--directory: {dirs['unsearchable']}: permission denied: {who} may not search "
         "(open files in) it"),
        (["-d", str(dirs["open"]), "--user", f"bob:pw:elr:{dirs['locked']}/bob"], {},
         f"--user bob: home {dirs['locked']}/bob: permission denied: {who} may not search "
         "a directory above it"),
    ]
    users = shared_dir / "users.toml"
    users.write_text('allow_plaintext = true\n\n[[user]]\nname = "alice"\n'
                     f'password = "plain:pw"\nhome = "{dirs["unsearchable"]}"\n')
    users.chmod(0o644)
    cases.append((["--users", str(users)], {},
                  f"--users: {users}: home or folder {dirs['unsearchable']}: permission denied: "
                  f"{who} may not search (open files in) it"))
    for argv, env, expected in cases:
        res = run_server(argv, env, uid)
        # Startup logs may come first (the users file is loaded and
        # logged before its homes are checked): the error is the last line.
        lines = res.stderr.strip().splitlines()
        assert res.returncode == FAILURE, (argv, env, res.stderr)
        assert lines[-1] == f"ferroftpd: error: {expected}", (argv, env, res.stderr)
        assert not RUST_NAMES.search(lines[-1]), (argv, env, res.stderr)


def test_passive_range_that_cannot_be_bound(shared_dir):
    holders = hold_two_neighbouring_ports()
    try:
        first = holders[0].getsockname()[1]
        assert_refused(["-d", str(shared_dir), "--range", f"{first}-{first + 1}"], {}, FAILURE,
                       f"--range: no port of {first}-{first + 1} can be bound on 127.0.0.1: "
                       "every port of the range is in use")
        config = shared_dir / "range.toml"
        config.write_text(f'range = "{first}-{first + 1}"\n')
        assert_refused(["-d", str(shared_dir), "--config", str(config)], {}, FAILURE,
                       f"{config}:1: range: no port of {first}-{first + 1} can be bound on "
                       "127.0.0.1: every port of the range is in use")
    finally:
        for s in holders:
            s.close()


def test_listening_address_that_cannot_be_bound(shared_dir, layout):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    config = layout.base / "port.toml"
    config.write_text(f"# listen\nport = {port}\n")
    on_loopback, on_port_0 = ["-i", "127.0.0.1"], ["-p", "0"]
    cases = [
        (on_loopback, ["-p", str(port)],
         f"--port: cannot listen on 127.0.0.1:{port}: in use (another server listens there)"),
        (on_loopback, ["--config", str(config)],
         f"{config}:2: port: cannot listen on 127.0.0.1:{port}: in use (another server "
         "listens there)"),
        (BASE_ARGS, ["--metrics-address", f"127.0.0.1:{port}"],
         f"--metrics-address: cannot listen on 127.0.0.1:{port}: in use (another server "
         "listens there)"),
        # TEST-NET-1 (RFC 5737): no host has it.
        (on_port_0, ["-i", "192.0.2.1"],
         "--interface: cannot listen on 192.0.2.1:0: no interface of this host has that "
         "address"),
    ]
    try:
        for base, argv, expected in cases:
            assert_refused(["-d", str(shared_dir), *argv], {}, FAILURE, expected, base=base)
    finally:
        holder.close()


def hold_two_neighbouring_ports() -> list[socket.socket]:
    """Two listening sockets on neighbouring ports of 127.0.0.1."""
    for _ in range(50):
        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        first.listen()
        second = socket.socket()
        try:
            second.bind(("127.0.0.1", first.getsockname()[1] + 1))
            second.listen()
            return [first, second]
        except OSError:
            first.close()
            second.close()
    pytest.fail("could not hold two neighbouring ports on 127.0.0.1")


def test_privileged_passive_range_without_privilege(shared_dir):
    start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    if start <= 100:
        pytest.skip(f"ports from {start} need no privilege on this host")
    uid = unprivileged_uid()
    shown_uid = NOBODY if uid is not None else os.geteuid()
    assert_refused(["-d", str(shared_dir), "--range", "90-100"], {}, FAILURE,
                   "--range: no port of 90-100 can be bound on 127.0.0.1: permission denied: "
                   f"ferroftpd, running as uid {shown_uid}, may not bind ports below 1024 "
                   "(run as root, or give it CAP_NET_BIND_SERVICE, or use ports from 1024)",
                   as_uid=uid)
