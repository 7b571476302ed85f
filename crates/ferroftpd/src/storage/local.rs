//! The local filesystem backend, confined to each user's home by the kernel.
//!
//! Each session holds a descriptor of its home directory. Every path is
//! opened relative to it with `openat2(2)` and `RESOLVE_BENEATH`, so the
//! kernel refuses any resolution that would leave the home: `..` at the top,
//! absolute symbolic links, and relative links that climb out. Operations on
//! a name (mkdir, unlink, rename, lstat) first open its parent directory the
//! same way, then act on the single final component, which cannot contain a
//! slash or be `..` because the session normalised the path.
//!
//! All calls run on tokio's blocking pool, so a slow disk stalls only the
//! session that waits for it; or, for an account with an
//! [`Identity`](crate::auth::Identity), on a thread of the session's own
//! that has that system user's credentials (see `user_thread.rs`).
//!
//! A root of `/` is the whole filesystem: there, paths are resolved with
//! `RESOLVE_IN_ROOT` instead, so that absolute symbolic links work as
//! they do for any other program (nothing lies outside `/` anyway).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use super::user_thread::UserThread;
use super::{
    DirEntries, DirEntry, FileInfo, FileKind, FileReader, FileWriter, Remains, Storage,
    StorageError, StorageFactory, StorageResult, VirtualPath, WriteMode,
};
use crate::auth::{Account, Identity};

/// Resolution rules for every open: stay beneath the root, and no
/// `/proc`-style magic links.
const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// Resolution rules under a root of `/`: absolute links resolve from it.
const RESOLVE_WHOLE_FS: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Modification times outside years 0 to 9999 cannot be written as an
/// FTP time-val; such files are listed as if their time were unknown.
const MIN_TIME: i64 = -62_167_219_200;
const MAX_TIME: i64 = 253_402_300_799;

/// Attempts at finding a free name for STOU.
const UNIQUE_NAME_ATTEMPTS: usize = 50;

/// The start of the names of uploads' temporary files (see
/// [`LocalWriter`]). Such names are the server's own: hidden from
/// listings and refused to clients.
const TEMP_PREFIX: &[u8] = b".ferroftpd-part.";

/// A temporary file nobody holds locked is removed when its directory is
/// listed, once it is this old. A live upload holds its lock from the
/// moment after it creates the file: the age covers that moment.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Kernel interface filesystems, refused to system users whatever the
/// mode: a thread of the server that acts as a user still sees the
/// server's own `/proc/self` (the kernel's same-process rule), with the
/// paths of files other sessions have open; and sysfs, debugfs and the like
/// are no files to serve. `statfs` magic numbers from `linux/magic.h`.
const PSEUDO_FILESYSTEMS: [u64; 10] = [
    0x9fa0,      // proc
    0x6265_6572, // sysfs
    0x6462_6720, // debugfs
    0x7472_6163, // tracefs
    0x7363_6673, // securityfs
    0xcafe_4a11, // bpf
    0x6265_6570, // configfs
    0xde5e_81e4, // efivarfs
    0x0027_e0eb, // cgroup
    0x6367_7270, // cgroup2
];

/// Refuses `fd` if it lies on a kernel interface filesystem.
fn refuse_pseudo_fs(fd: &OwnedFd) -> StorageResult<()> {
    let st = rustix::fs::fstatfs(fd)?;
    // `f_type` is signed on some architectures; the magic numbers are 32
    // bits.
    #[allow(clippy::unnecessary_cast)]
    let magic = (st.f_type as u64) & 0xffff_ffff;
    if PSEUDO_FILESYSTEMS.contains(&magic) {
        return Err(StorageError::Io(io::Error::from(
            io::ErrorKind::PermissionDenied,
        )));
    }
    Ok(())
}

/// Refuses the server's own temporary names: a client's file named so would
/// be hidden, and taken for a stale upload and removed.
fn refuse_reserved(path: &VirtualPath) -> StorageResult<()> {
    match path.file_name() {
        Some(name) if name.starts_with(TEMP_PREFIX) => Err(StorageError::Io(io::Error::new(
            io::ErrorKind::InvalidFilename,
            "reserved file name",
        ))),
        _ => Ok(()),
    }
}

