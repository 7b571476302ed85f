//! What a storage backend says when an operation fails.

use std::io;

/// Why a storage operation failed.
///
/// Each error has an [`ErrorKind`], which picks the FTP reply code in one
/// place (the session's error mapping); a backend may add text that the
/// client sees ([`StorageError::new`]). I/O errors are classified by their
/// `errno` or [`io::ErrorKind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The path resolves (through `..` or a symbolic link) outside the
    /// user's root.
    #[error("path is outside the user's root")]
    OutsideRoot,
    /// The backend does not offer this operation.
    #[error("operation not supported by this storage")]
    Unsupported,
    /// An I/O error from the backend.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A failure the backend describes itself.
    #[error("{}", .message.as_deref().unwrap_or(.kind.text()))]
    Backend {
        /// What kind of failure; it picks the reply code.
        kind: ErrorKind,
        /// Text for the client instead of the kind's standard text.
        message: Option<String>,
    },
}

/// The kinds of storage failure, each with its FTP reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such file or directory (550).
    NotFound,
    /// Not allowed (550).
    PermissionDenied,
    /// Something exists under that name (550).
    AlreadyExists,
    /// A directory was needed (550).
    NotADirectory,
    /// A directory was not expected (550).
    IsADirectory,
    /// A directory to remove is not empty (550).
    DirectoryNotEmpty,
    /// The storage is read-only (550).
    ReadOnly,
    /// Busy or failing for now: the client may try again (450).
    Busy,
    /// The user's quota would be exceeded (552).
    QuotaExceeded,
    /// A file would grow past what the storage allows (552).
    FileTooLarge,
    /// The storage is full (452).
    StorageFull,
    /// The name cannot be used here (553).
    NameNotAllowed,
    /// Not offered by this storage (502).
    Unsupported,
    /// The path leads outside the user's root (550).
    OutsideRoot,
    /// Anything else (550; during a transfer, 451).
    Other,
}

impl ErrorKind {
    /// The reply code for this kind.
    pub fn code(self) -> u16 {
        match self {
            ErrorKind::Busy => 450,
            ErrorKind::StorageFull => 452,
            ErrorKind::Unsupported => 502,
            ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => 552,
            ErrorKind::NameNotAllowed => 553,
            _ => 550,
        }
    }

    /// The standard reply text for this kind.
    pub fn text(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "No such file or directory.",
            ErrorKind::PermissionDenied => "Permission denied.",
            ErrorKind::AlreadyExists => "File exists.",
            ErrorKind::NotADirectory => "Not a directory.",
            ErrorKind::IsADirectory => "Is a directory.",
            ErrorKind::DirectoryNotEmpty => "Directory not empty.",
            ErrorKind::ReadOnly => "Read-only file system.",
            ErrorKind::Busy => "Resource busy; try again later.",
            ErrorKind::QuotaExceeded => "Quota exceeded.",
            ErrorKind::FileTooLarge => "File too large.",
            ErrorKind::StorageFull => "Insufficient storage space.",
            ErrorKind::NameNotAllowed => "File name not allowed.",
            ErrorKind::Unsupported => "Operation not supported by this storage.",
            ErrorKind::OutsideRoot => "Path is outside the user's root directory.",
            ErrorKind::Other => "Operation failed.",
        }
    }
}

impl StorageError {
    /// An error of `kind`, with text for the client (`None`: the kind's
    /// standard text).
    pub fn new(kind: ErrorKind, message: impl Into<Option<String>>) -> Self {
        StorageError::Backend {
            kind,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StorageError::OutsideRoot => ErrorKind::OutsideRoot,
            StorageError::Unsupported => ErrorKind::Unsupported,
            StorageError::Backend { kind, .. } => *kind,
            StorageError::Io(e) => match inner(e) {
                Some(inner) => inner.kind(),
                None => io_kind(e),
            },
        }
    }

    /// Text for the client: the backend's own, or `None` for the standard
    /// text of the kind (or of the I/O error).
    pub fn message(&self) -> Option<&str> {
        match self {
            StorageError::Backend { message, .. } => message.as_deref(),
            StorageError::Io(e) => inner(e).and_then(StorageError::message),
            _ => None,
        }
    }

    /// True when the error means "no such file or directory".
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }
}

/// A storage error as an I/O error, for the `Read` and `Write` methods of
/// readers and writers: [`StorageError::kind`] and
/// [`StorageError::message`] find it again inside, so the client gets the
/// reply of its kind.
impl From<StorageError> for io::Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io(e) => e,
            e => io::Error::new(std_kind(e.kind()), e),
        }
    }
}

