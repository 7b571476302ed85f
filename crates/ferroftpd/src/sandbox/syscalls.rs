//! The system calls the server makes once it is sandboxed: the seccomp
//! allow-list, in one place. Anything else fails with `EPERM`.
//!
//! Found by running the whole interop suite (`tests/interop`: plain FTP,
//! FTPS, metrics, users files with SIGHUP reloads, system users through
//! PAM) and the Rust tests against the binary under `strace -f -c`, with
//! every call checked against the code that makes it. Startup-only calls
//! (execve, arch_prctl, set_tid_address, the Landlock calls, seccomp
//! itself, setrlimit) are left out: the filter is installed after them.
//!
//! Some calls are allowed only with certain arguments ([`Args`]): new
//! threads but no new processes, TCP, UDP and local sockets but no raw or
//! packet sockets, reading resource limits but not changing them, and the
//! few `ioctl` and `prctl` requests in use. `clone3`, whose flags a filter
//! cannot see, gets `ENOSYS`, so the C library falls back to `clone`,
//! whose flags it can (see `seccomp.rs`).

/// Which arguments a call is allowed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Args {
    /// Any.
    Any,
    /// `clone` with `CLONE_THREAD`: threads, never processes.
    Thread,
    /// `socket` for `AF_UNIX` (syslog, nscd, sssd), `AF_INET` and
    /// `AF_INET6` with `SOCK_STREAM` or `SOCK_DGRAM`, and `AF_NETLINK`
    /// with `NETLINK_AUDIT` (libpam's login records). Never raw or packet
    /// sockets. (glibc's `getaddrinfo` also asks `NETLINK_ROUTE` which
    /// addresses exist; refused, it assumes both families, as it is made
    /// to.)
    Socket,
    /// `ioctl` requests: `FIONBIO` (tokio, std), `FIOCLEX`/`FIONCLEX`,
    /// `FIONREAD`, and `TCGETS` (`isatty`).
    Ioctl,
    /// `prctl` options: thread names (`PR_SET_NAME`, `PR_GET_NAME`),
    /// named memory maps (`PR_SET_VMA`, glibc), making the process not
    /// dumpable (`PR_SET_DUMPABLE` with 0, after each credential switch;
    /// never back), and the capability and flag queries libcap-ng makes
    /// when a PAM module loads it.
    Prctl,
    /// `prlimit64` with no new limit (`getrlimit`), on the process itself.
    ReadLimit,
}

