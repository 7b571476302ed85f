//! The transfer worker: moves bytes between storage and a blocking data
//! socket on one of tokio's blocking threads.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ferroftpd_proto::ascii;
use ferroftpd_proto::listing::{self, FactSet, ListLine, MlsxType};
use ferroftpd_proto::path::VirtualPath;
use rustix::io::Errno;

use crate::auth::PermissionRules;
use crate::listing_rules::FakeIds;
use crate::names;
use crate::storage::{
    DirEntries, DirEntry, ErrorKind, FileReader, FileWriter, Remains, StorageError, StorageResult,
    UploadBudget,
};
use crate::throttle::Throttle;

use super::stream::DataStream;
use super::DataTls;

/// Size of the buffer each blocking thread keeps for copies. Large enough
/// that a copy costs few system calls; allocated once per thread, not per
/// transfer.
const BUFFER_SIZE: usize = 256 * 1024;

/// Bytes asked of one `sendfile` call. Bounded so that STAT shows progress
/// and ABOR is seen between calls; large enough that the calls cost little.
const SENDFILE_CHUNK: usize = 2 * 1024 * 1024;

/// Pipe size asked for when splicing uploads (the kernel may give less).
const SPLICE_PIPE_SIZE: usize = 1024 * 1024;

/// A listing is written to the socket once this many bytes are formatted.
const LISTING_FLUSH: usize = 64 * 1024;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static CONVERTED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Work for the data connection.
pub(crate) enum Job {
    /// RETR.
    Download {
        reader: Box<dyn FileReader>,
        ascii: bool,
        sendfile: bool,
        throttle: Throttle,
    },
    /// STOR, APPE, STOU.
    Upload {
        writer: Box<dyn FileWriter>,
        ascii: bool,
        throttle: Throttle,
        /// The guard to ask before the commit, if the server has one.
        commit_check: Option<Box<crate::guard::CommitCheck>>,
        /// The control connection, looked at before the commit.
        control: Option<ControlProbe>,
    },
    /// LIST, NLST, MLSD of a directory.
    Listing {
        entries: ListItems,
        format: ListFormat,
        /// The client's character set, when it is not UTF-8.
        encoding: Option<&'static encoding_rs::Encoding>,
    },
    /// Bytes formatted in advance (LIST of a single file).
    Bytes(Vec<u8>),
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Download { ascii, .. } => write!(f, "Download(ascii: {ascii})"),
            Job::Upload { ascii, .. } => write!(f, "Upload(ascii: {ascii})"),
            Job::Listing { format, .. } => write!(f, "Listing({format:?})"),
            Job::Bytes(b) => write!(f, "Bytes({})", b.len()),
        }
    }
}

/// One piece of a listing.
pub(crate) enum ListItem {
    /// A directory entry, formatted as the listing's [`ListFormat`] says.
    Entry(DirEntry),
    /// Text sent as it is (the `dir:` heading of a recursive LIST).
    Text(Vec<u8>),
}

/// What a listing job sends, read on the transfer's thread.
pub(crate) type ListItems = Box<dyn Iterator<Item = StorageResult<ListItem>> + Send>;

/// The entries of one directory as listing items.
pub(crate) fn items(entries: DirEntries) -> ListItems {
    Box::new(entries.map(|entry| entry.map(ListItem::Entry)))
}

/// How to format a directory's entries.
#[derive(Debug, Clone)]
pub(crate) enum ListFormat {
    /// `ls -l` lines; with `fake_ids`, those names in the owner and group
    /// columns.
    List {
        now: i64,
        localtime: bool,
        fake_ids: Option<FakeIds>,
    },
    /// Names only.
    /// Names, each after `prefix` (the directory part of a wildcard
    /// argument, so the names can be used as given).
    Nlst { prefix: Vec<u8> },
    /// RFC 3659 lines; `perm` facts are computed from the rules for each
    /// entry of `dir`.
    Mlsd {
        facts: FactSet,
        rules: Arc<PermissionRules>,
        dir: VirtualPath,
    },
}

