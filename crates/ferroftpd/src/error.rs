//! Errors, and the one place where a failure becomes an FTP reply.

use std::io;

use ferroftpd_proto::reply::Reply;

use crate::data::engine::TransferError;
use crate::data::{ConnectError, Outcome};
use crate::storage::{ErrorKind, StorageError};

/// An error from configuring or running the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting, or a combination of settings, is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Binding or accepting failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Why a command failed. Every variant maps to a reply in
/// [`CommandError::reply`], so every failure gets one and the session goes
/// on.
#[derive(Debug)]
pub(crate) enum CommandError {
    /// The storage backend refused or failed.
    Storage(StorageError),
    /// The user's permissions do not allow it.
    Denied,
    /// The path contains a byte no file name can hold.
    BadName,
    /// A ready reply (for failures specific to one command).
    Reply(Reply),
}

impl From<StorageError> for CommandError {
    fn from(e: StorageError) -> Self {
        CommandError::Storage(e)
    }
}

impl From<Reply> for CommandError {
    fn from(r: Reply) -> Self {
        CommandError::Reply(r)
    }
}

impl CommandError {
    /// The reply for this failure.
    pub(crate) fn reply(self) -> Reply {
        match self {
            CommandError::Storage(e) => storage_reply(&e),
            CommandError::Denied => Reply::new(550, "Not enough privileges."),
            CommandError::BadName => Reply::new(553, "File name not allowed."),
            CommandError::Reply(r) => r,
        }
    }
}

/// The reply for a storage failure: the code its kind calls for, and the
/// backend's own text or the standard one (never "(os error N)").
pub(crate) fn storage_reply(e: &StorageError) -> Reply {
    let kind = e.kind();
    let text = match (e.message(), e) {
        (Some(message), _) => message,
        // The system's wording for errors the kinds do not tell apart.
        (None, StorageError::Io(io)) if kind == ErrorKind::Other => match io.raw_os_error() {
            Some(errno) => match rustix::io::Errno::from_raw_os_error(errno) {
                rustix::io::Errno::LOOP => "Too many levels of symbolic links.",
                rustix::io::Errno::XDEV => "Cannot move across file systems.",
                rustix::io::Errno::INVAL => "Invalid argument.",
                rustix::io::Errno::IO => "Input/output error.",
                _ => kind.text(),
            },
            None => kind.text(),
        },
        (None, StorageError::Io(io)) if kind == ErrorKind::NameNotAllowed => {
            if io.raw_os_error().is_some() {
                "File name too long."
            } else {
                kind.text()
            }
        }
        _ => kind.text(),
    };
    Reply::new(kind.code(), text)
}

/// The final reply of a transfer (RETR, STOR, APPE, STOU, a listing) that
/// ended with `outcome` after moving `bytes`.
pub(crate) fn transfer_reply(outcome: Outcome, bytes: u64) -> Reply {
    match outcome {
        Outcome::Complete => Reply::new(226, "Transfer complete."),
        Outcome::Aborted => Reply::new(426, "Transfer aborted via ABOR."),
        Outcome::NoConnection(ConnectError::TimedOut) => {
            Reply::new(425, "Data connection timed out.")
        }
        Outcome::NoConnection(e) => {
            tracing::debug!(error = %e, "data connection failed");
            Reply::new(425, "Can't open data connection.")
        }
        Outcome::Failed(TransferError::TimedOut) => {
            Reply::new(426, "Data connection timed out; transfer aborted.")
        }
        Outcome::Failed(TransferError::Network(e)) => {
            tracing::debug!(error = %e, "data connection failed");
            Reply::new(
                426,
                format!("Connection closed; transfer aborted after {bytes} bytes."),
            )
        }
        Outcome::Failed(TransferError::TlsHandshake(e)) => {
            tracing::info!(error = %e, "TLS handshake on the data connection failed");
            Reply::new(522, "TLS handshake on the data connection failed.")
        }
        Outcome::Failed(TransferError::TlsNotResumed) => {
            tracing::info!("data connection refused: TLS session not resumed");
            Reply::new(
                522,
                "Data connection must resume the TLS session of the control connection (session reuse required).",
            )
        }
        Outcome::Failed(TransferError::Refused(reply)) => {
            tracing::info!(%reply, "upload refused by the guard before its commit");
            reply
        }
        Outcome::Failed(TransferError::Storage(e)) => {
            tracing::warn!(error = %e, "transfer failed on storage");
            let r = storage_reply(&e);
            // Space and quota have codes of their own; any other failure
            // mid-transfer (busy included: RFC 959 allows no 450 after a
            // 150) is a local error in processing (451).
            let code = if matches!(r.code(), 452 | 552) {
                r.code()
            } else {
                451
            };
            let mut text = b"Transfer aborted: ".to_vec();
            text.extend(r.lines().concat());
            Reply::new(code, text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_replies() {
        let cases = [
            (StorageError::OutsideRoot, 550),
            (StorageError::Io(io::Error::from_raw_os_error(2)), 550),
            (StorageError::Io(io::Error::from_raw_os_error(28)), 452),
            (StorageError::Io(io::Error::from_raw_os_error(122)), 552),
            (StorageError::Io(io::Error::from_raw_os_error(27)), 552),
            (StorageError::Io(io::Error::from_raw_os_error(16)), 450),
            (StorageError::Io(io::ErrorKind::StorageFull.into()), 452),
            (StorageError::Io(io::ErrorKind::QuotaExceeded.into()), 552),
            (
                StorageError::Io(io::ErrorKind::ReadOnlyFilesystem.into()),
                550,
            ),
            (StorageError::new(ErrorKind::Busy, None), 450),
            (StorageError::new(ErrorKind::NameNotAllowed, None), 553),
            (StorageError::Io(io::Error::from_raw_os_error(36)), 553),
            (StorageError::Io(io::ErrorKind::NotFound.into()), 550),
            (StorageError::Unsupported, 502),
            (StorageError::Io(io::ErrorKind::InvalidFilename.into()), 553),
        ];
        for (e, code) in cases {
            let r = storage_reply(&e);
            assert_eq!(r.code(), code, "{e:?}");
            assert!(!r.to_string().contains("os error"));
        }
        assert_eq!(
            storage_reply(&StorageError::Io(io::Error::from_raw_os_error(2))).to_string(),
            "550 No such file or directory."
        );
        let own = StorageError::new(ErrorKind::QuotaExceeded, "Quota: 10 MiB.".to_owned());
        assert_eq!(storage_reply(&own).to_string(), "552 Quota: 10 MiB.");
        assert_eq!(own.to_string(), "Quota: 10 MiB.");
        assert_eq!(
            storage_reply(&StorageError::Io(io::Error::from_raw_os_error(36))).to_string(),
            "553 File name too long."
        );
    }
}
