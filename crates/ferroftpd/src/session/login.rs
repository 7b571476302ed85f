//! USER, PASS, QUIT.

use std::time::Instant;

use ferroftpd_proto::command::Password;
use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::reply::Reply;

use super::{Flow, Login, Session, User};
use crate::auth::{Account, AuthError, LoginContext, Lookup};
use crate::hooks::Event as HookEvent;
use crate::limits::Refusal;
use crate::metrics::LoginOutcome;
use crate::throttle::{Bucket, Direction, Throttle};

impl Session {
    pub(super) async fn user(&mut self, username: String) -> Flow {
        let started = Instant::now();
        if let Some(refusal) = self.ban_here() {
            return self.close_banned(refusal).await;
        }
        if let Some(refusal) = self.login_needs_tls(&username, None) {
            tracing::info!(user = %username.escape_default(), "login refused: TLS required");
            self.shared
                .metrics
                .login(LoginOutcome::Refused, started.elapsed());
            return self.reply(refusal).await;
        }
        let reply = if self.log_out().await {
            // Nothing the previous user set up carries over.
            self.data = Default::default();
            self.pending = Default::default();
            Reply::new(
                331,
                "Previous account information was flushed, send password.",
            )
        } else {
            Reply::new(331, "Username ok, send password.")
        };
        let context = LoginContext { client: self.peer };
        match self
            .shared
            .config
            .authorizer
            .lookup(&username, &context)
            .await
        {
            // 331 whether or not the user exists (RFC 2577 §7).
            Lookup::PasswordRequired => {
                self.login = Login::AwaitingPass { username };
                self.reply(reply).await
            }
            Lookup::LoggedIn(account) => self.complete_login(account, started).await,
            Lookup::Refused(text) => {
                tracing::info!(user = %username.escape_default(), "login refused by the authorizer");
                self.shared
                    .metrics
                    .login(LoginOutcome::Refused, started.elapsed());
                self.reply(Reply::new(530, text)).await
            }
        }
    }

    /// Ends the current login, if any (USER again, REIN): the logout hook,
    /// the authorizer's logout, a log line. True if someone was logged in.
    async fn log_out(&mut self) -> bool {
        if !matches!(self.login, Login::LoggedIn(_)) {
            return false;
        }
        self.hook(HookEvent::Logout);
        let Login::LoggedIn(user) = std::mem::replace(&mut self.login, Login::AwaitingUser) else {
            return false;
        };
        self.shared.config.authorizer.logout(&user.account).await;
        self.registration.set_user(None, None);
        tracing::info!(user = %user.account.username, "logout");
        // REIN gives back what was left of the login deadline, no more.
        self.login_deadline = user
            .login_time_left
            .map(|left| tokio::time::Instant::now() + left);
        true
    }

    pub(super) async fn pass(&mut self, password: Password) -> Flow {
        let username = match &self.login {
            Login::AwaitingUser => {
                return self.reply(Reply::new(503, "Login with USER first.")).await
            }
            Login::LoggedIn(_) => {
                return self
                    .reply(Reply::new(503, "User already authenticated."))
                    .await
            }
            Login::AwaitingPass { username } => username.clone(),
        };
        // Checked on every attempt, not only at accept: connections opened
        // before the ban must not go on guessing. The shared limits are
        // asked here only, once per password.
        if let Some(refusal) = self.ban_in_force().await {
            return self.close_banned(refusal).await;
        }
        let started = Instant::now();
        let config = &self.shared.config;
        let context = LoginContext { client: self.peer };
        let result = config
            .authorizer
            .authenticate(&username, &password, &context)
            .await;
        match result {
            Ok(account) => self.complete_login(account, started).await,
            Err(e) => self.login_failed(&username, e, started).await,
        }
    }