/// Why a started transfer failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransferError {
    /// The data connection broke (reset, closed early).
    #[error("{0}")]
    Network(io::Error),
    /// No progress within the stall timeout.
    #[error("data connection timed out")]
    TimedOut,
    /// Reading or writing the file failed.
    #[error("{0}")]
    Storage(StorageError),
    /// The TLS handshake on the data connection failed.
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(io::Error),
    /// The data connection did not resume its control connection's TLS
    /// session, and the server requires it.
    #[error("TLS session not resumed from the control connection")]
    TlsNotResumed,
    /// The guard refused the upload before its commit; this is the reply.
    #[error("refused before commit: {0}")]
    Refused(ferroftpd_proto::reply::Reply),
}

fn storage(e: io::Error) -> TransferError {
    TransferError::Storage(StorageError::Io(e))
}

/// What every copy loop updates and obeys.
pub(super) struct Flow<'a> {
    /// Bytes moved so far.
    progress: &'a AtomicU64,
    /// Set before ABOR shuts the socket down.
    aborted: &'a AtomicBool,
    throttle: &'a Throttle,
    /// How long the peer may make no progress.
    stall: Duration,
    /// When bytes last moved.
    last_progress: std::cell::Cell<Instant>,
}

/// Longest single sleep while throttled, so ABOR is noticed soon.
const THROTTLE_SLICE: Duration = Duration::from_millis(50);

impl Flow<'_> {
    /// Counts `n` bytes moved, then waits as long as the throttle says.
    fn moved(&self, n: usize) {
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        self.last_progress.set(Instant::now());
        let mut wait = self.throttle.take(n);
        while !wait.is_zero() && !self.aborted.load(Ordering::Relaxed) {
            let slice = wait.min(THROTTLE_SLICE);
            std::thread::sleep(slice);
            wait -= slice;
        }
    }

    /// After a socket call ended with `e`: `Ok` to try again (the socket
    /// timeout is only a polling interval), or the error that ends the
    /// transfer, [`TransferError::TimedOut`] once nothing has moved for the
    /// stall timeout.
    pub(super) fn retry(&self, e: io::Error) -> Result<(), TransferError> {
        match e.kind() {
            io::ErrorKind::Interrupted => Ok(()),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                if self.aborted.load(Ordering::Relaxed) =>
            {
                Err(TransferError::Network(e))
            }
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                if self.last_progress.get().elapsed() >= self.stall {
                    Err(TransferError::TimedOut)
                } else {
                    Ok(())
                }
            }
            _ => Err(TransferError::Network(e)),
        }
    }

    /// Writes all of `buf`, counting progress but not throttling.
    fn write_all(&self, sock: &mut impl Write, buf: &[u8]) -> Result<(), TransferError> {
        let mut at = 0;
        while at < buf.len() {
            match sock.write(&buf[at..]) {
                Ok(0) => return Err(TransferError::Network(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    at += n;
                    self.last_progress.set(Instant::now());
                }
                Err(e) => self.retry(e)?,
            }
        }
        Ok(())
    }

    /// Reads what is there (0 at the end of the stream).
    fn read(&self, sock: &mut impl Read, buf: &mut [u8]) -> Result<usize, TransferError> {
        loop {
            match sock.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) => self.retry(e)?,
            }
        }
    }

    /// Bytes to move at a time: all of `max`, or less when throttled.
    fn chunk(&self, max: usize) -> usize {
        self.throttle.chunk(max)
    }
}

/// Runs `job` over `sock` (blocking mode; its timeouts are a polling
/// interval). Counts bytes in `progress`. `aborted` is set before the
/// socket is shut down by ABOR. Fails with [`TransferError::TimedOut`] when
/// nothing moves for `stall`.
/// An upload that does not complete records in `remains` what it left.
pub(crate) fn run(
    job: Job,
    sock: TcpStream,
    tls: Option<DataTls>,
    progress: &AtomicU64,
    aborted: &AtomicBool,
    stall: Duration,
    remains: &OnceLock<Remains>,
) -> Result<(), TransferError> {
    let unlimited = Throttle::default();
    let throttle = match &job {
        Job::Download { throttle, .. } | Job::Upload { throttle, .. } => throttle.clone(),
        Job::Listing { .. } | Job::Bytes(_) => unlimited,
    };
    let flow = Flow {
        progress,
        aborted,
        throttle: &throttle,
        stall,
        last_progress: std::cell::Cell::new(Instant::now()),
    };
    let mut sock = match tls {
        None => DataStream::Plain(sock),
        Some(tls) => match DataStream::handshake(sock, tls, &flow) {
            Ok(sock) => sock,
            Err(e) => {
                abandon(job, remains);
                return Err(e);
            }
        },
    };
    let result = match job {
        Job::Download {
            reader,
            ascii,
            sendfile,
            ..
        } => send_file(&mut sock, reader, ascii, sendfile, &flow),
        Job::Upload {
            writer,
            ascii,
            commit_check,
            control,
            ..
        } => {
            let received = receive_file(&mut sock, writer, ascii, commit_check, control, &flow);
            match received {
                Ok(()) => Ok(()),
                Err((e, left)) => {
                    let _ = remains.set(left);
                    Err(e)
                }
            }
        }
        Job::Listing {
            entries,
            format,
            encoding,
        } => send_listing(&mut sock, entries, &format, encoding, &flow),
        Job::Bytes(bytes) => flow
            .write_all(&mut sock, &bytes)
            .map(|()| flow.moved(bytes.len())),
    };
    match result {
        // The end of data: close_notify under TLS, then FIN.
        Ok(()) => sock.finish(&flow),
        Err(e) => Err(e),
    }
}

