//! The accounts of the operating system, checked with PAM, like
//! pyftpdlib's `UnixAuthorizer` and vsftpd's local users.
//!
//! A login goes: the name against the allowed and rejected lists (the
//! configuration only), then PAM's `pam_authenticate` and `pam_acct_mgmt`,
//! then the passwd database (uid, gid, home, shell) and the supplementary
//! groups, then the shell against `/etc/shells`. PAM runs before the
//! account checks so that unknown users and wrong passwords take the same
//! path; only a caller who knows the password learns that the shell or uid
//! check refused an account. Every refusal is the same "530 Authentication failed."; the
//! reason goes to the log.
//!
//! The [`Account`] carries the user's [`Identity`]: the storage then does
//! every file operation with the user's credentials, so the kernel's
//! permission checks apply and new files belong to the user. All of this
//! needs the server to run as root.
//!
//! libpam is loaded at run time (see the `pam` module), when the
//! authorizer is built: building needs no PAM headers, and a missing
//! libpam is reported at startup.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd_proto::command::Password;
use ferroftpd_proto::path::VirtualPath;
use std::ffi::CStr;

use super::memory::ANONYMOUS_NAMES;
use super::pam::{self, Pam, PamError, PamLoadError};
use super::{Account, AuthError, Authorizer, Identity, LoginContext, Permissions};

/// The PAM service used unless one is set; without a file of that name in
/// `/etc/pam.d`, PAM uses its `other` service.
pub const DEFAULT_PAM_SERVICE: &str = "ferroftpd";

/// Where the valid login shells are listed.
const SHELLS_FILE: &str = "/etc/shells";

/// What part of the filesystem a system user sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Confinement {
    /// The home directory is `/` and nothing outside it can be reached,
    /// like vsftpd's `chroot_local_user`. The default.
    #[default]
    Home,
    /// The whole filesystem, with real paths; the session starts in the
    /// home directory, like pyftpdlib's `UnixFilesystem`. Only the
    /// kernel's permission checks limit what the user reaches.
    Unconfined,
}

