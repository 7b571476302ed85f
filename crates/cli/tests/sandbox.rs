//! `ferroftpd::sandbox` seen from inside: a child process (this test
//! binary, run again with `SANDBOX_CHILD` set) applies a sandbox that
//! allows one directory read-write, one read-only and one log file, then
//! tries things and prints what the kernel answered; the parent checks the
//! answers. A child, because a sandbox cannot be undone.
//!
//! Needs a kernel with Landlock (ABI 4 or later, for the port rule) and
//! seccomp filters; fails, never skips, without them.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;

use ferroftpd::sandbox::Sandbox;

const CHILD: &str = "SANDBOX_CHILD";
const TEST_NAME: &str = "kernel_refuses_what_the_sandbox_does_not_allow";

#[test]
fn kernel_refuses_what_the_sandbox_does_not_allow() {
    if let Some(base) = std::env::var_os(CHILD) {
        child(Path::new(&base));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    for sub in ["a", "a/sub", "b", "r"] {
        fs::create_dir(base.join(sub)).unwrap();
    }
    fs::write(base.join("a/old.txt"), b"a\n").unwrap();
    fs::write(base.join("b/old.txt"), b"b\n").unwrap();
    fs::write(base.join("r/old.txt"), b"r\n").unwrap();
    fs::write(base.join("log"), b"").unwrap();

    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, base)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed\n{stdout}\n{stderr}");
    let seen: HashMap<&str, &str> = stdout
        .lines()
        // libtest's "test NAME ... " may come first on the line.
        .filter_map(|l| Some(&l[l.find("sandbox-test ")? + "sandbox-test ".len()..]))
        .filter_map(|l| l.split_once(": "))
        .collect();
    let get = |key: &str| {
        *seen
            .get(key)
            .unwrap_or_else(|| panic!("{key} not reported\n{stdout}\n{stderr}"))
    };

    let report = get("report");
    assert!(
        report.starts_with("landlock ABI ")
            && report.contains("(fully enforced)")
            && report.contains("seccomp filter ("),
        "{report}"
    );
    // Landlock: everything in A, reading R, appending to the log; nothing
    // else. The kernel refuses with EACCES.
    assert_eq!(get("write in A"), "ok");
    assert_eq!(get("mkdir in A"), "ok");
    assert_eq!(get("rename between directories of A"), "ok");
    assert_eq!(get("remove in A"), "ok");
    // Never a symbolic link, even where writing is allowed: seccomp
    // refuses the call (EPERM) before Landlock would (EACCES).
    assert!(matches!(get("symlink in A"), "EPERM" | "EACCES"));
    assert_eq!(get("write in B"), "EACCES");
    assert_eq!(get("read in B"), "EACCES");
    assert_eq!(get("mkdir in B"), "EACCES");
    assert_eq!(get("read in R"), "ok");
    assert_eq!(get("write in R"), "EACCES");
    assert_eq!(get("append to the log"), "ok");
    assert_eq!(get("read the log"), "EACCES");
    // What the server does for SITE CHMOD and MFMT: chmod and utimensat
    // through /proc/self/fd/N of an O_PATH descriptor.
    assert_eq!(get("chmod through /proc/self/fd"), "ok");
    assert_eq!(get("utimensat through /proc/self/fd"), "ok");
    // Ports: only those given (0: the kernel picks).
    assert_eq!(get("bind port 0"), "ok");
    assert_eq!(get("bind a chosen port"), "EACCES");
    // seccomp: a call the server never makes fails with EPERM (it failed
    // with ENOENT, the path not existing, before the filter); threads
    // still start, processes do not.
    assert_eq!(get("chroot before"), "ENOENT");
    assert_eq!(get("chroot after"), "EPERM");
    assert_eq!(get("thread"), "ok");
    assert_ne!(get("process"), "ok");
    assert_eq!(fs::read(base.join("log")).unwrap(), b"appended\n");
    assert!(!base.join("b/new.txt").exists());
}