fn with_buffers<T>(f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> T) -> T {
    BUFFER.with_borrow_mut(|buf| {
        if buf.len() < BUFFER_SIZE {
            buf.resize(BUFFER_SIZE, 0);
        }
        CONVERTED.with_borrow_mut(|converted| {
            converted.clear();
            f(buf, converted)
        })
    })
}

fn send_file(
    sock: &mut DataStream,
    mut reader: Box<dyn FileReader>,
    ascii: bool,
    use_sendfile: bool,
    flow: &Flow<'_>,
) -> Result<(), TransferError> {
    if let (false, true, Some(tcp)) = (ascii, use_sendfile, sock.plain()) {
        if let Some(file) = reader.as_file() {
            if sendfile_all(tcp, file, flow)? {
                return Ok(());
            }
        }
    }
    with_buffers(|buf, converted| {
        let mut to_network = ascii::ToNetwork::new();
        let chunk = flow.chunk(buf.len());
        loop {
            let n = match reader.read(&mut buf[..chunk]) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(storage(e)),
            };
            let out: &[u8] = if ascii {
                converted.clear();
                to_network.convert(&buf[..n], converted);
                converted
            } else {
                &buf[..n]
            };
            flow.write_all(sock, out)?;
            flow.moved(n);
        }
    })
}

/// Sends the rest of `file` with `sendfile(2)`. Returns false, having sent
/// nothing, if the kernel cannot sendfile from this file.
fn sendfile_all(
    sock: &TcpStream,
    file: &std::fs::File,
    flow: &Flow<'_>,
) -> Result<bool, TransferError> {
    let chunk = flow.chunk(SENDFILE_CHUNK);
    let mut sent_any = false;
    loop {
        match rustix::fs::sendfile(sock.as_fd(), file.as_fd(), None, chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                sent_any = true;
                flow.moved(n);
            }
            Err(Errno::INTR) => {}
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) if !sent_any => return Ok(false),
            Err(e @ (Errno::IO | Errno::NOMEM | Errno::OVERFLOW)) => return Err(storage(e.into())),
            Err(e) => flow.retry(e.into())?,
        }
    }
}

/// An upload job that will not run (no data connection, a failed TLS
/// handshake): its writer ends as a failed upload's does, and says what
/// it left. Call on a blocking thread.
pub(crate) fn abandon(job: Job, remains: &OnceLock<Remains>) {
    if let Job::Upload { writer, .. } = job {
        let _ = remains.set(writer.abandon());
    }
}