/// Opens [`LocalStorage`] at each account's home directory; as the
/// account's system user when it has an [`Identity`](crate::auth::Identity).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalStorageFactory;

#[async_trait]
impl StorageFactory for LocalStorageFactory {
    async fn open(&self, account: &Account) -> StorageResult<Arc<dyn Storage>> {
        let storage = match &account.identity {
            Some(identity) => LocalStorage::open_as(account.home.clone(), identity).await?,
            None => LocalStorage::open(account.home.clone()).await?,
        };
        Ok(Arc::new(storage.with_umask(account.umask)))
    }
}

/// Opens [`LocalStorage`] at each account's home directory with the
/// process's own credentials, refusing kernel interface filesystems as for
/// system users: for a process that has become the system user itself
/// ([`SystemAuthorizerBuilder::become_user_at_login`](crate::auth::SystemAuthorizerBuilder::become_user_at_login),
/// one session per process). An account that still carries an
/// [`Identity`](crate::auth::Identity) is refused: its files would be
/// opened with whatever credentials the process has.
#[cfg(feature = "system-users")]
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessUserStorageFactory;

#[cfg(feature = "system-users")]
#[async_trait]
impl StorageFactory for ProcessUserStorageFactory {
    async fn open(&self, account: &Account) -> StorageResult<Arc<dyn Storage>> {
        // Never as root: the process must have become the user first.
        if account.identity.is_some() || rustix::process::geteuid().is_root() {
            return Err(StorageError::new(
                crate::storage::ErrorKind::PermissionDenied,
                "This storage serves a process that has become the system user.".to_owned(),
            ));
        }
        let home = account.home.clone();
        let storage = blocking(move || {
            let mut storage = LocalStorage::open_root(home, None)?;
            refuse_pseudo_fs(&storage.root.fd)?;
            storage.root.deny_pseudo_fs = true;
            Ok(storage)
        })
        .await?;
        Ok(Arc::new(storage.with_umask(account.umask)))
    }
}

/// A directory of the local filesystem, seen as `/`.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: Root,
    home: Arc<Path>,
    /// Where file operations run: `None` for tokio's blocking pool, as the
    /// server; otherwise a system user's thread.
    user: Option<UserThread>,
}

impl LocalStorage {
    /// Opens `home` as the root.
    pub async fn open(home: PathBuf) -> StorageResult<Self> {
        blocking(move || Self::open_root(home, None)).await
    }

    /// Opens `home` as the root, and does every file operation, from this
    /// open on, with the credentials of `identity` on a thread of its own.
    /// The thread ends when the storage and every reader, writer and
    /// listing it gave out are dropped. Needs root (`CAP_SETUID` and
    /// `CAP_SETGID`).
    pub async fn open_as(home: PathBuf, identity: &Identity) -> StorageResult<Self> {
        let thread = UserThread::spawn(identity).await?;
        let user = thread.clone();
        thread.run(move || Self::open_root(home, Some(user))).await
    }