/// A [`SystemAuthorizer`] setting that cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SystemUsersError {
    /// The PAM service name is empty or contains a NUL or a slash.
    #[error("invalid PAM service name {0:?}")]
    InvalidService(String),
    /// The system account for anonymous logins does not exist.
    #[error("no system account {0:?} for anonymous logins")]
    NoAnonymousAccount(String),
    /// The system account for anonymous logins has uid 0.
    #[error("the anonymous account {0:?} is root: choose an unprivileged one such as ftp")]
    AnonymousIsRoot(String),
    /// The passwd database could not be read.
    #[error("reading the passwd database: {0}")]
    Passwd(#[source] std::io::Error),
    /// The anonymous account's home is the root directory (or leads
    /// there): confining anonymous users to it would confine nothing.
    #[error("the home of the anonymous account {0:?} is the root directory: choose an account with a home of its own")]
    AnonymousHomeIsRoot(String),
    /// libpam could not be loaded: it is opened at run time, when the
    /// authorizer is built.
    #[error(transparent)]
    Pam(#[from] PamLoadError),
}

/// Logs in the accounts of the operating system. Made with
/// [`SystemAuthorizer::builder`].
#[derive(Debug, Clone)]
pub struct SystemAuthorizer {
    /// Shared with the blocking task of each login, without copying.
    settings: Arc<Settings>,
}

#[derive(Debug)]
struct Settings {
    service: String,
    allowed: Option<HashSet<String>>,
    rejected: HashSet<String>,
    require_valid_shell: bool,
    perms: Permissions,
    user_perms: HashMap<String, Permissions>,
    confinement: Confinement,
    anonymous: Option<AnonymousAccount>,
    whole_process: bool,
}

/// The system account anonymous logins act as.
#[derive(Debug, Clone)]
struct AnonymousAccount {
    user: SystemUser,
    perms: Permissions,
}

/// Builds a [`SystemAuthorizer`]; every setting has a documented default.
#[derive(Debug, Clone)]
pub struct SystemAuthorizerBuilder {
    service: String,
    allowed: Option<HashSet<String>>,
    rejected: HashSet<String>,
    require_valid_shell: bool,
    perms: Permissions,
    user_perms: HashMap<String, Permissions>,
    confinement: Confinement,
    anonymous: Option<(String, Permissions)>,
    whole_process: bool,
}

impl SystemAuthorizer {
    /// A builder with the defaults.
    pub fn builder() -> SystemAuthorizerBuilder {
        SystemAuthorizerBuilder {
            service: DEFAULT_PAM_SERVICE.to_owned(),
            allowed: None,
            rejected: HashSet::from(["root".to_owned()]),
            require_valid_shell: true,
            perms: Permissions::ALL,
            user_perms: HashMap::new(),
            confinement: Confinement::Home,
            anonymous: None,
            whole_process: false,
        }
    }
}

impl SystemAuthorizerBuilder {
    /// The PAM service whose configuration (`/etc/pam.d/NAME`) checks
    /// passwords. Default: `ferroftpd`.
    pub fn pam_service(mut self, name: impl Into<String>) -> Self {
        self.service = name.into();
        self
    }

    /// Only these users may log in. Default: any user not rejected.
    pub fn allowed_users<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// These users may never log in; replaces the list. Default: `root`.
    /// (Accounts with uid 0 are refused whatever their name.)
    pub fn rejected_users<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rejected = names.into_iter().map(Into::into).collect();
        self
    }

    /// Refuse users whose login shell is not listed in `/etc/shells`
    /// (such as `/usr/sbin/nologin`). Default: true.
    pub fn require_valid_shell(mut self, require: bool) -> Self {
        self.require_valid_shell = require;
        self
    }

    /// The permissions of every user. Default: [`Permissions::ALL`]
    /// (`elradfmwMT`); the kernel's own checks apply on top.
    pub fn permissions(mut self, perms: Permissions) -> Self {
        self.perms = perms;
        self
    }

    /// Other permissions for one user.
    pub fn user_permissions(mut self, name: impl Into<String>, perms: Permissions) -> Self {
        self.user_perms.insert(name.into(), perms);
        self
    }

    /// Home-confined (the default) or the whole filesystem.
    pub fn confinement(mut self, confinement: Confinement) -> Self {
        self.confinement = confinement;
        self
    }

    /// Let `anonymous` and `ftp` log in with any password, as the system
    /// account `account` (e.g. `ftp` or `nobody`), confined to its home
    /// with `perms`. Default: no anonymous logins.
    pub fn anonymous(mut self, account: impl Into<String>, perms: Permissions) -> Self {
        self.anonymous = Some((account.into(), perms));
        self
    }

    /// Whether a login makes the whole process the user, for good: the
    /// real, effective and saved uid and gid and the supplementary groups
    /// of every thread become the user's, the process stops being
    /// dumpable, and the [`Account`] comes back without an [`Identity`],
    /// so that its files are opened and its transfers run with the
    /// process's own credentials. Only for a process that serves a single
    /// session, as vsftpd's session processes do (ferroftpd's
    /// `--isolate-sessions`): every other session of the process would act
    /// as that user too. Once a user has logged in, the process cannot
    /// become anyone else (and PAM, no longer root, may not check even
    /// that user's password again). The change happens in
    /// [`Authorizer::authenticate`], before the server's own checks of the
    /// login (session limits, the home): a login they refuse leaves the
    /// process the user's. A change that fails half-way ends the process.
    /// Needs root until the login. Default: false (the storage acts as the
    /// user on a thread of its own).
    pub fn become_user_at_login(mut self, whole_process: bool) -> Self {
        self.whole_process = whole_process;
        self
    }

    /// Checks the settings, loads libpam (`libpam.so.0`, once per
    /// process), and looks up the anonymous account, if any.
    pub fn build(self) -> Result<SystemAuthorizer, SystemUsersError> {
        if self.service.is_empty() || self.service.contains(['\0', '/']) {
            return Err(SystemUsersError::InvalidService(self.service));
        }
        Pam::get()?;
        let anonymous = match self.anonymous {
            None => None,
            Some((name, perms)) => {
                let user = SystemUser::lookup(&name)
                    .map_err(SystemUsersError::Passwd)?
                    .ok_or_else(|| SystemUsersError::NoAnonymousAccount(name.clone()))?;
                if user.identity.uid == 0 {
                    return Err(SystemUsersError::AnonymousIsRoot(name));
                }
                if is_root_dir(&user.home) {
                    return Err(SystemUsersError::AnonymousHomeIsRoot(name));
                }
                if perms.has_write() {
                    tracing::warn!(account = %name, perms = %perms, "anonymous user has write permissions");
                }
                Some(AnonymousAccount { user, perms })
            }
        };
        let settings = Settings {
            service: self.service,
            allowed: self.allowed,
            rejected: self.rejected,
            require_valid_shell: self.require_valid_shell,
            perms: self.perms,
            user_perms: self.user_perms,
            confinement: self.confinement,
            anonymous,
            whole_process: self.whole_process,
        };
        Ok(SystemAuthorizer {
            settings: Arc::new(settings),
        })
    }
}

