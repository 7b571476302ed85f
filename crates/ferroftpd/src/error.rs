//! Errors, and the one place where a failure becomes an FTP reply.

use std::io;

use ferroftpd_proto::reply::Reply;

use crate::data::engine::TransferError;
use crate::data::{ConnectError, Outcome};
use crate::storage::StorageError;

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

/// The reply for a storage failure: 550 with the system's wording, without
/// "(os error N)", or 552/553 where the RFC has a better code.
pub(crate) fn storage_reply(e: &StorageError) -> Reply {
    let io = match e {
        StorageError::OutsideRoot => {
            return Reply::new(550, "Path is outside the user's root directory.")
        }
        StorageError::Unsupported => {
            return Reply::new(502, "Operation not supported by this storage.")
        }
        StorageError::Io(io) => io,
    };
    if let Some(errno) = io.raw_os_error() {
        use rustix::io::Errno;
        let (code, text) = match Errno::from_raw_os_error(errno) {
            Errno::NOENT => (550, "No such file or directory."),
            Errno::ACCESS | Errno::PERM => (550, "Permission denied."),
            Errno::EXIST => (550, "File exists."),
            Errno::NOTDIR => (550, "Not a directory."),
            Errno::ISDIR => (550, "Is a directory."),
            Errno::NOTEMPTY => (550, "Directory not empty."),
            Errno::NOSPC => (552, "No space left on device."),
            Errno::DQUOT => (552, "Disk quota exceeded."),
            Errno::FBIG => (552, "File too large."),
            Errno::NAMETOOLONG => (553, "File name too long."),
            Errno::LOOP => (550, "Too many levels of symbolic links."),
            Errno::ROFS => (550, "Read-only file system."),
            Errno::BUSY => (550, "Device or resource busy."),
            Errno::XDEV => (550, "Cannot move across file systems."),
            Errno::INVAL => (550, "Invalid argument."),
            Errno::IO => (451, "Input/output error."),
            _ => (550, "Operation failed."),
        };
        return Reply::new(code, text);
    }
    if io.kind() == io::ErrorKind::InvalidFilename {
        return Reply::new(553, "File name not allowed.");
    }
    let text = match io.kind() {
        io::ErrorKind::NotFound => "No such file or directory.",
        io::ErrorKind::PermissionDenied => "Permission denied.",
        io::ErrorKind::AlreadyExists => "File exists.",
        io::ErrorKind::NotADirectory => "Not a directory.",
        io::ErrorKind::IsADirectory => "Is a directory.",
        io::ErrorKind::DirectoryNotEmpty => "Directory not empty.",
        _ => "Operation failed.",
    };
    Reply::new(550, text)
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
            let code = if r.code() == 552 { 552 } else { 451 };
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
            (StorageError::Io(io::Error::from_raw_os_error(28)), 552),
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
    }
}