    fn open_root(home: PathBuf, user: Option<UserThread>) -> StorageResult<Self> {
        let fd = rustix::fs::open(
            &home,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let deny_pseudo_fs = user.is_some();
        if deny_pseudo_fs {
            refuse_pseudo_fs(&fd)?;
        }
        let resolve = if home == Path::new("/") {
            RESOLVE_WHOLE_FS
        } else {
            RESOLVE
        };
        Ok(LocalStorage {
            root: Root {
                fd: Arc::new(fd),
                resolve,
                deny_pseudo_fs,
                umask: None,
            },
            home: home.into(),
            user,
        })
    }

    /// Runs `f` with the root on the blocking pool, or the user's thread.
    async fn with_root<T, F>(&self, f: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Root) -> StorageResult<T> + Send + 'static,
    {
        let root = self.root.clone();
        match &self.user {
            Some(thread) => thread.run(move || f(&root)).await,
            None => blocking(move || f(&root)).await,
        }
    }

    /// Creates files with mode `0o666 & !umask` and directories with
    /// `0o777 & !umask` (only the permission bits of `umask` count),
    /// whatever the process umask; `None` leaves modes to the process
    /// umask, as [`Self::open`] does.
    pub fn with_umask(mut self, umask: Option<u32>) -> Self {
        self.root.umask = umask.map(|u| u & 0o777);
        self
    }

    /// `writer`, committed and dropped on the user's thread if there is one.
    fn own_writer(&self, writer: Box<dyn FileWriter>) -> Box<dyn FileWriter> {
        match &self.user {
            Some(thread) => thread.writer(writer),
            None => writer,
        }
    }
}

async fn blocking<T, F>(f: F) -> StorageResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StorageResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Io(io::Error::other(e)))?
}

/// The root descriptor and how paths beneath it resolve, used on a
/// blocking thread.
#[derive(Debug, Clone)]
struct Root {
    fd: Arc<OwnedFd>,
    resolve: ResolveFlags,
    /// Refuse anything on procfs, sysfs and the like (for system users).
    deny_pseudo_fs: bool,
    /// The umask of new files and directories; `None`: the process's.
    umask: Option<u32>,
}

/// The path relative to the root, as `openat2` takes it.
fn rel(path: &VirtualPath) -> &Path {
    match path.relative() {
        b"" => Path::new("."),
        r => Path::new(OsStr::from_bytes(r)),
    }
}

fn name_of(path: &VirtualPath) -> StorageResult<&OsStr> {
    path.file_name()
        .map(OsStr::from_bytes)
        .ok_or_else(|| StorageError::Io(io::Error::from(io::ErrorKind::PermissionDenied)))
}

/// `openat2` reports a refused escape as EXDEV (and ELOOP for magic links).
fn open_error(e: Errno) -> StorageError {
    match e {
        Errno::XDEV => StorageError::OutsideRoot,
        e => StorageError::Io(e.into()),
    }
}

/// Modes asked for new files and directories, before any umask.
const NEW_FILE_MODE: u32 = 0o666;
const NEW_DIR_MODE: u32 = 0o777;

impl Root {
    /// The mode to create with: `base` less the configured umask. The
    /// process umask is applied on top by the kernel, so the result is
    /// never more open than the final mode.
    fn create_mode(&self, base: u32) -> Mode {
        Mode::from_raw_mode(base & !self.umask.unwrap_or(0))
    }

    /// Gives a file this storage just created exactly `base & !umask`,
    /// undoing the process umask, when a umask is configured.
    fn set_created_mode(&self, fd: impl rustix::fd::AsFd, base: u32) -> StorageResult<()> {
        if let Some(umask) = self.umask {
            rustix::fs::fchmod(fd, Mode::from_raw_mode(base & !umask))?;
        }
        Ok(())
    }

    /// `path` (following links inside the root) as a path the kernel
    /// resolves to the very same file: `/proc/self/fd/N` of an `O_PATH`
    /// descriptor. chmod and utimensat through it need no read or write
    /// access to the file, only ownership, as on the file itself.
    fn changeable(&self, path: &VirtualPath) -> StorageResult<(OwnedFd, String)> {
        let fd = self.open(path, OFlags::PATH, Mode::empty())?;
        let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        Ok((fd, proc_path))
    }

    fn open(&self, path: &VirtualPath, flags: OFlags, mode: Mode) -> StorageResult<OwnedFd> {
        let fd = rustix::fs::openat2(
            &*self.fd,
            rel(path),
            flags | OFlags::CLOEXEC,
            mode,
            self.resolve,
        )
        .map_err(open_error)?;
        if self.deny_pseudo_fs {
            refuse_pseudo_fs(&fd)?;
        }
        Ok(fd)
    }

