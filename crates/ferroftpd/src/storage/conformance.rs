//! One suite that every [`Storage`] backend and layer runs, to check the
//! promises the trait docs (and `docs/storage.md`) make.
//!
//! Call [`check_storage`] from a test with a closure that returns a fresh,
//! empty storage; each check gets one of its own. A check that fails panics
//! with its name, the promise it checks and what went wrong. The suite
//! needs a tokio runtime with timers (`#[tokio::test]` has one); it reads
//! and writes through readers, writers and listings on
//! `tokio::task::spawn_blocking`, as the server does.
//!
//! ```
//! use std::sync::Arc;
//! use ferroftpd::storage::{conformance, MemoryStorage, Storage};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // In a #[tokio::test]:
//! conformance::check_storage(|| async {
//!     Arc::new(MemoryStorage::new(16 << 20)) as Arc<dyn Storage>
//! })
//! .await;
//! # }
//! ```
//!
//! A backend that does not make some promise on purpose (an object store
//! that cannot move a directory) says so with [`Conformance::skip`], and
//! documents it. Optional operations (`set_mode`, `set_modified`,
//! `read_link`) are checked only when they do not return
//! [`ErrorKind::Unsupported`].

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use super::{
    DirEntries, DirEntry, ErrorKind, FileInfo, FileReader, FileWriter, Remains, Storage,
    StorageError, StorageResult, VirtualPath, WriteMode,
};

/// How long one check may take before it counts as hung.
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// More entries than any check makes: a listing that gives more never
/// ends. Listings stop here, so that a broken one cannot run forever on a
/// blocking thread (which the runtime would wait for).
const MAX_ENTRIES: usize = 10_000;

/// More bytes than any check writes, for the same reason.
const MAX_CONTENT: u64 = 8 << 20;

/// Runs every check on storages made by `fresh`, one fresh and empty
/// storage per check. Panics at the first check that fails.
///
/// The same as `Conformance::new().run(fresh)`.
pub async fn check_storage<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Storage>>,
{
    Conformance::new().run(fresh).await;
}

/// The suite, with the checks a backend leaves out on purpose.
#[derive(Debug, Clone, Default)]
pub struct Conformance {
    skipped: Vec<Check>,
}

impl Conformance {
    /// Every check.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves `check` out: for a promise the backend does not make, and
    /// says so in its docs.
    pub fn skip(mut self, check: Check) -> Self {
        self.skipped.push(check);
        self
    }

    /// Runs the checks, each on a fresh storage from `fresh`. Panics at the
    /// first that fails, or that takes longer than two minutes.
    pub async fn run<F, Fut>(&self, fresh: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Arc<dyn Storage>>,
    {
        for check in Check::ALL {
            if self.skipped.contains(&check) {
                continue;
            }
            let t = Tester {
                check,
                storage: fresh().await,
            };
            if tokio::time::timeout(CHECK_TIMEOUT, t.run()).await.is_err() {
                t.fail(format_args!("did not finish within {CHECK_TIMEOUT:?}"));
            }
        }
    }
}

/// One check of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// `metadata` and `list` report the files and directories made.
    MetadataAndList,
    /// Each failure has the [`ErrorKind`] the trait docs give it.
    ErrorKinds,
    /// STOR replaces the whole content.
    ReplaceContent,
    /// A download starts at the REST offset.
    ReadFromOffset,
    /// STOR after REST ([`WriteMode::At`]) writes from the offset.
    WriteAt,
    /// APPE ([`WriteMode::Append`]) adds to the end.
    Append,
    /// APPE creates a missing file.
    AppendCreates,
    /// STOU ([`Storage::create_unique`]) names are new and distinct.
    CreateUnique,
    /// A rename replaces a file at the target.
    RenameReplacesFile,
    /// Directories rename with their contents, by the rules of `rename(2)`.
    RenameDirectory,
    /// A rename onto a missing parent fails and moves nothing.
    RenameMissingParent,
    /// `remove_dir` of a non-empty directory fails with
    /// `DirectoryNotEmpty`.
    RemoveNonEmptyDir,
    /// `remove_file` of a directory fails.
    RemoveFileOfDir,
    /// Names that are not UTF-8 (bytes 0x80 to 0xff) round-trip.
    NonUtf8Names,
    /// A writer dropped without a commit leaves the old content.
    DroppedWriter,
    /// A discarded upload ([`FileWriter::discard`]) leaves nothing.
    Discard,
    /// An abandoned upload ([`FileWriter::abandon`]) says truly what it
    /// left.
    Abandon,
    /// Two uploads to one name end with one of them, whole.
    ConcurrentWriters,
    /// A download during a replace reads the old content whole.
    ReadDuringReplace,
    /// A listing while entries are added: no error, no duplicates.
    ListWhileAdding,
    /// `set_mode`, unless unsupported.
    SetMode,
    /// `set_modified`, unless unsupported.
    SetModified,
    /// `read_link`, unless unsupported.
    ReadLink,
}

impl Check {
    /// Every check, in the order they run.
    pub const ALL: [Check; 23] = [
        Check::MetadataAndList,
        Check::ErrorKinds,
        Check::ReplaceContent,
        Check::ReadFromOffset,
        Check::WriteAt,
        Check::Append,
        Check::AppendCreates,
        Check::CreateUnique,
        Check::RenameReplacesFile,
        Check::RenameDirectory,
        Check::RenameMissingParent,
        Check::RemoveNonEmptyDir,
        Check::RemoveFileOfDir,
        Check::NonUtf8Names,
        Check::DroppedWriter,
        Check::Discard,
        Check::Abandon,
        Check::ConcurrentWriters,
        Check::ReadDuringReplace,
        Check::ListWhileAdding,
        Check::SetMode,
        Check::SetModified,
        Check::ReadLink,
    ];

