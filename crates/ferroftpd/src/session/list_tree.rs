//! `LIST -R` and `NLST -R`: a listing of a directory and, depth first, of
//! its subdirectories, read lazily on the transfer's thread.
//!
//! Bounded twice ([`ListingRules::max_depth`] levels,
//! [`ListingRules::max_entries`] entries read in all) so that one command
//! cannot make the server walk a whole tree. Every subdirectory goes
//! through the checks a LIST of it would: deny patterns, the permission
//! letters (`l`) and the guard. Symbolic links are listed, never followed,
//! so a link cannot lead the walk in circles or out of the root.

use std::net::SocketAddr;
use std::sync::Arc;

use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::perms::Permission;
use tokio::runtime::Handle;

use crate::auth::{Account, Authorizer};
use crate::data::engine::ListItem;
use crate::guard::{Guard, Operation, Request, Verdict};
use crate::listing_rules::ListingRules;
use crate::storage::{DirEntries, FileKind, Storage, StorageResult};

/// How the walk presents what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// `ls -lR`: each directory after a `path:` heading, entries by name.
    List,
    /// One path per line, relative to the listed directory (`sub/file`),
    /// usable as given in RETR.
    Nlst,
}

/// Whose walk it is: what the checks on each subdirectory need.
pub(super) struct Walker {
    pub(super) storage: Arc<dyn Storage>,
    pub(super) runtime: Handle,
    pub(super) rules: Arc<ListingRules>,
    pub(super) authorizer: Arc<dyn Authorizer>,
    pub(super) account: Account,
    pub(super) guard: Option<Arc<dyn Guard>>,
    pub(super) session_id: u64,
    pub(super) client: SocketAddr,
    /// The client's `-a`.
    pub(super) all: bool,
    pub(super) style: Style,
}

/// A directory still to read.
struct Pending {
    path: VirtualPath,
    /// How the listing names it: `./sub` (LIST) or `sub` (NLST).
    shown: Vec<u8>,
    depth: u32,
}

/// The directory being read.
struct Reading {
    entries: DirEntries,
    dir: Pending,
    /// Its subdirectories, read once it is done.
    subdirs: Vec<Pending>,
}

/// The walk, as an iterator of listing items.
pub(super) struct TreeWalk {
    walker: Walker,
    reading: Option<Reading>,
    /// Directories to read, the next one last.
    pending: Vec<Pending>,
    /// A heading to send before anything else.
    first_heading: Option<Vec<u8>>,
    /// Entries the walk may still read.
    left: usize,
}

impl TreeWalk {
    /// The walk of `path`, whose `entries` the caller has already opened
    /// (so that a failure there gets its reply before the transfer).
    /// `shown` is how LIST names it in its heading: the client's argument,
    /// or `.`.
    pub(super) fn new(
        walker: Walker,
        path: VirtualPath,
        shown: Vec<u8>,
        entries: DirEntries,
    ) -> Self {
        let (first_heading, shown) = match walker.style {
            Style::List => (Some(heading(&shown, true)), shown),
            Style::Nlst => (None, Vec::new()),
        };
        let left = walker.rules.max_entries;
        TreeWalk {
            walker,
            reading: Some(Reading {
                entries,
                dir: Pending {
                    path,
                    shown,
                    depth: 0,
                },
                subdirs: Vec::new(),
            }),
            pending: Vec::new(),
            first_heading,
            left,
        }
    }

    /// Opens the next directory that passes the checks; `None` when there
    /// is none left.
    fn open_next(&mut self) -> Option<Reading> {
        while let Some(dir) = self.pending.pop() {
            if !self.may_list(&dir.path) {
                continue;
            }
            let storage = self.walker.storage.clone();
            match self.walker.runtime.block_on(storage.list(&dir.path)) {
                Ok(entries) => {
                    return Some(Reading {
                        entries,
                        dir,
                        subdirs: Vec::new(),
                    })
                }
                // A directory that went away or cannot be read is left
                // out; the rest of the tree is still worth sending.
                Err(e) => tracing::debug!(path = %dir.path, error = %e, "subdirectory skipped"),
            }
        }
        None
    }

    /// The checks a LIST of `path` would make.
    fn may_list(&self, path: &VirtualPath) -> bool {
        let w = &self.walker;
        if w.rules.denies(path) || !w.authorizer.permits(&w.account, Permission::List, path) {
            return false;
        }
        let Some(guard) = &w.guard else {
            return true;
        };
        let request = Request {
            session_id: w.session_id,
            client: w.client,
            account: &w.account,
            storage: Some(&w.storage),
            operation: Operation::List { path },
        };
        matches!(w.runtime.block_on(guard.check(&request)), Verdict::Allow)
    }
}

impl Iterator for TreeWalk {
    type Item = StorageResult<ListItem>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(text) = self.first_heading.take() {
            return Some(Ok(ListItem::Text(text)));
        }
        loop {
            let Some(reading) = &mut self.reading else {
                let next = self.open_next()?;
                let text = heading(&next.dir.shown, false);
                self.reading = Some(next);
                if self.walker.style == Style::List {
                    return Some(Ok(ListItem::Text(text)));
                }
                continue;
            };
            if self.left == 0 {
                tracing::info!(
                    entries = self.walker.rules.max_entries,
                    "recursive listing stopped at its entry limit"
                );
                self.reading = None;
                self.pending.clear();
                return None;
            }
            let mut entry = match reading.entries.next() {
                Some(Ok(entry)) => entry,
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    // Depth first, in the order the directory gave them.
                    let done = self.reading.take()?;
                    self.pending.extend(done.subdirs.into_iter().rev());
                    continue;
                }
            };
            self.left -= 1;
            if !self.walker.rules.shows(&entry.name, self.walker.all) {
                continue;
            }
            let dir = &reading.dir;
            let shown = child(&dir.shown, &entry.name);
            if entry.info.kind == FileKind::Dir && dir.depth < self.walker.rules.max_depth {
                if let Ok(path) = dir.path.join(&entry.name) {
                    reading.subdirs.push(Pending {
                        path,
                        shown: shown.clone(),
                        depth: dir.depth + 1,
                    });
                }
            }
            if self.walker.style == Style::Nlst {
                entry.name = shown;
            }
            return Some(Ok(ListItem::Entry(entry)));
        }
    }
}

/// `dir/name`, or `name` in the top directory of an NLST.
fn child(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = dir.to_vec();
    if !path.is_empty() && !path.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// The line before a directory's entries in `ls -lR` output; a blank line
/// separates it from the previous directory.
fn heading(shown: &[u8], first: bool) -> Vec<u8> {
    let mut text = if first { Vec::new() } else { b"\r\n".to_vec() };
    text.extend_from_slice(shown);
    text.extend_from_slice(b":\r\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_headings() {
        assert_eq!(child(b"", b"a"), b"a");
        assert_eq!(child(b".", b"sub"), b"./sub");
        assert_eq!(child(b"/", b"sub"), b"/sub");
        assert_eq!(child(b"pub/sub", b"x"), b"pub/sub/x");
        assert_eq!(heading(b".", true), b".:\r\n");
        assert_eq!(heading(b"./sub", false), b"\r\n./sub:\r\n");
    }
}