    /// The parent directory of `path` and the final component's name.
    fn parent<'p>(&self, path: &'p VirtualPath) -> StorageResult<(OwnedFd, &'p OsStr)> {
        let name = name_of(path)?;
        let parent = path.parent().unwrap_or_else(VirtualPath::root);
        let dir = self.open(&parent, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        Ok((dir, name))
    }

    fn stat(&self, path: &VirtualPath) -> StorageResult<Stat> {
        let fd = self.open(path, OFlags::PATH, Mode::empty())?;
        Ok(rustix::fs::fstat(&fd)?)
    }

    fn lstat(&self, path: &VirtualPath) -> StorageResult<Stat> {
        if path.is_root() {
            return Ok(rustix::fs::fstat(&*self.fd)?);
        }
        let (dir, name) = self.parent(path)?;
        Ok(rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?)
    }

    fn open_file(&self, path: &VirtualPath, flags: OFlags) -> StorageResult<File> {
        // openat2 refuses a mode unless the file may be created.
        let mode = if flags.contains(OFlags::CREATE) {
            self.create_mode(NEW_FILE_MODE)
        } else {
            Mode::empty()
        };
        // O_NONBLOCK so that a FIFO cannot hang the open; it is cleared
        // once the file is known to be a regular one.
        let fd = self.open(path, flags | OFlags::NONBLOCK, mode)?;
        let st = rustix::fs::fstat(&fd)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => {
                let flags = rustix::fs::fcntl_getfl(&fd)?;
                rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
                Ok(File::from(fd))
            }
            FileType::Directory => Err(Errno::ISDIR.into()),
            // Devices, pipes and sockets are not files a client may transfer.
            _ => Err(StorageError::Io(io::Error::from(
                io::ErrorKind::PermissionDenied,
            ))),
        }
    }
}

impl From<Errno> for StorageError {
    fn from(e: Errno) -> Self {
        StorageError::Io(e.into())
    }
}

