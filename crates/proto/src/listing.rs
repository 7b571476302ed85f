//! Directory listing formats: LIST (`ls -l` style), NLST and MLSD/MLST
//! (RFC 3659), built from plain metadata that storage backends return.

use crate::perms::Permissions;
use crate::time::DateTime;

/// What kind of directory entry a [`FileInfo`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// A device, socket or pipe.
    Other,
}

/// Metadata of one file, as storage backends report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// File, directory, link or other.
    pub kind: FileKind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, seconds since the Unix epoch (UTC), if known.
    pub modified: Option<i64>,
    /// Unix permission bits (`0o7777` at most).
    pub mode: u32,
    /// Number of hard links.
    pub nlink: u64,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// A value that identifies the file on its storage (device and inode),
    /// for the MLSx `unique` fact.
    pub unique: Option<(u64, u64)>,
}

impl Default for FileInfo {
    /// An empty regular file: time unknown, mode `0o644`, one link, owner
    /// and group 0, no `unique` value. See [`FileInfo::file`].
    fn default() -> Self {
        FileInfo {
            kind: FileKind::File,
            size: 0,
            modified: None,
            mode: 0o644,
            nlink: 1,
            uid: 0,
            gid: 0,
            unique: None,
        }
    }
}

impl FileInfo {
    /// A regular file of `size` bytes, last modified at `modified` (seconds
    /// since the Unix epoch, or `None` if unknown): mode `0o644`, one link,
    /// owner and group 0, no `unique` value. Change the rest with the
    /// `with_*` methods or by setting the fields.
    ///
    /// ```
    /// use ferroftpd_proto::listing::FileInfo;
    /// let info = FileInfo::file(12, 1_700_000_000).with_mode(0o600);
    /// assert!(info.is_file());
    /// assert_eq!((info.size, info.modified, info.mode), (12, Some(1_700_000_000), 0o600));
    /// assert_eq!(FileInfo::file(0, None), FileInfo::default());
    /// ```
    pub fn file(size: u64, modified: impl Into<Option<i64>>) -> Self {
        FileInfo {
            size,
            modified: modified.into(),
            ..FileInfo::default()
        }
    }

    /// A directory, last modified at `modified` (or `None`): size 0, mode
    /// `0o755`, two links, owner and group 0, no `unique` value.
    ///
    /// ```
    /// use ferroftpd_proto::listing::FileInfo;
    /// let info = FileInfo::dir(None);
    /// assert!(info.is_dir());
    /// assert_eq!((info.size, info.mode, info.nlink), (0, 0o755, 2));
    /// ```
    pub fn dir(modified: impl Into<Option<i64>>) -> Self {
        FileInfo {
            kind: FileKind::Dir,
            modified: modified.into(),
            mode: 0o755,
            nlink: 2,
            ..FileInfo::default()
        }
    }

    /// The same, with permission bits `mode` (masked to `0o7777`).
    pub fn with_mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o7777;
        self
    }

    /// The same, owned by user `uid` and group `gid`.
    pub fn with_owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// The same, with the value that identifies the file on its storage
    /// (the MLSx `unique` fact), e.g. device and inode.
    pub fn with_unique(mut self, dev: u64, ino: u64) -> Self {
        self.unique = Some((dev, ino));
        self
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }

    /// True for regular files.
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }
}

/// Listings show `HH:MM` for files modified in the last 180 days, the year
/// otherwise (as `ls -l` and most FTP servers do).
const RECENT_SECS: i64 = 180 * 86_400;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The `drwxr-xr-x` mode column.
pub fn mode_string(kind: FileKind, mode: u32) -> [u8; 10] {
    let mut s = *b"----------";
    s[0] = match kind {
        FileKind::File => b'-',
        FileKind::Dir => b'd',
        FileKind::Symlink => b'l',
        FileKind::Other => b'?',
    };
    let rwx = [b'r', b'w', b'x'];
    for i in 0..9 {
        if mode & (0o400 >> i) != 0 {
            s[1 + i] = rwx[i % 3];
        }
    }
    // setuid, setgid, sticky: s/S, s/S, t/T in the execute columns.
    for (bit, col, lower, upper) in [
        (0o4000, 3, b's', b'S'),
        (0o2000, 6, b's', b'S'),
        (0o1000, 9, b't', b'T'),
    ] {
        if mode & bit != 0 {
            s[col] = if s[col] == b'x' { lower } else { upper };
        }
    }
    s
}

