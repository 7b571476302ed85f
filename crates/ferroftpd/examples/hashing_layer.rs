//! Recipe: custom storage (pyftpdlib's `AbstractedFS` subclass, aioftp's
//! `AbstractPathIO`). A storage layer: a `Storage` that wraps another one
//! and forwards every call to it, as tower's layers wrap a service. This
//! one records the SHA-256 of each file uploaded with STOR or STOU,
//! computed from the bytes as they pass, and keeps the record right
//! through renames and deletes. A backend of your own implements the same
//! two traits, `Storage` and `StorageFactory` (docs/storage.md).
//!
//! It serves an in-memory tree to user `user`, password `12345`; stop it
//! with Ctrl-C (SIGINT) to see the digests of what was uploaded.
//!
//! ```sh
//! cargo run -p ferroftpd --example hashing_layer -- 127.0.0.1:2121
//! curl -T Cargo.toml ftp://user:12345@127.0.0.1:2121/
//! ```
//!
//! `tests/storage_conformance.rs` runs this layer through the storage
//! conformance suite.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use ferroftpd::auth::{Account, MemoryAuthorizer, Permissions};
use ferroftpd::storage::{
    async_trait, DirEntries, FileInfo, FileReader, FileWriter, MemoryStorageFactory, Storage,
    StorageFactory, StorageResult, VirtualPath, WriteMode,
};
use sha2::{Digest, Sha256};

/// The digests one account's uploads left: path (as the account sees it)
/// to SHA-256, in hex. Clones share the record.
#[derive(Debug, Clone, Default)]
pub struct Digests(Arc<Mutex<HashMap<VirtualPath, String>>>);

impl Digests {
    /// The SHA-256 of the file at `path`, if it was uploaded whole through
    /// the layer and not changed since.
    pub fn get(&self, path: &VirtualPath) -> Option<String> {
        self.map().get(path).cloned()
    }

    /// Every digest recorded, by path.
    pub fn all(&self) -> Vec<(VirtualPath, String)> {
        let mut all: Vec<_> = self.map().clone().into_iter().collect();
        all.sort();
        all
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<VirtualPath, String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `from` and everything below it now live at `to`.
    fn moved(&self, from: &VirtualPath, to: &VirtualPath) {
        let mut map = self.map();
        let below: Vec<VirtualPath> = map
            .keys()
            .filter(|p| p.starts_with(from))
            .cloned()
            .collect();
        for old in below {
            let Some(digest) = map.remove(&old) else {
                continue;
            };
            let rest = &old.as_bytes()[from.as_bytes().len()..];
            let mut new = to.as_bytes().to_vec();
            new.extend_from_slice(rest);
            if let Ok(new) = VirtualPath::root().resolve(&new) {
                map.insert(new, digest);
            }
        }
    }
}

/// The layer: a [`Storage`] over `inner` that records digests.
#[derive(Debug)]
pub struct Hashing {
    inner: Arc<dyn Storage>,
    digests: Digests,
}

impl Hashing {
    /// Wraps `inner`; digests go to `digests`.
    pub fn new(inner: Arc<dyn Storage>, digests: Digests) -> Self {
        Hashing { inner, digests }
    }

    fn wrap(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
        inner: Box<dyn FileWriter>,
    ) -> Box<dyn FileWriter> {
        Box::new(HashingWriter {
            inner,
            hasher: Sha256::new(),
            whole: mode == WriteMode::Replace,
            path: path.clone(),
            digests: self.digests.clone(),
        })
    }
}

#[async_trait]
impl Storage for Hashing {
    async fn metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        self.inner.metadata(path).await
    }

    async fn symlink_metadata(&self, path: &VirtualPath) -> StorageResult<FileInfo> {
        self.inner.symlink_metadata(path).await
    }

    fn real_path(&self, path: &VirtualPath) -> Option<std::path::PathBuf> {
        self.inner.real_path(path)
    }

    async fn read_link(&self, path: &VirtualPath) -> StorageResult<Vec<u8>> {
        self.inner.read_link(path).await
    }

    async fn list(&self, path: &VirtualPath) -> StorageResult<DirEntries> {
        self.inner.list(path).await
    }

