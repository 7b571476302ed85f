//! What the session tells the server's session list (`crate::registry`),
//! and how it ends when an operator kicks it.

use ferroftpd_proto::reply::Reply;

use super::{Flow, Login, Session};

impl Session {
    /// Shows the user who just logged in, in their start directory.
    pub(super) fn show_login(&self) {
        if let Login::LoggedIn(user) = &self.login {
            self.registration.set_user(
                Some(&user.account.username),
                Some(&user.cwd.to_string_lossy()),
            );
        }
    }

    /// The session's close token was cancelled: the server is closing,
    /// or an operator kicked this session. Either way, a 421 and the end
    /// (a running transfer is stopped by `end`).
    pub(super) async fn close_by_server(&mut self) -> Flow {
        let text = if self.registration.kicked(&self.shared.close_sessions) {
            tracing::info!("session closed by the administrator");
            "Session closed by the administrator."
        } else {
            "Server shutting down."
        };
        let _ = self.control.send(&Reply::new(421, text)).await;
        Flow::Close
    }
}