/// Converts a `stat` into plain metadata.
// `stat` field types differ between architectures; the conversions are
// no-ops only on some.
#[allow(clippy::useless_conversion)]
pub(crate) fn file_info(st: &Stat) -> FileInfo {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => FileKind::File,
        FileType::Directory => FileKind::Dir,
        FileType::Symlink => FileKind::Symlink,
        _ => FileKind::Other,
    };
    FileInfo {
        kind,
        size: u64::try_from(st.st_size).unwrap_or(0),
        modified: Some(i64::from(st.st_mtime)).filter(|t| (MIN_TIME..=MAX_TIME).contains(t)),
        mode: st.st_mode & 0o7777,
        nlink: u64::from(st.st_nlink),
        uid: st.st_uid,
        gid: st.st_gid,
        unique: Some((st.st_dev, st.st_ino)),
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        refuse_reserved(path)?;
        let path = path.clone();
        self.with_root(move |root| Ok(file_info(&root.stat(&path)?)))
            .await
    }

    async fn symlink_metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        refuse_reserved(path)?;
        let path = path.clone();
        self.with_root(move |root| Ok(file_info(&root.lstat(&path)?)))
            .await
    }

    fn real_path(&self, path: &VirtualPath) -> Option<PathBuf> {
        Some(self.home.join(rel(path)))
    }

    async fn read_link(&self, path: &VirtualPath) -> StorageResult<Vec<u8>> {
        refuse_reserved(path)?;
        let path = path.clone();
        self.with_root(move |root| {
            let (dir, name) = root.parent(&path)?;
            Ok(rustix::fs::readlinkat(&dir, name, Vec::new())?.into_bytes())
        })
        .await
    }

    /// The home, opened again by its name, must be the directory this
    /// storage holds open, and readable: a removed, replaced or unreadable
    /// home would fail every new login while the held descriptor still
    /// works.
    async fn check_reachable(&self) -> StorageResult<()> {
        let home = self.home.clone();
        self.with_root(move |root| {
            let by_name = rustix::fs::open(
                &*home,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let (held, named) = (rustix::fs::fstat(&*root.fd)?, rustix::fs::fstat(&by_name)?);
            if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino) {
                return Err(StorageError::new(
                    super::ErrorKind::NotFound,
                    "the directory was replaced since the storage opened it".to_owned(),
                ));
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries> {
        let path = path.clone();
        self.with_root(move |root| {
            let fd = root.open(&path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
            let dir = rustix::fs::Dir::read_from(&fd)?;
            let listing = Listing {
                root: root.clone(),
                dir_fd: fd,
                dir,
                path,
            };
            Ok(Box::new(listing) as DirEntries)
        })
        .await
        .map(|entries| match &self.user {
            Some(thread) => thread.listing(entries),
            None => entries,
        })
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> StorageResult<Box<dyn FileReader>> {
        refuse_reserved(path)?;
        let path = path.clone();
        self.with_root(move |root| {
            let mut file = root.open_file(&path, OFlags::RDONLY | OFlags::NOCTTY)?;
            if offset > 0 {
                file.seek(SeekFrom::Start(offset))?;
            }
            Ok(Box::new(LocalReader(file)) as Box<dyn FileReader>)
        })
        .await
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> StorageResult<Box<dyn FileWriter>> {
        refuse_reserved(path)?;
        let path = path.clone();
        self.with_root(move |root| {
            let writer = match mode {
                WriteMode::Replace => LocalWriter::replacing(root, &path)?,
                WriteMode::Append => {
                    let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::NOCTTY;
                    // O_EXCL first, to know whether the file is new and
                    // takes the umask's mode.
                    let file = match root.open_file(&path, flags | OFlags::CREATE | OFlags::EXCL) {
                        Ok(file) => {
                            root.set_created_mode(&file, NEW_FILE_MODE)?;
                            file
                        }
                        Err(StorageError::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists => {
                            root.open_file(&path, flags | OFlags::CREATE)?
                        }
                        Err(e) => return Err(e),
                    };
                    // What a refused append is cut back to.
                    let before = rustix::fs::fstat(&file).map(|st| st.st_size).ok();
                    let mut writer = LocalWriter::in_place(file);
                    writer.append_from = before.and_then(|n| u64::try_from(n).ok());
                    writer
                }
                WriteMode::At(offset) => {
                    let mut file = root.open_file(&path, OFlags::WRONLY | OFlags::NOCTTY)?;
                    file.seek(SeekFrom::Start(offset))?;
                    LocalWriter::in_place(file)
                }
            };
            Ok(Box::new(writer) as Box<dyn FileWriter>)
        })
        .await
        .map(|writer| self.own_writer(writer))
    }

    async fn create_unique(
        &self,
        dir: &VirtualPath,
        prefix: &[u8],
    ) -> StorageResult<(VirtualPath, Box<dyn FileWriter>)> {
        // The names made are `<prefix>.XXXXXXXX`: never the server's own.
        if [prefix, b"."].concat().starts_with(TEMP_PREFIX) {
            return Err(StorageError::Io(io::ErrorKind::InvalidFilename.into()));
        }
        let dir = dir.clone();
        let prefix = prefix.to_vec();
        self.with_root(move |root| {
            let dir_fd = root.open(&dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
            for _ in 0..UNIQUE_NAME_ATTEMPTS {
                let mut name = prefix.clone();
                name.push(b'.');
                name.extend(random_suffix());
                let flags = OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC;
                match rustix::fs::openat2(
                    &dir_fd,
                    OsStr::from_bytes(&name),
                    flags,
                    root.create_mode(NEW_FILE_MODE),
                    root.resolve,
                ) {
                    Ok(fd) => {
                        root.set_created_mode(&fd, NEW_FILE_MODE)?;
                        let path = dir
                            .join(&name)
                            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
                        let mut writer = LocalWriter::in_place(File::from(fd));
                        writer.created = Some(Created { dir: dir_fd, name });
                        return Ok((path, Box::new(writer) as Box<dyn FileWriter>));
                    }
                    Err(Errno::EXIST) => continue,
                    Err(e) => return Err(open_error(e)),
                }
            }
            Err(StorageError::Io(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "no unique name found",
            )))
        })
        .await
        .map(|(path, writer)| (path, self.own_writer(writer)))
    }

    async fn create_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        refuse_reserved(path)?;
        let path = path.clone();
        self.with_root(move |root| {
            let (dir, name) = root.parent(&path)?;
            rustix::fs::mkdirat(&dir, name, root.create_mode(NEW_DIR_MODE))?;
            if let Some(umask) = root.umask {
                // An O_PATH descriptor of the new directory itself (not a
                // link put in its place): chmod through /proc needs no
                // read access to it, which a strict umask may deny.
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(&dir, name, flags, Mode::empty())?;
                let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
                rustix::fs::chmod(
                    proc_path.as_str(),
                    Mode::from_raw_mode(NEW_DIR_MODE & !umask),
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn remove_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        refuse_reserved(path)?;
        let path = path.clone();
        self.with_root(move |root| {
            let (dir, name) = root.parent(&path)?;
            Ok(rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR)?)
        })
        .await
    }

    async fn remove_file(&self, path: &VirtualPath) -> StorageResult<()> {
        refuse_reserved(path)?;
        let path = path.clone();
        self.with_root(move |root| {
            let (dir, name) = root.parent(&path)?;
            Ok(rustix::fs::unlinkat(&dir, name, AtFlags::empty())?)
        })
        .await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> StorageResult<()> {
        refuse_reserved(from)?;
        refuse_reserved(to)?;
        let (from, to) = (from.clone(), to.clone());
        self.with_root(move |root| {
            let (from_dir, from_name) = root.parent(&from)?;
            let (to_dir, to_name) = root.parent(&to)?;
            Ok(rustix::fs::renameat(
                &from_dir, from_name, &to_dir, to_name,
            )?)
        })
        .await
    }
    fn can_set_modified(&self) -> bool {
        true
    }

    async fn set_modified(&self, path: &VirtualPath, secs: i64) -> StorageResult<()> {
        refuse_reserved(path)?;
        let path = path.clone();
        self.with_root(move |root| {
            let (_fd, proc_path) = root.changeable(&path)?;
            let times = rustix::fs::Timestamps {
                last_access: rustix::fs::Timespec {
                    tv_sec: 0,
                    tv_nsec: rustix::fs::UTIME_OMIT,
                },
                last_modification: rustix::fs::Timespec {
                    tv_sec: secs,
                    tv_nsec: 0,
                },
            };
            Ok(rustix::fs::utimensat(
                rustix::fs::CWD,
                proc_path.as_str(),
                &times,
                AtFlags::empty(),
            )?)
        })
        .await
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> StorageResult<()> {
        refuse_reserved(path)?;
        let path = path.clone();
        self.with_root(move |root| {
            let (_fd, proc_path) = root.changeable(&path)?;
            Ok(rustix::fs::chmod(
                proc_path.as_str(),
                Mode::from_raw_mode(mode & 0o7777),
            )?)
        })
        .await
    }
}

/// Eight random lowercase letters and digits.
fn random_suffix() -> impl Iterator<Item = u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..8).map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())])
}

/// A directory being read, entry by entry.
struct Listing {
    root: Root,
    dir_fd: OwnedFd,
    dir: rustix::fs::Dir,
    path: VirtualPath,
}

impl Listing {
    fn entry(&self, name: &[u8]) -> StorageResult<DirEntry> {
        let os_name = OsStr::from_bytes(name);
        let st = rustix::fs::statat(&self.dir_fd, os_name, AtFlags::SYMLINK_NOFOLLOW)?;
        let info = file_info(&st);
        let (link_target, resolved) = if info.kind == FileKind::Symlink {
            let target = rustix::fs::readlinkat(&self.dir_fd, os_name, Vec::new())
                .map(|t| t.into_bytes())
                .ok();
            // Resolve through the root so a link may point anywhere inside
            // it, and nowhere outside.
            let resolved = self
                .path
                .join(name)
                .ok()
                .and_then(|p| self.root.stat(&p).ok())
                .map(|st| file_info(&st));
            (target, resolved)
        } else {
            (None, None)
        };
        Ok(DirEntry {
            name: name.to_vec(),
            info,
            link_target,
            resolved,
        })
    }
}

impl Listing {
    /// Removes the temporary file `name` if no upload holds it: one left
    /// behind by a server that was killed mid-upload. Best effort: a file
    /// the session may not open or remove stays (hidden all the same).
    fn sweep(&self, name: &[u8]) {
        let os_name = OsStr::from_bytes(name);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let Ok(fd) = rustix::fs::openat(&self.dir_fd, os_name, flags, Mode::empty()) else {
            return;
        };
        let Ok(st) = rustix::fs::fstat(&fd) else {
            return;
        };
        let modified = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(st.st_mtime).unwrap_or(0));
        let old = std::time::SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age >= STALE_TEMP_AGE);
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || !old {
            return;
        }
        // The name cannot be taken again while it exists (temporary files
        // are created with O_EXCL), so the file this lock holds is the
        // one unlinked.
        if rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
            && rustix::fs::unlinkat(&self.dir_fd, os_name, AtFlags::empty()).is_ok()
        {
            tracing::info!(dir = %self.path, name = %String::from_utf8_lossy(name), "removed a stale upload file");
        }
    }
}

impl Iterator for Listing {
    type Item = StorageResult<DirEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.dir.next()? {
                Ok(e) => e,
                Err(e) => return Some(Err(e.into())),
            };
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            if name.starts_with(TEMP_PREFIX) {
                self.sweep(name);
                continue;
            }
            match self.entry(name) {
                // Removed between readdir and stat: skip it.
                Err(e) if e.is_not_found() => continue,
                other => return Some(other),
            }
        }
    }
}

impl std::fmt::Debug for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing").field("path", &self.path).finish()
    }
}