/// Allowed on every architecture: (name, number, arguments).
#[rustfmt::skip]
const COMMON: &[(&str, libc::c_long, Args)] = &[
    // Memory: the allocator, thread stacks, loading PAM and NSS modules.
    ("brk", libc::SYS_brk, Args::Any),
    ("mmap", libc::SYS_mmap, Args::Any),
    ("munmap", libc::SYS_munmap, Args::Any),
    ("mremap", libc::SYS_mremap, Args::Any),
    ("mprotect", libc::SYS_mprotect, Args::Any),
    ("madvise", libc::SYS_madvise, Args::Any),
    // Threads: tokio's workers and blocking pool, the system users'
    // threads; glibc's thread start and exit.
    ("clone", libc::SYS_clone, Args::Thread),
    ("exit", libc::SYS_exit, Args::Any),
    ("exit_group", libc::SYS_exit_group, Args::Any),
    ("futex", libc::SYS_futex, Args::Any),
    ("set_robust_list", libc::SYS_set_robust_list, Args::Any),
    ("rseq", libc::SYS_rseq, Args::Any),
    ("gettid", libc::SYS_gettid, Args::Any),
    ("getpid", libc::SYS_getpid, Args::Any),
    // A multi-proc worker checks that its supervisor lives on.
    ("getppid", libc::SYS_getppid, Args::Any),
    ("sched_getaffinity", libc::SYS_sched_getaffinity, Args::Any),
    ("sched_yield", libc::SYS_sched_yield, Args::Any),
    ("prctl", libc::SYS_prctl, Args::Prctl),
    ("prlimit64", libc::SYS_prlimit64, Args::ReadLimit),
    ("uname", libc::SYS_uname, Args::Any),
    ("getrandom", libc::SYS_getrandom, Args::Any),
    // Signals: tokio's SIGINT/SIGTERM/SIGHUP handling, Rust's stack
    // overflow guard, glibc's abort and its set*id broadcast to threads
    // (the Landlock signal scope keeps tgkill inside the process).
    ("rt_sigaction", libc::SYS_rt_sigaction, Args::Any),
    ("rt_sigprocmask", libc::SYS_rt_sigprocmask, Args::Any),
    ("rt_sigreturn", libc::SYS_rt_sigreturn, Args::Any),
    ("sigaltstack", libc::SYS_sigaltstack, Args::Any),
    ("tgkill", libc::SYS_tgkill, Args::Any),
    ("restart_syscall", libc::SYS_restart_syscall, Args::Any),
    // Time: clocks (normally the vDSO, a system call on some clock
    // sources), timers, and pam_unix's delay after a wrong password.
    ("clock_gettime", libc::SYS_clock_gettime, Args::Any),
    ("clock_getres", libc::SYS_clock_getres, Args::Any),
    ("gettimeofday", libc::SYS_gettimeofday, Args::Any),
    ("clock_nanosleep", libc::SYS_clock_nanosleep, Args::Any),
    ("nanosleep", libc::SYS_nanosleep, Args::Any),
    // The event loop (mio) and waiting in PAM and libaudit.
    ("epoll_create1", libc::SYS_epoll_create1, Args::Any),
    ("epoll_ctl", libc::SYS_epoll_ctl, Args::Any),
    ("epoll_pwait", libc::SYS_epoll_pwait, Args::Any),
    ("epoll_pwait2", libc::SYS_epoll_pwait2, Args::Any),
    ("eventfd2", libc::SYS_eventfd2, Args::Any),
    ("ppoll", libc::SYS_ppoll, Args::Any),
    ("pselect6", libc::SYS_pselect6, Args::Any),
    // Descriptors.
    ("read", libc::SYS_read, Args::Any),
    ("write", libc::SYS_write, Args::Any),
    ("readv", libc::SYS_readv, Args::Any),
    ("writev", libc::SYS_writev, Args::Any),
    ("pread64", libc::SYS_pread64, Args::Any),
    ("pwrite64", libc::SYS_pwrite64, Args::Any),
    ("lseek", libc::SYS_lseek, Args::Any),
    ("close", libc::SYS_close, Args::Any),
    ("close_range", libc::SYS_close_range, Args::Any),
    ("dup", libc::SYS_dup, Args::Any),
    ("dup3", libc::SYS_dup3, Args::Any),
    ("fcntl", libc::SYS_fcntl, Args::Any),
    ("ioctl", libc::SYS_ioctl, Args::Ioctl),
    ("pipe2", libc::SYS_pipe2, Args::Any),
    // Transfers: sendfile for downloads, splice through a pipe for
    // uploads.
    ("sendfile", libc::SYS_sendfile, Args::Any),
    ("splice", libc::SYS_splice, Args::Any),
    // Files, beneath each user's root (openat2 with RESOLVE_BENEATH) and
    // the configuration PAM and NSS read.
    ("openat", libc::SYS_openat, Args::Any),
    ("openat2", libc::SYS_openat2, Args::Any),
    ("fstat", libc::SYS_fstat, Args::Any),
    ("newfstatat", libc::SYS_newfstatat, Args::Any),
    ("statx", libc::SYS_statx, Args::Any),
    ("statfs", libc::SYS_statfs, Args::Any),
    ("fstatfs", libc::SYS_fstatfs, Args::Any),
    ("faccessat", libc::SYS_faccessat, Args::Any),
    ("faccessat2", libc::SYS_faccessat2, Args::Any),
    ("readlinkat", libc::SYS_readlinkat, Args::Any),
    ("getdents64", libc::SYS_getdents64, Args::Any),
    ("getcwd", libc::SYS_getcwd, Args::Any),
    ("mkdirat", libc::SYS_mkdirat, Args::Any),
    ("unlinkat", libc::SYS_unlinkat, Args::Any),
    // renameat2: an interrupted upload kept under its name (NOREPLACE).
    ("renameat2", libc::SYS_renameat2, Args::Any),
    // SITE CHMOD, and an upload keeping the mode of the file it replaces.
    ("fchmod", libc::SYS_fchmod, Args::Any),
    ("fchmodat", libc::SYS_fchmodat, Args::Any),
    // MFMT.
    ("utimensat", libc::SYS_utimensat, Args::Any),
    ("flock", libc::SYS_flock, Args::Any),
    ("ftruncate", libc::SYS_ftruncate, Args::Any),
    ("fsync", libc::SYS_fsync, Args::Any),
    ("fdatasync", libc::SYS_fdatasync, Args::Any),
    // Sockets: the listeners, data connections (passive and active),
    // metrics, and PAM's syslog, nscd and audit messages.
    ("socket", libc::SYS_socket, Args::Socket),
    ("socketpair", libc::SYS_socketpair, Args::Any),
    ("bind", libc::SYS_bind, Args::Any),
    ("listen", libc::SYS_listen, Args::Any),
    ("accept4", libc::SYS_accept4, Args::Any),
    ("connect", libc::SYS_connect, Args::Any),
    ("getsockname", libc::SYS_getsockname, Args::Any),
    ("getpeername", libc::SYS_getpeername, Args::Any),
    ("setsockopt", libc::SYS_setsockopt, Args::Any),
    ("getsockopt", libc::SYS_getsockopt, Args::Any),
    ("sendto", libc::SYS_sendto, Args::Any),
    ("recvfrom", libc::SYS_recvfrom, Args::Any),
    ("sendmsg", libc::SYS_sendmsg, Args::Any),
    // glibc's resolver sends the A and AAAA queries at once (S3 storage
    // resolving its endpoint).
    ("sendmmsg", libc::SYS_sendmmsg, Args::Any),
    ("recvmsg", libc::SYS_recvmsg, Args::Any),
    ("shutdown", libc::SYS_shutdown, Args::Any),
    // Credentials: system users' threads take the user's groups, gid and
    // uid with the raw, per-thread calls (rustix's set_thread_*); PAM and
    // NSS read them.
    ("getuid", libc::SYS_getuid, Args::Any),
    ("geteuid", libc::SYS_geteuid, Args::Any),
    ("getgid", libc::SYS_getgid, Args::Any),
    ("getegid", libc::SYS_getegid, Args::Any),
    ("getresuid", libc::SYS_getresuid, Args::Any),
    ("getresgid", libc::SYS_getresgid, Args::Any),
    ("getgroups", libc::SYS_getgroups, Args::Any),
    ("setgroups", libc::SYS_setgroups, Args::Any),
    ("setresuid", libc::SYS_setresuid, Args::Any),
    ("setresgid", libc::SYS_setresgid, Args::Any),
];

