//! Navigation and file management: PWD, CWD, MKD, RMD, DELE, RNFR, RNTO,
//! SIZE, MDTM.

use ferroftpd_proto::command::TransferType;
use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::perms::Permission;
use ferroftpd_proto::reply::{quoted, Reply};
use ferroftpd_proto::time::DateTime;

use super::{Login, Pending, Session};
use crate::error::CommandError;
use crate::guard::Operation;
use crate::hooks::Event as HookEvent;

type Result<T = Reply> = std::result::Result<T, CommandError>;

/// `<prefix>"<path>"<suffix>` as reply text.
fn path_text(path: &VirtualPath, suffix: &str) -> Vec<u8> {
    let mut text = quoted(path.as_bytes());
    text.extend_from_slice(suffix.as_bytes());
    text
}

impl Session {
    pub(super) fn pwd(&self) -> Result {
        let cwd = &self.user_ref()?.cwd;
        Ok(Reply::new(
            257,
            path_text(cwd, " is the current directory."),
        ))
    }

    pub(super) async fn cwd(&mut self, arg: &[u8]) -> Result {
        let path = self.resolve_checked(arg, Permission::ChangeDir)?;
        let info = self.storage()?.metadata(&path).await?;
        if !info.is_dir() {
            return Err(Reply::new(550, "Not a directory.").into());
        }
        let message = self.dir_message(&path).await;
        let reply = Reply::new(250, path_text(&path, " is the current directory."));
        let reply = super::messages::with_message(message, reply);
        self.registration.set_directory(&path.to_string_lossy());
        if let Login::LoggedIn(user) = &mut self.login {
            user.cwd = path;
        }
        Ok(reply)
    }

    pub(super) async fn mkd(&mut self, arg: &[u8]) -> Result {
        let path = self.resolve_entry(arg, Permission::MakeDir)?;
        if path.is_root() {
            return Err(Reply::new(550, "File exists.").into());
        }
        self.guard(Operation::MakeDir { path: &path }).await?;
        self.storage()?.create_dir(&path).await?;
        tracing::info!(path = %path, "MKD");
        self.hook(HookEvent::DirectoryCreated(self.file_event(&path, 0)));
        Ok(Reply::new(257, path_text(&path, " directory created.")))
    }

    pub(super) async fn rmd(&mut self, arg: &[u8]) -> Result {
        let path = self.resolve_entry(arg, Permission::Delete)?;
        if path.is_root() {
            return Err(Reply::new(550, "Can't remove root directory.").into());
        }
        self.guard(Operation::RemoveDir { path: &path }).await?;
        self.storage()?.remove_dir(&path).await?;
        tracing::info!(path = %path, "RMD");
        self.hook(HookEvent::DirectoryRemoved(self.file_event(&path, 0)));
        Ok(Reply::new(250, "Directory removed."))
    }

    pub(super) async fn dele(&mut self, arg: &[u8]) -> Result {
        let path = self.resolve_entry(arg, Permission::Delete)?;
        if path.is_root() {
            return Err(Reply::new(550, "Is a directory.").into());
        }
        self.guard(Operation::Delete { path: &path }).await?;
        self.storage()?.remove_file(&path).await?;
        tracing::info!(path = %path, "DELE");
        self.hook(HookEvent::FileDeleted(self.file_event(&path, 0)));
        Ok(Reply::new(250, "File removed."))
    }

    pub(super) async fn rnfr(&mut self, arg: &[u8]) -> Result {
        let path = self.resolve_entry(arg, Permission::Rename)?;
        if path.is_root() {
            return Err(Reply::new(550, "Can't rename home directory.").into());
        }
        // Permissions follow paths: a tree holding a directory with rules
        // of its own stays where its rules are.
        let account = &self.user_ref()?.account;
        if !self.shared.config.authorizer.permits_move(account, &path) {
            return Err(Reply::new(
                550,
                "Can't rename: this holds a directory with permissions of its own.",
            )
            .into());
        }
        self.storage()?.symlink_metadata(&path).await?;
        self.pending = Pending::RenameFrom(path);
        Ok(Reply::new(350, "Ready for destination name."))
    }

