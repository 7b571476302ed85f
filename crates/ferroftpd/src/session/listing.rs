//! Listings: LIST, NLST, MLSD over the data connection; MLST and STAT with a
//! path over the control connection.

use std::time::{SystemTime, UNIX_EPOCH};

use ferroftpd_proto::command::ListArgs;
use ferroftpd_proto::glob;
use ferroftpd_proto::listing::{format_mlsx_facts, Fact, FactSet, MlsxType};
use ferroftpd_proto::path::VirtualPath;
use ferroftpd_proto::perms::Permission;
use ferroftpd_proto::reply::Reply;

use super::list_tree::{Style, TreeWalk, Walker};
use super::{Flow, Session};
use crate::data::engine::{format_entry, items, Job, ListFormat, ListItems};
use crate::error::CommandError;
use crate::guard::Operation;
use crate::storage::{DirEntries, DirEntry, FileInfo, FileKind, Storage};

type Result<T = Reply> = std::result::Result<T, CommandError>;

/// Most entries STAT lists over the control connection. The reply is held
/// in memory before it is sent, so it is bounded; LIST has no such limit.
const STAT_MAX_ENTRIES: usize = 10_000;

/// Most directory entries a wildcard listing looks at: with the bounded
/// matcher in `ferroftpd_proto::glob`, this bounds the work one LIST can
/// cause.
const GLOB_SCAN_LIMIT: usize = 100_000;

/// Splits `dir/pattern` when the last component has a wildcard. Wildcards
/// elsewhere are taken literally: patterns match in one directory only.
fn split_pattern(arg: &[u8]) -> Option<(&[u8], &[u8])> {
    let (dir, last) = match arg.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], &arg[1..]),
        Some(i) => (&arg[..i], &arg[i + 1..]),
        None => (&b""[..], arg),
    };
    glob::is_pattern(last).then_some((dir, last))
}

/// Which listing command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    List,
    Nlst,
    Mlsd,
}

/// The client's `ls` options that change a listing (`-l` and the others
/// are accepted and change nothing).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Options {
    /// `-a`: show dot files even where the server hides them.
    all: bool,
    /// `-R`: descend into subdirectories.
    recursive: bool,
}

