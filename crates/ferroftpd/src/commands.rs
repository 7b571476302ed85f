//! Commands of your own: new verbs, SITE subcommands, and replacements for
//! built-in verbs (pyftpdlib's `proto_cmds` and `ftp_SITE_*` methods,
//! aioftp's `Server` subclasses).
//!
//! Implement [`CommandHandler`], wrap it in a [`CustomCommand`] and give it
//! to [`crate::Builder::command`] or [`crate::Builder::site_command`]. The
//! session looks a line's verb (or SITE subcommand) up here before its own
//! parser, so a registered name replaces a built-in one; HELP, SITE HELP
//! and FEAT list what is registered.
//!
//! ```
//! use async_trait::async_trait;
//! use ferroftpd::commands::{CommandContext, CommandHandler, CustomCommand};
//! use ferroftpd::proto::reply::Reply;
//!
//! /// SITE WHOAMI: the user name.
//! #[derive(Debug)]
//! struct WhoAmI;
//!
//! #[async_trait]
//! impl CommandHandler for WhoAmI {
//!     async fn call(&self, ctx: &mut CommandContext<'_>, _arg: Option<&[u8]>) -> Reply {
//!         let name = ctx.account().map_or("nobody", |a| a.username.as_str());
//!         Reply::new(200, format!("You are {name}."))
//!     }
//! }
//!
//! let server = ferroftpd::Server::builder()
//!     .site_command("WHOAMI", CustomCommand::new(WhoAmI).help("SITE WHOAMI (who you are)"))
//!     .build()
//!     .unwrap();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::perms::Permission;
use ferroftpd_proto::reply::Reply;

use crate::auth::{Account, Authorizer};
use crate::storage::Storage;

/// What a command of your own can see and change of its session.
pub struct CommandContext<'a> {
    pub(crate) session_id: u64,
    pub(crate) client: SocketAddr,
    pub(crate) authorizer: &'a dyn Authorizer,
    /// The server's deny patterns, which `check` applies too.
    pub(crate) listing: &'a crate::listing_rules::ListingRules,
    /// The logged-in user's account, directory and storage.
    pub(crate) user: Option<(&'a Account, &'a mut VirtualPath, &'a Arc<dyn Storage>)>,
}

impl CommandContext<'_> {
    /// The session's number (as in logs and hook events).
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// The client's address.
    pub fn client(&self) -> SocketAddr {
        self.client
    }

    /// The logged-in user's account; `None` before login (only for
    /// commands allowed before login).
    pub fn account(&self) -> Option<&Account> {
        self.user.as_ref().map(|(account, _, _)| *account)
    }

    /// The current directory, as the user sees it.
    pub fn cwd(&self) -> Option<&VirtualPath> {
        self.user.as_ref().map(|(_, cwd, _)| &**cwd)
    }

    /// Changes the current directory. Check first that `path` is a
    /// directory the user may enter ([`Self::check`] with
    /// [`Permission::ChangeDir`]). False before login.
    pub fn set_cwd(&mut self, path: VirtualPath) -> bool {
        match &mut self.user {
            Some((_, cwd, _)) => {
                **cwd = path;
                true
            }
            None => false,
        }
    }

    /// The user's storage.
    pub fn storage(&self) -> Option<&Arc<dyn Storage>> {
        self.user.as_ref().map(|(_, _, storage)| *storage)
    }

    /// `arg` as a path, resolved against the current directory: 530 before
    /// login, 553 for a name no file can have.
    pub fn resolve(&self, arg: &[u8]) -> Result<VirtualPath, Reply> {
        let cwd = self.cwd().ok_or_else(not_logged_in)?;
        cwd.resolve(arg)
            .map_err(|_| Reply::new(553, "File name not allowed."))
    }

    /// 550 unless the user may do `perm` on `path`: the server's deny
    /// patterns ([`crate::Builder::deny_names`]), the permission letters,
    /// per-directory overrides and the authorizer's `permits`. For a
    /// command that adds or removes an entry, use [`Self::check_entry`].
    pub fn check(&self, perm: Permission, path: &VirtualPath) -> Result<(), Reply> {
        let account = self.account().ok_or_else(not_logged_in)?;
        if self.listing.denies(path) {
            return Err(denied());
        }
        if self.authorizer.permits(account, perm, path) {
            Ok(())
        } else {
            Err(denied())
        }
    }

    /// The check the built-in MKD, RMD, DELE, STOR and renames make on an
    /// entry they add or take away: `perm` on `path` itself and on the
    /// entries of its directory
    /// ([`Authorizer::permits_in`]), so
    /// that an entry's own override cannot open a read-only parent.
    pub fn check_entry(&self, perm: Permission, path: &VirtualPath) -> Result<(), Reply> {
        self.check(perm, path)?;
        let account = self.account().ok_or_else(not_logged_in)?;
        match path.parent() {
            Some(dir) if !self.authorizer.permits_in(account, perm, &dir) => Err(denied()),
            _ => Ok(()),
        }
    }
}