    async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> StorageResult<Box<dyn FileReader>> {
        self.inner.open_read(path, offset).await
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> StorageResult<Box<dyn FileWriter>> {
        let writer = self.inner.open_write(path, mode).await?;
        Ok(self.wrap(path, mode, writer))
    }

    async fn create_unique(
        &self,
        dir: &VirtualPath,
        prefix: &[u8],
    ) -> StorageResult<(VirtualPath, Box<dyn FileWriter>)> {
        // Forwarded, so the inner storage's exclusive create still holds.
        let (path, writer) = self.inner.create_unique(dir, prefix).await?;
        let writer = self.wrap(&path, WriteMode::Replace, writer);
        Ok((path, writer))
    }

    async fn create_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        self.inner.create_dir(path).await
    }

    async fn remove_dir(&self, path: &VirtualPath) -> StorageResult<()> {
        self.inner.remove_dir(path).await
    }

    async fn remove_file(&self, path: &VirtualPath) -> StorageResult<()> {
        self.inner.remove_file(path).await?;
        self.digests.map().remove(path);
        Ok(())
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> StorageResult<()> {
        self.inner.rename(from, to).await?;
        if from != to {
            self.digests.map().remove(to);
            self.digests.moved(from, to);
        }
        Ok(())
    }

    async fn set_modified(&self, path: &VirtualPath, secs: i64) -> StorageResult<()> {
        self.inner.set_modified(path, secs).await
    }

    fn can_set_modified(&self) -> bool {
        self.inner.can_set_modified()
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> StorageResult<()> {
        self.inner.set_mode(path, mode).await
    }
}

/// An upload on its way through the layer.
#[derive(Debug)]
struct HashingWriter {
    inner: Box<dyn FileWriter>,
    hasher: Sha256,
    /// The upload is the whole file (STOR, STOU), not an addition to it.
    whole: bool,
    path: VirtualPath,
    digests: Digests,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl FileWriter for HashingWriter {
    // No `as_file`: the transfer engine would then splice the bytes into
    // the file directly, past the hasher.

    fn commit(self: Box<Self>) -> StorageResult<()> {
        let HashingWriter {
            inner,
            hasher,
            whole,
            path,
            digests,
        } = *self;
        inner.commit()?;
        let mut map = digests.map();
        if whole {
            let digest: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            map.insert(path, digest);
        } else {
            // APPE or REST+STOR changed part of the file: the old digest
            // no longer holds, and the new one is unknown.
            map.remove(&path);
        }
        Ok(())
    }

    // A refused upload: the inner writer must leave nothing, which a plain
    // drop would not promise. The quota's budget passes through too.
    fn discard(self: Box<Self>) {
        self.inner.discard();
    }

    fn budget(&self) -> Option<Arc<dyn ferroftpd::storage::UploadBudget>> {
        self.inner.budget()
    }

    // A failed upload: the inner writer says what it left, for the hooks.
    fn abandon(self: Box<Self>) -> ferroftpd::storage::Remains {
        self.inner.abandon()
    }
}

/// The layer for a whole server: each account's storage, from `inner`,
/// wrapped, with a record of its own.
#[derive(Debug)]
pub struct HashingFactory {
    inner: Arc<dyn StorageFactory>,
    records: Mutex<HashMap<String, Digests>>,
}

impl HashingFactory {
    /// Wraps the storage of every account that `inner` opens.
    pub fn new(inner: Arc<dyn StorageFactory>) -> Self {
        HashingFactory {
            inner,
            records: Mutex::default(),
        }
    }

    /// The record of `username`'s uploads.
    pub fn digests(&self, username: &str) -> Digests {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records.entry(username.to_owned()).or_default().clone()
    }
}

#[async_trait]
impl StorageFactory for HashingFactory {
    async fn open(&self, account: &Account) -> StorageResult<Arc<dyn Storage>> {
        let inner = self.inner.open(account).await?;
        Ok(Arc::new(Hashing::new(
            inner,
            self.digests(&account.username),
        )))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let users = MemoryAuthorizer::new();
    users.add_user("user", "12345", "/user", Permissions::ALL)?;
    let hashing = Arc::new(HashingFactory::new(Arc::new(MemoryStorageFactory::new(
        256 << 20,
    ))));
    let server = ferroftpd::Server::builder()
        .authorizer(Arc::new(users))
        .storage(hashing.clone())
        .build()?;
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2121".into());
    let listener = ferroftpd::bind(addr.parse()?)?;
    println!("listening on {}", listener.local_addr()?);
    let stopper = server.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopper.abort();
    });
    server.serve(listener).await?;
    for (path, digest) in hashing.digests("user").all() {
        println!("{digest}  {path}");
    }
    Ok(())
}