    /// Logs `account` in: its session slot, its storage, then 230.
    /// `started`: when the command that logs in arrived, for the metrics.
    async fn complete_login(&mut self, mut account: Account, started: Instant) -> Flow {
        // The authorizer, not the name, says who is anonymous.
        if let Some(refusal) = self.login_needs_tls(&account.username, Some(account.anonymous)) {
            tracing::info!(user = %account.username, "login refused: TLS required");
            self.login = Login::AwaitingUser;
            self.shared
                .metrics
                .login(LoginOutcome::Refused, started.elapsed());
            return self.reply(refusal).await;
        }
        if let Err(refusal) = self.guard_login(&account).await {
            tracing::info!(user = %account.username, "login refused by the guard");
            self.login = Login::AwaitingUser;
            self.shared
                .metrics
                .login(LoginOutcome::Refused, started.elapsed());
            return self.reply(refusal).await;
        }
        let config = &self.shared.config;
        let username = account.username.clone();
        let max_sessions = account.max_sessions.or(config.max_sessions_per_user);
        let mut slot = self
            .shared
            .limits
            .admit_user(&account.username, max_sessions);
        if let (true, Some(max)) = (slot.is_some(), max_sessions) {
            // The cap counts the user's sessions on every server sharing
            // the limits; without an answer, this server's count alone.
            let name = account.username.as_str();
            match self.shared.ask_shared(|l| l.admit_user(name, max)).await {
                Some(Some(shared_slot)) => {
                    if let Some(slot) = &mut slot {
                        slot.attach(shared_slot);
                    }
                }
                Some(None) => {
                    tracing::info!(user = %account.username, "the user's sessions on other servers fill the cap");
                    slot = None;
                }
                None => {}
            }
        }
        let Some(slot) = slot else {
            tracing::info!(user = %account.username, "login refused: too many sessions for this user");
            self.login = Login::AwaitingUser;
            self.shared
                .metrics
                .login(LoginOutcome::Refused, started.elapsed());
            return self
                .reply(Reply::new(530, "Too many sessions for this user."))
                .await;
        };
        account.umask = account.umask.or(config.umask);
        let storage = match self.open_storage(&account).await {
            Ok(storage) => storage,
            Err(e) => {
                tracing::warn!(user = %username, home = %account.home.display(), error = %e, "home directory unavailable");
                self.login = Login::AwaitingUser;
                self.shared
                    .metrics
                    .login(LoginOutcome::Refused, started.elapsed());
                return self
                    .reply(Reply::new(530, "Home directory not available."))
                    .await;
            }
        };
        // failed_logins is not reset: the attempt limit counts the whole
        // connection, or logging in anonymously between guesses would
        // lift it.
        let span = super::span_after_login(self.id, self.peer, &account.username);
        let login_time_left = self
            .login_deadline
            .map(|at| at.saturating_duration_since(tokio::time::Instant::now()));
        tracing::info!(parent: &span, user = %account.username, anonymous = account.anonymous, "login");
        let login_message = account.login_message.clone();
        let cwd = account.start_dir.clone().unwrap_or_else(VirtualPath::root);
        let start_dir = cwd.clone();
        let read_throttle = self.throttle_for(&account, Direction::Read);
        let write_throttle = self.throttle_for(&account, Direction::Write);
        self.login = Login::LoggedIn(Box::new(User {
            account,
            storage,
            cwd,
            _slot: slot,
            read_throttle,
            write_throttle,
            login_time_left,
        }));
        self.hook(HookEvent::Login);
        self.show_login();
        self.shared
            .metrics
            .login(LoginOutcome::Success, started.elapsed());
        let message = self.dir_message(&start_dir).await;
        let reply = super::messages::with_message(message, Reply::text(230, &login_message));
        self.reply(reply).await
    }

    /// The account's tree: its home from the server's storage factory,
    /// counted against its quota, with its folders mounted.
    async fn open_storage(
        &self,
        account: &Account,
    ) -> crate::storage::StorageResult<std::sync::Arc<dyn crate::storage::Storage>> {
        use crate::storage::{MountStorage, QuotaStorage};
        let config = &self.shared.config;
        let settings = account.storage_settings.as_deref();
        let home_storage = settings.and_then(|s| s.home_storage.as_ref());
        let mut home = home_storage
            .unwrap_or(&config.storage)
            .open(account)
            .await?;
        let quota = settings
            .and_then(|s| s.quota)
            .unwrap_or(config.default_quota);
        if !quota.is_unlimited() {
            let usage = self.shared.quota_usages.of(&account.username);
            home = std::sync::Arc::new(QuotaStorage::new(home, usage, quota).await?);
        }
        let mounts = settings.map(|s| s.mounts.as_slice()).unwrap_or_default();
        if mounts.is_empty() {
            return Ok(home);
        }
        let mut mounted = Vec::with_capacity(mounts.len());
        for mount in mounts {
            let mut view = account.clone();
            view.home = mount.home.clone();
            view.storage_settings = None;
            mounted.push((mount.path.clone(), mount.factory.open(&view).await?));
        }
        Ok(std::sync::Arc::new(MountStorage::new(home, mounted)))
    }

