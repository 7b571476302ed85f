//! `--pidfile`: the process id in a file, locked while the server runs.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rustix::fs::{flock, FlockOperation};

/// The open, locked pid file. Dropping it empties and removes the file.
///
/// The lock (flock(2)) says whether a server runs, whatever the file
/// says: a file left by a killed server is taken over, and a second
/// server given the same file refuses to start. The file stays open, so
/// that it can be emptied at exit even when the sandbox would not let the
/// server remove it; a script reading an empty file finds no process to
/// signal, rather than an unrelated one that reused the id.
#[derive(Debug)]
pub struct PidFile {
    file: File,
    path: PathBuf,
}

impl PidFile {
    pub fn create(path: &Path) -> Result<PidFile> {
        let context = || format!("--pidfile {}", path.display());
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            // Never through a link: run as root, it would empty its target.
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)
            .with_context(context)?;
        let kind = file.metadata().with_context(context)?.file_type();
        if !kind.is_file() || kind.is_fifo() {
            bail!("{}: not a regular file", context());
        }
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            match text.trim() {
                "" => bail!("{}: another server holds this pid file", context()),
                pid => bail!(
                    "{}: another server (pid {pid}) holds this pid file",
                    context()
                ),
            }
        }
        file.set_len(0).with_context(context)?;
        Ok(PidFile {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Writes the process id, once the server handles SIGHUP: a script
    /// that reads the id and signals it must not reach a server that
    /// would still die of the signal.
    pub fn write_pid(&mut self) -> Result<()> {
        let context = || format!("--pidfile {}", self.path.display());
        self.file.rewind().with_context(context)?;
        writeln!(self.file, "{}", std::process::id()).with_context(context)
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_pid_refuses_a_second_server_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferroftpd.pid");
        std::fs::write(&path, "999999\n").unwrap(); // left by a killed server
        let mut first = PidFile::create(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        first.write_pid().unwrap();
        let pid = std::process::id().to_string();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{pid}\n"));
        let e = PidFile::create(&path).unwrap_err().to_string();
        assert!(
            e.contains(&format!("(pid {pid})")) && e.contains("--pidfile"),
            "{e}"
        );
        drop(first);
        assert!(!path.exists());
        assert!(PidFile::create(&dir.path().join("no/such/dir/x.pid")).is_err());
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("link.pid")).unwrap();
        assert!(PidFile::create(&dir.path().join("link.pid")).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