    /// The check's name, as failures show it.
    pub fn name(self) -> &'static str {
        match self {
            Check::MetadataAndList => "metadata_and_list",
            Check::ErrorKinds => "error_kinds",
            Check::ReplaceContent => "replace_content",
            Check::ReadFromOffset => "read_from_offset",
            Check::WriteAt => "write_at",
            Check::Append => "append",
            Check::AppendCreates => "append_creates",
            Check::CreateUnique => "create_unique",
            Check::RenameReplacesFile => "rename_replaces_file",
            Check::RenameDirectory => "rename_directory",
            Check::RenameMissingParent => "rename_missing_parent",
            Check::RemoveNonEmptyDir => "remove_non_empty_dir",
            Check::RemoveFileOfDir => "remove_file_of_dir",
            Check::NonUtf8Names => "non_utf8_names",
            Check::DroppedWriter => "dropped_writer",
            Check::Discard => "discard",
            Check::Abandon => "abandon",
            Check::ConcurrentWriters => "concurrent_writers",
            Check::ReadDuringReplace => "read_during_replace",
            Check::ListWhileAdding => "list_while_adding",
            Check::SetMode => "set_mode",
            Check::SetModified => "set_modified",
            Check::ReadLink => "read_link",
        }
    }

    /// The promise the check holds a backend to.
    pub fn promise(self) -> &'static str {
        match self {
            Check::MetadataAndList => {
                "a fresh storage is reachable (check_reachable) and an empty directory; \
                 metadata and list report each file (kind, size) and directory as made"
            }
            Check::ErrorKinds => {
                "missing paths fail with NotFound, the wrong kind of entry with NotADirectory \
                 or IsADirectory, an existing name with AlreadyExists"
            }
            Check::ReplaceContent => {
                "a committed Replace upload leaves exactly its bytes, however long the old \
                 content was"
            }
            Check::ReadFromOffset => {
                "open_read(path, offset) reads the content from offset to the end; at the end \
                 it reads nothing"
            }
            Check::WriteAt => {
                "WriteMode::At(offset) writes from offset, keeping the bytes before it and past \
                 the end of what is written; it needs an existing file"
            }
            Check::Append => "WriteMode::Append adds the uploaded bytes to the end",
            Check::AppendCreates => "WriteMode::Append creates a missing file",
            Check::CreateUnique => {
                "create_unique returns a new name in the directory, starting with the prefix, \
                 different from every existing name and from every other call's"
            }
            Check::RenameReplacesFile => {
                "rename moves a file, replacing a file at the target; renaming onto itself \
                 changes nothing"
            }
            Check::RenameDirectory => {
                "rename moves a directory with its contents; a directory cannot move into \
                 itself, onto a file or onto a non-empty directory, nor a file onto a \
                 directory, and a failed rename moves nothing"
            }
            Check::RenameMissingParent => {
                "a rename whose target's parent is missing fails with NotFound and moves nothing"
            }
            Check::RemoveNonEmptyDir => {
                "remove_dir fails with DirectoryNotEmpty on a directory with entries and removes \
                 nothing; it removes an empty one"
            }
            Check::RemoveFileOfDir => {
                "remove_file never removes a directory (IsADirectory or PermissionDenied)"
            }
            Check::NonUtf8Names => {
                "names are bytes: names that are not UTF-8 are stored, listed and found again \
                 unchanged"
            }
            Check::DroppedWriter => {
                "a Replace upload is invisible before its commit, and a writer dropped without a \
                 commit leaves the old content as it was"
            }
            Check::Discard => {
                "a discarded upload leaves nothing of it: the old content stays, a new name stays \
                 missing, a STOU name goes (or stays empty); an append leaves at most a prefix"
            }
            Check::Abandon => {
                "an abandoned upload says what it left, and it is so: Nothing (the old content, \
                 or no file), NewFile (a new name holding a prefix of the bytes written), InPlace \
                 (an existing file written into), or Unknown"
            }
            Check::ConcurrentWriters => {
                "two uploads to one name end with the content of one of them, whole, never a mix"
            }
            Check::ReadDuringReplace => {
                "a download opened before a replace commits reads the old content whole; one \
                 opened after reads the new"
            }
            Check::ListWhileAdding => {
                "a listing consumed while entries are added yields no error and no name twice, \
                 and every entry present throughout"
            }
            Check::SetMode => "after set_mode, metadata reports the mode bits set",
            Check::SetModified => "after set_modified, metadata reports exactly that time",
            Check::ReadLink => "read_link fails on what is not a symbolic link",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `f` on the blocking pool, as the server runs readers, writers and
/// listings; a panic in it goes on in the caller.
async fn blocking<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("storage conformance: a blocking task failed: {e}"),
        },
    }
}

/// Writes `data` in chunks of `chunk` bytes, as a transfer does.
fn write_chunks(writer: &mut dyn FileWriter, data: &[u8], chunk: usize) -> io::Result<()> {
    for piece in data.chunks(chunk.max(1)) {
        writer.write_all(piece)?;
    }
    writer.flush()
}

fn read_up_to(reader: &mut dyn FileReader, limit: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.take(limit as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// The rest of `reader`, up to a limit no check reaches.
fn read_all(reader: &mut dyn FileReader) -> io::Result<Vec<u8>> {
    let out = read_up_to(reader, MAX_CONTENT as usize + 1)?;
    if out.len() as u64 > MAX_CONTENT {
        return Err(io::Error::other("the download does not end"));
    }
    Ok(out)
}

/// `len` bytes that differ from those of another `seed` at almost every
/// offset, so that a mix of two shows.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let i = i as u64;
            (i.wrapping_mul(31).wrapping_add(i >> 9) as u8) ^ seed.wrapping_mul(0x5b)
        })
        .collect()
}

/// How `got` differs from `want`, briefly.
fn difference(got: &[u8], want: &[u8]) -> String {
    if got.len() <= 64 && want.len() <= 64 {
        return format!(
            "got \"{}\", want \"{}\"",
            got.escape_ascii(),
            want.escape_ascii()
        );
    }
    let at = got.iter().zip(want).position(|(a, b)| a != b);
    match at {
        Some(at) => format!(
            "got {} bytes, want {}; first difference at byte {at}",
            got.len(),
            want.len()
        ),
        None => format!("got {} bytes, want {}", got.len(), want.len()),
    }
}

fn show(name: &[u8]) -> String {
    name.escape_ascii().to_string()
}

/// One check on one storage.
struct Tester {
    check: Check,
    storage: Arc<dyn Storage>,
}

impl Tester {
    fn fail(&self, detail: impl fmt::Display) -> ! {
        panic!(
            "storage conformance check `{}` failed: {detail}\n  promise: {}",
            self.check.name(),
            self.check.promise()
        )
    }

    fn ok<T>(&self, result: StorageResult<T>, what: impl fmt::Display) -> T {
        match result {
            Ok(v) => v,
            Err(e) => self.fail(format_args!("{what}: unexpected error {:?}: {e}", e.kind())),
        }
    }

    /// Asserts that `result` failed with one of `kinds` (any kind if
    /// empty); returns the kind.
    fn err<T>(&self, result: StorageResult<T>, kinds: &[ErrorKind], what: &str) -> ErrorKind {
        match result {
            Ok(_) => self.fail(format_args!(
                "{what}: succeeded; expected an error {kinds:?}"
            )),
            Err(e) if kinds.is_empty() || kinds.contains(&e.kind()) => e.kind(),
            Err(e) => self.fail(format_args!(
                "{what}: failed with {:?} ({e}); expected one of {kinds:?}",
                e.kind()
            )),
        }
    }

    fn path(&self, p: &[u8]) -> VirtualPath {
        match VirtualPath::root().resolve(p) {
            Ok(path) => path,
            Err(_) => self.fail(format_args!("bad test path {}", show(p))),
        }
    }