/// One entry of the passwd database, with its groups.
#[derive(Debug, Clone)]
struct SystemUser {
    name: String,
    home: PathBuf,
    shell: PathBuf,
    identity: Identity,
}

impl SystemUser {
    /// Looks `name` up through the C library (so NSS sources such as LDAP
    /// count too). Blocks.
    fn lookup(name: &str) -> std::io::Result<Option<SystemUser>> {
        let Some(user) = nix::unistd::User::from_name(name)? else {
            return Ok(None);
        };
        let cname = CString::new(name).map_err(std::io::Error::other)?;
        let groups = nix::unistd::getgrouplist(&cname, user.gid)?;
        Ok(Some(SystemUser {
            name: user.name,
            home: user.dir,
            shell: user.shell,
            identity: Identity {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
                groups: groups.into_iter().map(|g| g.as_raw()).collect(),
            },
        }))
    }
}

/// Why a system user's login was refused, for the log only.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("PAM: {0}")]
    Pam(#[from] PamError),
    #[error("not in the passwd database")]
    Unknown,
    #[error("uid 0")]
    Root,
    #[error("login shell {0:?} is not in /etc/shells")]
    Shell(PathBuf),
    #[error("home directory {0:?} is not an absolute path")]
    Home(PathBuf),
    #[error("home directory {0:?} is the root directory, and sessions are confined to the home")]
    HomeIsRoot(PathBuf),
    #[error("the account's name {0:?} is not allowed by the user lists")]
    NotAllowed(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Settings {
    /// The allowed and rejected lists: configuration only, so refusing
    /// here reveals nothing about which accounts exist.
    fn name_allowed(&self, username: &str) -> bool {
        !self.rejected.contains(username)
            && self.allowed.as_ref().is_none_or(|a| a.contains(username))
    }

    /// PAM, then the passwd database and the shell. Blocks.
    fn check(&self, username: &str, password: &str, client: &str) -> Result<SystemUser, Refusal> {
        pam_authenticate(&self.service, username, password, client)?;
        let user = SystemUser::lookup(username)?.ok_or(Refusal::Unknown)?;
        if user.identity.uid == 0 {
            return Err(Refusal::Root);
        }
        // The lists again, with the name the database gives: a
        // case-insensitive source (LDAP, SSSD) may have matched "BOB" to
        // "bob".
        if !self.name_allowed(&user.name) {
            return Err(Refusal::NotAllowed(user.name));
        }
        if self.require_valid_shell && !shell_listed(&user.shell, Path::new(SHELLS_FILE))? {
            return Err(Refusal::Shell(user.shell));
        }
        if !user.home.is_absolute() {
            return Err(Refusal::Home(user.home));
        }
        if self.confinement == Confinement::Home && is_root_dir(&user.home) {
            return Err(Refusal::HomeIsRoot(user.home));
        }
        Ok(user)
    }

    fn account(&self, user: SystemUser) -> Account {
        let perms = self
            .user_perms
            .get(&user.name)
            .copied()
            .unwrap_or(self.perms);
        let mut account = match self.confinement {
            Confinement::Home => Account::new(&user.name, &user.home, perms),
            Confinement::Unconfined => {
                let mut account = Account::new(&user.name, "/", perms);
                // The home as a path from `/`; a home that is not a
                // usable path leaves the session at `/`.
                account.start_dir = VirtualPath::root()
                    .resolve(user.home.as_os_str().as_encoded_bytes())
                    .ok();
                account
            }
        };
        account.identity = Some(Arc::new(user.identity));
        account
    }

    fn anonymous_account(&self, anonymous: &AnonymousAccount) -> Account {
        // Always confined: the anonymous account's home is its whole world.
        let user = &anonymous.user;
        let mut account = Account::new("anonymous", &user.home, anonymous.perms);
        account.anonymous = true;
        account.identity = Some(Arc::new(user.identity.clone()));
        account
    }
}

/// True if `path` is, or leads to, the root directory (`/`, `/home/..`, a
/// symbolic link to `/`).
fn is_root_dir(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), std::fs::metadata("/")) {
        (Ok(home), Ok(root)) => home.dev() == root.dev() && home.ino() == root.ino(),
        _ => false,
    }
}

