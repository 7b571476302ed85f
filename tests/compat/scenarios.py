"""The scripted command sequences the harness sends to every server.

A scenario is a fresh control connection and a list of steps. A step is a
command line (its reply code is recorded) or a tuple naming an action
that takes several exchanges (a login, a transfer, a TLS handshake);
the action's result is its codes joined with ">" (in order) or "+" (two
replies whose order depends on timing, sorted). A preliminary 125 counts
as 150 (see `preliminary`).

Every server's root holds the same files: FIXTURES. Scenarios put back
what they change, so their order does not matter.
"""

from __future__ import annotations

import socket
import ssl

from client import TIMEOUT, Client

USER = "compat"
PASSWORD = "Compat-pw-1"
# Larger than what loopback socket buffers hold while the client does not
# read, so that a download is still under way when ABOR arrives.
BIG = 16 * 1024 * 1024
FIXTURES = {"file.txt": b"hello\nworld\n", "big.bin": b"\0" * BIG, "dir/inner.txt": b"inside\n"}

# Verbs with good and bad arguments, as sent before and after login.
COMMON = [
    "NOOP", "NOOP x", "SYST", "FEAT", "HELP", "HELP RETR", "STAT",
    "PWD", "PWD x", "XPWD", "CWD dir", "CWD /", "CWD nope", "XCWD dir", "CDUP", "XCUP",
    "MKD newdir", "MKD newdir", "RMD newdir", "RMD nope", "XMKD newdir", "XRMD newdir", "MKD",
    "DELE nope", "DELE dir", "DELE",
    "RNFR nope", "RNFR file.txt", "RNTO renamed.txt", "RNFR renamed.txt", "RNTO file.txt",
    "RNTO file.txt", "RNFR",
    "SIZE file.txt", "TYPE I", "SIZE file.txt", "SIZE dir", "SIZE nope", "SIZE",
    "MDTM file.txt", "MDTM dir", "MDTM nope", "MDTM",
    "TYPE A", "TYPE L 8", "TYPE X", "TYPE", "TYPE A N", "TYPE I",
    "MODE S", "MODE B", "MODE Z", "MODE", "STRU F", "STRU R", "STRU Z", "STRU",
    "ALLO 100", "ALLO", "REST 0", "REST abc", "REST -1", "REST",
    "OPTS UTF8 ON", "OPTS MLST type;size;", "OPTS FOO", "OPTS",
    "MLST file.txt", "MLST nope", "MLST",
    "SITE HELP", "SITE CHMOD 644 file.txt", "SITE CHMOD 999 file.txt", "SITE CHMOD 644",
    "SITE CHMOD 644 file.txt",
    "SITE FOO", "SITE",
    "MFMT 20200101000000 file.txt", "MFMT bad file.txt", "MFMT 20200101000000 nope", "MFMT",
    "EPSV 9", "EPSV x", "PORT 1,2,3", "PORT 127,0,0,1,0,21", "PORT 10,0,0,1,4,1", "PORT",
    "EPRT |9|x|1|", "EPRT |1|10.0.0.1|1025|", "EPRT",
    "RETR file.txt", "RETR nope", "RETR", "LIST", "NLST", "MLSD", "STOR up.txt", "APPE up.txt",
    "STOR", "APPE", "STOU x",
    "ABOR", "ABOR x", "HOST localhost", "HOST", "CLNT tester", "LANG EN", "LANG xx", "ACCT x",
    "HASH file.txt", "HASH nope", "OPTS HASH SHA-256", "OPTS HASH FOO", "XCRC file.txt",
    "XMD5 file.txt", "XSHA file.txt", "XSHA1 file.txt", "XSHA256 file.txt", "XSHA512 file.txt",
    "XCRC nope", "XCRC",
    "STAT /", "STAT file.txt", "STAT nope", "HELP FOO", "MLST dir",
    "PBSZ 0", "PROT P", "CCC", "AUTH FOO", "AUTH", "SMNT x", "BOGUS", "QUIT x",
]

LOGIN = ("login",)

