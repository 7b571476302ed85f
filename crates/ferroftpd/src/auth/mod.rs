//! Who may log in, where their home is, and what they may do.
//!
//! An [`Authorizer`] checks credentials and returns an [`Account`]: the home
//! directory, the permission rules, and the login and quit messages. The
//! built-in [`MemoryAuthorizer`] keeps users in memory, as pyftpdlib's
//! `DummyAuthorizer` does. Two more come with Cargo features:
//! `UsersFile` (a TOML file with password hashes; feature `users-file`, on
//! by default) and `SystemAuthorizer` (the system's accounts through PAM;
//! feature `system-users`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd_proto::command::Password;
use ferroftpd_proto::path::VirtualPath;
pub use ferroftpd_proto::perms::{Permission, Permissions};

mod memory;
#[cfg(feature = "system-users")]
mod pam;
#[cfg(feature = "system-users")]
mod system;
#[cfg(feature = "users-file")]
mod users_file;
pub use memory::{MemoryAuthorizer, UserOptions};
#[cfg(feature = "system-users")]
pub use pam::PamLoadError;
#[cfg(feature = "system-users")]
pub use system::{Confinement, SystemAuthorizer, SystemAuthorizerBuilder, SystemUsersError};
#[cfg(feature = "users-file")]
pub use users_file::{hash_password, verify_password, HashScheme, UsersFile, UsersFileError};

/// A logged-in user's identity and rights. Made with [`Account::new`];
/// the optional fields can then be set directly.
#[derive(Clone)]
#[non_exhaustive]
pub struct Account {
    /// The user name, as given to USER.
    pub username: String,
    /// The directory the user sees as `/`.
    pub home: PathBuf,
    /// What the user may do, by directory.
    pub rules: Arc<PermissionRules>,
    /// Text of the 230 reply. Shared, not copied, by the sessions of a
    /// user: every idle session holds its account.
    pub login_message: Arc<str>,
    /// Text of the 221 reply.
    pub quit_message: Arc<str>,
    /// True for anonymous sessions.
    pub anonymous: bool,
    /// Most sessions of this user at once; `None` uses the server's
    /// setting.
    pub max_sessions: Option<u32>,
    /// Upload rate of all this user's sessions together; `None` uses the
    /// server's setting.
    pub read_limit: Option<crate::Rate>,
    /// Download rate of all this user's sessions together; `None` uses the
    /// server's setting.
    pub write_limit: Option<crate::Rate>,
    /// The system account to act as for file access: when set, the
    /// storage does every filesystem operation of the session with this
    /// uid, gid and supplementary groups (see [`Identity`]). `None` (the
    /// default) acts as the server process.
    pub identity: Option<Arc<Identity>>,
    /// The directory the session starts in, as the user sees it. `None`
    /// (the default) is `/`, the home.
    pub start_dir: Option<VirtualPath>,
    /// Folders mounted in the user's tree and the user's quota. `None`
    /// (the default): the home alone, with the server's default quota.
    /// Shared: every idle session holds its account.
    pub storage_settings: Option<Arc<crate::storage::StorageSettings>>,
    /// The umask of the files and directories this user creates on a
    /// [`LocalStorage`](crate::storage::LocalStorage) (see
    /// [`Builder::umask`](crate::Builder::umask)). `None` (the default)
    /// uses the server's setting.
    pub umask: Option<u32>,
    /// Whether this user's listings show fake owner and group names
    /// (`Some(true)`) or the real ones (`Some(false)`). `None` (the
    /// default) follows the server's [`crate::Builder::hide_ids`].
    pub hide_ids: Option<bool>,
}

/// "Login successful.", allocated once for every account that uses it.
pub(crate) fn default_login_message() -> Arc<str> {
    static TEXT: std::sync::LazyLock<Arc<str>> =
        std::sync::LazyLock::new(|| Arc::from("Login successful."));
    TEXT.clone()
}

/// "Goodbye.", allocated once.
pub(crate) fn default_quit_message() -> Arc<str> {
    static TEXT: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from("Goodbye."));
    TEXT.clone()
}

impl Account {
    /// An account with the default messages and no limits of its own.
    pub fn new(username: impl Into<String>, home: impl Into<PathBuf>, perms: Permissions) -> Self {
        Account {
            username: username.into(),
            home: home.into(),
            rules: Arc::new(PermissionRules::new(perms)),
            login_message: default_login_message(),
            quit_message: default_quit_message(),
            anonymous: false,
            max_sessions: None,
            read_limit: None,
            write_limit: None,
            identity: None,
            start_dir: None,
            storage_settings: None,
            umask: None,
            hide_ids: None,
        }
    }
}