/// The child: applies the sandbox, tries, prints `sandbox-test WHAT: RESULT`.
fn child(base: &Path) {
    let (a, b, r, log) = (
        base.join("a"),
        base.join("b"),
        base.join("r"),
        base.join("log"),
    );
    let chroot_before =
        result(rustix::process::chroot("/nonexistent-ferroftpd").map_err(Into::into));
    let chosen_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();

    let report = Sandbox::new()
        .read_write(&a)
        .read(&r)
        .append(&log)
        .bind_ports([0])
        .apply()
        .expect("the sandbox applies");

    let say = |what: &str, outcome: String| {
        println!("sandbox-test {what}: {outcome}");
        io::stdout().flush().expect("stdout");
    };
    say("report", report.to_string());
    say("write in A", result(fs::write(a.join("new.txt"), b"x")));
    say("mkdir in A", result(fs::create_dir(a.join("made"))));
    say(
        "rename between directories of A",
        result(fs::rename(a.join("new.txt"), a.join("sub/moved.txt"))),
    );
    say(
        "remove in A",
        result(fs::remove_file(a.join("sub/moved.txt"))),
    );
    say(
        "symlink in A",
        result(std::os::unix::fs::symlink("old.txt", a.join("link"))),
    );
    say("write in B", result(fs::write(b.join("new.txt"), b"x")));
    say("read in B", result(fs::read(b.join("old.txt")).map(drop)));
    say("mkdir in B", result(fs::create_dir(b.join("made"))));
    say("read in R", result(fs::read(r.join("old.txt")).map(drop)));
    say("write in R", result(fs::write(r.join("new.txt"), b"x")));
    say(
        "append to the log",
        result(
            fs::OpenOptions::new()
                .append(true)
                .open(&log)
                .and_then(|mut f| f.write_all(b"appended\n")),
        ),
    );
    say("read the log", result(fs::read(&log).map(drop)));

    let o_path = rustix::fs::open(
        a.join("old.txt"),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .expect("an O_PATH descriptor");
    let proc_path = format!("/proc/self/fd/{}", o_path.as_raw_fd());
    say(
        "chmod through /proc/self/fd",
        result(
            rustix::fs::chmod(proc_path.as_str(), rustix::fs::Mode::from_raw_mode(0o600))
                .map_err(Into::into),
        ),
    );
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 1_577_934_245,
            tv_nsec: 0,
        },
    };
    say(
        "utimensat through /proc/self/fd",
        result(
            rustix::fs::utimensat(
                rustix::fs::CWD,
                proc_path.as_str(),
                &times,
                rustix::fs::AtFlags::empty(),
            )
            .map_err(Into::into),
        ),
    );

    say(
        "bind port 0",
        result(TcpListener::bind("127.0.0.1:0").map(drop)),
    );
    say(
        "bind a chosen port",
        result(TcpListener::bind(("127.0.0.1", chosen_port)).map(drop)),
    );

    say("chroot before", chroot_before);
    say(
        "chroot after",
        result(rustix::process::chroot("/nonexistent-ferroftpd").map_err(Into::into)),
    );
    say(
        "thread",
        result(
            std::thread::spawn(|| 1 + 1)
                .join()
                .map(drop)
                .map_err(|_| io::Error::other("panicked")),
        ),
    );
    say(
        "process",
        result(Command::new("/bin/true").status().map(drop)),
    );
}

/// `ok`, or the error's errno name.
fn result<T>(r: io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => match e.raw_os_error() {
            Some(libc_eacces) if libc_eacces == rustix::io::Errno::ACCESS.raw_os_error() => {
                "EACCES".into()
            }
            Some(n) if n == rustix::io::Errno::PERM.raw_os_error() => "EPERM".into(),
            Some(n) if n == rustix::io::Errno::NOENT.raw_os_error() => "ENOENT".into(),
            Some(n) => format!("errno {n}"),
            None => e.to_string(),
        },
    }
}