    /// The buckets a logged-in session's transfers take from in `dir`:
    /// its own, its user's and the server's, where set.
    fn throttle_for(&self, account: &Account, dir: Direction) -> Throttle {
        let limits = &self.shared.config.limits;
        let (per_session, per_user) = match dir {
            Direction::Read => (
                limits.read_per_connection,
                account.read_limit.or(limits.read_per_user),
            ),
            Direction::Write => (
                limits.write_per_connection,
                account.write_limit.or(limits.write_per_user),
            ),
        };
        let buckets = &self.shared.buckets;
        Throttle::new(
            per_session
                .map(Bucket::new)
                .into_iter()
                .chain(per_user.map(|rate| buckets.user(&account.username, dir, rate)))
                .chain(buckets.total(dir)),
        )
    }

    async fn login_failed(&mut self, username: &str, error: AuthError, started: Instant) -> Flow {
        self.login = Login::AwaitingUser;
        self.failed_logins += 1;
        // The user name is logged so that ban tools can act on it; the
        // password never is.
        // A stable line for ban tools such as fail2ban (docs/fail2ban.md).
        tracing::warn!(
            "FAIL LOGIN: Client \"{}\", user \"{}\"",
            self.peer.ip(),
            username.escape_default()
        );
        self.hook(HookEvent::LoginFailed(username.to_owned()));
        // Before the delay below, which is the server's choice.
        self.shared
            .metrics
            .login(LoginOutcome::Failure, started.elapsed());
        self.count_failure().await;
        // Commands are not read during the delay: that is what slows a
        // password guesser down.
        let delay = self.shared.config.auth_failed_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let text = match error {
            AuthError::AnonymousDisabled => "Anonymous access not allowed.".to_owned(),
            AuthError::Refused(msg) => msg,
            _ => "Authentication failed.".to_owned(),
        };
        // The last allowed failure gets its 530, then the connection
        // closes (as in pyftpdlib and vsftpd): the client learns why.
        if self.failed_logins >= self.shared.config.max_login_attempts {
            tracing::info!("too many failed login attempts; closing connection");
            let _ = self.control.send(&Reply::new(530, text)).await;
            return Flow::Close;
        }
        self.reply(Reply::new(530, text)).await
    }

    /// The ban on the client's address now, if any (it may have been
    /// banned since it connected): an operator's, or one for failed
    /// logins. While the shared limits answer, they decide the latter, so
    /// that a ban lifted through any server is lifted here too
    /// ([`crate::Server::unban_everywhere`]); otherwise this server's own
    /// record does.
    async fn ban_in_force(&self) -> Option<Refusal> {
        if self.shared.config.shared_limits.is_some() {
            if let Some(refusal) = self.operator_ban() {
                return Some(refusal);
            }
            let key = self.ban_key();
            if let Some(banned) = self.shared.ask_shared(|l| l.is_banned(key)).await {
                return banned.then_some(Refusal::Banned);
            }
        }
        self.operator_ban().or_else(|| {
            self.shared
                .limits
                .is_banned(self.peer.ip())
                .then_some(Refusal::Banned)
        })
    }

    /// [`Self::ban_in_force`] as far as this server knows, without asking
    /// the shared limits (USER asks nobody; PASS asks them once per
    /// password, and with them this server's record of failed logins is
    /// only the fallback).
    fn ban_here(&self) -> Option<Refusal> {
        self.operator_ban().or_else(|| {
            let decided_here = self.shared.config.shared_limits.is_none();
            (decided_here && self.shared.limits.is_banned(self.peer.ip()))
                .then_some(Refusal::Banned)
        })
    }