/// Receives an upload and commits it; on failure, also what it left.
fn receive_file(
    sock: &mut DataStream,
    mut writer: Box<dyn FileWriter>,
    ascii: bool,
    commit_check: Option<Box<crate::guard::CommitCheck>>,
    control: Option<ControlProbe>,
    flow: &Flow<'_>,
) -> Result<(), (TransferError, Remains)> {
    let received = receive_into(sock, &mut writer, ascii, flow);
    if let Err(e) = received {
        // Past a quota or out of space: nothing of it stays. Otherwise the writer decides
        // (a new file's partial content may be kept for resuming).
        let full = |k| {
            matches!(
                k,
                ErrorKind::QuotaExceeded | ErrorKind::StorageFull | ErrorKind::FileTooLarge
            )
        };
        if matches!(&e, TransferError::Storage(s) if full(s.kind())) {
            writer.discard();
            // Clients send the whole file before they read the reply: take
            // the rest (up to a bound) so that they see 552, not a reset.
            drain(sock, flow);
            return Err((e, Remains::Nothing));
        }
        return Err((e, writer.abandon()));
    }
    // End of stream also comes from ABOR's shutdown: never commit then, so
    // an aborted upload leaves the previous file in place.
    if flow.aborted.load(Ordering::SeqCst) {
        let e = TransferError::Network(io::ErrorKind::ConnectionAborted.into());
        return Err((e, writer.abandon()));
    }
    // A client that dies mid-upload (killed, crashed) closes both of its
    // connections: the end of the data looks like the end of the file. A
    // live client keeps its control connection open for the 226, or says
    // QUIT first; if that one has ended without QUIT, the data may be cut
    // short: no commit, and what the upload would have replaced stays.
    if control.is_some_and(|c| !c.client_stays(flow.aborted)) {
        let e = TransferError::Network(io::ErrorKind::ConnectionAborted.into());
        return Err((e, writer.abandon()));
    }
    if let Err(e) = writer.flush() {
        return Err((storage(e), writer.abandon()));
    }
    if let Some(check) = commit_check {
        let content = writer.as_file().and_then(|f| reopen_for_reading(f));
        let bytes = flow.progress.load(Ordering::Relaxed);
        if let Err(reply) = check.ask(bytes, content.as_ref()) {
            // Refused: what was there stays, and nothing of this upload.
            writer.discard();
            return Err((TransferError::Refused(reply), Remains::Nothing));
        }
    }
    // A failed commit leaves nothing of the upload visible.
    writer
        .commit()
        .map_err(|e| (TransferError::Storage(e), Remains::Nothing))
}

/// Moves the upload from `sock` into `writer`: spliced into its file when
/// it has one, copied otherwise.
fn receive_into(
    sock: &mut DataStream,
    writer: &mut Box<dyn FileWriter>,
    ascii: bool,
    flow: &Flow<'_>,
) -> Result<(), TransferError> {
    let budget = writer.budget();
    if let (false, Some(tcp)) = (ascii, sock.plain()) {
        if let Some(file) = writer.as_file() {
            if splice_all(tcp, file, budget.as_deref(), flow)? {
                return Ok(());
            }
        }
    }
    copy_from_socket(sock, &mut **writer, ascii, flow)
}

/// A descriptor that reads `file` from the start, whatever `file` was
/// opened for (uploads write only): a new open of the same file through
/// `/proc/self/fd`.
fn reopen_for_reading(file: &std::fs::File) -> Option<std::fs::File> {
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    std::fs::File::open(path).ok()
}

fn copy_from_socket(
    sock: &mut impl Read,
    writer: &mut dyn io::Write,
    ascii: bool,
    flow: &Flow<'_>,
) -> Result<(), TransferError> {
    with_buffers(|buf, converted| {
        let mut from_network = ascii::FromNetwork::new();
        let chunk = flow.chunk(buf.len());
        loop {
            let n = match flow.read(sock, &mut buf[..chunk])? {
                0 => break,
                n => n,
            };
            if ascii {
                converted.clear();
                from_network.convert(&buf[..n], converted);
                writer.write_all(converted).map_err(storage)?;
            } else {
                writer.write_all(&buf[..n]).map_err(storage)?;
            }
            flow.moved(n);
        }
        if ascii {
            converted.clear();
            from_network.finish(converted);
            writer.write_all(converted).map_err(storage)?;
        }
        Ok(())
    })
}

