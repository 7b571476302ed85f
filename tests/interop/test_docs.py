"""The documentation stays true.

- ``docs/README.md`` links every file of ``docs/``, in the book's order.
- Every ``ferroftpd ...`` command line in a shell block of README.md and
  ``docs/*.md`` runs. ``ferroftpd`` has no dry-run flag, so each server
  command is started for real, on 127.0.0.1 with port 0 (the ports it
  names are replaced, and ``-i 127.0.0.1 -p 0`` added where it names none),
  and must log ``listening on`` and then stop cleanly on SIGTERM. What a
  command names on this machine is made first: directories and homes
  under a temporary directory, a users file, a config file (the packaging
  example with every key), a certificate; the placeholders of templates
  (``BUCKET``, ``HAPROXY_IP``, ...) are replaced by the values in
  ``PLACEHOLDERS``. Commands that need root or the S3 server of
  ``test_s3.py`` say they are skipped without them, and fail under CI.
  Subcommands (``generate``, ``hash-password``) run and must print
  something.
- Every example in README.md's Recipes table exists and is run by
  ``test_examples.py``.
- Every test that ``docs/features.md`` names exists (see
  ``test_features_rows_name_tests_that_exist``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from support import ferroftpd_bin, parse_listen_addr

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

S3_ENDPOINT = os.environ.get("FERROFTPD_TEST_S3_ENDPOINT")
S3_BUCKET = os.environ.get("FERROFTPD_TEST_S3_BUCKET")
S3_REGION = os.environ.get("FERROFTPD_TEST_S3_REGION", "us-east-1")


# --- The index ----------------------------------------------------------------

def test_index_links_every_doc_in_order():
    index = (DOCS / "README.md").read_text()
    links = set(re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", index))
    for path in sorted(DOCS.rglob("*")):
        rel = path.relative_to(DOCS).as_posix()
        if path.is_file() and rel != "README.md":
            assert rel in links, f"docs/README.md does not link {rel}"
    for link in links:
        assert (DOCS / link).resolve().exists(), f"docs/README.md links {link}, which is missing"
    headings = re.findall(r"^## \d+\. (.+)$", index, re.M)
    assert headings == ["Quick start", "Concepts", "Operations", "Library", "Security",
                        "Performance"], headings


def test_readme_recipes_link_examples_that_the_tests_run():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Recipes", 1)[1].split("\n## ", 1)[0]
    examples = re.findall(r"\(crates/ferroftpd/examples/(\w+)\.rs\)", section)
    assert len(examples) >= 15, examples
    tests = (REPO / "tests/interop/test_examples.py").read_text()
    for name in examples:
        assert (REPO / f"crates/ferroftpd/examples/{name}.rs").is_file(), name
        assert re.search(rf'run_example\("{name}"', tests), f"no test runs the {name} example"
    for guide in ("docs/migrating-from-pyftpdlib.md", "docs/migrating-from-aioftp.md"):
        assert f"]({guide})" in section, guide


# --- Command lines ------------------------------------------------------------

def shell_blocks(path: Path) -> list[str]:
    text = path.read_text()
    return re.findall(r"```(?:sh|bash|shell|console)\n(.*?)```", text, re.S)


def command_lines() -> list[tuple[str, str]]:
    """(where, command) for each ``ferroftpd`` line, continuations joined."""
    found = []
    for path in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]:
        for block in shell_blocks(path):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                if re.match(r"^(sudo\s+|[A-Z_]+=\S+\s+)*ferroftpd(\s|$)", line):
                    found.append((path.relative_to(REPO).as_posix(), line))
    return found


COMMANDS = command_lines()

# Values of templates that name no real machine, and what they become here.
PLACEHOLDERS = {
    "10.0.0.11": "127.0.0.1",
    "BALANCER_IP": "127.0.0.1",
    "HAPROXY_IP": "127.0.0.1",
    "203.0.113.7": "203.0.113.7",  # a documentation address: announced, never used
    # A Redis that does not answer: the node must start and serve alone.
    "redis://:PASSWORD@10.0.1.9:6379/0": "redis://127.0.0.1:1/0",
}

# Subcommands that talk to a running server's admin API (docs/admin.md).
ADMIN_COMMANDS = ("who", "top", "kick", "ban", "unban")
ADMIN_TOKEN = "documented-admin-token-0123456789"

# Flags whose value is a file or directory the command expects to exist.
PATH_FLAGS = {"-d", "--directory", "--users", "--config", "--certfile", "--keyfile",
              "--banner-file", "--log-file", "--xferlog", "--pidfile", "--admin-token-file"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 30, COMMANDS


class Sandbox:
    """Makes what a documented command names, under ``base``."""

    def __init__(self, base: Path):
        self.base = base
        self.fs = base / "fs"
        self.fs.mkdir()

    def local(self, path: str) -> Path:
        p = self.fs / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def make(self, flag: str, value: str) -> str:
        p = self.local(value)
        if flag in ("-d", "--directory"):
            p.mkdir(parents=True, exist_ok=True)
        elif flag == "--users":
            home = self.local("/srv/ftp/users-home")
            home.mkdir(parents=True, exist_ok=True)
            p.write_text('allow_plaintext = true\n[[user]]\nname = "alice"\n'
                         f'password = "plain:secret"\nhome = "{home}"\n')
        elif flag == "--config":
            shutil.copy(REPO / "packaging/ferroftpd.toml", p)
        elif flag in ("--certfile", "--keyfile"):
            self.certificate(p.parent)
        elif flag == "--banner-file":
            p.write_text("Welcome to the documented server.\n")
        elif flag == "--admin-token-file":
            p.write_text(ADMIN_TOKEN + "\n")
            p.chmod(0o600)
        return str(p)

    def certificate(self, where: Path) -> None:
        if (where / "cert.pem").exists():
            return
        res = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-keyout", str(where / "key.pem"),
             "-out", str(where / "cert.pem")], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr


def without_redirections(tokens: list[str]) -> list[str]:
    """``> FILE``, ``2>>FILE`` and the like belong to the shell."""
    out, skip = [], False
    for t in tokens:
        if skip:
            skip = False
        elif re.fullmatch(r"\d?>>?", t):
            skip = True
        elif not re.match(r"^\d?>>?", t):
            out.append(t)
    return out


def prepare(command: str, sandbox: Sandbox) -> tuple[list[str], dict[str, str], str | None]:
    """The argv and environment to run ``command`` here, or why it cannot."""
    tokens = shlex.split(command, comments=True)
    env: dict[str, str] = {}
    while tokens and (tokens[0] == "sudo" or re.match(r"^[A-Z_]+=", tokens[0])):
        tok = tokens.pop(0)
        if tok != "sudo":
            key, value = tok.split("=", 1)
            if value != "...":  # a placeholder: this machine's value is used
                env[key] = value
    assert tokens[0] == "ferroftpd", command
    args = without_redirections(tokens[1:])
    args = [PLACEHOLDERS.get(a, a) for a in args]
    why_not = None
    # With memory or S3 storage, -d and the homes are paths inside that tree.
    off_disk = any(a == "--storage" and i + 1 < len(args) and args[i + 1] != "local"
                   for i, a in enumerate(args))
    if "--system-users" in args and os.geteuid() != 0:
        why_not = "needs root"
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        value = args[i + 1] if i + 1 < len(args) else None
        if a in ("-p", "--port", "--tls-implicit-port") and value is not None:
            out += [a, "0"]
            i += 2
            continue
        if a in ("-i", "--interface") and value is not None:
            out += [a, "127.0.0.1"]
            i += 2
            continue
        if a == "--metrics-address" and value is not None:
            out += [a, "127.0.0.1:0"]
            i += 2
            continue
        if a == "--admin-address" and value is not None:
            # A Unix socket is a path with a slash; else a free port.
            where = str(sandbox.local(value)) if "/" in value else f"127.0.0.1:{free_port()}"
            out += [a, where]
            i += 2
            continue
        if a == "...":  # "and the rest of your options"
            i += 1
            continue
        if a == "--storage" and value is not None and value.startswith("s3://"):
            if not (S3_ENDPOINT and S3_BUCKET):
                why_not = "needs the S3 server of test_s3.py"
            prefix = value[len("s3://"):].partition("/")[2] or "docs"
            out += [a, f"s3://{S3_BUCKET}/docs-check/{prefix}"]
            i += 2
            continue
        if a == "--s3-endpoint" and value is not None:
            out += [a, S3_ENDPOINT or value]
            i += 2
            continue
        if a == "--s3-region" and value is not None:
            out += [a, S3_REGION]
            i += 2
            continue
        if a in PATH_FLAGS and value is not None:
            if a in ("-d", "--directory") and off_disk:
                out += [a, value]  # a path inside the memory or S3 tree
            else:
                out += [a, sandbox.make(a, value)]
            i += 2
            continue
        if a == "--user" and value is not None:
            name, _, rest = value.partition(":")
            fields = rest.split(":")
            if len(fields) >= 3 and fields[2].startswith("/") and not off_disk:
                home = sandbox.local(fields[2])
                home.mkdir(parents=True, exist_ok=True)
                fields[2] = str(home)
            out += [a, ":".join([name, *fields])]
            i += 2
            continue
        out.append(a)
        i += 1
    if "FERROFTPD_PORT" in env:
        env["FERROFTPD_PORT"] = "0"
    elif not any(a in ("-p", "--port") for a in out):
        out += ["-p", "0"]
    if not any(a in ("-i", "--interface") for a in out):
        out += ["-i", "127.0.0.1"]
    if not any(a in ("-d", "--directory") for a in out) and not off_disk \
            and "--system-users" not in out and "--users" not in out:
        # The current directory is served: the sandbox's, not the tests'.
        out += ["-d", str(sandbox.fs)]
    return out, env, why_not


def run_subcommand(args: list[str]) -> None:
    res = subprocess.run([str(ferroftpd_bin()), *args], input="secret\n", capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, f"{args}: {res.stderr}"
    assert res.stdout.strip(), f"{args} printed nothing"


def needs_anonymous_account(argv: list[str]) -> bool:
    """``--system-users --anonymous`` without ``--system-anonymous-account``
    acts as the system account ``ftp``, which a fresh machine may lack."""
    return ("--system-users" in argv and "--anonymous" in argv
            and "--system-anonymous-account" not in argv)


def make_ftp_account(tmp_path: Path, finalizer) -> None:
    """The system account ``ftp`` (as Debian's ftp servers make it), made
    for this test and removed after it when the machine has none."""
    import pwd
    try:
        pwd.getpwnam("ftp")
        return
    except KeyError:
        pass
    import grp
    home = tmp_path / "ftp-home"
    home.mkdir()
    try:
        group = ["-g", grp.getgrnam("ftp").gr_name]
    except KeyError:
        group = ["--user-group"]
    subprocess.run(["useradd", "--system", *group, "--home-dir", str(home),
                    "--shell", "/usr/sbin/nologin", "ftp"], check=True, capture_output=True)
    finalizer(lambda: subprocess.run(["userdel", "ftp"], capture_output=True))


@pytest.mark.parametrize("where,command", COMMANDS, ids=[f"{w}:{c[:60]}" for w, c in COMMANDS])
def test_documented_command_runs(request, tmp_path, where, command):
    tokens = shlex.split(command, comments=True)
    sub = tokens[tokens.index("ferroftpd") + 1:]
    if sub and sub[0] in ("generate", "hash-password"):
        run_subcommand(without_redirections(sub))
        return
    if sub and sub[0] in ADMIN_COMMANDS:
        run_admin_subcommand(tmp_path, where, command, without_redirections(sub))
        return
    sandbox = Sandbox(tmp_path)
    argv, env, why_not = prepare(command, sandbox)
    if why_not:
        if os.environ.get("CI"):
            pytest.fail(f"{where}: {command!r} {why_not}, which CI must provide")
        pytest.skip(f"{command!r} {why_not}")
    if needs_anonymous_account(argv):
        make_ftp_account(tmp_path, request.addfinalizer)
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(ferroftpd_bin()), *argv], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, cwd=str(sandbox.fs),
                                env={**os.environ, "NO_COLOR": "1", **env})
    # --log-file sends the log there instead.
    log_file = next((Path(argv[i + 1]) for i, a in enumerate(argv) if a == "--log-file"), None)
    try:
        deadline = time.monotonic() + 20
        while True:
            text = log.read_text(errors="replace")
            if log_file and log_file.exists():
                text += log_file.read_text(errors="replace")
            if parse_listen_addr(text):
                break
            assert proc.poll() is None, (
                f"{where}: {command!r} exited ({proc.returncode}) as\n"
                f"{shlex.join(argv)}\n{text}")
            assert time.monotonic() < deadline, f"{where}: {command!r} did not start\n{text}"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
    assert code == 0, f"{where}: {command!r} exited with {code} on SIGTERM\n{log.read_text()}"


def run_admin_subcommand(tmp_path: Path, where: str, command: str, sub: list[str]) -> None:
    """Runs ``ferroftpd who|top|kick|ban|unban ...`` against a server
    started with the admin API, with three FTP sessions open (so that the
    session ids the docs show exist); its ``--admin-address`` and
    ``--admin-token-file`` become that server's. ``top`` draws one screen;
    ``unban`` lifts a ban given first."""
    fs = tmp_path / "fs"
    fs.mkdir()
    token = tmp_path / "admin-token"
    token.write_text(ADMIN_TOKEN + "\n")
    token.chmod(0o600)
    address = f"127.0.0.1:{free_port()}"
    api = ["--admin-address", address, "--admin-token-file", str(token)]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(ferroftpd_bin()), "-i", "127.0.0.1", "-p", "0", "-d", str(fs),
                                 "--anonymous", *api], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=out, env={**os.environ, "NO_COLOR": "1"})
    sessions = []
    try:
        deadline = time.monotonic() + 20
        while not (addr := parse_listen_addr(log.read_text(errors="replace"))) \
                or "admin API and dashboard on" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"the server for {command!r} exited\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the server for {command!r} did not start"
            time.sleep(0.05)
        for _ in range(3):
            s = socket.create_connection(addr, timeout=10)
            assert s.makefile("rb").readline().startswith(b"220")
            sessions.append(s)
        args, i = [], 1
        while i < len(sub):
            if sub[i] in ("--admin-address", "--admin-token-file"):
                i += 2
            else:
                args.append(sub[i])
                i += 1
        args = [sub[0], *api, *args]
        if sub[0] == "top" and not {"-n", "--once"} & set(args):
            args += ["-n", "1"]
        if sub[0] == "unban":
            target = [a for a in args[5:] if not a.startswith("-")][0]
            run = subprocess.run([str(ferroftpd_bin()), "ban", *api, target],
                                 capture_output=True, text=True, timeout=30)
            assert run.returncode == 0, run.stderr
        res = subprocess.run([str(ferroftpd_bin()), *args], capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, f"{where}: {command!r} as {shlex.join(args)}: {res.stderr}"
        assert res.stdout.strip() or res.stderr.strip(), f"{where}: {command!r} said nothing"
    finally:
        for s in sessions:
            s.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- features.md --------------------------------------------------------------

def test_features_rows_name_tests_that_exist():
    """Every ``done`` or ``partial`` row of docs/features.md names the tests
    that prove it, as ``test: `FILE::NAME` `` in its notes (or ``test:
    none (why)``); FILE is a Python test file of tests/interop, or a Rust
    module path (``server::hooks`` is crates/ferroftpd/tests/server/hooks.rs,
    ``storage::quota`` crates/ferroftpd/src/storage/quota.rs). Each named
    test must exist. Whether it proves the row is for a reader to judge:
    the name is there to be read."""
    text = (DOCS / "features.md").read_text()
    unproved = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[-2] in ("done", "partial") and "test: " not in cells[-1]:
            unproved.append(cells[0])
    assert not unproved, f"rows of features.md that name no test: {unproved}"
    named = re.findall(r"test: `([^`]+)`", text)
    assert len(named) > 200, named
    missing = [n for n in named if not named_test_exists(n)]
    assert not missing, f"features.md names tests that do not exist: {missing}"


def rust_module_files() -> dict[str, list[Path]]:
    """Each Rust file under a crate's src/ or tests/ by its module path
    (``storage::quota``, ``server::hooks``)."""
    found: dict[str, list[Path]] = {}
    for path in (REPO / "crates").rglob("*.rs"):
        rel = path.relative_to(REPO / "crates").parts
        if len(rel) < 3 or rel[1] not in ("src", "tests"):
            continue
        parts = list(rel[2:])
        parts[-1] = parts[-1][:-3]
        if parts[-1] in ("mod", "main", "lib") and len(parts) > 1:
            parts.pop()
        found.setdefault("::".join(parts), []).append(path)
    return found


RUST_FILES = rust_module_files()


def named_test_exists(name: str) -> bool:
    file, _, func = name.rpartition("::")
    if file.endswith(".py"):
        path = REPO / "tests/interop" / file
        return path.is_file() and re.search(rf"^def {re.escape(func)}\(", path.read_text(),
                                            re.M) is not None
    return any(re.search(rf"\bfn {re.escape(func)}\(", p.read_text())
               for p in RUST_FILES.get(file, []))