fn denied() -> Reply {
    Reply::new(550, "Not enough privileges.")
}

fn not_logged_in() -> Reply {
    Reply::new(530, "Log in with USER and PASS first.")
}

impl fmt::Debug for CommandContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandContext")
            .field("session_id", &self.session_id)
            .field("client", &self.client)
            .field("user", &self.account().map(|a| &a.username))
            .field("cwd", &self.cwd())
            .finish_non_exhaustive()
    }
}

/// A command of your own.
///
/// `SITE WHOAMI`, which says who the server thinks the client is:
///
/// ```
/// use ferroftpd::commands::{CommandContext, CommandHandler, CustomCommand};
/// use ferroftpd::proto::reply::Reply;
///
/// #[derive(Debug)]
/// struct WhoAmI;
///
/// #[ferroftpd::storage::async_trait]
/// impl CommandHandler for WhoAmI {
///     async fn call(&self, ctx: &mut CommandContext<'_>, _arg: Option<&[u8]>) -> Reply {
///         let user = ctx.account().map_or("nobody", |a| a.username.as_str());
///         Reply::new(200, format!("You are {user} from {}.", ctx.client().ip()))
///     }
/// }
///
/// let builder = ferroftpd::Server::builder()
///     .site_command("WHOAMI", CustomCommand::new(WhoAmI).help("SITE WHOAMI (who you are)"));
/// # drop(builder);
/// ```
#[async_trait]
pub trait CommandHandler: Send + Sync + fmt::Debug {
    /// Runs the command; `arg` is what followed the verb (or the SITE
    /// subcommand) and a space, if anything. The reply is sent as it is.
    async fn call(&self, ctx: &mut CommandContext<'_>, arg: Option<&[u8]>) -> Reply;
}

/// A handler and how the server offers it.
#[derive(Debug, Clone)]
pub struct CustomCommand {
    pub(crate) handler: Arc<dyn CommandHandler>,
    pub(crate) help: Option<String>,
    pub(crate) before_login: bool,
}

impl CustomCommand {
    /// Wraps `handler`. By default it needs a logged-in user and has no
    /// help text.
    pub fn new(handler: impl CommandHandler + 'static) -> Self {
        CustomCommand {
            handler: Arc::new(handler),
            help: None,
            before_login: false,
        }
    }

    /// The syntax HELP (or SITE HELP) shows for it, e.g.
    /// `SITE SYMLINK <target> <link>`. Default: the name alone.
    pub fn help(mut self, syntax: impl Into<String>) -> Self {
        self.help = Some(syntax.into());
        self
    }

    /// Lets clients use it before logging in. Default: false (530).
    pub fn allowed_before_login(mut self, allowed: bool) -> Self {
        self.before_login = allowed;
        self
    }
}

/// Verbs that cannot be replaced: login and TLS negotiation are the
/// server's own (use an [`crate::auth::Authorizer`] or a
/// [`crate::guard::Guard`] to change who logs in).
const RESERVED_VERBS: [&str; 6] = ["USER", "PASS", "AUTH", "PBSZ", "PROT", "CCC"];

/// Longest verb the parser looks at (see `ferroftpd_proto::command`).
const MAX_VERB_LEN: usize = 16;

/// The commands registered with the builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommandRegistry {
    verbs: BTreeMap<String, Registered>,
    site: BTreeMap<String, Registered>,
}

#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub(crate) command: CustomCommand,
    /// The metrics label: registered names are few and fixed, so each is
    /// kept once for the server's life.
    pub(crate) label: &'static str,
}

impl CommandRegistry {
    /// The metrics labels of every registered command.
    pub(crate) fn labels(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.verbs
            .values()
            .chain(self.site.values())
            .map(|r| r.label)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.verbs.is_empty() && self.site.is_empty()
    }