/// Moves the whole upload from `sock` into `file` with `splice(2)` through a
/// pipe, without copying it through user space. Returns false, having
/// received nothing, when splicing is not possible here.
fn splice_all(
    sock: &TcpStream,
    file: &mut std::fs::File,
    budget: Option<&dyn UploadBudget>,
    flow: &Flow<'_>,
) -> Result<bool, TransferError> {
    use rustix::pipe::{splice, SpliceFlags};
    // splice refuses files opened for appending.
    match rustix::fs::fcntl_getfl(&*file) {
        Ok(flags) if !flags.contains(rustix::fs::OFlags::APPEND) => {}
        _ => return Ok(false),
    }
    let Ok((pipe_r, pipe_w)) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) else {
        return Ok(false);
    };
    let pipe_size =
        rustix::pipe::fcntl_setpipe_size(&pipe_w, SPLICE_PIPE_SIZE).unwrap_or(64 * 1024);
    let chunk = flow.chunk(pipe_size);
    let flags = SpliceFlags::MOVE | SpliceFlags::MORE;
    let mut received_any = false;
    loop {
        let granted = match budget {
            None => chunk,
            Some(b) => usize::try_from(b.take(chunk as u64)).unwrap_or(chunk),
        };
        if granted == 0 {
            // The limit is reached: fine if the upload ends here.
            return match more_data(sock, flow)? {
                false => Ok(true),
                true => Err(TransferError::Storage(ErrorKind::QuotaExceeded.into())),
            };
        }
        let n = match splice(sock.as_fd(), None, &pipe_w, None, granted, flags) {
            Ok(n) => n,
            Err(e) => {
                if let Some(b) = budget {
                    b.give_back(granted as u64);
                }
                match e {
                    Errno::INTR => continue,
                    Errno::INVAL | Errno::NOSYS if !received_any => return Ok(false),
                    e => {
                        flow.retry(e.into())?;
                        continue;
                    }
                }
            }
        };
        if let Some(b) = budget {
            b.give_back((granted - n) as u64);
        }
        if n == 0 {
            return Ok(true);
        }
        received_any = true;
        let mut left = n;
        while left > 0 {
            match splice(&pipe_r, None, file.as_fd(), None, left, flags) {
                Ok(0) => return Err(storage(io::ErrorKind::WriteZero.into())),
                Ok(m) => left -= m,
                Err(Errno::INTR) => {}
                Err(Errno::INVAL) => {
                    // The file refuses splice after all: move what is in
                    // the pipe by hand, then the rest by copying.
                    drain_pipe(&pipe_r, file, left)?;
                    flow.moved(n);
                    copy_from_socket(&mut &*sock, file, false, flow)?;
                    return Ok(true);
                }
                Err(e) => return Err(storage(e.into())),
            }
        }
        flow.moved(n);
    }
}

/// Most bytes read and dropped after an upload was refused mid-way.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads and drops what the client still sends, up to [`DRAIN_LIMIT`], the
/// end of the stream, or the stall timeout.
fn drain(sock: &mut DataStream, flow: &Flow<'_>) {
    let mut buf = [0u8; 16 * 1024];
    let mut dropped = 0u64;
    while dropped < DRAIN_LIMIT {
        match flow.read(sock, &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => dropped += n as u64,
        }
    }
}

/// True if the client sends more than has been received: one byte is
/// read (and dropped: the upload fails anyway), or the end of the stream.
fn more_data(sock: &TcpStream, flow: &Flow<'_>) -> Result<bool, TransferError> {
    let mut byte = [0u8; 1];
    Ok(flow.read(&mut &*sock, &mut byte)? > 0)
}

fn drain_pipe(
    pipe: &impl AsFd,
    file: &mut std::fs::File,
    mut left: usize,
) -> Result<(), TransferError> {
    let mut chunk = [0u8; 8192];
    while left > 0 {
        let n =
            rustix::io::read(pipe, &mut chunk[..left.min(8192)]).map_err(|e| storage(e.into()))?;
        if n == 0 {
            break;
        }
        file.write_all(&chunk[..n]).map_err(storage)?;
        left -= n;
    }
    Ok(())
}

fn send_listing(
    sock: &mut DataStream,
    entries: ListItems,
    format: &ListFormat,
    encoding: Option<&'static encoding_rs::Encoding>,
    flow: &Flow<'_>,
) -> Result<(), TransferError> {
    with_buffers(|_, out| {
        let mut flush = |out: &mut Vec<u8>| -> Result<(), TransferError> {
            flow.write_all(sock, out)?;
            flow.moved(out.len());
            out.clear();
            Ok(())
        };
        for entry in entries {
            match entry {
                Ok(item) => {
                    let start = out.len();
                    match item {
                        ListItem::Entry(entry) => format_entry(out, &entry, format),
                        ListItem::Text(text) => out.extend_from_slice(&text),
                    }
                    if encoding.is_some() {
                        let converted =
                            crate::charset::to_client(encoding, &out[start..]).into_owned();
                        out.truncate(start);
                        out.extend_from_slice(&converted);
                    }
                }
                // An entry that cannot be read is left out; the rest is
                // still worth sending.
                Err(e) => tracing::debug!(error = %e, "listing entry skipped"),
            }
            if out.len() >= LISTING_FLUSH {
                flush(out)?;
            }
        }
        flush(out)
    })
}