/// The PAM conversation of an FTP login: the user name for a visible
/// prompt, the password for the first hidden one, and a conversation error
/// for any further hidden prompt (a one-time code, say), so that a second
/// factor is never answered with the password.
struct PasswordOnce {
    username: String,
    password: Option<String>,
}

impl pam::Conversation for PasswordOnce {
    fn prompt_echo_on(&mut self, _prompt: &CStr) -> Option<CString> {
        CString::new(self.username.as_str()).ok()
    }

    fn prompt_echo_off(&mut self, _prompt: &CStr) -> Option<CString> {
        CString::new(self.password.take()?).ok()
    }

    fn text_info(&mut self, msg: &CStr) {
        tracing::debug!(message = %msg.to_string_lossy(), "PAM");
    }

    fn error_msg(&mut self, msg: &CStr) {
        tracing::debug!(message = %msg.to_string_lossy(), "PAM error");
    }
}

/// `pam_authenticate` then `pam_acct_mgmt` (expired accounts, `pam_access`
/// rules...). No PAM session is opened. Blocks; PAM modules may sleep on
/// failure (pam_unix waits about 2 s).
fn pam_authenticate(
    service: &str,
    username: &str,
    password: &str,
    client: &str,
) -> Result<(), PamError> {
    let conversation = PasswordOnce {
        username: username.to_owned(),
        password: Some(password.to_owned()),
    };
    // Loaded by `SystemAuthorizerBuilder::build`: only the error is new.
    let pam = Pam::get().map_err(|e| PamError {
        function: "dlopen",
        code: pam::Code::ABORT,
        message: e.to_string(),
    })?;
    let mut transaction = pam.start(service, username, conversation)?;
    // For modules that look at where a login comes from (pam_access).
    transaction.set_item(pam::Item::Rhost, client)?;
    transaction.set_item(pam::Item::Tty, "ftp")?;
    let flags = pam::DISALLOW_NULL_AUTHTOK;
    transaction.authenticate(flags)?;
    transaction.acct_mgmt(flags)?;
    Ok(())
}

/// True if `shell` is one of the lines of the shells file (comments and
/// blank lines aside).
fn shell_listed(shell: &Path, shells_file: &Path) -> std::io::Result<bool> {
    let text = match std::fs::read_to_string(shells_file) {
        Ok(text) => text,
        // No list: no shell is valid.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| Path::new(l) == shell))
}

#[async_trait]
impl Authorizer for SystemAuthorizer {
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
        context: &LoginContext,
    ) -> Result<Account, AuthError> {
        let account = self.check_login(username, password, context).await?;
        if !self.settings.whole_process {
            return Ok(account);
        }
        become_process_user(account).await
    }
}