/// What one LIST line needs besides the metadata.
#[derive(Debug, Clone, Copy)]
pub struct ListLine<'a> {
    /// The entry's name.
    pub name: &'a [u8],
    /// For a symlink, where it points (shown as `name -> target`).
    pub link_target: Option<&'a [u8]>,
    /// Owner column (a name, or the uid as text).
    pub owner: &'a str,
    /// Group column.
    pub group: &'a str,
    /// The current time, seconds since the Unix epoch.
    pub now: i64,
    /// Offset of the displayed time zone from UTC at the entry's mtime, in
    /// seconds (0 for UTC).
    pub utc_offset: i32,
}

/// Appends one `ls -l` style line (with CRLF) to `out`:
/// `-rw-r--r--   1 owner    group          12 Jan 01  2020 name`.
pub fn format_list_line(out: &mut Vec<u8>, info: &FileInfo, line: &ListLine<'_>) {
    use std::io::Write as _;
    let mtime = info.modified.unwrap_or(line.now);
    let dt = DateTime::from_unix(mtime, line.utc_offset);
    let month = MONTHS[(dt.month as usize).saturating_sub(1) % 12];
    out.extend_from_slice(&mode_string(info.kind, info.mode));
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        " {:>3} {:<8} {:<8} {:>8} {} {:02} ",
        info.nlink, line.owner, line.group, info.size, month, dt.day
    );
    // The year for old files, and for files more than an hour in the
    // future (clock skew aside), as `ls -l` does.
    let age = line.now.saturating_sub(mtime);
    if !(-3600..=RECENT_SECS).contains(&age) {
        let _ = write!(out, " {:04}", dt.year);
    } else {
        let _ = write!(out, "{:02}:{:02}", dt.hour, dt.minute);
    }
    out.push(b' ');
    out.extend_from_slice(line.name);
    if let Some(target) = line.link_target {
        out.extend_from_slice(b" -> ");
        out.extend_from_slice(target);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one NLST line: the name and CRLF.
pub fn format_nlst_line(out: &mut Vec<u8>, name: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b"\r\n");
}

/// One MLSx fact (RFC 3659 §7.5 and the UNIX.* extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    /// `type`: file, dir, cdir, pdir.
    Type,
    /// `size` in bytes.
    Size,
    /// `modify`: last modification, UTC.
    Modify,
    /// `perm`: what the user may do.
    Perm,
    /// `unique`: identifies the file on the server.
    Unique,
    /// `unix.mode`: permission bits in octal.
    UnixMode,
    /// `unix.uid`: owner id.
    UnixUid,
    /// `unix.gid`: group id.
    UnixGid,
}

impl Fact {
    /// Every fact, in the order they are printed.
    pub const ALL: [Fact; 8] = [
        Fact::Modify,
        Fact::Perm,
        Fact::Size,
        Fact::Type,
        Fact::Unique,
        Fact::UnixGid,
        Fact::UnixMode,
        Fact::UnixUid,
    ];

    /// The fact's name as printed.
    pub const fn name(self) -> &'static str {
        match self {
            Fact::Type => "type",
            Fact::Size => "size",
            Fact::Modify => "modify",
            Fact::Perm => "perm",
            Fact::Unique => "unique",
            Fact::UnixMode => "unix.mode",
            Fact::UnixUid => "unix.uid",
            Fact::UnixGid => "unix.gid",
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The set of facts a session prints, chosen with `OPTS MLST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactSet(u8);

impl Default for FactSet {
    /// `type`, `size`, `modify`, `perm`, `unique`, `unix.mode`, `unix.uid`, `unix.gid`.
    fn default() -> Self {
        FactSet(u8::MAX)
    }
}

impl FactSet {
    /// True if `fact` is selected.
    pub fn contains(self, fact: Fact) -> bool {
        self.0 & fact.bit() != 0
    }

    /// The same set without `fact` (a server that hides owners leaves out
    /// `unix.uid` and `unix.gid`; RFC 3659 §7.5 lets a server omit a fact).
    ///
    /// ```
    /// use ferroftpd_proto::listing::{Fact, FactSet};
    /// let set = FactSet::default().without(Fact::UnixUid);
    /// assert!(!set.contains(Fact::UnixUid) && set.contains(Fact::UnixGid));
    /// ```
    #[must_use]
    pub fn without(self, fact: Fact) -> FactSet {
        FactSet(self.0 & !fact.bit())
    }

    /// Selects the facts named in an `OPTS MLST` argument such as
    /// `type;size;modify;`. Unknown names are ignored (RFC 3659 §7.9).
    pub fn from_opts(arg: &str) -> FactSet {
        let mut set = FactSet(0);
        for name in arg.split(';').map(str::trim).filter(|n| !n.is_empty()) {
            if let Some(f) = Fact::ALL
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
            {
                set.0 |= f.bit();
            }
        }
        set
    }

    /// The selected names, each followed by `;` (the `OPTS MLST` reply).
    pub fn names(self) -> String {
        Fact::ALL
            .iter()
            .filter(|f| self.contains(**f))
            .map(|f| format!("{};", f.name()))
            .collect()
    }

    /// The FEAT line: every fact, with `*` after the selected ones.
    pub fn feat_line(self) -> String {
        let facts: String = Fact::ALL
            .iter()
            .map(|f| format!("{}{};", f.name(), if self.contains(*f) { "*" } else { "" }))
            .collect();
        format!("MLST {facts}")
    }
}

/// The `type` fact value for an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlsxType {
    /// The entry's own kind (`file`, `dir`, or `OS.unix=...`).
    Entry,
    /// The listed directory itself (`cdir`).
    Current,
    /// Its parent (`pdir`).
    Parent,
}

