//! A thread that runs filesystem calls with a system user's credentials.
//!
//! On Linux, credentials are a property of each thread at the syscall
//! level; glibc's `setuid` and friends only look process-wide because they
//! signal every thread to change too. The raw syscalls, as rustix's
//! `set_thread_*` functions make them, change the calling thread alone. So
//! each system-user session gets one OS thread that drops its own
//! credentials to the user's (supplementary groups; then real, effective
//! and saved gid; then the effective uid, which the kernel also makes the
//! filesystem uid, clearing the thread's effective capabilities) and then
//! runs the jobs the session sends it. The rest of the server keeps running
//! as root.
//!
//! The real and saved uid stay 0 on purpose: the kernel lets a process
//! signal, `prlimit` or `ptrace` a thread when its uid matches the thread's
//! real or saved uid, and those calls act on the whole server. A thread
//! whose every uid were the user's would let the user kill the server.
//! (Dropping the saved uid as well would not stop code on the thread from
//! becoming root again anyway: it shares the process's memory with root
//! threads. Only ferroftpd's own file operations run on it.)
//!
//! The thread ends when the last [`UserThread`] handle is dropped: the
//! storage, and any writer or listing still in use, each hold one.

use std::io;
use std::sync::{mpsc, Arc};

use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
use rustix::thread::{Gid, Uid};
use tokio::sync::oneshot;

use super::{DirEntries, DirEntry, FileWriter, StorageError, StorageResult};
use crate::auth::Identity;

type Job = Box<dyn FnOnce() + Send>;

/// Entries a listing reads on the user's thread per round trip: enough to
/// make the round trips cheap, few enough to keep memory small.
const LISTING_BATCH: usize = 256;

/// A handle to a thread running as one system user.
#[derive(Debug, Clone)]
pub(crate) struct UserThread {
    jobs: mpsc::Sender<Job>,
}

impl UserThread {
    /// Starts a thread and makes it `identity`. Fails if the thread cannot
    /// be created or its credentials cannot be changed (the server does
    /// not run as root, for one).
    pub(crate) async fn spawn(identity: &Identity) -> StorageResult<Self> {
        if identity.uid == 0 {
            return Err(StorageError::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "refusing to act as uid 0",
            )));
        }
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let uid = identity.uid;
        let identity = identity.clone();
        std::thread::Builder::new()
            .name(format!("ftp-uid-{uid}"))
            .spawn(move || {
                let dropped = become_user(&identity);
                let ok = dropped.is_ok();
                let _ = ready_tx.send(dropped);
                if ok {
                    // Ends when every sender (handle) is gone. A panicking
                    // job fails its own call only (its reply channel is
                    // dropped); the thread keeps serving the others.
                    while let Ok(job) = queue.recv() {
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                }
            })?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(UserThread { jobs }),
            Ok(Err(e)) => Err(StorageError::Io(io::Error::new(
                e.kind(),
                format!("cannot act as uid {uid}: {e}"),
            ))),
            Err(_) => Err(thread_gone()),
        }
    }

    /// Runs `f` on the user's thread and waits for its result.
    pub(crate) async fn run<T, F>(&self, f: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> StorageResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Box::new(move || {
            let _ = tx.send(f());
        }))?;
        rx.await.map_err(|_| thread_gone())?
    }

    /// [`UserThread::run`] for code on a blocking thread (never call it
    /// from async code: it blocks until the job is done).
    fn run_blocking<T, F>(&self, f: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> StorageResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Box::new(move || {
            let _ = tx.send(f());
        }))?;
        rx.blocking_recv().map_err(|_| thread_gone())?
    }

    fn send(&self, job: Job) -> StorageResult<()> {
        match self.jobs.send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::SendError(job)) => {
                // Unreachable while this handle lives (the thread outlives
                // panicking jobs). Dropping the job here could run file
                // operations (a writer's cleanup) as the server: leak it.
                std::mem::forget(job);
                Err(thread_gone())
            }
        }
    }

    /// Queues `job` without waiting for it.
    fn spawn_detached(&self, job: Job) {
        let _ = self.send(job);
    }

    /// A listing whose entries are read on this thread, in batches.
    pub(crate) fn listing(&self, inner: DirEntries) -> DirEntries {
        Box::new(UserListing {
            thread: self.clone(),
            inner: Some(inner),
            batch: Vec::new().into_iter(),
        })
    }

    /// A writer whose commit and drop (the rename or removal of its
    /// temporary file) happen on this thread.
    pub(crate) fn writer(&self, inner: Box<dyn FileWriter>) -> Box<dyn FileWriter> {
        Box::new(UserWriter {
            thread: self.clone(),
            inner: Some(inner),
        })
    }
}

/// The job panicked, or the thread could not be reached.
fn thread_gone() -> StorageError {
    StorageError::Io(io::Error::other("the user's file access thread has ended"))
}

