//! `--run-as USER`: started as root to bind ports below 1024 (21, 990),
//! the server becomes USER once its sockets are bound and its sandbox is
//! in place, before the runtime starts and before any session.
//!
//! Every uid (real, effective, saved) and gid becomes USER's, and the
//! supplementary groups become USER's groups, with glibc's calls, which
//! change every thread of the process. With all uids non-zero the kernel
//! clears the permitted and effective capabilities: no capability is kept,
//! and the server cannot become root again (checked after the drop).
//!
//! What runs as root: option parsing, reading the config, users file, TLS
//! certificate and key, opening log files and the pid file, and binding
//! the listeners. What runs as USER: everything after, including every
//! session and every SIGHUP reload (which then reads those files as USER,
//! and keeps the old settings with a logged reason if it cannot).
//!
//! `--system-users` cannot run this way: each session's thread takes its
//! user's uid, which needs root (docs/system-users.md); the combination is
//! refused.

use std::ffi::CString;

use anyhow::{bail, Context, Result};
use nix::unistd::{getgrouplist, setgroups, setresgid, setresuid, Gid, Uid, User};

/// The account `--run-as` names, looked up before the drop.
pub struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
}

impl RunAs {
    /// Looks up `name` and checks that the drop can work: the process is
    /// root, the account exists and is not root, and `--system-users` is
    /// off.
    pub fn prepare(name: &str, system_users: bool) -> Result<RunAs> {
        if system_users {
            bail!(
                "--run-as cannot be used with --system-users: each session takes its user's \
                 uid, which only root can do (run as root; see docs/system-users.md)"
            );
        }
        let user = User::from_name(name)
            .with_context(|| format!("--run-as {name}: reading the user database"))?
            .with_context(|| format!("--run-as {name}: no such user"))?;
        if user.uid.is_root() {
            bail!("--run-as {name}: uid 0 is root; name an unprivileged account");
        }
        if !Uid::effective().is_root() {
            bail!(
                "--run-as {name}: the server must start as root to drop to another user \
                 (it runs as uid {} now)",
                Uid::effective()
            );
        }
        let c_name = CString::new(name).context("--run-as: a name with a NUL byte")?;
        let groups = getgrouplist(&c_name, user.gid)
            .with_context(|| format!("--run-as {name}: reading the user's groups"))?;
        Ok(RunAs {
            name: name.to_owned(),
            uid: user.uid,
            gid: user.gid,
            groups,
        })
    }

    /// Becomes the user, for good: groups first (only root may set them),
    /// then gids, then uids. Fails if root could be regained after.
    pub fn drop_privileges(&self) -> Result<()> {
        let name = &self.name;
        setgroups(&self.groups).with_context(|| format!("--run-as {name}: setting groups"))?;
        setresgid(self.gid, self.gid, self.gid)
            .with_context(|| format!("--run-as {name}: setting gid {}", self.gid))?;
        setresuid(self.uid, self.uid, self.uid)
            .with_context(|| format!("--run-as {name}: setting uid {}", self.uid))?;
        if setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).is_ok() {
            bail!("--run-as {name}: root could be regained after the drop; refusing to serve");
        }
        // The uid change made the process dumpable again if
        // fs.suid_dumpable allows: its memory still holds what root read
        // (the TLS key).
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .with_context(|| format!("--run-as {name}: clearing the dumpable flag"))?;
        tracing::info!(
            uid = self.uid.as_raw(),
            gid = self.gid.as_raw(),
            "running as {name}; no capabilities kept"
        );
        Ok(())
    }
}