/// The older forms of calls above, which x86_64 also has and its C
/// library, rustix and Rust's standard library use (other architectures
/// only have the `*at` and `p*` forms). Each does what an allowed call
/// does, so allowing it adds nothing; the ones the server was not seen to
/// make are there for embedders' code using `std::fs`.
#[cfg(target_arch = "x86_64")]
#[rustfmt::skip]
const ARCH: &[(&str, libc::c_long, Args)] = &[
    // Seen: rustix's open, glibc's dlopen and PAM, the C library's poll,
    // pam_unix's delay, mio's wait, rustix's renameat.
    ("open", libc::SYS_open, Args::Any),
    ("access", libc::SYS_access, Args::Any),
    ("readlink", libc::SYS_readlink, Args::Any),
    ("poll", libc::SYS_poll, Args::Any),
    ("select", libc::SYS_select, Args::Any),
    ("epoll_wait", libc::SYS_epoll_wait, Args::Any),
    ("renameat", libc::SYS_renameat, Args::Any),
    ("time", libc::SYS_time, Args::Any),
    // Not seen: std::fs's create_dir, remove_dir, remove_file, rename,
    // set_permissions and metadata fallbacks; glibc's fchmodat with flags.
    ("mkdir", libc::SYS_mkdir, Args::Any),
    ("rmdir", libc::SYS_rmdir, Args::Any),
    ("unlink", libc::SYS_unlink, Args::Any),
    ("rename", libc::SYS_rename, Args::Any),
    ("chmod", libc::SYS_chmod, Args::Any),
    ("stat", libc::SYS_stat, Args::Any),
    ("lstat", libc::SYS_lstat, Args::Any),
    ("fchmodat2", libc::SYS_fchmodat2, Args::Any),
];

#[cfg(not(target_arch = "x86_64"))]
const ARCH: &[(&str, libc::c_long, Args)] = &[];

/// Every allowed call of this architecture.
pub(super) fn allowed() -> impl Iterator<Item = &'static (&'static str, libc::c_long, Args)> {
    COMMON.iter().chain(ARCH)
}