impl From<&ListArgs> for Options {
    fn from(args: &ListArgs) -> Self {
        Options {
            all: args.all,
            recursive: args.recursive,
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Session {
    pub(super) async fn list(&mut self, arg: Option<&[u8]>, kind: Kind, options: Options) -> Flow {
        match self.prepare_list(arg, kind, options).await {
            Ok(job) => {
                self.start_transfer(crate::data::TransferKind::Listing, None, job, None)
                    .await
            }
            Err(e) => self.reply(e.reply()).await,
        }
    }

    fn list_format(&self, kind: Kind, dir: &VirtualPath) -> Result<ListFormat> {
        Ok(match kind {
            Kind::List => ListFormat::List {
                now: now(),
                localtime: self.shared.config.use_localtime,
                fake_ids: self.fake_ids()?.cloned(),
            },
            Kind::Nlst => ListFormat::Nlst { prefix: Vec::new() },
            Kind::Mlsd => ListFormat::Mlsd {
                facts: self.visible_facts()?,
                rules: self.user_ref()?.account.rules.clone(),
                dir: dir.clone(),
            },
        })
    }

    /// The names shown in place of real owners and groups, if this user
    /// is not to see the real ones.
    fn fake_ids(&self) -> Result<Option<&crate::listing_rules::FakeIds>> {
        let account = &self.user_ref()?.account;
        let rules = &self.shared.config.listing;
        Ok(rules.fake_ids_for(account.anonymous, account.hide_ids))
    }

    /// The MLSx facts chosen with OPTS MLST, less the owner and group ids
    /// where they are hidden.
    fn visible_facts(&self) -> Result<FactSet> {
        Ok(match self.fake_ids()? {
            Some(_) => self.facts.without(Fact::UnixUid).without(Fact::UnixGid),
            None => self.facts,
        })
    }

    /// `entries` less the names the server denies or hides; `all` is the
    /// client's `-a`.
    fn visible(&self, entries: DirEntries, all: bool) -> DirEntries {
        let rules = self.shared.config.listing.clone();
        if rules.deny.is_empty() && rules.hide.is_empty() && !rules.hide_dotfiles {
            return entries;
        }
        Box::new(entries.filter(move |entry| match entry {
            Ok(entry) => rules.shows(&entry.name, all),
            Err(_) => true,
        }))
    }

    async fn prepare_list(
        &mut self,
        arg: Option<&[u8]>,
        kind: Kind,
        options: Options,
    ) -> Result<Job> {
        if kind != Kind::Mlsd {
            if let Some((dir, pattern)) = arg.and_then(split_pattern) {
                return self.prepare_glob(dir, pattern, kind, options).await;
            }
        }
        let path = self.resolve_checked(arg.unwrap_or(b"."), Permission::List)?;
        self.ready_for_transfer()?;
        self.guard(Operation::List { path: &path }).await?;
        let storage = self.storage()?;
        let info = storage.metadata(&path).await?;
        if !info.is_dir() {
            if kind == Kind::Mlsd {
                return Err(Reply::new(501, "Not a directory.").into());
            }
            // LIST or NLST of a file: one line, about the file itself.
            let name = match kind {
                Kind::Nlst => arg.unwrap_or_default().to_vec(),
                _ => path.file_name().unwrap_or_default().to_vec(),
            };
            let entry = single_entry(&*storage, &path, name, info).await?;
            let mut out = Vec::new();
            format_entry(&mut out, &entry, &self.list_format(kind, &path)?);
            let out = crate::charset::to_client(self.shared.config.encoding, &out).into_owned();
            return Ok(Job::Bytes(out));
        }
        let entries = storage.list(&path).await?;
        let recursive = options.recursive && self.shared.config.listing.max_depth > 0;
        let entries = match kind {
            Kind::List | Kind::Nlst if recursive => {
                let shown = arg.unwrap_or(b".").to_vec();
                self.tree(kind, options, path.clone(), shown, entries)?
            }
            _ => items(self.visible(entries, options.all)),
        };
        Ok(Job::Listing {
            entries,
            format: self.list_format(kind, &path)?,
            encoding: self.shared.config.encoding,
        })
    }

    /// The recursive listing of `path`, whose entries are open.
    fn tree(
        &self,
        kind: Kind,
        options: Options,
        path: VirtualPath,
        shown: Vec<u8>,
        entries: DirEntries,
    ) -> Result<ListItems> {
        let user = self.user_ref()?;
        let config = &self.shared.config;
        let walker = Walker {
            storage: user.storage.clone(),
            runtime: tokio::runtime::Handle::current(),
            rules: config.listing.clone(),
            authorizer: config.authorizer.clone(),
            account: user.account.clone(),
            guard: config.guard.clone(),
            session_id: self.id,
            client: self.peer,
            all: options.all,
            style: if kind == Kind::Nlst {
                Style::Nlst
            } else {
                Style::List
            },
        };
        Ok(Box::new(TreeWalk::new(walker, path, shown, entries)))
    }

    /// LIST or NLST of `dir/pattern`: the entries of `dir` whose names
    /// match, at most [`GLOB_SCAN_LIMIT`] entries looked at.
    async fn prepare_glob(
        &mut self,
        dir: &[u8],
        pattern: &[u8],
        kind: Kind,
        options: Options,
    ) -> Result<Job> {
        let path =
            self.resolve_checked(if dir.is_empty() { b"." } else { dir }, Permission::List)?;
        self.ready_for_transfer()?;
        self.guard(Operation::List { path: &path }).await?;
        let storage = self.storage()?;
        if !storage.metadata(&path).await?.is_dir() {
            return Err(Reply::new(550, "Not a directory.").into());
        }
        // A pattern that starts with a dot asks for dot files, as in a shell.
        let all = options.all || pattern.first() == Some(&b'.');
        let pattern = pattern.to_vec();
        let entries = storage.list(&path).await?;
        let matching = entries
            .take(GLOB_SCAN_LIMIT)
            .filter(move |entry| match entry {
                Ok(entry) => glob::matches(&pattern, &entry.name),
                Err(_) => true,
            });
        let matching = self.visible(Box::new(matching), all);
        let mut format = self.list_format(kind, &path)?;
        if let ListFormat::Nlst { prefix } = &mut format {
            if !dir.is_empty() {
                prefix.extend_from_slice(dir);
                if !dir.ends_with(b"/") {
                    prefix.push(b'/');
                }
            }
        }
        Ok(Job::Listing {
            entries: items(matching),
            format,
            encoding: self.shared.config.encoding,
        })
    }

    pub(super) async fn mlst(&mut self, arg: Option<&[u8]>) -> Result {
        let path = self.resolve_checked(arg.unwrap_or(b"."), Permission::List)?;
        self.guard(Operation::List { path: &path }).await?;
        let info = self.storage()?.metadata(&path).await?;
        let perms = self.user_ref()?.account.rules.at(&path);
        let mut line = b" ".to_vec();
        let facts = self.visible_facts()?;
        format_mlsx_facts(&mut line, &info, facts, perms, MlsxType::Entry);
        line.extend_from_slice(path.as_bytes());
        let mut first = b"Listing ".to_vec();
        first.extend(ferroftpd_proto::reply::quoted(path.as_bytes()));
        first.push(b':');
        Ok(Reply::multi(250, [first, line, b"End MLST.".to_vec()]))
    }

    /// STAT with a path: a LIST over the control connection.
    pub(super) async fn stat_path(&mut self, arg: &[u8]) -> Result {
        let path = self.resolve_checked(arg, Permission::List)?;
        self.guard(Operation::List { path: &path }).await?;
        let storage = self.storage()?;
        let info = storage.metadata(&path).await?;
        let format = self.list_format(Kind::List, &path)?;
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut first = b"Status of ".to_vec();
        first.extend(ferroftpd_proto::reply::quoted(path.as_bytes()));
        first.push(b':');
        lines.push(first);
        if info.is_dir() {
            let entries = self.visible(storage.list(&path).await?, false);
            // The iterator may block: read it on the blocking pool.
            let body = tokio::task::spawn_blocking(move || {
                let mut body = Vec::new();
                for entry in entries.flatten().take(STAT_MAX_ENTRIES) {
                    let mut line = Vec::new();
                    format_entry(&mut line, &entry, &format);
                    line.truncate(line.len().saturating_sub(2));
                    body.push(line);
                }
                body
            })
            .await
            .unwrap_or_default();
            lines.extend(body);
        } else {
            let name = path.file_name().unwrap_or_default().to_vec();
            let entry = single_entry(&*storage, &path, name, info).await?;
            let mut line = Vec::new();
            format_entry(&mut line, &entry, &format);
            line.truncate(line.len().saturating_sub(2));
            lines.push(line);
        }
        lines.push(b"End of status.".to_vec());
        Ok(Reply::multi(213, lines))
    }
}

/// The listing entry of one file named `name`, whose metadata (following
/// links) is `resolved`.
async fn single_entry(
    storage: &dyn Storage,
    path: &VirtualPath,
    name: Vec<u8>,
    resolved: FileInfo,
) -> Result<DirEntry> {
    let info = storage.symlink_metadata(path).await?;
    let link_target = match info.kind {
        FileKind::Symlink => storage.read_link(path).await.ok(),
        _ => None,
    };
    Ok(DirEntry {
        name,
        info,
        link_target,
        resolved: Some(resolved),
    })
}