impl SystemAuthorizer {
    /// The account of `username` if the login passes every check.
    async fn check_login(
        &self,
        username: &str,
        password: &Password,
        context: &LoginContext,
    ) -> Result<Account, AuthError> {
        let settings = &self.settings;
        if ANONYMOUS_NAMES.contains(&username) {
            return match &settings.anonymous {
                Some(anonymous) => Ok(settings.anonymous_account(anonymous)),
                None => Err(AuthError::AnonymousDisabled),
            };
        }
        if !settings.name_allowed(username) {
            tracing::info!(user = %username.escape_default(), "system user refused: not allowed by the user lists");
            return Err(AuthError::BadCredentials);
        }
        let this = settings.clone();
        let username = username.to_owned();
        let password = password.expose().to_owned();
        let client = context.client.ip().to_string();
        let result = tokio::task::spawn_blocking(move || {
            let checked = this.check(&username, &password, &client);
            (this, username, checked)
        })
        .await;
        match result {
            Ok((this, _, Ok(user))) => Ok(this.account(user)),
            Ok((_, username, Err(refusal))) => {
                tracing::info!(user = %username.escape_default(), reason = %refusal, "system user refused");
                Err(AuthError::BadCredentials)
            }
            Err(e) => {
                tracing::error!(error = %e, "system user check failed");
                Err(AuthError::BadCredentials)
            }
        }
    }
}

/// [`SystemAuthorizerBuilder::become_user_at_login`]: the process takes
/// the identity of `account`, which comes back without it.
async fn become_process_user(mut account: Account) -> Result<Account, AuthError> {
    let Some(identity) = account.identity.take() else {
        // Every account of this authorizer has one; without it the
        // session would go on as root.
        return Err(AuthError::Refused(
            "This session cannot act as that user.".into(),
        ));
    };
    let name = account.username.clone();
    let changed = tokio::task::spawn_blocking(move || become_for_good(&identity))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
    match changed {
        Ok(()) => Ok(account),
        Err(e) => {
            tracing::error!(user = %name.escape_default(), error = %e, "the session's process could not take the user's credentials");
            Err(AuthError::Refused(
                "This session cannot act as that user.".into(),
            ))
        }
    }
}

