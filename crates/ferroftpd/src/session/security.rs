//! AUTH, PBSZ, PROT, CCC (RFC 2228, RFC 4217), implicit TLS, and the
//! TLS policies.

use ferroftpd_proto::reply::Reply;
use ferroftpd_proto::security::{AuthMechanism, ProtectionLevel};

use super::{Flow, Session, TlsState};
use crate::config::SessionReuse;
use crate::data::DataTls;

/// User names that mean an anonymous login, for the TLS requirement on
/// USER (the authorizer has the last word after login).
const ANONYMOUS_NAMES: [&str; 2] = ["anonymous", "ftp"];

impl Session {
    pub(super) async fn auth(&mut self, mechanism: &AuthMechanism) -> Flow {
        let Some(tls) = &self.shared.config.tls else {
            return self
                .reply(Reply::new(
                    502,
                    "AUTH not available: TLS is not configured.",
                ))
                .await;
        };
        if self.control.is_tls() {
            return self.reply(Reply::new(503, "Already using TLS.")).await;
        }
        if !mechanism.is_tls() {
            return self
                .reply(Reply::new(
                    504,
                    "Unrecognized encryption type (use TLS or SSL).",
                ))
                .await;
        }
        // TLS-P is the old way of asking for protected data too.
        let protect_data = *mechanism == AuthMechanism::TlsP;
        let session = tls.session();
        let reply = Reply::new(234, format!("AUTH {mechanism} successful."));
        if self.reply(reply).await == Flow::Close {
            return Flow::Close;
        }
        match self.control.start_tls(session.control.clone()).await {
            Ok(discarded) => {
                if discarded > 0 {
                    tracing::warn!(
                        bytes = discarded,
                        "discarded plain-text bytes sent after AUTH"
                    );
                }
                tracing::debug!("control connection encrypted");
                self.tls = Some(Box::new(TlsState {
                    config: session,
                    implicit: false,
                    pbsz: protect_data,
                    protect_data,
                }));
                Flow::Continue
            }
            Err(e) => {
                tracing::info!(error = %e, "TLS handshake on the control connection failed");
                Flow::Close
            }
        }
    }

    /// TLS from the first byte (an implicit-TLS listener); data
    /// connections are then protected unless the client says `PROT C`.
    /// False if the handshake failed.
    pub(super) async fn start_implicit_tls(&mut self) -> bool {
        let Some(tls) = &self.shared.config.tls else {
            tracing::warn!("implicit TLS listener without a TLS configuration");
            return false;
        };
        let session = tls.session();
        match self.control.start_tls(session.control.clone()).await {
            Ok(_) => {
                self.tls = Some(Box::new(TlsState {
                    config: session,
                    implicit: true,
                    pbsz: true,
                    protect_data: true,
                }));
                true
            }
            Err(e) => {
                tracing::info!(error = %e, "implicit TLS handshake failed");
                false
            }
        }
    }

    /// PBSZ and PROT need a TLS session (after CCC they still set how
    /// data connections are protected).
    pub(super) fn pbsz(&mut self, size: Option<u64>) -> Reply {
        let Some(tls) = self.tls.as_mut() else {
            return Reply::new(503, "PBSZ not allowed on insecure control connection.");
        };
        if size.is_none() {
            return Reply::new(501, "PBSZ needs a decimal size.");
        }
        // TLS does its own buffering: the size is always 0 (RFC 4217 §8).
        tls.pbsz = true;
        Reply::new(200, "PBSZ=0 successful.")
    }

    pub(super) fn prot(&mut self, level: &ProtectionLevel) -> Reply {
        let Some(tls) = self.tls.as_mut() else {
            return Reply::new(503, "PROT not allowed on insecure control connection.");
        };
        if !tls.pbsz {
            return Reply::new(503, "You must issue the PBSZ command prior to PROT.");
        }
        match level {
            ProtectionLevel::Clear => {
                tls.protect_data = false;
                Reply::new(200, "Protection set to Clear.")
            }
            ProtectionLevel::Private => {
                tls.protect_data = true;
                Reply::new(200, "Protection set to Private.")
            }
            ProtectionLevel::Safe | ProtectionLevel::Confidential => {
                Reply::new(536, format!("PROT {level} unsupported (use C or P)."))
            }
            ProtectionLevel::Other(_) => Reply::new(504, "Unrecognized PROT level (use C or P)."),
        }
    }

    /// CCC: the rest of the session, passwords of later USER commands
    /// included, goes in plain text; refused unless the server allows it.
    /// Data connections keep their PROT level.
    pub(super) async fn ccc(&mut self) -> Flow {
        if !self.control.is_tls() {
            return self
                .reply(Reply::new(533, "The control connection is not encrypted."))
                .await;
        }
        if !self.shared.config.tls_allow_ccc {
            return self
                .reply(Reply::new(
                    534,
                    "CCC refused: the control connection stays encrypted.",
                ))
                .await;
        }
        if !matches!(self.login, super::Login::LoggedIn(_)) {
            return self.reply(Reply::new(503, "Log in before CCC.")).await;
        }
        if self
            .reply(Reply::new(200, "Control connection cleared."))
            .await
            == Flow::Close
        {
            return Flow::Close;
        }
        let idle = self.shared.config.idle_timeout;
        let close = self.registration.closer();
        match self.control.stop_tls(idle, &close).await {
            Ok(()) => {
                tracing::info!("control connection back in plain text (CCC)");
                Flow::Continue
            }
            Err(e) => {
                tracing::info!(error = %e, "CCC: TLS shutdown failed");
                Flow::Close
            }
        }
    }

    /// REIN returns to the protection the session started with.
    pub(super) fn reset_protection(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.pbsz = tls.implicit;
            tls.protect_data = tls.implicit;
        }
    }

    /// Whether the TLS requirements apply to a user.
    fn tls_required_for(&self, anonymous: bool) -> bool {
        !anonymous || self.shared.config.tls_required_for_anonymous
    }

    /// The refusal of USER `name` over a plain control connection when the
    /// server requires TLS for logins.
    pub(super) fn login_needs_tls(&self, name: &str, anonymous: Option<bool>) -> Option<Reply> {
        if !self.shared.config.tls_control_required || self.control.is_tls() {
            return None;
        }
        let anonymous = anonymous
            .unwrap_or_else(|| ANONYMOUS_NAMES.iter().any(|a| a.eq_ignore_ascii_case(name)));
        self.tls_required_for(anonymous).then(|| {
            Reply::new(
                534,
                "Policy requires TLS on the control connection: use AUTH TLS first.",
            )
        })
    }

    /// The refusal of a transfer on an unprotected data connection when
    /// the server requires protected data.
    pub(super) fn data_needs_tls(&self, anonymous: bool) -> Option<Reply> {
        let protected = self.tls.as_ref().is_some_and(|tls| tls.protect_data);
        if !self.shared.config.tls_data_required || protected {
            return None;
        }
        self.tls_required_for(anonymous).then(|| {
            Reply::new(
                521,
                "Policy requires protected data connections: use PROT P first.",
            )
        })
    }

    /// What protects the next data connection, if anything.
    pub(super) fn data_tls(&self) -> Option<DataTls> {
        match &self.tls {
            Some(tls) if tls.protect_data => Some(DataTls {
                config: tls.config.data.clone(),
                require_resumption: self.shared.config.tls_session_reuse == SessionReuse::Required,
                strict_eof: self.shared.config.tls_strict_upload_eof,
            }),
            _ => None,
        }
    }
}