/// Makes the calling thread act as `identity` for file access (see the
/// module's documentation for why the real and saved uid stay 0). Groups
/// first: once the effective uid is not 0 the thread may no longer change
/// them.
pub(crate) fn become_user(identity: &Identity) -> io::Result<()> {
    if identity.uid == 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "refusing to act as uid 0",
        ));
    }
    let groups: Vec<Gid> = identity.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    set_thread_groups(&groups)?;
    let gid = Gid::from_raw(identity.gid);
    set_thread_res_gid(gid, gid, gid)?;
    let uid = Uid::from_raw(identity.uid);
    set_thread_res_uid(Uid::ROOT, uid, Uid::ROOT)?;
    // Changing the effective uid makes the process dumpable again if
    // fs.suid_dumpable says so, and a dumpable thread's /proc entries
    // (mem among them) belong to its effective uid: to the user. The flag
    // is the whole process's, and every switch resets it, so it is
    // cleared after each.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// Runs `f` on a new thread that acts as `identity` (as [`become_user`]
/// makes it), and ends with it. For transfers: the kernel checks some
/// things when data is written, not only at open (disk quotas and the
/// blocks reserved for root are waived for a thread with
/// `CAP_SYS_RESOURCE`, set-user-ID bits are kept for one with
/// `CAP_FSETID`), so a system user's data must not be written by a root
/// thread.
pub(crate) fn run_as<T, F>(identity: Arc<Identity>, f: F) -> oneshot::Receiver<io::Result<T>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let uid = identity.uid;
    let spawned = std::thread::Builder::new()
        .name(format!("ftp-xfer-{uid}"))
        .spawn(move || {
            let result = become_user(&identity).map(|()| f());
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        // The sender went with the closure: the receiver reports it closed.
        tracing::warn!(error = %e, "cannot start a transfer thread");
    }
    rx
}

/// Reads a directory listing on the user's thread: stat-ing entries and
/// resolving symbolic links are file accesses too.
struct UserListing {
    thread: UserThread,
    /// `None` once the listing has ended.
    inner: Option<DirEntries>,
    batch: std::vec::IntoIter<StorageResult<DirEntry>>,
}

impl Iterator for UserListing {
    type Item = StorageResult<DirEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(entry) = self.batch.next() {
            return Some(entry);
        }
        let mut inner = self.inner.take()?;
        let result = self.thread.run_blocking(move || {
            let batch: Vec<_> = inner.by_ref().take(LISTING_BATCH).collect();
            let more = batch.len() == LISTING_BATCH;
            Ok((more.then_some(inner), batch))
        });
        match result {
            Ok((inner, batch)) => {
                self.inner = inner;
                self.batch = batch.into_iter();
                self.batch.next()
            }
            Err(e) => Some(Err(e)),
        }
    }
}

impl std::fmt::Debug for UserListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserListing").finish_non_exhaustive()
    }
}

/// A writer used by the transfer worker for the data (the descriptor was
/// opened as the user), committed and dropped on the user's thread.
#[derive(Debug)]
struct UserWriter {
    thread: UserThread,
    /// `None` once committed.
    inner: Option<Box<dyn FileWriter>>,
}

impl io::Write for UserWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Some(w) => w.write(buf),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl FileWriter for UserWriter {
    fn as_file(&mut self) -> Option<&mut std::fs::File> {
        self.inner.as_mut()?.as_file()
    }

    fn commit(mut self: Box<Self>) -> StorageResult<()> {
        let Some(inner) = self.inner.take() else {
            return Ok(());
        };
        self.thread.run_blocking(move || inner.commit())
    }

    fn discard(mut self: Box<Self>) {
        if let Some(inner) = self.inner.take() {
            self.thread
                .spawn_detached(Box::new(move || inner.discard()));
        }
    }

    fn budget(&self) -> Option<std::sync::Arc<dyn super::UploadBudget>> {
        self.inner.as_ref()?.budget()
    }

    /// On the user's thread, as the user, like a drop; waited for, since
    /// `abandon` is called on a blocking thread.
    fn abandon(mut self: Box<Self>) -> super::Remains {
        let Some(inner) = self.inner.take() else {
            return super::Remains::Nothing;
        };
        self.thread
            .run_blocking(move || Ok(inner.abandon()))
            .unwrap_or(super::Remains::Unknown)
    }
}

impl Drop for UserWriter {
    fn drop(&mut self) {
        // Not committed: the inner writer's drop cleans up its temporary
        // file, which must happen as the user too. It is queued, not
        // awaited, since a writer may be dropped in async code; the
        // session's next storage call queues behind it, so a retried STOR
        // cannot race the cleanup.
        if let Some(inner) = self.inner.take() {
            self.thread.spawn_detached(Box::new(move || drop(inner)));
        }
    }
}