/// Makes every thread of the process `identity`, with no way back. A
/// process that is already exactly that user (a second login of the same
/// user) is left as it is; one that is another user cannot change.
fn become_for_good(identity: &Identity) -> std::io::Result<()> {
    use nix::unistd::{getresgid, getresuid, setgroups, setresgid, setresuid, Gid, Uid};
    use std::io::{Error, ErrorKind};
    if identity.uid == 0 {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            "refusing to act as uid 0",
        ));
    }
    let uid = Uid::from_raw(identity.uid);
    let gid = Gid::from_raw(identity.gid);
    let (uids, gids) = (getresuid()?, getresgid()?);
    let all_uids = [uids.real, uids.effective, uids.saved];
    let all_gids = [gids.real, gids.effective, gids.saved];
    if all_uids.iter().all(|&u| u == uid) && all_gids.iter().all(|&g| g == gid) {
        return Ok(());
    }
    if !uids.effective.is_root() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("the process already acts as uid {}", uids.effective),
        ));
    }
    // The C library's calls, not the raw system calls: they change every
    // thread of the process (the runtime's, the blocking pool's). Groups
    // first, while the process may still change them.
    let groups: Vec<Gid> = identity.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    setgroups(&groups)?;
    // From here on a failure leaves the credentials half changed: the
    // process ends rather than serve in that state (as vsftpd does).
    let fatal = |what: &str, e: &dyn std::fmt::Display| -> ! {
        tracing::error!(error = %e, "taking the user's credentials: {what} failed; ending the session's process");
        std::process::abort()
    };
    if let Err(e) = setresgid(gid, gid, gid) {
        fatal("setresgid", &e);
    }
    if let Err(e) = setresuid(uid, uid, uid) {
        fatal("setresuid", &e);
    }
    if setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).is_ok() {
        fatal("giving up root", &"root could be taken back");
    }
    // A dumpable process's /proc files (mem among them) belong to its
    // uid: the user could read the server's TLS key out of it.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        fatal("clearing the dumpable flag", &e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shells_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shells");
        std::fs::write(&file, "# comment\n/bin/sh\n  /bin/bash  \n\n").unwrap();
        assert!(shell_listed(Path::new("/bin/bash"), &file).unwrap());
        assert!(shell_listed(Path::new("/bin/sh"), &file).unwrap());
        assert!(!shell_listed(Path::new("/usr/sbin/nologin"), &file).unwrap());
        assert!(!shell_listed(Path::new("# comment"), &file).unwrap());
        let missing = dir.path().join("none");
        assert!(!shell_listed(Path::new("/bin/sh"), &missing).unwrap());
    }

    #[test]
    fn the_password_answers_one_hidden_prompt_only() {
        use pam::Conversation;
        let mut conversation = PasswordOnce {
            username: "alice".into(),
            password: Some("secret".into()),
        };
        assert_eq!(
            conversation.prompt_echo_on(c"login:").as_deref(),
            Some(c"alice")
        );
        assert_eq!(
            conversation.prompt_echo_off(c"Password:").as_deref(),
            Some(c"secret")
        );
        // A second factor is never answered with the password.
        assert_eq!(conversation.prompt_echo_off(c"Verification code:"), None);
        let mut nul = PasswordOnce {
            username: "a\0b".into(),
            password: Some("x\0y".into()),
        };
        assert_eq!(nul.prompt_echo_on(c"login:"), None);
        assert_eq!(nul.prompt_echo_off(c"Password:"), None);
    }

    #[test]
    fn user_lists() {
        let auth = SystemAuthorizer::builder().build().unwrap();
        assert!(!auth.settings.name_allowed("root"));
        assert!(auth.settings.name_allowed("alice"));
        let auth = SystemAuthorizer::builder()
            .allowed_users(["alice", "root"])
            .rejected_users(Vec::<String>::new())
            .build()
            .unwrap();
        assert!(auth.settings.name_allowed("alice"));
        assert!(auth.settings.name_allowed("root"));
        assert!(!auth.settings.name_allowed("bob"));
    }

    #[test]
    fn invalid_settings() {
        for bad in ["", "a/b", "a\0b"] {
            assert!(matches!(
                SystemAuthorizer::builder().pam_service(bad).build(),
                Err(SystemUsersError::InvalidService(_))
            ));
        }
        assert!(matches!(
            SystemAuthorizer::builder()
                .anonymous("ferroftpd-no-such-account", Permissions::READ)
                .build(),
            Err(SystemUsersError::NoAnonymousAccount(_))
        ));
        assert!(matches!(
            SystemAuthorizer::builder()
                .anonymous("root", Permissions::READ)
                .build(),
            Err(SystemUsersError::AnonymousIsRoot(_))
        ));
    }

    #[test]
    fn accounts() {
        let user = SystemUser {
            name: "alice".into(),
            home: "/home/alice".into(),
            shell: "/bin/sh".into(),
            identity: Identity {
                uid: 1000,
                gid: 1000,
                groups: vec![1000, 27],
            },
        };
        let auth = SystemAuthorizer::builder()
            .user_permissions("alice", Permissions::READ)
            .build()
            .unwrap();
        let account = auth.settings.account(user.clone());
        assert_eq!(account.home, Path::new("/home/alice"));
        assert_eq!(account.start_dir, None);
        assert_eq!(account.rules.base(), Permissions::READ);
        assert_eq!(account.identity.as_deref(), Some(&user.identity));

        let auth = SystemAuthorizer::builder()
            .confinement(Confinement::Unconfined)
            .build()
            .unwrap();
        let account = auth.settings.account(user);
        assert_eq!(account.home, Path::new("/"));
        assert_eq!(
            account.start_dir.map(|d| d.as_bytes().to_vec()),
            Some(b"/home/alice".to_vec())
        );
        assert_eq!(account.rules.base(), Permissions::ALL);
    }
}