    async fn mkdir(&self, p: &[u8]) {
        let path = self.path(p);
        let r = self.storage.create_dir(&path).await;
        self.ok(r, format_args!("create_dir {}", show(p)));
    }

    async fn open_write(&self, p: &[u8], mode: WriteMode) -> Box<dyn FileWriter> {
        let path = self.path(p);
        let r = self.storage.open_write(&path, mode).await;
        self.ok(r, format_args!("open_write {} {mode:?}", show(p)))
    }

    async fn open_read(&self, p: &[u8], offset: u64) -> Box<dyn FileReader> {
        let path = self.path(p);
        let r = self.storage.open_read(&path, offset).await;
        self.ok(r, format_args!("open_read {} at {offset}", show(p)))
    }

    /// Uploads `data` to `p` with `mode` and commits.
    async fn upload(&self, p: &[u8], mode: WriteMode, data: &[u8]) -> StorageResult<()> {
        let path = self.path(p);
        let mut writer = self.storage.open_write(&path, mode).await?;
        let data = data.to_vec();
        blocking(move || {
            write_chunks(&mut *writer, &data, 8192)?;
            writer.commit()
        })
        .await
    }

    async fn put(&self, p: &[u8], data: &[u8]) {
        let r = self.upload(p, WriteMode::Replace, data).await;
        self.ok(r, format_args!("upload (Replace) to {}", show(p)));
    }

    async fn read(&self, p: &[u8], offset: u64) -> StorageResult<Vec<u8>> {
        let path = self.path(p);
        let mut reader = self.storage.open_read(&path, offset).await?;
        Ok(blocking(move || read_all(&mut *reader)).await?)
    }

    async fn get(&self, p: &[u8]) -> Vec<u8> {
        let r = self.read(p, 0).await;
        self.ok(r, format_args!("download {}", show(p)))
    }

    async fn expect_content(&self, p: &[u8], want: &[u8], when: &str) {
        let got = self.get(p).await;
        if got != want {
            self.fail(format_args!(
                "{when}: content of {}: {}",
                show(p),
                difference(&got, want)
            ));
        }
        let size = self.meta(p).await.size;
        if size != want.len() as u64 {
            self.fail(format_args!(
                "{when}: metadata of {} gives size {size}, but it holds {} bytes",
                show(p),
                want.len()
            ));
        }
    }

    async fn meta(&self, p: &[u8]) -> FileInfo {
        let path = self.path(p);
        let r = self.storage.metadata(&path).await;
        self.ok(r, format_args!("metadata {}", show(p)))
    }

    async fn expect_missing(&self, p: &[u8], when: &str) {
        let path = self.path(p);
        let r = self.storage.metadata(&path).await;
        self.err(
            r,
            &[ErrorKind::NotFound],
            &format!("{when}: metadata of {} (should be missing)", show(p)),
        );
    }

    /// Consumes `entries` on the blocking pool: fails on an error item or
    /// a name seen twice.
    async fn drain(&self, entries: DirEntries, what: &str) -> Vec<DirEntry> {
        let items = blocking(move || entries.take(MAX_ENTRIES).collect::<Vec<_>>()).await;
        self.entries_of(items, what)
    }

