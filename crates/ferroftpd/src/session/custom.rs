//! What the embedder adds: registered commands, and the guard's verdicts.

use ferroftpd_proto::escape::LogSafe;
use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::reply::Reply;

use super::{Flow, Login, Pending, Session};
use crate::commands::CommandContext;
use crate::error::CommandError;
use crate::guard::{Operation, Request, Verdict};
use crate::metrics::Metrics;

impl Session {
    /// Runs the registered command `line` names, if any.
    pub(super) async fn run_custom(&mut self, line: &[u8]) -> Option<Flow> {
        let commands = self.shared.config.commands.clone();
        let (registered, arg) = commands.find(line)?;
        Metrics::count(
            &self.shared.metrics.commands,
            vec![("verb", registered.label)],
            1,
        );
        tracing::debug!("<- {}", LogSafe(line));
        let logged_in = matches!(self.login, Login::LoggedIn(_));
        if !logged_in && !registered.command.before_login {
            let refusal = Reply::new(530, "Log in with USER and PASS first.");
            return Some(self.reply(refusal).await);
        }
        // Like any command but REST's transfer commands: RNFR must be
        // followed at once by RNTO, REST waits for its transfer.
        if !matches!(self.pending, Pending::RestartAt(_)) {
            self.pending = Pending::Nothing;
        }
        let shared = self.shared.clone();
        let user = match &mut self.login {
            Login::LoggedIn(user) => {
                let user = &mut **user;
                Some((&user.account, &mut user.cwd, &user.storage))
            }
            _ => None,
        };
        let mut ctx = CommandContext {
            session_id: self.id,
            client: self.peer,
            authorizer: &*shared.config.authorizer,
            listing: &shared.config.listing,
            user,
        };
        let reply = registered.command.handler.call(&mut ctx, arg).await;
        Some(self.reply(reply).await)
    }

    /// Asks the guard, if the server has one, whether `account` may log
    /// in; the refusal reply otherwise.
    pub(super) async fn guard_login(&self, account: &crate::auth::Account) -> Result<(), Reply> {
        let Some(guard) = &self.shared.config.guard else {
            return Ok(());
        };
        let request = Request {
            session_id: self.id,
            client: self.peer,
            account,
            storage: None,
            operation: Operation::Login,
        };
        match guard.check(&request).await {
            Verdict::Allow => Ok(()),
            Verdict::Refuse(reply) => Err(reply),
            Verdict::Redirect(_) => Err(Reply::new(530, "Login refused.")),
        }
    }

    /// Asks the guard, if the server has one, about `operation` by the
    /// logged-in user. `Ok(None)` to go on as asked; `Ok(Some(path))` for
    /// an upload sent elsewhere.
    pub(super) async fn guard(
        &self,
        operation: Operation<'_>,
    ) -> Result<Option<VirtualPath>, CommandError> {
        let Some(guard) = &self.shared.config.guard else {
            return Ok(None);
        };
        let user = self.user_ref()?;
        let redirectable = matches!(operation, Operation::Upload { .. });
        let request = Request {
            session_id: self.id,
            client: self.peer,
            account: &user.account,
            storage: Some(&user.storage),
            operation,
        };
        match guard.check(&request).await {
            Verdict::Allow => Ok(None),
            Verdict::Refuse(reply) => Err(reply.into()),
            Verdict::Redirect(path) if redirectable => Ok(Some(path)),
            Verdict::Redirect(_) => {
                tracing::warn!("guard redirected an operation that cannot be redirected");
                Err(Reply::new(550, "Operation refused.").into())
            }
        }
    }
}