    fn operator_ban(&self) -> Option<Refusal> {
        self.shared
            .limits
            .is_banned_by_operator(self.peer.ip())
            .then_some(Refusal::BannedByOperator)
    }

    /// The key the client's address is counted and banned under.
    fn ban_key(&self) -> std::net::IpAddr {
        let ip = ferroftpd_proto::address::canonical_ip(self.peer.ip());
        self.shared.config.ban.unwrap_or_default().key(ip)
    }

    /// Counts a failed login here and in the shared limits; a ban given
    /// by either is given to both.
    async fn count_failure(&self) {
        let ip = self.peer.ip();
        let banned_here = self.shared.limits.record_failure(ip);
        if banned_here {
            self.shared.metrics.bans.inc();
            tracing::warn!(client = %ip, "address banned after repeated failed logins");
        }
        let Some(policy) = self.shared.config.ban else {
            return;
        };
        if self.shared.config.shared_limits.is_none() {
            return;
        }
        let key = self.ban_key();
        let banned_there = self
            .shared
            .ask_shared(|l| l.record_failure(key, &policy))
            .await;
        match banned_there {
            Some(true) if !banned_here => {
                self.shared.limits.ban_as_failed(ip, policy.duration);
                self.shared.metrics.bans.inc();
                tracing::warn!(client = %ip, "address banned after repeated failed logins across servers");
            }
            Some(false) if banned_here => {
                self.shared
                    .ask_shared(|l| l.ban(key, policy.duration))
                    .await;
            }
            _ => {}
        }
    }

    async fn close_banned(&mut self, refusal: Refusal) -> Flow {
        tracing::info!("login refused: the address is banned; closing connection");
        let text = refusal.reply_text();
        let _ = self.control.send(&Reply::new(421, text)).await;
        Flow::Close
    }

    pub(super) async fn quit(&mut self) -> Flow {
        if let Some(running) = &self.running {
            // Let the transfer finish and send its reply first.
            running.transfer.client_said_quit();
            self.quit_after_transfer = true;
            return Flow::Continue;
        }
        self.send_goodbye().await;
        Flow::Close
    }

    /// The 221 reply to QUIT (after any transfer has finished).
    pub(super) async fn send_goodbye(&mut self) {
        if matches!(self.login, Login::LoggedIn(_)) {
            self.hook(HookEvent::Logout);
        }
        let text = match &self.login {
            Login::LoggedIn(user) => user.account.quit_message.clone(),
            _ => crate::auth::default_quit_message(),
        };
        let _ = self.control.send(&Reply::text(221, &text)).await;
    }
}

impl Session {
    /// REIN: log out and wait for a new USER; the connection and any
    /// transfer in progress go on (RFC 959 §4.1.1).
    pub(super) async fn rein(&mut self) -> Flow {
        // failed_logins is kept: REIN must not reset the attempt limit;
        // and log_out gives back only what was left of the login deadline.
        self.log_out().await;
        self.transfer_type = Default::default();
        self.data = Default::default();
        self.pending = Default::default();
        self.facts = Default::default();
        self.hash_algorithm = Default::default();
        // The control connection stays encrypted (RFC 4217 §11 allows
        // either); PBSZ and PROT start over.
        self.reset_protection();
        self.reply(Reply::new(220, "Ready for new user.")).await
    }

    /// HOST (RFC 7151). There are no virtual hosts: any name is accepted
    /// before login, and the session goes on as usual.
    pub(super) fn host(&mut self, name: &str) -> Reply {
        if let Login::LoggedIn(_) = self.login {
            return Reply::new(503, "HOST not allowed after login.");
        }
        let name = name.trim();
        let is_ipv6_literal = name.starts_with('[') && name.ends_with(']');
        if name.is_empty() || (!is_ipv6_literal && name.contains(':')) {
            return Reply::new(501, "Syntax error: HOST takes a host name without a port.");
        }
        tracing::debug!(host = name, "HOST");
        Reply::new(220, "Host accepted.")
    }
}