    fn entries_of(&self, items: Vec<StorageResult<DirEntry>>, what: &str) -> Vec<DirEntry> {
        if items.len() >= MAX_ENTRIES {
            self.fail(format_args!("{what}: the listing does not end"));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for item in items {
            let entry = self.ok(item, format_args!("{what}: an entry of the listing"));
            if !seen.insert(entry.name.clone()) {
                self.fail(format_args!(
                    "{what}: the listing gives {} twice",
                    show(&entry.name)
                ));
            }
            out.push(entry);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    async fn list(&self, p: &[u8]) -> Vec<DirEntry> {
        let path = self.path(p);
        let r = self.storage.list(&path).await;
        let entries = self.ok(r, format_args!("list {}", show(p)));
        self.drain(entries, &format!("list {}", show(p))).await
    }

    /// The sorted names in directory `p`.
    async fn names(&self, p: &[u8]) -> Vec<Vec<u8>> {
        self.list(p).await.into_iter().map(|e| e.name).collect()
    }

    async fn expect_names(&self, p: &[u8], want: &[&[u8]], when: &str) {
        let got = self.names(p).await;
        let mut want: Vec<Vec<u8>> = want.iter().map(|n| n.to_vec()).collect();
        want.sort();
        if got != want {
            let show_all =
                |names: &[Vec<u8>]| names.iter().map(|n| show(n)).collect::<Vec<_>>().join(", ");
            self.fail(format_args!(
                "{when}: {} lists [{}]; want [{}]",
                show(p),
                show_all(&got),
                show_all(&want)
            ));
        }
    }

    async fn run(&self) {
        match self.check {
            Check::MetadataAndList => self.metadata_and_list().await,
            Check::ErrorKinds => self.error_kinds().await,
            Check::ReplaceContent => self.replace_content().await,
            Check::ReadFromOffset => self.read_from_offset().await,
            Check::WriteAt => self.write_at().await,
            Check::Append => self.append().await,
            Check::AppendCreates => self.append_creates().await,
            Check::CreateUnique => self.create_unique().await,
            Check::RenameReplacesFile => self.rename_replaces_file().await,
            Check::RenameDirectory => self.rename_directory().await,
            Check::RenameMissingParent => self.rename_missing_parent().await,
            Check::RemoveNonEmptyDir => self.remove_non_empty_dir().await,
            Check::RemoveFileOfDir => self.remove_file_of_dir().await,
            Check::NonUtf8Names => self.non_utf8_names().await,
            Check::DroppedWriter => self.dropped_writer().await,
            Check::Discard => self.discard().await,
            Check::Abandon => self.abandon().await,
            Check::ConcurrentWriters => self.concurrent_writers().await,
            Check::ReadDuringReplace => self.read_during_replace().await,
            Check::ListWhileAdding => self.list_while_adding().await,
            Check::SetMode => self.set_mode().await,
            Check::SetModified => self.set_modified().await,
            Check::ReadLink => self.read_link().await,
        }
    }

    async fn metadata_and_list(&self) {
        if let Err(e) = self.storage.check_reachable().await {
            self.fail(format_args!("check_reachable of a working storage: {e}"));
        }
        if !self.meta(b"/").await.is_dir() {
            self.fail("the root is not a directory");
        }
        self.expect_names(b"/", &[], "a fresh storage").await;
        self.mkdir(b"/d").await;
        self.put(b"/f", b"hello").await;
        self.put(b"/d/g", b"xyz").await;
        self.put(b"/d/empty", b"").await;
        let f = self.meta(b"/f").await;
        if !f.is_file() || f.size != 5 {
            self.fail(format_args!("metadata of /f (5 bytes): {f:?}"));
        }
        let d = self.meta(b"/d").await;
        if !d.is_dir() {
            self.fail(format_args!("metadata of /d (a directory): {d:?}"));
        }
        let root = self.list(b"/").await;
        let summary: Vec<_> = root
            .iter()
            .map(|e| (e.name.clone(), e.info.is_dir(), e.info.is_file()))
            .collect();
        let want = vec![(b"d".to_vec(), true, false), (b"f".to_vec(), false, true)];
        if summary != want {
            self.fail(format_args!(
                "list / gives {summary:?} (name, is_dir, is_file); want {want:?}"
            ));
        }
        if root[1].info.size != 5 {
            self.fail(format_args!(
                "list / gives size {} for /f (5 bytes)",
                root[1].info.size
            ));
        }
        self.expect_names(b"/d", &[b"empty", b"g"], "after two uploads into /d")
            .await;
        self.expect_content(b"/d/empty", b"", "an empty upload")
            .await;
    }

    async fn error_kinds(&self) {
        use ErrorKind::*;
        let s = &*self.storage;
        let nope = self.path(b"/nope");
        let x = self.path(b"/x");
        self.err(
            s.metadata(&nope).await,
            &[NotFound],
            "metadata of a missing path",
        );
        self.err(s.list(&nope).await, &[NotFound], "list of a missing path");
        self.err(
            s.open_read(&nope, 0).await,
            &[NotFound],
            "open_read of a missing path",
        );
        self.err(
            s.remove_file(&nope).await,
            &[NotFound],
            "remove_file of a missing path",
        );
        self.err(
            s.remove_dir(&nope).await,
            &[NotFound],
            "remove_dir of a missing path",
        );
        self.err(
            s.rename(&nope, &x).await,
            &[NotFound],
            "rename of a missing path",
        );
        let r = s.open_write(&nope, WriteMode::At(0)).await;
        self.err(r, &[NotFound], "open_write At(0) of a missing file");
        self.mkdir(b"/d").await;
        self.put(b"/f", b"file").await;
        let (d, f) = (self.path(b"/d"), self.path(b"/f"));
        self.err(s.list(&f).await, &[NotADirectory], "list of a file");
        self.err(
            s.open_read(&d, 0).await,
            &[IsADirectory],
            "open_read of a directory",
        );
        let r = s.open_write(&d, WriteMode::Replace).await;
        self.err(r, &[IsADirectory], "open_write Replace of a directory");
        self.err(
            s.create_dir(&d).await,
            &[AlreadyExists],
            "create_dir of a directory",
        );
        self.err(
            s.create_dir(&f).await,
            &[AlreadyExists],
            "create_dir over a file",
        );
        self.err(
            s.remove_dir(&f).await,
            &[NotADirectory],
            "remove_dir of a file",
        );
        let deep = self.path(b"/nope/x");
        self.err(
            s.create_dir(&deep).await,
            &[NotFound],
            "create_dir in a missing directory",
        );
        let r = s.open_write(&deep, WriteMode::Replace).await;
        self.err(r, &[NotFound], "open_write in a missing directory");
        let below = self.path(b"/f/x");
        let r = s.metadata(&below).await;
        self.err(
            r,
            &[NotADirectory, NotFound],
            "metadata of a path below a file",
        );
        self.expect_content(b"/f", b"file", "after the failures")
            .await;
    }

    async fn replace_content(&self) {
        self.put(b"/f", b"a much longer original content").await;
        self.put(b"/f", b"short").await;
        self.expect_content(b"/f", b"short", "after a shorter replace")
            .await;
        let big = pattern(1, 200_000);
        self.put(b"/f", &big).await;
        self.expect_content(b"/f", &big, "after a longer replace")
            .await;
        self.put(b"/f", b"").await;
        self.expect_content(b"/f", b"", "after an empty replace")
            .await;
    }

    async fn read_from_offset(&self) {
        let data = pattern(2, 100_000);
        self.put(b"/f", &data).await;
        for offset in [0, 1, 4096, 65_537, 99_999, 100_000] {
            let r = self.read(b"/f", offset as u64).await;
            let got = self.ok(r, format_args!("read /f from {offset}"));
            if got != data[offset..] {
                self.fail(format_args!(
                    "read from offset {offset}: {}",
                    difference(&got, &data[offset..])
                ));
            }
        }
    }

    async fn write_at(&self) {
        self.put(b"/f", b"abcdefgh").await;
        let steps: [(u64, &[u8], &[u8]); 3] = [
            (2, b"XY", b"abXYefgh"),
            (6, b"1234", b"abXYef1234"),
            (10, b"!", b"abXYef1234!"),
        ];
        for (offset, data, want) in steps {
            let r = self.upload(b"/f", WriteMode::At(offset), data).await;
            self.ok(r, format_args!("upload At({offset})"));
            let when = format!("after writing {} at {offset}", show(data));
            self.expect_content(b"/f", want, &when).await;
        }
        let big = pattern(3, 100_000);
        let r = self.upload(b"/f", WriteMode::At(11), &big).await;
        self.ok(r, "a long upload At(11)");
        let mut want = b"abXYef1234!".to_vec();
        want.extend_from_slice(&big);
        self.expect_content(b"/f", &want, "after a long write at the end")
            .await;
        let r = self.upload(b"/missing", WriteMode::At(0), b"x").await;
        self.err(r, &[ErrorKind::NotFound], "At(0) on a missing file");
    }

    async fn append(&self) {
        self.put(b"/f", b"abc").await;
        let r = self.upload(b"/f", WriteMode::Append, b"def").await;
        self.ok(r, "append");
        self.expect_content(b"/f", b"abcdef", "after an append")
            .await;
        let r = self.upload(b"/f", WriteMode::Append, b"").await;
        self.ok(r, "an empty append");
        self.expect_content(b"/f", b"abcdef", "after an empty append")
            .await;
        let big = pattern(4, 150_000);
        let r = self.upload(b"/f", WriteMode::Append, &big).await;
        self.ok(r, "a long append");
        let mut want = b"abcdef".to_vec();
        want.extend_from_slice(&big);
        self.expect_content(b"/f", &want, "after a long append")
            .await;
    }

    async fn append_creates(&self) {
        let r = self.upload(b"/new", WriteMode::Append, b"hello").await;
        self.ok(r, "append to a missing file");
        self.expect_content(b"/new", b"hello", "after an append created the file")
            .await;
        let r = self.upload(b"/new", WriteMode::Append, b" world").await;
        self.ok(r, "a second append");
        self.expect_content(b"/new", b"hello world", "after a second append")
            .await;
        self.mkdir(b"/d").await;
        let r = self.upload(b"/d/log", WriteMode::Append, b"line\n").await;
        self.ok(r, "append to a missing file in a directory");
        self.expect_content(b"/d/log", b"line\n", "after an append in /d")
            .await;
    }

    async fn create_unique(&self) {
        self.mkdir(b"/d").await;
        self.put(b"/d/up.txt", b"original").await;
        let dir = self.path(b"/d");
        let mut names: Vec<Vec<u8>> = vec![b"up.txt".to_vec()];
        let mut pending = Vec::new();
        // Five held open at once, then five committed one by one.
        for i in 0..10u8 {
            let r = self.storage.create_unique(&dir, b"up.txt").await;
            let (path, mut writer) = self.ok(r, format_args!("create_unique #{i}"));
            if path.parent().as_ref() != Some(&dir) {
                self.fail(format_args!("create_unique in /d gave {path}, not in /d"));
            }
            let name = path.file_name().unwrap_or_default().to_vec();
            if !name.starts_with(b"up.txt") {
                self.fail(format_args!(
                    "the name {} lacks the prefix up.txt",
                    show(&name)
                ));
            }
            if names.contains(&name) {
                self.fail(format_args!("create_unique gave {} again", show(&name)));
            }
            names.push(name);
            let content = format!("unique upload {i}").into_bytes();
            if i < 5 {
                pending.push((path, Some(writer), content));
            } else {
                let data = content.clone();
                let r = blocking(move || {
                    write_chunks(&mut *writer, &data, 8192)?;
                    writer.commit()
                })
                .await;
                self.ok(r, format_args!("commit of create_unique #{i}"));
                pending.push((path, None, content));
            }
        }
        let mut expected = Vec::new();
        for (path, writer, content) in pending {
            if let Some(mut writer) = writer {
                let data = content.clone();
                let r = blocking(move || {
                    write_chunks(&mut *writer, &data, 8192)?;
                    writer.commit()
                })
                .await;
                self.ok(r, format_args!("commit of {path}"));
            }
            expected.push((path, content));
        }
        for (path, content) in expected {
            self.expect_content(path.as_bytes(), &content, "after the STOU commits")
                .await;
        }
        self.expect_content(b"/d/up.txt", b"original", "the file named as the prefix")
            .await;
        let want: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        self.expect_names(b"/d", &want, "after eleven uploads")
            .await;
        let missing = self.path(b"/nope");
        let r = self.storage.create_unique(&missing, b"x").await;
        self.err(
            r,
            &[ErrorKind::NotFound, ErrorKind::NotADirectory],
            "create_unique in a missing directory",
        );
    }

    async fn rename_replaces_file(&self) {
        let s = &*self.storage;
        self.put(b"/a", b"content of a").await;
        self.put(b"/b", b"content of b, longer").await;
        let r = s.rename(&self.path(b"/a"), &self.path(b"/b")).await;
        self.ok(r, "rename /a onto the file /b");
        self.expect_missing(b"/a", "after rename /a /b").await;
        self.expect_content(b"/b", b"content of a", "after rename /a /b")
            .await;
        self.expect_names(b"/", &[b"b"], "after rename /a /b").await;
        self.mkdir(b"/d").await;
        let r = s.rename(&self.path(b"/b"), &self.path(b"/d/c")).await;
        self.ok(r, "rename /b into a directory");
        self.expect_missing(b"/b", "after rename /b /d/c").await;
        self.expect_content(b"/d/c", b"content of a", "after rename /b /d/c")
            .await;
        let c = self.path(b"/d/c");
        self.ok(s.rename(&c, &c).await, "rename /d/c onto itself");
        self.expect_content(b"/d/c", b"content of a", "after a rename onto itself")
            .await;
    }

    async fn rename_directory(&self) {
        use ErrorKind::*;
        let s = &*self.storage;
        self.mkdir(b"/d").await;
        self.put(b"/d/f", b"f").await;
        self.mkdir(b"/d/e").await;
        self.put(b"/d/e/g", b"g").await;
        let r = s.rename(&self.path(b"/d"), &self.path(b"/n")).await;
        self.ok(r, "rename of the directory /d to /n");
        self.expect_missing(b"/d", "after rename /d /n").await;
        self.expect_content(b"/n/f", b"f", "after rename /d /n")
            .await;
        self.expect_content(b"/n/e/g", b"g", "after rename /d /n")
            .await;

        let r = s.rename(&self.path(b"/n"), &self.path(b"/n/e/x")).await;
        self.err(r, &[], "rename of /n into itself");
        self.expect_missing(b"/n/e/x", "after a rename into itself")
            .await;
        self.expect_content(b"/n/e/g", b"g", "after a rename into itself")
            .await;

        self.put(b"/file", b"file").await;
        let r = s.rename(&self.path(b"/n"), &self.path(b"/file")).await;
        self.err(r, &[NotADirectory], "rename of a directory onto a file");
        let r = s.rename(&self.path(b"/file"), &self.path(b"/n")).await;
        self.err(r, &[IsADirectory], "rename of a file onto a directory");
        self.expect_content(b"/file", b"file", "after the refused renames")
            .await;
        self.expect_content(b"/n/f", b"f", "after the refused renames")
            .await;

        self.mkdir(b"/m").await;
        self.put(b"/m/k", b"k").await;
        let r = s.rename(&self.path(b"/n"), &self.path(b"/m")).await;
        self.err(
            r,
            &[DirectoryNotEmpty, AlreadyExists],
            "rename of a directory onto a non-empty one",
        );
        self.expect_content(b"/m/k", b"k", "after the refused rename")
            .await;
        self.expect_content(b"/n/e/g", b"g", "after the refused rename")
            .await;

        let r = s.rename(&self.path(b"/n"), &self.path(b"/m/n")).await;
        self.ok(r, "rename of /n into /m");
        self.expect_content(b"/m/n/e/g", b"g", "after rename /n /m/n")
            .await;
        self.expect_names(b"/", &[b"file", b"m"], "after rename /n /m/n")
            .await;
    }

    async fn rename_missing_parent(&self) {
        let s = &*self.storage;
        self.put(b"/f", b"f").await;
        self.mkdir(b"/d").await;
        let r = s.rename(&self.path(b"/f"), &self.path(b"/nope/f")).await;
        self.err(
            r,
            &[ErrorKind::NotFound],
            "rename of a file into a missing directory",
        );
        let r = s.rename(&self.path(b"/d"), &self.path(b"/nope/d")).await;
        self.err(
            r,
            &[ErrorKind::NotFound],
            "rename of a directory into a missing one",
        );
        self.expect_content(b"/f", b"f", "after the refused renames")
            .await;
        if !self.meta(b"/d").await.is_dir() {
            self.fail("/d is no longer a directory after a refused rename");
        }
        self.expect_names(b"/", &[b"d", b"f"], "after the refused renames")
            .await;
    }

    async fn remove_non_empty_dir(&self) {
        let s = &*self.storage;
        self.mkdir(b"/d").await;
        self.put(b"/d/f", b"f").await;
        self.mkdir(b"/e").await;
        self.mkdir(b"/e/sub").await;
        let r = s.remove_dir(&self.path(b"/d")).await;
        self.err(
            r,
            &[ErrorKind::DirectoryNotEmpty],
            "remove_dir of a directory with a file",
        );
        let r = s.remove_dir(&self.path(b"/e")).await;
        self.err(
            r,
            &[ErrorKind::DirectoryNotEmpty],
            "remove_dir of a directory with a directory",
        );
        self.expect_content(b"/d/f", b"f", "after the refused remove_dir")
            .await;
        self.expect_names(b"/e", &[b"sub"], "after the refused remove_dir")
            .await;
        self.ok(s.remove_file(&self.path(b"/d/f")).await, "remove_file /d/f");
        self.ok(
            s.remove_dir(&self.path(b"/d")).await,
            "remove_dir of the emptied /d",
        );
        self.expect_missing(b"/d", "after remove_dir /d").await;
        self.expect_names(b"/", &[b"e"], "after remove_dir /d")
            .await;
    }

    async fn remove_file_of_dir(&self) {
        let s = &*self.storage;
        self.mkdir(b"/d").await;
        let r = s.remove_file(&self.path(b"/d")).await;
        self.err(
            r,
            &[ErrorKind::IsADirectory, ErrorKind::PermissionDenied],
            "remove_file of a directory",
        );
        if !self.meta(b"/d").await.is_dir() {
            self.fail("/d is gone or no directory after remove_file refused it");
        }
        self.put(b"/f", b"f").await;
        self.ok(
            s.remove_file(&self.path(b"/f")).await,
            "remove_file of a file",
        );
        self.expect_missing(b"/f", "after remove_file /f").await;
        self.expect_names(b"/", &[b"d"], "after remove_file /f")
            .await;
    }

    async fn non_utf8_names(&self) {
        let every_high_byte: Vec<u8> = (0x80..=0xffu8).collect();
        let names: [&[u8]; 3] = [b"caf\xe9.txt", b"\x80\xff", &every_high_byte];
        for name in names {
            let mut p = b"/".to_vec();
            p.extend_from_slice(name);
            self.put(&p, name).await;
        }
        self.mkdir(b"/d\xfe\xfd").await;
        self.put(b"/d\xfe\xfd/\xe9t\xe9", b"inside").await;
        let mut all: Vec<&[u8]> = names.to_vec();
        all.push(b"d\xfe\xfd");
        self.expect_names(b"/", &all, "after uploads under non-UTF-8 names")
            .await;
        for name in names {
            let mut p = b"/".to_vec();
            p.extend_from_slice(name);
            self.expect_content(&p, name, "a file under a non-UTF-8 name")
                .await;
        }
        self.expect_names(b"/d\xfe\xfd", &[b"\xe9t\xe9"], "a non-UTF-8 directory")
            .await;
        self.expect_content(
            b"/d\xfe\xfd/\xe9t\xe9",
            b"inside",
            "in a non-UTF-8 directory",
        )
        .await;
        let r = self
            .storage
            .rename(&self.path(b"/\x80\xff"), &self.path(b"/\xff\x80"))
            .await;
        self.ok(r, "rename between non-UTF-8 names");
        self.expect_content(b"/\xff\x80", b"\x80\xff", "after the rename")
            .await;
        self.expect_missing(b"/\x80\xff", "after the rename").await;
    }

    async fn dropped_writer(&self) {
        let old = b"old content".to_vec();
        self.put(b"/f", &old).await;
        let mut writer = self.open_write(b"/f", WriteMode::Replace).await;
        let r = blocking(move || {
            let r = write_chunks(&mut *writer, b"new content, not committed", 4);
            (writer, r)
        })
        .await;
        let writer = r.0;
        self.ok(r.1.map_err(StorageError::Io), "write to an open upload");
        self.expect_content(b"/f", &old, "while an upload is open")
            .await;
        self.expect_names(b"/", &[b"f"], "while an upload is open")
            .await;
        blocking(move || drop(writer)).await;
        self.expect_content(b"/f", &old, "after a writer was dropped uncommitted")
            .await;
        self.expect_names(b"/", &[b"f"], "after a writer was dropped uncommitted")
            .await;

        // APPE: a dropped writer leaves at most a prefix of its bytes.
        let mut writer = self.open_write(b"/f", WriteMode::Append).await;
        let added = b" and more".to_vec();
        let data = added.clone();
        let r = blocking(move || {
            let r = write_chunks(&mut *writer, &data, 3);
            drop(writer);
            r
        })
        .await;
        self.ok(r.map_err(StorageError::Io), "write to an open append");
        let got = self.get(b"/f").await;
        let kept = got.strip_prefix(old.as_slice());
        if !kept.is_some_and(|rest| added.starts_with(rest)) {
            self.fail(format_args!(
                "after an append dropped uncommitted: {}; want the old content and a prefix of \
                 the appended bytes",
                difference(&got, &old)
            ));
        }

        // A new name: nothing, or a prefix of what was written.
        let mut writer = self.open_write(b"/new", WriteMode::Replace).await;
        let r = blocking(move || {
            let r = write_chunks(&mut *writer, b"partial", 3);
            drop(writer);
            r
        })
        .await;
        self.ok(r.map_err(StorageError::Io), "write to a new upload");
        let path = self.path(b"/new");
        match self.storage.metadata(&path).await {
            Err(e) if e.is_not_found() => {}
            Err(e) => self.fail(format_args!(
                "metadata of a new file whose upload was dropped: {:?}: {e}",
                e.kind()
            )),
            Ok(_) => {
                let got = self.get(b"/new").await;
                if !b"partial".starts_with(&got) {
                    self.fail(format_args!(
                        "a new file whose upload was dropped holds \"{}\", not a prefix of \
                         \"partial\"",
                        got.escape_ascii()
                    ));
                }
            }
        }
    }

    async fn discard(&self) {
        let old = b"old content".to_vec();
        self.put(b"/f", &old).await;
        let refused = b"refused bytes".to_vec();
        for (p, mode) in [
            (&b"/f"[..], WriteMode::Replace),
            (b"/new", WriteMode::Replace),
        ] {
            let mut writer = self.open_write(p, mode).await;
            let data = refused.clone();
            let r = blocking(move || {
                let r = write_chunks(&mut *writer, &data, 4);
                writer.discard();
                r
            })
            .await;
            self.ok(
                r.map_err(StorageError::Io),
                format_args!("write to an upload to {}", show(p)),
            );
            let when = format!("after a discarded upload to {}", show(p));
            self.expect_content(b"/f", &old, &when).await;
            self.expect_missing(b"/new", &when).await;
        }
        // APPE may write in place: at most a prefix of it stays.
        let mut writer = self.open_write(b"/f", WriteMode::Append).await;
        let data = refused.clone();
        let r = blocking(move || {
            let r = write_chunks(&mut *writer, &data, 4);
            writer.discard();
            r
        })
        .await;
        self.ok(r.map_err(StorageError::Io), "write to an append");
        let got = self.get(b"/f").await;
        if !got
            .strip_prefix(old.as_slice())
            .is_some_and(|rest| refused.starts_with(rest))
        {
            self.fail(format_args!(
                "after a discarded append: {}; want the old content and at most a prefix of the \
                 appended bytes",
                difference(&got, &old)
            ));
        }
        let (path, mut writer) = {
            let r = self
                .storage
                .create_unique(&VirtualPath::root(), b"stou")
                .await;
            self.ok(r, "create_unique")
        };
        let r = blocking(move || {
            let r = write_chunks(&mut *writer, b"refused bytes", 4);
            writer.discard();
            r
        })
        .await;
        self.ok(r.map_err(StorageError::Io), "write to a STOU upload");
        let r = self.storage.metadata(&path).await;
        if let Ok(info) = r {
            if info.size > 0 {
                self.fail(format_args!(
                    "a discarded STOU upload left {} bytes at {path}",
                    info.size
                ));
            }
        }
    }

    /// Writes `data` to an upload of `p`, abandons it, and returns what the
    /// writer says it left.
    async fn abandoned(&self, p: &[u8], mode: WriteMode, data: &[u8]) -> Remains {
        let mut writer = self.open_write(p, mode).await;
        let data = data.to_vec();
        let (r, left) = blocking(move || {
            let r = write_chunks(&mut *writer, &data, 4);
            (r, writer.abandon())
        })
        .await;
        self.ok(
            r.map_err(StorageError::Io),
            format_args!("write to an upload to {}", show(p)),
        );
        left
    }

    async fn abandon(&self) {
        let old = b"old content".to_vec();
        let partial = b"abandoned bytes".to_vec();
        self.put(b"/f", &old).await;
        // An interrupted STOR over a file: the file as it was.
        match self.abandoned(b"/f", WriteMode::Replace, &partial).await {
            Remains::Nothing | Remains::Unknown => {}
            other => self.fail(format_args!(
                "an abandoned Replace of an existing file says {other:?}; it left the old \
                 file, so Nothing (or Unknown)"
            )),
        }
        self.expect_content(b"/f", &old, "after an abandoned Replace")
            .await;
        // An interrupted STOR of a new name: no file, or a prefix kept.
        let left = self.abandoned(b"/new", WriteMode::Replace, &partial).await;
        let path = self.path(b"/new");
        let there = self.storage.metadata(&path).await.is_ok();
        match (left, there) {
            (Remains::Nothing, false) | (Remains::Unknown, _) => {}
            (Remains::NewFile, true) => {
                let got = self.get(b"/new").await;
                if !partial.starts_with(&got) {
                    self.fail(format_args!(
                        "an abandoned new upload kept {}; want a prefix of the bytes written",
                        difference(&got, &partial)
                    ));
                }
            }
            (left, there) => self.fail(format_args!(
                "an abandoned Replace of a new name says {left:?}, and the name {}",
                if there {
                    "holds a file"
                } else {
                    "holds nothing"
                }
            )),
        }
        // An interrupted APPE: the old content, then at most a prefix.
        let left = self.abandoned(b"/f", WriteMode::Append, &partial).await;
        let got = self.get(b"/f").await;
        let ok = match left {
            Remains::Nothing => got == old,
            Remains::InPlace | Remains::Unknown => got
                .strip_prefix(old.as_slice())
                .is_some_and(|rest| partial.starts_with(rest)),
            Remains::NewFile => false,
        };
        if !ok {
            self.fail(format_args!(
                "an abandoned Append says {left:?}, and the file holds {}",
                difference(&got, &old)
            ));
        }
    }

    async fn concurrent_writers(&self) {
        let a = pattern(5, 300_000);
        let b = pattern(6, 200_000);
        // Interleaved on one thread: A, B, A, B, ... then A commits, then B.
        let wa = self.open_write(b"/f", WriteMode::Replace).await;
        let wb = self.open_write(b"/f", WriteMode::Replace).await;
        let (da, db) = (a.clone(), b.clone());
        let (ra, rb) = blocking(move || {
            let (mut wa, mut wb) = (wa, wb);
            let mut ca = da.chunks(4096);
            let mut cb = db.chunks(4096);
            loop {
                let (x, y) = (ca.next(), cb.next());
                if x.is_none() && y.is_none() {
                    break;
                }
                if let Some(x) = x {
                    wa.write_all(x)?;
                }
                if let Some(y) = y {
                    wb.write_all(y)?;
                }
            }
            wa.flush()?;
            wb.flush()?;
            Ok::<_, io::Error>((wa.commit(), wb.commit()))
        })
        .await
        .unwrap_or_else(|e| self.fail(format_args!("interleaved writes: {e}")));
        self.one_whole(b"/f", &a, &b, ra.is_ok(), rb.is_ok(), "interleaved uploads")
            .await;

        // On two threads at once.
        self.put(b"/g", b"original").await;
        let wa = self.open_write(b"/g", WriteMode::Replace).await;
        let wb = self.open_write(b"/g", WriteMode::Replace).await;
        let upload = |mut w: Box<dyn FileWriter>, data: Vec<u8>| {
            tokio::task::spawn_blocking(move || {
                for piece in data.chunks(4096) {
                    w.write_all(piece)?;
                    std::thread::yield_now();
                }
                w.flush()?;
                Ok::<_, io::Error>(w.commit())
            })
        };
        let ta = upload(wa, a.clone());
        let tb = upload(wb, b.clone());
        let (ra, rb) = (ta.await, tb.await);
        let result = |r: Result<io::Result<StorageResult<()>>, tokio::task::JoinError>| match r {
            Ok(Ok(committed)) => committed.is_ok(),
            Ok(Err(e)) => self.fail(format_args!("a write on two threads: {e}")),
            Err(e) => self.fail(format_args!("an upload thread failed: {e}")),
        };
        let (oka, okb) = (result(ra), result(rb));
        self.one_whole(b"/g", &a, &b, oka, okb, "uploads on two threads")
            .await;
    }

    /// `p` holds `a` or `b` whole, one whose commit succeeded.
    async fn one_whole(&self, p: &[u8], a: &[u8], b: &[u8], oka: bool, okb: bool, what: &str) {
        if !oka && !okb {
            self.fail(format_args!("{what}: neither commit succeeded"));
        }
        let got = self.get(p).await;
        let is_a = got == a && oka;
        let is_b = got == b && okb;
        if !is_a && !is_b {
            self.fail(format_args!(
                "{what}: the file holds {} bytes, neither upload whole (A: {}, B: {})",
                got.len(),
                difference(&got, a),
                difference(&got, b)
            ));
        }
    }

    async fn read_during_replace(&self) {
        let old = pattern(7, 300_000);
        let new = pattern(8, 200_000);
        self.put(b"/f", &old).await;
        let mut early = self.open_read(b"/f", 0).await;
        let (early_back, first) = blocking(move || {
            let r = read_up_to(&mut *early, 10_000);
            (early, r)
        })
        .await;
        early = early_back;
        let first = self.ok(
            first.map_err(StorageError::Io),
            "the first part of a download",
        );
        let mut writer = self.open_write(b"/f", WriteMode::Replace).await;
        let data = new.clone();
        let (writer, written) = blocking(move || {
            let r = write_chunks(&mut *writer, &data, 8192);
            (writer, r)
        })
        .await;
        self.ok(written.map_err(StorageError::Io), "the replacing upload");
        let mut during = self.open_read(b"/f", 0).await;
        let committed = blocking(move || writer.commit()).await;
        self.ok(committed, "commit of the replacing upload");
        let mut after = self.open_read(b"/f", 0).await;
        let (rest, whole_during, whole_after) = blocking(move || {
            (
                read_all(&mut *early),
                read_all(&mut *during),
                read_all(&mut *after),
            )
        })
        .await;
        let mut whole_early = first;
        whole_early.extend(self.ok(rest.map_err(StorageError::Io), "the rest of a download"));
        let whole_during = self.ok(
            whole_during.map_err(StorageError::Io),
            "a download opened mid-upload",
        );
        let whole_after = self.ok(whole_after.map_err(StorageError::Io), "a later download");
        if whole_early != old {
            self.fail(format_args!(
                "a download begun before the replace: {}",
                difference(&whole_early, &old)
            ));
        }
        if whole_during != old {
            self.fail(format_args!(
                "a download opened before the commit: {}",
                difference(&whole_during, &old)
            ));
        }
        if whole_after != new {
            self.fail(format_args!(
                "a download opened after the commit: {}",
                difference(&whole_after, &new)
            ));
        }
    }

    async fn list_while_adding(&self) {
        const OLD: usize = 150;
        const NEW: usize = 100;
        self.mkdir(b"/d").await;
        for i in 0..OLD {
            self.put(format!("/d/old-{i:03}").as_bytes(), b"x").await;
        }
        let path = self.path(b"/d");
        let r = self.storage.list(&path).await;
        let entries = self.ok(r, "list /d");
        let (entries, mut items) = blocking(move || {
            let mut entries = entries;
            let first: Vec<_> = entries.by_ref().take(60).collect();
            (entries, first)
        })
        .await;
        for i in 0..NEW {
            self.put(format!("/d/new-{i:03}").as_bytes(), b"y").await;
        }
        items.extend(blocking(move || entries.take(MAX_ENTRIES).collect::<Vec<_>>()).await);
        let listed = self.entries_of(items, "a listing while entries were added");
        let names: HashSet<Vec<u8>> = listed.into_iter().map(|e| e.name).collect();
        for i in 0..OLD {
            let name = format!("old-{i:03}").into_bytes();
            if !names.contains(&name) {
                self.fail(format_args!(
                    "the listing misses {}, there throughout",
                    show(&name)
                ));
            }
        }
        if let Some(stray) = names
            .iter()
            .find(|n| !n.starts_with(b"old-") && !n.starts_with(b"new-"))
        {
            self.fail(format_args!(
                "the listing gives {}, never made",
                show(stray)
            ));
        }
        if self.names(b"/d").await.len() != OLD + NEW {
            self.fail("a listing after the additions does not give all of them");
        }
    }

    /// False (the check passes) when the backend does not offer the
    /// operation.
    fn supported<T>(&self, result: &StorageResult<T>) -> bool {
        !matches!(result, Err(e) if e.kind() == ErrorKind::Unsupported)
    }

    async fn set_mode(&self) {
        let s = &*self.storage;
        self.put(b"/f", b"mode").await;
        let f = self.path(b"/f");
        let r = s.set_mode(&f, 0o640).await;
        if !self.supported(&r) {
            return;
        }
        self.ok(r, "set_mode /f 0640");
        for (p, mode) in [(&b"/f"[..], 0o640), (b"/f", 0o604)] {
            let r = s.set_mode(&self.path(p), mode).await;
            self.ok(r, format_args!("set_mode {} {mode:o}", show(p)));
            let got = self.meta(p).await.mode & 0o7777;
            if got != mode {
                self.fail(format_args!(
                    "set_mode {mode:o}, then metadata gives {got:o}"
                ));
            }
        }
        self.mkdir(b"/d").await;
        let r = s.set_mode(&self.path(b"/d"), 0o750).await;
        self.ok(r, "set_mode of a directory");
        let got = self.meta(b"/d").await.mode & 0o7777;
        if got != 0o750 {
            self.fail(format_args!(
                "set_mode 750 on /d, then metadata gives {got:o}"
            ));
        }
        let r = s.set_mode(&self.path(b"/nope"), 0o644).await;
        self.err(r, &[ErrorKind::NotFound], "set_mode of a missing path");
        self.expect_content(b"/f", b"mode", "after set_mode").await;
    }

    async fn set_modified(&self) {
        let s = &*self.storage;
        self.put(b"/f", b"time").await;
        let f = self.path(b"/f");
        let r = s.set_modified(&f, 1_000_000_000).await;
        if self.supported(&r) != s.can_set_modified() {
            self.fail(format_args!(
                "can_set_modified says {}, but set_modified gives {r:?}",
                s.can_set_modified()
            ));
        }
        if !self.supported(&r) {
            return;
        }
        self.ok(r, "set_modified /f");
        for secs in [1_000_000_000, 1_700_000_000, 86_400] {
            let r = s.set_modified(&f, secs).await;
            self.ok(r, format_args!("set_modified /f {secs}"));
            let got = self.meta(b"/f").await.modified;
            if got != Some(secs) {
                self.fail(format_args!(
                    "set_modified {secs}, then metadata gives {got:?}"
                ));
            }
        }
        let r = s.set_modified(&self.path(b"/nope"), 0).await;
        self.err(r, &[ErrorKind::NotFound], "set_modified of a missing path");
        self.expect_content(b"/f", b"time", "after set_modified")
            .await;
    }

    async fn read_link(&self) {
        self.put(b"/f", b"no link").await;
        let r = self.storage.read_link(&self.path(b"/f")).await;
        if !self.supported(&r) {
            return;
        }
        self.err(r, &[], "read_link of a regular file");
        let r = self.storage.read_link(&self.path(b"/nope")).await;
        self.err(r, &[], "read_link of a missing path");
    }
}
