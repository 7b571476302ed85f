//! Hooks that decide: a [`Guard`] is asked before a login completes and
//! before each file operation, and may allow it, refuse it with a reply of
//! its choosing, or send an upload elsewhere. It is awaited in the session,
//! so a slow guard slows its own session only.
//!
//! The notifying [`crate::hooks::Hooks`] still run after the fact; a guard
//! runs before. Permission letters, per-directory overrides and the
//! [`crate::auth::Authorizer`] are checked first: a guard can narrow what
//! they allow, never widen it (a redirected upload is checked again at its
//! new path).
//!
//! aioftp's conditions map onto it: `ConnectionConditions` (login
//! required, not logged in...) are the built-in login checks;
//! `PathConditions` (path must exist, must be a file...) are questions a
//! guard answers with the storage it is given in [`Request::storage`];
//! `PathPermissions` are the permission letters and their per-directory
//! overrides. A condition aioftp cannot express, such as "uploads only of
//! `.csv` files" or "no logins at night", is one `match` in [`Guard::check`].

use std::fmt;
use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::reply::Reply;

use crate::auth::Account;
use crate::storage::Storage;

/// What is about to happen.
#[derive(Debug)]
#[non_exhaustive]
pub enum Operation<'a> {
    /// A login the authorizer accepted, before the 230 reply. A refusal is
    /// sent as it is and the client may try USER again; it does not count
    /// as a failed login.
    Login,
    /// STOR, APPE or STOU (for STOU, the directory it creates a name in),
    /// before the file is opened. [`Verdict::Redirect`] names another
    /// target, which must pass the permission checks in turn (not for
    /// STOU).
    Upload {
        /// Where the client asked to write.
        path: &'a VirtualPath,
        /// APPE, or STOR after REST: the file is written in place.
        append: bool,
    },
    /// An upload has received all its data and is about to be committed
    /// (renamed over its target). A refusal discards it: for STOR and
    /// STOU what was there stays, and an APPE is cut back to where it
    /// started; a STOR after REST has written in place and cannot be
    /// undone (refuse it at [`Operation::Upload`] if that matters). For
    /// content checks such as a virus scan.
    Commit {
        /// The upload's target.
        path: &'a VirtualPath,
        /// Bytes received.
        bytes: u64,
        /// The received data, readable from the start, when the storage
        /// keeps it in a file (the local storage does; for APPE and REST
        /// it is the whole file).
        content: Option<&'a File>,
    },
    /// RETR.
    Download {
        /// The file.
        path: &'a VirtualPath,
    },
    /// LIST, NLST, MLSD, MLST or STAT with a path; for `LIST -R` and
    /// `NLST -R`, also each subdirectory before it is entered (a refusal
    /// leaves it out of the listing).
    List {
        /// The directory or file listed.
        path: &'a VirtualPath,
    },
    /// DELE.
    Delete {
        /// The file.
        path: &'a VirtualPath,
    },
    /// MKD.
    MakeDir {
        /// The new directory.
        path: &'a VirtualPath,
    },
    /// RMD.
    RemoveDir {
        /// The directory.
        path: &'a VirtualPath,
    },
    /// RNTO, with the RNFR path.
    Rename {
        /// What is renamed.
        from: &'a VirtualPath,
        /// Its new name.
        to: &'a VirtualPath,
    },
    /// SITE CHMOD.
    Chmod {
        /// The file or directory.
        path: &'a VirtualPath,
        /// The permission bits asked for.
        mode: u32,
    },
    /// MFMT.
    SetTime {
        /// The file.
        path: &'a VirtualPath,
        /// Seconds since the Unix epoch.
        secs: i64,
    },
}

/// An operation with who asks for it.
#[derive(Debug)]
pub struct Request<'a> {
    /// The session's number (as in logs and hook events).
    pub session_id: u64,
    /// The client's address.
    pub client: SocketAddr,
    /// The account (for [`Operation::Login`], the one about to log in).
    pub account: &'a Account,
    /// The user's storage, to look at what is there (`None` for
    /// [`Operation::Login`] and [`Operation::Commit`]).
    pub storage: Option<&'a Arc<dyn Storage>>,
    /// What is about to happen.
    pub operation: Operation<'a>,
}

/// A guard's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Allow,
    /// Do not; send this reply (for instance 550, or 553 for a name).
    Refuse(Reply),
    /// For [`Operation::Upload`] by STOR or APPE: write to this path
    /// instead. For any other operation it is a refusal (550).
    Redirect(VirtualPath),
}

/// Decides before logins and file operations. See the [module
/// documentation](self).
///
/// Refuse uploads of executables, and let everything else go on:
///
/// ```
/// use std::sync::Arc;
/// use ferroftpd::guard::{Guard, Operation, Request, Verdict};
/// use ferroftpd::proto::reply::Reply;
///
/// #[derive(Debug)]
/// struct NoExecutables;
///
/// #[ferroftpd::storage::async_trait]
/// impl Guard for NoExecutables {
///     async fn check(&self, request: &Request<'_>) -> Verdict {
///         match &request.operation {
///             Operation::Upload { path, .. } if path.as_bytes().ends_with(b".exe") => {
///                 Verdict::Refuse(Reply::new(553, "No executables here."))
///             }
///             _ => Verdict::Allow,
///         }
///     }
/// }
///
/// let builder = ferroftpd::Server::builder().guard(Arc::new(NoExecutables));
/// # drop(builder);
/// ```
#[async_trait]
pub trait Guard: Send + Sync + fmt::Debug {
    /// Says whether `request` may go on. Called for every operation listed
    /// in [`Operation`]; answer [`Verdict::Allow`] for those you do not
    /// care about. [`Operation::Commit`], and [`Operation::List`] for the
    /// subdirectories of a recursive listing, are asked from a transfer's
    /// worker thread, which waits for the answer.
    async fn check(&self, request: &Request<'_>) -> Verdict;
}

/// The guard's question before an upload's commit, asked from the
/// transfer's worker thread.
#[derive(Debug)]
pub(crate) struct CommitCheck {
    pub(crate) guard: Arc<dyn Guard>,
    /// The runtime the guard's future runs on while the worker waits.
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) session_id: u64,
    pub(crate) client: SocketAddr,
    pub(crate) account: Account,
    pub(crate) path: VirtualPath,
}

impl CommitCheck {
    /// Blocks the calling thread (a transfer worker, never a runtime
    /// thread) until the guard answers.
    pub(crate) fn ask(&self, bytes: u64, content: Option<&File>) -> Result<(), Reply> {
        let request = Request {
            session_id: self.session_id,
            client: self.client,
            account: &self.account,
            storage: None,
            operation: Operation::Commit {
                path: &self.path,
                bytes,
                content,
            },
        };
        match self.runtime.block_on(self.guard.check(&request)) {
            Verdict::Allow => Ok(()),
            Verdict::Refuse(reply) => Err(reply),
            Verdict::Redirect(_) => Err(Reply::new(550, "Upload refused.")),
        }
    }
}