/// Appends the facts of an MLSx line (`fact=value;...; `), without the name.
pub fn format_mlsx_facts(
    out: &mut Vec<u8>,
    info: &FileInfo,
    facts: FactSet,
    perms: Permissions,
    which: MlsxType,
) {
    use std::io::Write as _;
    for fact in Fact::ALL {
        if !facts.contains(fact) {
            continue;
        }
        let _ = match fact {
            Fact::Type => {
                let value = match (which, info.kind) {
                    (MlsxType::Current, _) => "cdir",
                    (MlsxType::Parent, _) => "pdir",
                    (_, FileKind::Dir) => "dir",
                    (_, FileKind::File) => "file",
                    (_, FileKind::Symlink) => "OS.unix=symlink",
                    (_, FileKind::Other) => "OS.unix=special",
                };
                write!(out, "type={value};")
            }
            Fact::Size if info.kind != FileKind::Dir => write!(out, "size={};", info.size),
            Fact::Size => Ok(()),
            // Left out when unknown, or when the year has no four-digit
            // time-val (RFC 3659 §7.5: a fact the server cannot give is
            // omitted); a malformed value could make a client drop the line.
            Fact::Modify => match info
                .modified
                .and_then(|t| DateTime::from_unix(t, 0).checked_time_val())
            {
                Some(value) => write!(out, "modify={value};"),
                None => Ok(()),
            },
            Fact::Perm => write!(out, "perm={};", perms.mlsx_fact(info.is_dir())),
            Fact::Unique => match info.unique {
                Some((dev, ino)) => write!(out, "unique={dev:x}g{ino:x};"),
                None => Ok(()),
            },
            Fact::UnixMode => write!(out, "unix.mode={:04o};", info.mode & 0o7777),
            Fact::UnixUid => write!(out, "unix.uid={};", info.uid),
            Fact::UnixGid => write!(out, "unix.gid={};", info.gid),
        };
    }
    out.push(b' ');
}