/// The offset from UTC, in seconds, of local time at `secs`.
pub(crate) fn local_offset(secs: i64) -> i32 {
    use chrono::{Offset, TimeZone};
    chrono::Local
        .timestamp_opt(secs, 0)
        .single()
        .map_or(0, |dt| dt.offset().fix().local_minus_utc())
}

/// Appends the listing line of one entry.
pub(crate) fn format_entry(out: &mut Vec<u8>, entry: &DirEntry, format: &ListFormat) {
    match format {
        ListFormat::List {
            now,
            localtime,
            fake_ids,
        } => {
            let (owner, group) = match fake_ids {
                Some(fake) => (
                    std::borrow::Cow::Borrowed(fake.owner.as_str()),
                    std::borrow::Cow::Borrowed(fake.group.as_str()),
                ),
                None => (names::user(entry.info.uid), names::group(entry.info.gid)),
            };
            let utc_offset = match (localtime, entry.info.modified) {
                (true, Some(t)) => local_offset(t),
                _ => 0,
            };
            let line = ListLine {
                name: &entry.name,
                link_target: entry.link_target.as_deref(),
                owner: &owner,
                group: &group,
                now: *now,
                utc_offset,
            };
            listing::format_list_line(out, &entry.info, &line);
        }
        ListFormat::Nlst { prefix } => {
            out.extend_from_slice(prefix);
            listing::format_nlst_line(out, &entry.name)
        }
        ListFormat::Mlsd { facts, rules, dir } => {
            // Links are described by what they point to; broken links and
            // links that lead outside the root are left out.
            let info = match (&entry.resolved, entry.info.kind) {
                (Some(resolved), _) => resolved,
                (None, ferroftpd_proto::listing::FileKind::Symlink) => return,
                (None, _) => &entry.info,
            };
            let perms = match dir.join(&entry.name) {
                Ok(path) => rules.at(&path),
                Err(_) => rules.at(dir),
            };
            listing::format_mlsd_line(out, info, &entry.name, *facts, perms, MlsxType::Entry);
        }
    }
}

/// A second descriptor of the control connection's socket, for the data
/// engine to look at without taking anything from the session.
pub(crate) struct ControlProbe {
    socket: socket2::Socket,
    /// Set by the session when the client sends QUIT during the transfer.
    said_quit: std::sync::Arc<AtomicBool>,
}

impl ControlProbe {
    pub(crate) fn new(socket: &tokio::net::TcpStream) -> Option<Self> {
        let socket = socket2::SockRef::from(socket).try_clone().ok()?;
        Some(ControlProbe {
            socket,
            said_quit: Default::default(),
        })
    }

    pub(crate) fn said_quit(&self) -> std::sync::Arc<AtomicBool> {
        self.said_quit.clone()
    }

    /// False if the client has closed or reset the control connection
    /// without a QUIT. When the socket has ended with nothing unread, the
    /// session, which reads it during the transfer, may have just taken a
    /// QUIT off it: its verdict is awaited (it marks the QUIT, or ends and
    /// aborts the transfer on the end of the connection), for at most
    /// `VERDICT_WAIT`.
    fn client_stays(&self, aborted: &AtomicBool) -> bool {
        if self.said_quit.load(Ordering::SeqCst) || !self.socket_ended() {
            return true;
        }
        let deadline = Instant::now() + VERDICT_WAIT;
        loop {
            if self.said_quit.load(Ordering::SeqCst) {
                return true;
            }
            if aborted.load(Ordering::SeqCst) || Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(VERDICT_POLL);
        }
    }

    /// True if the socket is at its end (or reset) with nothing unread.
    fn socket_ended(&self) -> bool {
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
        match self.socket.recv_with_flags(&mut byte, libc_flags()) {
            Ok(n) => n == 0,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        }
    }
}

/// How long an upload whose control connection has ended waits for the
/// session to say whether a QUIT came first.
const VERDICT_WAIT: Duration = Duration::from_secs(5);
const VERDICT_POLL: Duration = Duration::from_millis(1);

/// MSG_PEEK | MSG_DONTWAIT: look, take nothing, never wait.
fn libc_flags() -> i32 {
    let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
    i32::try_from(flags.bits()).unwrap_or_default()
}