/// The storage error an I/O error carries, if it was made from one.
fn inner(e: &io::Error) -> Option<&StorageError> {
    e.get_ref()?.downcast_ref::<StorageError>()
}

/// The `io::ErrorKind` closest to `kind`, for code that looks only at that.
fn std_kind(kind: ErrorKind) -> io::ErrorKind {
    match kind {
        ErrorKind::NotFound => io::ErrorKind::NotFound,
        ErrorKind::PermissionDenied | ErrorKind::OutsideRoot => io::ErrorKind::PermissionDenied,
        ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
        ErrorKind::NotADirectory => io::ErrorKind::NotADirectory,
        ErrorKind::IsADirectory => io::ErrorKind::IsADirectory,
        ErrorKind::DirectoryNotEmpty => io::ErrorKind::DirectoryNotEmpty,
        ErrorKind::ReadOnly => io::ErrorKind::ReadOnlyFilesystem,
        ErrorKind::Busy => io::ErrorKind::ResourceBusy,
        ErrorKind::QuotaExceeded => io::ErrorKind::QuotaExceeded,
        ErrorKind::FileTooLarge => io::ErrorKind::FileTooLarge,
        ErrorKind::StorageFull => io::ErrorKind::StorageFull,
        ErrorKind::NameNotAllowed => io::ErrorKind::InvalidFilename,
        ErrorKind::Unsupported => io::ErrorKind::Unsupported,
        ErrorKind::Other => io::ErrorKind::Other,
    }
}

impl From<ErrorKind> for StorageError {
    fn from(kind: ErrorKind) -> Self {
        StorageError::new(kind, None)
    }
}

/// The kind of an I/O error: by `errno` when there is one, which is
/// precise, else by [`io::ErrorKind`].
fn io_kind(e: &io::Error) -> ErrorKind {
    if let Some(errno) = e.raw_os_error() {
        use rustix::io::Errno;
        return match Errno::from_raw_os_error(errno) {
            Errno::NOENT => ErrorKind::NotFound,
            Errno::ACCESS | Errno::PERM => ErrorKind::PermissionDenied,
            Errno::EXIST => ErrorKind::AlreadyExists,
            Errno::NOTDIR => ErrorKind::NotADirectory,
            Errno::ISDIR => ErrorKind::IsADirectory,
            Errno::NOTEMPTY => ErrorKind::DirectoryNotEmpty,
            Errno::ROFS => ErrorKind::ReadOnly,
            Errno::NOSPC => ErrorKind::StorageFull,
            Errno::DQUOT => ErrorKind::QuotaExceeded,
            Errno::FBIG => ErrorKind::FileTooLarge,
            Errno::NAMETOOLONG => ErrorKind::NameNotAllowed,
            Errno::BUSY | Errno::AGAIN | Errno::TXTBSY => ErrorKind::Busy,
            _ => ErrorKind::Other,
        };
    }
    match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        io::ErrorKind::NotADirectory => ErrorKind::NotADirectory,
        io::ErrorKind::IsADirectory => ErrorKind::IsADirectory,
        io::ErrorKind::DirectoryNotEmpty => ErrorKind::DirectoryNotEmpty,
        io::ErrorKind::ReadOnlyFilesystem => ErrorKind::ReadOnly,
        io::ErrorKind::StorageFull => ErrorKind::StorageFull,
        io::ErrorKind::QuotaExceeded => ErrorKind::QuotaExceeded,
        io::ErrorKind::FileTooLarge => ErrorKind::FileTooLarge,
        io::ErrorKind::InvalidFilename => ErrorKind::NameNotAllowed,
        io::ErrorKind::ResourceBusy | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ErrorKind::Busy
        }
        io::ErrorKind::Unsupported => ErrorKind::Unsupported,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_survive_io_errors() {
        let e = StorageError::new(ErrorKind::QuotaExceeded, Some("Over quota.".to_owned()));
        let io = io::Error::from(e);
        assert_eq!(io.kind(), io::ErrorKind::QuotaExceeded);
        let back = StorageError::Io(io);
        assert_eq!(back.kind(), ErrorKind::QuotaExceeded);
        assert_eq!(back.message(), Some("Over quota."));
        // A plain I/O error goes through unchanged.
        let io = io::Error::from(StorageError::Io(io::Error::from_raw_os_error(28)));
        assert_eq!(io.raw_os_error(), Some(28));
        assert_eq!(StorageError::Io(io).kind(), ErrorKind::StorageFull);
        assert_eq!(
            StorageError::Io(io::ErrorKind::NotFound.into()).message(),
            None
        );
    }
}