    pub(super) async fn rnto(&mut self, arg: &[u8], pending: Pending) -> Result {
        let Pending::RenameFrom(from) = pending else {
            return Err(Reply::new(503, "Bad sequence of commands: use RNFR first.").into());
        };
        let to = self.resolve_entry(arg, Permission::Rename)?;
        if to.is_root() {
            return Err(Reply::new(553, "File name not allowed.").into());
        }
        let operation = Operation::Rename {
            from: &from,
            to: &to,
        };
        self.guard(operation).await?;
        self.storage()?.rename(&from, &to).await?;
        tracing::info!(from = %from, to = %to, "RNTO");
        if self.has_hooks() {
            self.hook(HookEvent::Renamed(
                self.file_event(&from, 0),
                self.file_event(&to, 0),
            ));
        }
        Ok(Reply::new(250, "Renaming ok."))
    }

    pub(super) async fn size(&mut self, arg: &[u8]) -> Result {
        // RFC 3659 §4: SIZE is the size as transferred, which in ASCII
        // mode depends on the content; pyftpdlib and proftpd refuse it
        // rather than read the whole file.
        if self.transfer_type == TransferType::Ascii {
            return Ok(Reply::new(
                550,
                "SIZE not allowed in ASCII mode: send TYPE I first.",
            ));
        }
        let path = self.resolve_checked(arg, Permission::List)?;
        let info = self.storage()?.metadata(&path).await?;
        if !info.is_file() {
            return Err(not_retrievable(&path));
        }
        Ok(Reply::new(213, info.size.to_string()))
    }

    pub(super) async fn mdtm(&mut self, arg: &[u8]) -> Result {
        let path = self.resolve_checked(arg, Permission::List)?;
        let info = self.storage()?.metadata(&path).await?;
        match (info.is_file(), info.modified) {
            // A time outside years 0 to 9999 has no time-val.
            (true, Some(t)) => match DateTime::from_unix(t, 0).checked_time_val() {
                Some(time_val) => Ok(Reply::new(213, time_val)),
                None => Err(not_retrievable(&path)),
            },
            _ => Err(not_retrievable(&path)),
        }
    }
}

impl Session {
    pub(super) async fn mfmt(&mut self, secs: i64, arg: &[u8]) -> Result {
        let path = self.resolve_checked(arg, Permission::SetTime)?;
        self.guard(Operation::SetTime { path: &path, secs }).await?;
        let storage = self.storage()?;
        if !storage.metadata(&path).await?.is_file() {
            return Err(not_retrievable(&path));
        }
        storage.set_modified(&path, secs).await?;
        tracing::info!(path = %path, "MFMT");
        // The filesystem may round or clamp the time: report what it kept.
        let kept = storage.metadata(&path).await?.modified.unwrap_or(secs);
        let shown = DateTime::from_unix(kept, 0)
            .checked_time_val()
            .unwrap_or_else(|| DateTime::from_unix(secs, 0).time_val());
        let mut text = format!("Modify={shown}; ").into_bytes();
        text.extend_from_slice(path.as_bytes());
        Ok(Reply::new(213, text))
    }

    /// SITE CHMOD mode path (the mode is permission bits only: the
    /// parser refuses more).
    pub(super) async fn site_chmod(&mut self, mode: u32, path: &[u8]) -> Result {
        let path = self.resolve_checked(path, Permission::Chmod)?;
        if path.is_root() {
            return Err(Reply::new(550, "Can't change the mode of the root directory.").into());
        }
        self.guard(Operation::Chmod { path: &path, mode }).await?;
        self.storage()?.set_mode(&path, mode).await?;
        tracing::info!(path = %path, mode = format!("{mode:o}"), "SITE CHMOD");
        Ok(Reply::new(200, "SITE CHMOD successful."))
    }
}

fn not_retrievable(path: &VirtualPath) -> CommandError {
    let mut text = path.as_bytes().to_vec();
    text.extend_from_slice(b" is not retrievable.");
    Reply::new(550, text).into()
}