/// Unix credentials to act as: the kernel then checks every file access
/// against them, and new files belong to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User id (real, effective and saved).
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("home", &self.home)
            .field("anonymous", &self.anonymous)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// Permissions for a whole home, with overrides for some directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionRules {
    base: Permissions,
    overrides: Vec<Override>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Override {
    dir: VirtualPath,
    perms: Permissions,
    recursive: bool,
}

impl PermissionRules {
    /// The same permissions everywhere.
    pub fn new(base: Permissions) -> Self {
        PermissionRules {
            base,
            overrides: Vec::new(),
        }
    }

    /// Uses `perms` in `dir` (a path as the user sees it, e.g. `/pub`): for
    /// the directory itself and the files directly in it, and when
    /// `recursive`, for everything below it too. The deepest matching
    /// override wins.
    pub fn override_dir(&mut self, dir: VirtualPath, perms: Permissions, recursive: bool) {
        self.overrides.retain(|o| o.dir != dir);
        self.overrides.push(Override {
            dir,
            perms,
            recursive,
        });
    }

    /// The permissions that apply to `path`.
    pub fn at(&self, path: &VirtualPath) -> Permissions {
        let parent = path.parent();
        self.overrides
            .iter()
            .filter(|o| {
                &o.dir == path
                    || parent.as_ref() == Some(&o.dir)
                    || (o.recursive && path.starts_with(&o.dir))
            })
            .max_by_key(|o| o.dir.as_bytes().len())
            .map_or(self.base, |o| o.perms)
    }

    /// True if `perm` is allowed on `path`.
    pub fn allows(&self, perm: Permission, path: &VirtualPath) -> bool {
        self.at(path).allows(perm)
    }

    /// The permissions on the entries of directory `dir`: what applies to
    /// a name directly in it that has no override of its own. Adding or
    /// taking away an entry (upload of a new name, MKD, DELE, RMD, either
    /// side of a rename) changes `dir`, so it needs these, whatever the
    /// entry's own override says.
    pub fn within(&self, dir: &VirtualPath) -> Permissions {
        self.overrides
            .iter()
            .filter(|o| &o.dir == dir || (o.recursive && dir.starts_with(&o.dir)))
            .max_by_key(|o| o.dir.as_bytes().len())
            .map_or(self.base, |o| o.perms)
    }

    /// True if an override applies to `path` or to anything below it:
    /// moving `path` would take that tree out from under its rule.
    pub fn has_override_at_or_below(&self, path: &VirtualPath) -> bool {
        self.overrides.iter().any(|o| o.dir.starts_with(path))
    }

    /// The permissions outside any override.
    pub fn base(&self) -> Permissions {
        self.base
    }
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Wrong user name or password. Deliberately says not which.
    #[error("authentication failed")]
    BadCredentials,
    /// Anonymous login is not offered.
    #[error("anonymous access not allowed")]
    AnonymousDisabled,
    /// The account exists but may not log in now; the text is shown.
    #[error("{0}")]
    Refused(String),
}

/// What the server knows about the client at login.
#[derive(Debug, Clone, Copy)]
pub struct LoginContext {
    /// The client's address.
    pub client: SocketAddr,
}

/// What [`Authorizer::lookup`] says about a user name given to USER.
#[derive(Debug)]
#[non_exhaustive]
pub enum Lookup {
    /// Ask for a password (331) and call [`Authorizer::authenticate`]. The
    /// default, and the right answer for unknown names too, so that names
    /// cannot be probed (RFC 2577).
    PasswordRequired,
    /// Logged in without a password (230), like aioftp's
    /// `GetUserResponse.OK`.
    LoggedIn(Account),
    /// Refused at once with this text (530).
    Refused(String),
}

/// Checks credentials and describes accounts.
///
/// Implementations decide what names are anonymous, how passwords are
/// stored and compared (in constant time), and where homes are. The server
/// adds the failed-login delay and the attempt limit itself.
///
/// A login goes: [`Authorizer::lookup`] on USER, [`Authorizer::authenticate`]
/// on PASS, [`Authorizer::permits`] before each operation, and
/// [`Authorizer::logout`] at the end. The [`Account`] carries the home,
/// the permission rules, the login and quit messages, and the limits.
/// An account with an [`Identity`] has its file access done as that
/// system user (`SystemAuthorizer`, feature `system-users`, sets one).
///
/// One user whose password is checked by a function of your own (a
/// database, an LDAP bind); `examples/sqlite_users.rs` is a complete one:
///
/// ```
/// use std::sync::Arc;
/// use ferroftpd::auth::{Account, AuthError, Authorizer, LoginContext, Permissions};
/// use ferroftpd::proto::command::Password;
///
/// #[derive(Debug)]
/// struct OneUser;
///
/// #[ferroftpd::storage::async_trait]
/// impl Authorizer for OneUser {
///     async fn authenticate(
///         &self,
///         username: &str,
///         password: &Password,
///         _context: &LoginContext,
///     ) -> Result<Account, AuthError> {
///         // Compare in constant time in real code (`subtle`), or verify a
///         // hash with `ferroftpd::auth::verify_password`.
///         if username == "alice" && password.expose() == "wonderland" {
///             Ok(Account::new("alice", "/srv/ftp/alice", Permissions::ALL))
///         } else {
///             Err(AuthError::BadCredentials)
///         }
///     }
/// }
///
/// let builder = ferroftpd::Server::builder().authorizer(Arc::new(OneUser));
/// # drop(builder);
/// ```
#[async_trait]
pub trait Authorizer: Send + Sync + fmt::Debug {
    /// Called on USER, before any password. Default:
    /// [`Lookup::PasswordRequired`].
    async fn lookup(&self, _username: &str, _context: &LoginContext) -> Lookup {
        Lookup::PasswordRequired
    }