SCENARIOS: dict[str, list] = {
    "before login": ["PASS x", *COMMON, "QUIT"],
    "after login": [LOGIN, "PASS x", "REIN x", *COMMON, ("login again",), "QUIT"],
    "login failures": [
        "USER", ("user", "PASS wrong"), ("user", "PASS wrong"), ("closed?", "PASS wrong"),
    ],
    "rein": [LOGIN, "REIN", "PWD", LOGIN, "PWD", "QUIT"],
    "transfers": [
        LOGIN, "TYPE I",
        ("data", "PASV", "RETR file.txt"), ("data", "EPSV", "RETR file.txt"),
        ("data", "PORT", "RETR file.txt"), ("data", "EPRT", "RETR file.txt"),
        ("data", "PASV", "LIST"), ("data", "PASV", "LIST dir"), ("data", "PASV", "LIST nope"),
        ("data", "PASV", "LIST -la"), ("data", "PASV", "NLST"), ("data", "PASV", "NLST nope"),
        ("data", "PASV", "MLSD"), ("data", "PASV", "MLSD dir"),
        ("data", "PASV", "MLSD file.txt"), ("data", "PASV", "MLSD nope"),
        ("data", "PASV", "RETR nope"), ("data", "PASV", "RETR dir"),
        ("data", "PASV", "STOR up.txt"), ("data", "PASV", "APPE up.txt"),
        "REST 3", ("data", "PASV", "RETR file.txt"),
        "SIZE up.txt", "DELE up.txt", "MKD stou", "CWD stou", ("data", "PASV", "STOU"), "CDUP",
        ("data", "PASV", "STOR dir"), ("data", "PASV", "STOR nodir/x"),
        "TYPE A", ("data", "PASV", "RETR file.txt"),
        "PASV", "PASV", "EPSV", "EPSV ALL", "PASV", "PORT 127,0,0,1,4,1", "EPSV", "QUIT",
    ],
    "during a transfer": [
        LOGIN, "TYPE I",
        ("during upload", "NOOP"), ("during upload", "STAT"), ("during upload", "PWD"),
        ("abort download",), "NOOP", "DELE up.txt", "QUIT",
    ],
    "explicit TLS": [
        "PBSZ 0", "PROT P", ("auth", "TLS"), "AUTH TLS", "FEAT", LOGIN, "PROT P", "PBSZ x",
        "PBSZ 0", "PROT S", "PROT E", "PROT X", "PROT C", ("data", "PASV", "LIST"),
        ("prot", "P"), ("data", "PASV", "LIST"), ("data", "PASV", "RETR file.txt"),
        ("data", "EPSV", "STOR tls.txt"), "DELE tls.txt", "CCC", "REIN", "PROT P", LOGIN,
        "QUIT",
    ],
    "AUTH SSL": [("auth", "SSL"), LOGIN, "PWD", "QUIT"],
    "TLS close without CCC": [("auth", "TLS"), LOGIN, ("tls close",)],
}


def label(step) -> str:
    if isinstance(step, str):
        return step
    kind, *args = step
    arg = args[0] if args else ""
    return {
        "login": "USER+PASS",
        "login again": "USER+PASS again",
        "user": f"USER+{arg}",
        "closed?": f"USER+{arg}, the last attempt (then closed?)",
        "data": " + ".join(args),
        "during upload": f"{arg} during an upload",
        "abort download": "ABOR (urgent) during a download",
        "auth": f"AUTH {arg} + handshake",
        "prot": f"PROT {arg}",
        "tls close": "client close_notify without CCC",
    }[kind]


def run(port: int, user: str, steps: list) -> list[tuple[str, str]]:
    """Runs one scenario as `user`; returns (label, result) per step."""
    c = Client(port)
    c.user = user
    results = []
    seen: dict[str, int] = {}
    greeting, _ = c.reply()
    results.append(("greeting", greeting))
    for step in steps:
        name = label(step)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} #{seen[name]}"
        try:
            result = do(c, step)
        except (OSError, ssl.SSLError) as e:
            result = f"error ({type(e).__name__})"
        results.append((name, result))
        if result.endswith("closed"):
            break
    try:
        c.sock.close()
    except OSError:
        pass
    return results