/// Appends a whole MLSD line: facts, space, name, CRLF.
pub fn format_mlsd_line(
    out: &mut Vec<u8>,
    info: &FileInfo,
    name: &[u8],
    facts: FactSet,
    perms: Permissions,
    which: MlsxType,
) {
    format_mlsx_facts(out, info, facts, perms, which);
    out.extend_from_slice(name);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64, modified: i64) -> FileInfo {
        FileInfo {
            kind: FileKind::File,
            size,
            modified: Some(modified),
            mode: 0o644,
            nlink: 1,
            uid: 0,
            gid: 0,
            unique: Some((0x801, 0x1234)),
        }
    }

    fn list(info: &FileInfo, name: &str, target: Option<&str>, now: i64) -> String {
        let mut out = Vec::new();
        let line = ListLine {
            name: name.as_bytes(),
            link_target: target.map(str::as_bytes),
            owner: "root",
            group: "wheel",
            now,
            utc_offset: 0,
        };
        format_list_line(&mut out, info, &line);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn list_lines() {
        let now = 1_700_000_000; // 2023-11-14 22:13:20 UTC
        let old = 1_577_836_800; // 2020-01-01
        assert_eq!(
            list(&file(12, old), "a.txt", None, now),
            "-rw-r--r--   1 root     wheel          12 Jan 01  2020 a.txt\r\n"
        );
        assert_eq!(
            list(&file(12, now - 3600), "b c.txt", None, now),
            "-rw-r--r--   1 root     wheel          12 Nov 14 21:13 b c.txt\r\n"
        );
        let mut dir = file(4096, now);
        dir.kind = FileKind::Dir;
        dir.mode = 0o755;
        dir.nlink = 2;
        assert_eq!(
            list(&dir, "sub", None, now),
            "drwxr-xr-x   2 root     wheel        4096 Nov 14 22:13 sub\r\n"
        );
        let mut link = file(7, now);
        link.kind = FileKind::Symlink;
        link.mode = 0o777;
        assert_eq!(
            list(&link, "l", Some("/etc"), now),
            "lrwxrwxrwx   1 root     wheel           7 Nov 14 22:13 l -> /etc\r\n"
        );
    }

    #[test]
    fn extreme_and_future_times() {
        let now = 1_700_000_000;
        // No overflow at the ends of the range.
        assert!(list(&file(1, i64::MIN), "a", None, now).contains(" a\r\n"));
        assert!(list(&file(1, i64::MAX), "a", None, now).contains(" a\r\n"));
        // A day in the future shows the year; a minute does not.
        assert!(list(&file(1, now + 86_400), "a", None, now).contains("  2023 a"));
        assert!(list(&file(1, now + 60), "a", None, now).contains(" 22:14 a"));
    }

    #[test]
    fn mode_strings() {
        let cases = [
            (FileKind::File, 0o644, "-rw-r--r--"),
            (FileKind::Dir, 0o1777, "drwxrwxrwt"),
            (FileKind::File, 0o4755, "-rwsr-xr-x"),
            (FileKind::File, 0o2644, "-rw-r-Sr--"),
            (FileKind::Dir, 0o1770, "drwxrwx--T"),
            (FileKind::Other, 0, "?---------"),
        ];
        for (kind, mode, want) in cases {
            assert_eq!(&mode_string(kind, mode), want.as_bytes(), "{mode:o}");
        }
    }

    #[test]
    fn mlsd_lines() {
        let mut out = Vec::new();
        format_mlsd_line(
            &mut out,
            &file(12, 1_700_000_000),
            b"a.txt",
            FactSet::default(),
            Permissions::READ,
            MlsxType::Entry,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "modify=20231114221320;perm=r;size=12;type=file;unique=801g1234;unix.gid=0;unix.mode=0644;unix.uid=0; a.txt\r\n"
        );
        let mut dir = file(4096, 0);
        dir.kind = FileKind::Dir;
        let mut out = Vec::new();
        let facts = FactSet::from_opts("type;perm;bogus;");
        format_mlsd_line(
            &mut out,
            &dir,
            b".",
            facts,
            Permissions::ALL,
            MlsxType::Current,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "perm=cdeflmp;type=cdir; .\r\n"
        );
    }

    #[test]
    fn mlsd_leaves_out_modify_outside_four_digit_years() {
        // Caught by the `listing` fuzz target: `modify=` carried 11-digit
        // and negative years, which the time-val grammar does not allow.
        for (t, shown) in [
            (-62_167_219_200, true),  // 0000-01-01
            (253_402_300_799, true),  // 9999-12-31 23:59:59
            (-62_167_219_201, false), // the year -1
            (253_402_300_800, false), // 10000-01-01
            (i64::MAX, false),
            (i64::MIN, false),
        ] {
            let mut out = Vec::new();
            format_mlsd_line(
                &mut out,
                &file(1, t),
                b"a",
                FactSet::from_opts("modify;size;"),
                Permissions::READ,
                MlsxType::Entry,
            );
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text.contains("modify="), shown, "{t}: {text}");
            assert!(text.ends_with("size=1; a\r\n"), "{t}: {text}");
        }
    }

    #[test]
    fn fact_sets() {
        let set = FactSet::from_opts("Type;SIZE;unknown;");
        assert_eq!(set.names(), "size;type;");
        assert_eq!(FactSet::from_opts("").names(), "");
        assert_eq!(
            FactSet::from_opts("type;").feat_line(),
            "MLST modify;perm;size;type*;unique;unix.gid;unix.mode;unix.uid;"
        );
    }
}