    /// Checks `username` and `password`; on success returns the account.
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
        context: &LoginContext,
    ) -> Result<Account, AuthError>;

    /// Called once when a logged-in session ends (QUIT, disconnect, or a new
    /// USER).
    async fn logout(&self, _account: &Account) {}

    /// Whether `account` may do `perm` on `path`, checked before every
    /// operation. Default: the account's [`PermissionRules`]. Override it
    /// for rules the letters cannot express; it is called often, so it must
    /// not block.
    fn permits(&self, account: &Account, perm: Permission, path: &VirtualPath) -> bool {
        account.rules.allows(perm, path)
    }

    /// Whether `account` may do `perm` to the entries of directory `dir`:
    /// add one (upload of a new name, STOU, MKD, the target of RNTO) or
    /// take one away (DELE, RMD, the source of RNFR). Checked as well as
    /// [`Self::permits`] on the entry itself, so that an entry's own
    /// override cannot let it be removed from, or added to, a directory
    /// the user may not change. Default: [`PermissionRules::within`].
    /// Override it with [`Self::permits`].
    fn permits_in(&self, account: &Account, perm: Permission, dir: &VirtualPath) -> bool {
        account.rules.within(dir).allows(perm)
    }

    /// Whether the tree at `path` may be renamed or moved. Permissions
    /// follow paths, so moving a tree that holds a directory with rules of
    /// its own would take it out from under them. Default: refused when an
    /// override applies at or below `path`
    /// ([`PermissionRules::has_override_at_or_below`]).
    fn permits_move(&self, account: &Account, path: &VirtualPath) -> bool {
        !account.rules.has_override_at_or_below(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(s: &str) -> VirtualPath {
        VirtualPath::root().resolve(s.as_bytes()).unwrap()
    }

    #[test]
    fn overrides() {
        let mut rules = PermissionRules::new(Permissions::READ);
        rules.override_dir(vp("/upload"), Permissions::ALL, false);
        rules.override_dir(vp("/deep"), Permissions::ALL, true);
        rules.override_dir(vp("/deep/ro"), Permissions::READ, true);
        let cases = [
            ("/", Permissions::READ),
            ("/file", Permissions::READ),
            ("/upload", Permissions::ALL),
            ("/upload/a", Permissions::ALL),
            ("/upload/a/b", Permissions::READ),
            ("/uploads", Permissions::READ),
            ("/deep/a/b/c", Permissions::ALL),
            ("/deep/ro/x/y", Permissions::READ),
        ];
        for (path, want) in cases {
            assert_eq!(rules.at(&vp(path)), want, "{path}");
        }
        // The entries of a directory: its own override, or the nearest
        // recursive one above, never the override of a directory below.
        let within = [
            ("/", Permissions::READ),
            ("/upload", Permissions::ALL),
            ("/upload/a", Permissions::READ),
            ("/deep", Permissions::ALL),
            ("/deep/a", Permissions::ALL),
            ("/deep/ro", Permissions::READ),
            ("/deep/ro/x", Permissions::READ),
        ];
        for (dir, want) in within {
            assert_eq!(rules.within(&vp(dir)), want, "within {dir}");
        }
        // "/deep" itself has its override's permissions, but it is an
        // entry of "/", which is read-only.
        assert_eq!(rules.at(&vp("/deep")), Permissions::ALL);
        for (path, want) in [
            ("/deep", true),
            ("/deep/a", false),
            ("/deep/ro", true),
            ("/deep/ro/x", false),
            ("/upload/a", false),
            ("/", true),
            ("/other", false),
        ] {
            assert_eq!(rules.has_override_at_or_below(&vp(path)), want, "{path}");
        }
    }
}
