//! Users kept in memory: the counterpart of pyftpdlib's `DummyAuthorizer`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use ferroftpd_proto::command::Password;
use ferroftpd_proto::path::VirtualPath;
use subtle::ConstantTimeEq;

use super::{Account, AuthError, Authorizer, LoginContext, PermissionRules, Permissions};
use crate::Error;

/// The user names that log in anonymously (RFC 1635).
pub const ANONYMOUS_NAMES: [&str; 2] = ["anonymous", "ftp"];

/// Optional settings of a user.
#[derive(Debug, Clone)]
pub struct UserOptions {
    /// Text of the 230 reply. Default: "Login successful."
    pub login_message: Arc<str>,
    /// Text of the 221 reply. Default: "Goodbye."
    pub quit_message: Arc<str>,
    /// Most sessions of this user at once. Default: the server's setting.
    pub max_sessions: Option<u32>,
    /// Upload rate of all the user's sessions together. Default: the
    /// server's setting.
    pub read_limit: Option<crate::Rate>,
    /// Download rate of all the user's sessions together. Default: the
    /// server's setting.
    pub write_limit: Option<crate::Rate>,
}

impl Default for UserOptions {
    fn default() -> Self {
        UserOptions {
            login_message: super::default_login_message(),
            quit_message: super::default_quit_message(),
            max_sessions: None,
            read_limit: None,
            write_limit: None,
        }
    }
}

#[derive(Debug, Clone)]
struct User {
    /// `None` for the anonymous user: any password is accepted.
    password: Option<Password>,
    home: PathBuf,
    rules: Arc<PermissionRules>,
    options: UserOptions,
}

/// Virtual users held in memory. Users can be added and removed while the
/// server runs; a change applies to the next login.
///
/// ```
/// use ferroftpd::auth::{MemoryAuthorizer, Permissions};
/// let dir = std::env::temp_dir();
/// let users = MemoryAuthorizer::new();
/// users.add_user("user", "12345", &dir, Permissions::ALL).unwrap();
/// users.add_anonymous(&dir, Permissions::READ).unwrap();
/// assert!(users.has_user("anonymous"));
/// ```
#[derive(Debug, Default)]
pub struct MemoryAuthorizer {
    users: RwLock<HashMap<String, User>>,
}

/// A password no real user has, compared against when the user name is
/// unknown so that the time taken does not reveal which names exist.
const DUMMY_PASSWORD: &str = "\u{0}ferroftpd-no-such-user\u{0}";

impl MemoryAuthorizer {
    /// An authorizer with no users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user with a password, a home directory and permissions.
    ///
    /// The home is not looked at here: the storage checks it when the user
    /// logs in, and refuses the login with 530 if it cannot open it. What a
    /// home is belongs to the storage: a directory for the default
    /// [`LocalStorageFactory`](crate::storage::LocalStorageFactory), a path
    /// inside the tree of a
    /// [`MemoryStorageFactory`](crate::storage::MemoryStorageFactory). A
    /// relative home is resolved by the storage at login (against the
    /// server's current directory, for the local filesystem). An empty
    /// home is refused.
    pub fn add_user(
        &self,
        username: &str,
        password: &str,
        home: impl AsRef<Path>,
        perms: Permissions,
    ) -> Result<(), Error> {
        self.add_user_with(username, password, home, perms, UserOptions::default())
    }

    /// Like [`Self::add_user`], with login and quit messages.
    pub fn add_user_with(
        &self,
        username: &str,
        password: &str,
        home: impl AsRef<Path>,
        perms: Permissions,
        options: UserOptions,
    ) -> Result<(), Error> {
        if ANONYMOUS_NAMES.contains(&username) {
            return Err(Error::Config(format!(
                "{username:?} is the anonymous user: use add_anonymous"
            )));
        }
        self.insert(
            username,
            Some(Password::new(password)),
            home.as_ref(),
            perms,
            options,
        )
    }

    /// Enables anonymous login (user `anonymous` or `ftp`, any password)
    /// with the given home and permissions. Read-only (`elr`) is the safe
    /// choice; write permissions are allowed but logged as a warning. The
    /// home is checked at login, as for [`Self::add_user`].
    pub fn add_anonymous(&self, home: impl AsRef<Path>, perms: Permissions) -> Result<(), Error> {
        if perms.has_write() {
            tracing::warn!(perms = %perms, "anonymous user has write permissions");
        }
        let options = UserOptions::default();
        self.insert("anonymous", None, home.as_ref(), perms, options)
    }

    fn insert(
        &self,
        username: &str,
        password: Option<Password>,
        home: &Path,
        perms: Permissions,
        options: UserOptions,
    ) -> Result<(), Error> {
        if username.is_empty() {
            return Err(Error::Config("empty user name".into()));
        }
        // The storage checks the home at login: only it knows what a home
        // is (a directory, a path in a memory tree, a bucket prefix).
        if home.as_os_str().is_empty() {
            return Err(Error::Config(format!(
                "user {username:?} has an empty home"
            )));
        }
        let home = home.to_path_buf();
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        if users.contains_key(username) {
            return Err(Error::Config(format!("user {username:?} already exists")));
        }
        let user = User {
            password,
            home,
            rules: Arc::new(PermissionRules::new(perms)),
            options,
        };
        users.insert(username.to_owned(), user);
        Ok(())
    }