#[derive(Debug)]
struct LocalReader(File);

impl Read for LocalReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl FileReader for LocalReader {
    fn as_file(&self) -> Option<&File> {
        Some(&self.0)
    }
}

/// An upload in progress.
///
/// A plain STOR writes to a hidden temporary file beside the target and
/// renames it over the target on commit, so an interrupted upload never
/// destroys the file that was there. When nothing was there, an interrupted
/// upload is kept under the target name, so the client can resume it.
#[derive(Debug)]
struct LocalWriter {
    file: File,
    pending: Option<PendingReplace>,
    /// The name STOU created for this upload, removed if it is discarded.
    created: Option<Created>,
    /// APPE: the file's length before it, restored if it is discarded.
    append_from: Option<u64>,
}

#[derive(Debug)]
struct Created {
    dir: OwnedFd,
    name: Vec<u8>,
}

#[derive(Debug)]
struct PendingReplace {
    dir: OwnedFd,
    temp_name: Vec<u8>,
    name: Vec<u8>,
    target_existed: bool,
}

impl LocalWriter {
    fn in_place(file: File) -> Self {
        LocalWriter {
            file,
            pending: None,
            created: None,
            append_from: None,
        }
    }

    fn replacing(root: &Root, path: &VirtualPath) -> StorageResult<Self> {
        let (dir, name) = root.parent(path)?;
        let existing = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(e.into()),
        };
        match existing.map(|st| FileType::from_raw_mode(st.st_mode)) {
            Some(FileType::Directory) => return Err(Errno::ISDIR.into()),
            // A symbolic link is replaced by the uploaded file, like a
            // regular file: writing through it would destroy its target
            // before the upload is known to be complete.
            Some(FileType::RegularFile | FileType::Symlink) | None => {}
            Some(_) => return Err(StorageError::Io(io::ErrorKind::PermissionDenied.into())),
        }
        // A fixed-length name, so that any name that fits the directory
        // also has a temporary name that fits.
        let mut temp_name = TEMP_PREFIX.to_vec();
        temp_name.extend(random_suffix());
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat2(
            &dir,
            OsStr::from_bytes(&temp_name),
            flags,
            root.create_mode(NEW_FILE_MODE),
            root.resolve,
        )
        .map_err(open_error)?;
        // Held until the descriptor closes (commit, failure, or the
        // process's death): a locked temporary file is a live upload, one
        // nobody locks is left from a crash (see `Listing::sweep`).
        let _ = rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive);
        if let Some(st) =
            existing.filter(|st| FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
        {
            // Keep the replaced file's permission bits.
            let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(st.st_mode & 0o7777));
        } else {
            root.set_created_mode(&fd, NEW_FILE_MODE)?;
        }
        Ok(LocalWriter {
            created: None,
            append_from: None,
            file: File::from(fd),
            pending: Some(PendingReplace {
                dir,
                temp_name,
                name: name.as_bytes().to_vec(),
                target_existed: existing.is_some(),
            }),
        })
    }
}

