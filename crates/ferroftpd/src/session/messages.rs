//! Directory messages: the text of a file such as `.message`, shown to a
//! client entering its directory (CWD, CDUP, and the directory a login
//! starts in), as vsftpd's `dirmessage_enable` and proftpd's
//! `DisplayChdir` do.

use std::io::Read;

use ferroftpd_proto::message::{file_message_lines, MAX_MESSAGE_BYTES};
use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::perms::Permission;
use ferroftpd_proto::reply::Reply;

use super::Session;
use crate::guard::Operation;

impl Session {
    /// The lines of `dir`'s message, when the server shows messages and
    /// the user may download the file; none otherwise. Read through the
    /// user's storage, so every backend can have messages, and it is the
    /// file the user would download (the storage's confinement, and the
    /// system user's rights, apply). A failure to read it only leaves the
    /// message out: entering the directory succeeded. So does a refusal
    /// by the [`Guard`](crate::guard::Guard), asked as for a download.
    pub(super) async fn dir_message(&self, dir: &VirtualPath) -> Vec<String> {
        let Some(name) = &self.shared.config.dir_message else {
            return Vec::new();
        };
        let Ok(path) = dir.join(name) else {
            return Vec::new();
        };
        let (Ok(()), Ok(storage)) = (self.check(Permission::Retrieve, &path), self.storage())
        else {
            return Vec::new();
        };
        // The embedder's guard has its say, as on a RETR of the file.
        if self
            .guard(Operation::Download { path: &path })
            .await
            .is_err()
        {
            return Vec::new();
        }
        let reader = match storage.open_read(&path, 0).await {
            Ok(reader) => reader,
            Err(e) => {
                if !e.is_not_found() {
                    tracing::debug!(path = %path, error = %e, "directory message not read");
                }
                return Vec::new();
            }
        };
        // Readers may block (a file, a network backend). One byte past
        // the cap tells the cut apart from a file of exactly that size.
        let read = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            reader
                .take(MAX_MESSAGE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map(|_| bytes)
        })
        .await;
        match read {
            Ok(Ok(bytes)) => file_message_lines(&bytes),
            Ok(Err(e)) => {
                tracing::debug!(path = %path, error = %e, "directory message not read");
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }
}

/// `reply` with `message` before its own lines.
pub(super) fn with_message(message: Vec<String>, reply: Reply) -> Reply {
    if message.is_empty() {
        return reply;
    }
    let lines = message
        .into_iter()
        .map(String::into_bytes)
        .chain(reply.lines().iter().cloned());
    Reply::multi(reply.code(), lines)
}