    /// Removes a user. Sessions already logged in keep going.
    pub fn remove_user(&self, username: &str) -> bool {
        let name = canonical_name(username);
        self.users
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .is_some()
    }

    /// True if the user exists (`ftp` and `anonymous` are the same user).
    pub fn has_user(&self, username: &str) -> bool {
        let name = canonical_name(username);
        self.users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(name)
    }

    /// Gives `username` the permissions `perms` in `dir`, a directory as the
    /// user sees it (`/pub`): for the directory and the files directly in
    /// it, and with `recursive` for everything below it too.
    pub fn override_perm(
        &self,
        username: &str,
        dir: &str,
        perms: Permissions,
        recursive: bool,
    ) -> Result<(), Error> {
        let name = canonical_name(username);
        let dir = VirtualPath::root()
            .resolve(dir.as_bytes())
            .map_err(|_| Error::Config(format!("bad directory {dir:?}")))?;
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let user = users
            .get_mut(name)
            .ok_or_else(|| Error::Config(format!("no user {username:?}")))?;
        Arc::make_mut(&mut user.rules).override_dir(dir, perms, recursive);
        Ok(())
    }

    /// The permissions of a user outside any override.
    pub fn permissions(&self, username: &str) -> Option<Permissions> {
        let name = canonical_name(username);
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.get(name).map(|u| u.rules.base())
    }
}

fn canonical_name(username: &str) -> &str {
    if ANONYMOUS_NAMES.contains(&username) {
        "anonymous"
    } else {
        username
    }
}

fn passwords_match(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[async_trait]
impl Authorizer for MemoryAuthorizer {
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
        _context: &LoginContext,
    ) -> Result<Account, AuthError> {
        let name = canonical_name(username);
        let user = self
            .users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        let Some(user) = user else {
            passwords_match(password.expose(), DUMMY_PASSWORD);
            return Err(if name == "anonymous" {
                AuthError::AnonymousDisabled
            } else {
                AuthError::BadCredentials
            });
        };
        if let Some(expected) = &user.password {
            if !passwords_match(password.expose(), expected.expose()) {
                return Err(AuthError::BadCredentials);
            }
        }
        let mut account = Account::new(name, user.home, Permissions::NONE);
        account.rules = user.rules;
        account.login_message = user.options.login_message;
        account.quit_message = user.options.quit_message;
        account.anonymous = user.password.is_none();
        account.max_sessions = user.options.max_sessions;
        account.read_limit = user.options.read_limit;
        account.write_limit = user.options.write_limit;
        Ok(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn ctx() -> LoginContext {
        LoginContext {
            client: SocketAddr::from(([127, 0, 0, 1], 1)),
        }
    }

    #[tokio::test]
    async fn users_and_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let auth = MemoryAuthorizer::new();
        auth.add_user("bob", "secret", dir.path(), Permissions::ALL)
            .unwrap();
        assert!(auth
            .add_user("bob", "x", dir.path(), Permissions::ALL)
            .is_err());
        assert!(auth
            .add_user("anonymous", "x", dir.path(), Permissions::ALL)
            .is_err());
        assert!(auth.add_user("eve", "x", "", Permissions::ALL).is_err());
        // A home that is no directory on disk is taken: the storage checks
        // it at login (a memory tree has homes no disk has).
        auth.add_user("virtual", "x", "/alice", Permissions::ALL)
            .unwrap();
        let virtual_home = auth
            .authenticate("virtual", &Password::new("x"), &ctx())
            .await
            .unwrap();
        assert_eq!(virtual_home.home, Path::new("/alice"));

        let ok = auth
            .authenticate("bob", &Password::new("secret"), &ctx())
            .await
            .unwrap();
        assert_eq!(ok.username, "bob");
        assert!(!ok.anonymous);
        let bad = auth
            .authenticate("bob", &Password::new("secreT"), &ctx())
            .await;
        assert_eq!(bad.unwrap_err(), AuthError::BadCredentials);
        let unknown = auth
            .authenticate("nobody", &Password::new("secret"), &ctx())
            .await;
        assert_eq!(unknown.unwrap_err(), AuthError::BadCredentials);
        let anon = auth.authenticate("ftp", &Password::new("x"), &ctx()).await;
        assert_eq!(anon.unwrap_err(), AuthError::AnonymousDisabled);

        auth.add_anonymous(dir.path(), Permissions::READ).unwrap();
        let anon = auth
            .authenticate("ftp", &Password::new("me@example.com"), &ctx())
            .await
            .unwrap();
        assert!(anon.anonymous);
        assert_eq!(anon.rules.base(), Permissions::READ);

        auth.override_perm("bob", "/ro", Permissions::READ, true)
            .unwrap();
        let bob = auth
            .authenticate("bob", &Password::new("secret"), &ctx())
            .await
            .unwrap();
        let ro = VirtualPath::root().resolve(b"/ro/x").unwrap();
        assert_eq!(bob.rules.at(&ro), Permissions::READ);

        assert!(auth.remove_user("bob"));
        assert!(!auth.has_user("bob"));
        assert!(!auth.remove_user("bob"));
    }
}