impl PendingReplace {
    fn temp(&self) -> &OsStr {
        OsStr::from_bytes(&self.temp_name)
    }

    fn name(&self) -> &OsStr {
        OsStr::from_bytes(&self.name)
    }

    fn remove_temp(&self) {
        let _ = rustix::fs::unlinkat(&self.dir, self.temp(), AtFlags::empty());
    }
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl FileWriter for LocalWriter {
    fn as_file(&mut self) -> Option<&mut File> {
        Some(&mut self.file)
    }

    fn discard(mut self: Box<Self>) {
        if let Some(p) = self.pending.take() {
            p.remove_temp();
        }
        // A refused append takes back what it added, if nobody appended
        // after it (their bytes would go too): with O_APPEND, the offset
        // is the end of this upload's last write.
        if let Some(len) = self.append_from.take() {
            let end = self.file.stream_position().ok();
            let size = self.file.metadata().map(|m| m.len()).ok();
            if end.is_some() && end == size {
                let _ = self.file.set_len(len);
            }
        }
        // STOU's file holds nothing but this upload: it goes too, if the
        // name still leads to it (not to a file stored there since).
        if let Some(c) = self.created.take() {
            let name = OsStr::from_bytes(&c.name);
            let ours = rustix::fs::fstat(&self.file);
            let there = rustix::fs::statat(&c.dir, name, AtFlags::SYMLINK_NOFOLLOW);
            if let (Ok(ours), Ok(there)) = (ours, there) {
                if (ours.st_dev, ours.st_ino) == (there.st_dev, there.st_ino) {
                    let _ = rustix::fs::unlinkat(&c.dir, name, AtFlags::empty());
                }
            }
        }
    }

    fn abandon(mut self: Box<Self>) -> Remains {
        self.leave_unfinished()
    }

    fn commit(mut self: Box<Self>) -> StorageResult<()> {
        if let Some(p) = self.pending.take() {
            if let Err(e) = rustix::fs::renameat(&p.dir, p.temp(), &p.dir, p.name()) {
                p.remove_temp();
                return Err(e.into());
            }
        }
        Ok(())
    }
}

impl LocalWriter {
    /// Ends an upload that did not commit. What was there stays. Where
    /// nothing was, the bytes received are kept under the name so the
    /// client can resume, unless there are none, or someone else has
    /// stored a file under that name meanwhile.
    fn leave_unfinished(&mut self) -> Remains {
        let Some(p) = self.pending.take() else {
            // Written in place (APPE, REST then STOR), or a name STOU
            // created for this upload alone.
            return if self.created.take().is_some() {
                Remains::NewFile
            } else {
                Remains::InPlace
            };
        };
        let received = rustix::fs::fstat(&self.file).is_ok_and(|st| st.st_size > 0);
        if p.target_existed || !received {
            p.remove_temp();
            return Remains::Nothing;
        }
        let keep = rustix::fs::renameat_with(
            &p.dir,
            p.temp(),
            &p.dir,
            p.name(),
            rustix::fs::RenameFlags::NOREPLACE,
        );
        if keep.is_err() {
            p.remove_temp();
            return Remains::Nothing;
        }
        Remains::NewFile
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // Not committed: the upload failed or was aborted.
        self.leave_unfinished();
    }
}