def do(c: Client, step) -> str:
    if isinstance(step, str):
        return c.cmd(step)[0]
    kind, *args = step
    if kind in ("login", "login again"):
        codes = [c.cmd(f"USER {c.user}")[0]]
        if codes[0] == "331":
            codes.append(c.cmd(f"PASS {PASSWORD}")[0])
        return ">".join(codes)
    if kind == "user":
        return ">".join([c.cmd(f"USER {c.user}")[0], c.cmd(args[0])[0]])
    if kind == "closed?":
        codes = [c.cmd(f"USER {c.user}")[0], c.cmd(args[0])[0]]
        if codes[-1] != "closed":
            codes.append("closed" if c.is_closed() else "open")
        return ">".join(codes)
    if kind == "auth":
        code = c.cmd(f"AUTH {args[0]}")[0]
        return f"{code}>{c.start_tls()}" if code == "234" else code
    if kind == "prot":
        code = c.cmd(f"PROT {args[0]}")[0]
        c.protect_data = code == "200" and args[0] == "P"
        return code
    if kind == "tls close":
        return c.tls_close()
    if kind == "data":
        return data(c, *args)
    if kind == "during upload":
        return during_upload(c, args[0])
    if kind == "abort download":
        return abort_download(c)
    raise ValueError(kind)


def preliminary(code: str) -> str:
    """125 and 150 both say the transfer starts (RFC 959 §4.2); which one
    a server sends depends on whether the client's passive connection
    arrived before the command, a matter of timing: both count as 150."""
    return "150" if code == "125" else code


def data(c: Client, setup: str, line: str) -> str:
    """A data command over a fresh PASV/EPSV/PORT/EPRT connection: the
    setup's code, the preliminary reply's and the final one's."""
    opener = c.open_passive if setup in ("PASV", "EPSV") else c.open_active
    code, sock = opener(setup)
    if sock is None:
        return code
    codes = [code]
    try:
        c.send(line)
        prelim = preliminary(c.reply()[0])
        codes.append(prelim)
        if not prelim.startswith("1"):
            return ">".join(codes)
        if setup in ("PORT", "EPRT"):
            listener, (sock, _) = sock, sock.accept()
            listener.close()
        sock.settimeout(TIMEOUT)
        sock = c.wrap_data(sock)
        verb = line.split()[0]
        if verb in ("STOR", "APPE", "STOU"):
            sock.sendall(b"uploaded\n" * 100)
        else:
            while sock.recv(65536):
                pass
        close_data(sock)
        codes.append(c.reply()[0])
        return ">".join(codes)
    finally:
        sock.close()


def close_data(sock: socket.socket) -> None:
    if isinstance(sock, ssl.SSLSocket):
        try:
            sock = sock.unwrap()
        except (OSError, ssl.SSLError):
            pass
    sock.close()


def collect(c: Client, count: int) -> str:
    """`count` replies, sorted: their order depends on timing."""
    codes = []
    for i in range(count):
        # The first reply is sure to come; a server that sends fewer
        # replies than expected is not waited for long.
        code, _ = c.reply(timeout=TIMEOUT if i == 0 else 2.0)
        codes.append(code)
        if code in ("closed", "timeout"):
            break
    return "+".join(sorted(codes))


def during_upload(c: Client, line: str) -> str:
    """`line` sent while an upload's data connection is open; then the
    upload ends. The upload's replies and the command's are collected."""
    code, sock = c.open_passive("PASV")
    if sock is None:
        return code
    try:
        c.send("STOR up.txt")
        prelim = preliminary(c.reply()[0])
        if prelim != "150" and prelim != "125":
            return prelim
        sock.sendall(b"x" * 65536)
        c.send(line)
        sock.sendall(b"x" * 65536)
    finally:
        sock.close()
    return f"{prelim}>" + collect(c, 2)


def abort_download(c: Client) -> str:
    """ABOR as urgent data while a large download is under way (as
    ftplib's abort()). The client keeps the data connection open until
    the first reply: closed at once, it races the ABOR, and a server that
    sees the closed connection first reports a failed transfer and then
    "no transfer to abort" (225), a matter of timing, not of behaviour. A
    server that answers nothing while the data connection stays open gets
    ">timeout>", then the replies that come once the client closes it."""
    code, sock = c.open_passive("PASV")
    if sock is None:
        return code
    try:
        c.send("RETR big.bin")
        prelim = preliminary(c.reply()[0])
        if not prelim.startswith("1"):
            return prelim
        sock.recv(4096)
        c.send("ABOR", oob=True)
        first, _ = c.reply()
    finally:
        sock.close()
    if first == "timeout":
        return f"{prelim}>timeout>" + collect(c, 2)
    if first == "closed":
        return f"{prelim}>{first}"
    second, _ = c.reply(timeout=2.0)
    return f"{prelim}>" + "+".join(sorted([first, second]))
