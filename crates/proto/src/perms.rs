//! Permission letters, as pyftpdlib defines them.
//!
//! | letter | allows |
//! |---|---|
//! | `e` | change directory (CWD, CDUP) |
//! | `l` | list (LIST, NLST, MLSD, MLST, STAT path, SIZE, MDTM) |
//! | `r` | retrieve (RETR) |
//! | `a` | append (APPE) |
//! | `d` | delete (DELE, RMD) |
//! | `f` | rename (RNFR, RNTO) |
//! | `m` | make directory (MKD) |
//! | `w` | store (STOR, STOU) |
//! | `M` | change mode (SITE CHMOD) |
//! | `T` | change modification time (MFMT) |

use std::fmt;
use std::str::FromStr;

/// One operation that a permission letter allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `e`: change directory.
    ChangeDir,
    /// `l`: list files and read metadata.
    List,
    /// `r`: download.
    Retrieve,
    /// `a`: append to a file.
    Append,
    /// `d`: delete a file or directory.
    Delete,
    /// `f`: rename.
    Rename,
    /// `m`: make a directory.
    MakeDir,
    /// `w`: store a file.
    Store,
    /// `M`: change mode bits.
    Chmod,
    /// `T`: change modification time.
    SetTime,
}

impl Permission {
    /// Every permission in letter order `elradfmwMT`.
    pub const ALL: [Permission; 10] = [
        Permission::ChangeDir,
        Permission::List,
        Permission::Retrieve,
        Permission::Append,
        Permission::Delete,
        Permission::Rename,
        Permission::MakeDir,
        Permission::Store,
        Permission::Chmod,
        Permission::SetTime,
    ];

    /// The letter of this permission.
    pub const fn letter(self) -> char {
        match self {
            Permission::ChangeDir => 'e',
            Permission::List => 'l',
            Permission::Retrieve => 'r',
            Permission::Append => 'a',
            Permission::Delete => 'd',
            Permission::Rename => 'f',
            Permission::MakeDir => 'm',
            Permission::Store => 'w',
            Permission::Chmod => 'M',
            Permission::SetTime => 'T',
        }
    }

    /// True for the letters that change the filesystem (`adfmwMT`).
    pub const fn is_write(self) -> bool {
        !matches!(
            self,
            Permission::ChangeDir | Permission::List | Permission::Retrieve
        )
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }

    fn from_letter(c: char) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.letter() == c)
    }
}

/// A set of permissions, written as letters (`"elradfmwMT"`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u16);

/// A letter that is not one of `elradfmwMT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPermission(pub char);

impl fmt::Display for UnknownPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown permission letter {:?} (expected letters from \"elradfmwMT\")",
            self.0
        )
    }
}

impl std::error::Error for UnknownPermission {}

impl Permissions {
    /// No permission at all.
    pub const NONE: Permissions = Permissions(0);
    /// Read-only: `elr`.
    pub const READ: Permissions = Permissions(
        Permission::ChangeDir.bit() | Permission::List.bit() | Permission::Retrieve.bit(),
    );
    /// Everything: `elradfmwMT`.
    pub const ALL: Permissions = Permissions((1 << 10) - 1);

    /// True if the set contains `perm`.
    pub const fn allows(self, perm: Permission) -> bool {
        self.0 & perm.bit() != 0
    }

    /// True if the set contains any permission that changes files.
    pub fn has_write(self) -> bool {
        Permission::ALL
            .into_iter()
            .any(|p| p.is_write() && self.allows(p))
    }

    /// The set with `perm` added.
    pub const fn with(self, perm: Permission) -> Permissions {
        Permissions(self.0 | perm.bit())
    }

    /// The RFC 3659 `perm` fact for a file (`adfrw`) or directory
    /// (`cdeflmp`). Only RFC letters are emitted.
    pub fn mlsx_fact(self, is_dir: bool) -> String {
        let mut out = String::new();
        let mut push = |c: char, cond: bool| {
            if cond {
                out.push(c)
            }
        };
        if is_dir {
            // c: create files; e: enter; f: rename; l: list; m: mkdir; p: purge (delete contents).
            push(
                'c',
                self.allows(Permission::Store) || self.allows(Permission::Append),
            );
            push('d', self.allows(Permission::Delete));
            push('e', self.allows(Permission::ChangeDir));
            push('f', self.allows(Permission::Rename));
            push('l', self.allows(Permission::List));
            push('m', self.allows(Permission::MakeDir));
            push('p', self.allows(Permission::Delete));
        } else {
            push('a', self.allows(Permission::Append));
            push('d', self.allows(Permission::Delete));
            push('f', self.allows(Permission::Rename));
            push('r', self.allows(Permission::Retrieve));
            push('w', self.allows(Permission::Store));
        }
        out
    }
}

impl FromStr for Permissions {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.chars().try_fold(Permissions::NONE, |set, c| {
            Permission::from_letter(c)
                .map(|p| set.with(p))
                .ok_or(UnknownPermission(c))
        })
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in Permission::ALL {
            if self.allows(p) {
                write!(f, "{}", p.letter())?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions(\"{self}\")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let cases = [
            ("elradfmwMT", "elradfmwMT"),
            ("", ""),
            ("rle", "elr"),
            ("wwa", "aw"),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Permissions>().unwrap().to_string(), want);
        }
        assert_eq!("elx".parse::<Permissions>(), Err(UnknownPermission('x')));
        assert_eq!(Permissions::ALL.to_string(), "elradfmwMT");
        assert_eq!(Permissions::READ.to_string(), "elr");
        assert!(!Permissions::READ.has_write());
        assert!("elrw".parse::<Permissions>().unwrap().has_write());
    }

    #[test]
    fn mlsx_perm_fact() {
        assert_eq!(Permissions::ALL.mlsx_fact(false), "adfrw");
        assert_eq!(Permissions::ALL.mlsx_fact(true), "cdeflmp");
        assert_eq!(Permissions::READ.mlsx_fact(false), "r");
        assert_eq!(Permissions::READ.mlsx_fact(true), "el");
    }
}