    /// Registers a verb; the name is checked by [`Self::validate`].
    pub(crate) fn add_verb(&mut self, name: &str, command: CustomCommand) {
        let name = name.to_ascii_uppercase();
        let label = Box::leak(name.clone().into_boxed_str());
        self.verbs.insert(name, Registered { command, label });
    }

    pub(crate) fn add_site(&mut self, name: &str, command: CustomCommand) {
        let name = name.to_ascii_uppercase();
        let label = Box::leak(format!("SITE {name}").into_boxed_str());
        self.site.insert(name, Registered { command, label });
    }

    /// Refuses names a client could not send, and the reserved verbs.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let names = self.verbs.keys().chain(self.site.keys());
        for name in names {
            let ok = !name.is_empty()
                && name.len() <= MAX_VERB_LEN
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err(format!(
                    "command name {name:?}: 1 to {MAX_VERB_LEN} ASCII letters, digits or '-'"
                ));
            }
        }
        if let Some(name) = self
            .verbs
            .keys()
            .find(|n| RESERVED_VERBS.contains(&n.as_str()))
        {
            return Err(format!(
                "command {name} cannot be replaced: login and TLS belong to the server"
            ));
        }
        if self.site.contains_key("HELP") {
            return Err("SITE HELP cannot be replaced: it lists the SITE commands".into());
        }
        Ok(())
    }

    /// The custom command a control line names, if any: its verb, or SITE
    /// and its subcommand. Returns it with the line's argument.
    pub(crate) fn find<'l>(&self, line: &'l [u8]) -> Option<(&Registered, Option<&'l [u8]>)> {
        let (verb, arg) = split_word(line);
        if verb.len() > MAX_VERB_LEN {
            return None;
        }
        let verb = std::str::from_utf8(verb).ok()?.to_ascii_uppercase();
        if verb == "SITE" && !self.site.is_empty() {
            let (sub, arg) = split_word(arg?);
            let sub = std::str::from_utf8(sub).ok()?.to_ascii_uppercase();
            return self.site.get(&sub).map(|r| (r, arg));
        }
        self.verbs.get(&verb).map(|r| (r, arg))
    }

    /// Registered verbs with their help text.
    pub(crate) fn verbs(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.verbs
            .iter()
            .map(|(n, r)| (n.as_str(), r.command.help.as_deref()))
    }

    /// Registered SITE subcommands with their help text.
    pub(crate) fn site_commands(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.site
            .iter()
            .map(|(n, r)| (n.as_str(), r.command.help.as_deref()))
    }
}

/// The first word of `line` and the rest after one space (`None` if
/// empty).
fn split_word(line: &[u8]) -> (&[u8], Option<&[u8]>) {
    match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..]).filter(|r| !r.is_empty())),
        None => (line, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Nothing;

    #[async_trait]
    impl CommandHandler for Nothing {
        async fn call(&self, _ctx: &mut CommandContext<'_>, _arg: Option<&[u8]>) -> Reply {
            Reply::new(200, "ok")
        }
    }

    #[test]
    fn lookup_and_validation() {
        let mut r = CommandRegistry::default();
        assert!(r.is_empty());
        r.add_verb("xwho", CustomCommand::new(Nothing));
        r.add_site(
            "Symlink",
            CustomCommand::new(Nothing).help("SITE SYMLINK a b"),
        );
        assert!(r.validate().is_ok());
        let (found, arg) = r.find(b"XWHO now").unwrap();
        assert_eq!((found.label, arg), ("XWHO", Some(&b"now"[..])));
        let (found, arg) = r.find(b"site symlink a b").unwrap();
        assert_eq!((found.label, arg), ("SITE SYMLINK", Some(&b"a b"[..])));
        assert!(r.find(b"SITE CHMOD 755 x").is_none());
        assert!(r.find(b"SITE").is_none());
        assert!(r.find(b"RETR x").is_none());
        assert!(r.find(b"\xff\xfe").is_none());
        for bad in ["PASS", "user", "A B", "", "WAYTOOLONGVERBNAME"] {
            let mut r = CommandRegistry::default();
            r.add_verb(bad, CustomCommand::new(Nothing));
            assert!(r.validate().is_err(), "{bad:?}");
        }
        let mut r = CommandRegistry::default();
        r.add_site("help", CustomCommand::new(Nothing));
        assert!(r.validate().is_err());
        // A built-in verb may be replaced.
        let mut r = CommandRegistry::default();
        r.add_verb("MKD", CustomCommand::new(Nothing));
        assert!(r.validate().is_ok());
    }
}
