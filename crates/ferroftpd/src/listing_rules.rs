//! What listings show, and which names no command may touch: the habits
//! of vsftpd (`hide_ids`, `deny_file`, `hide_file`, dot files hidden
//! without `-a`, `ls_recurse_enable`) and proftpd (`DirFakeUser`,
//! `DirFakeGroup`, `PathDenyFilter`, `ListOptions maxdepth/maxfiles`).
//!
//! The rules apply in the session, above storage, so they hold for every
//! backend: a denied name is refused by the same check as the permission
//! letters, before storage is asked anything.

use std::str::FromStr;

use ferroftpd_proto::glob::NamePattern;
use ferroftpd_proto::path::VirtualPath;

use crate::Error;

/// Whose listings show `ftp ftp` (or the names set with
/// [`crate::Builder::fake_owner`] and [`crate::Builder::fake_group`]) instead of the real owner and group of
/// each file; for them MLSD and MLST leave out the `unix.uid` and
/// `unix.gid` facts too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HideIds {
    /// Everyone sees the real names (pyftpdlib's behaviour).
    Never,
    /// Anonymous users see the fake names, others the real ones: the
    /// account names of a server are nothing an anonymous visitor needs.
    #[default]
    Anonymous,
    /// Everyone sees the fake names (vsftpd's `hide_ids=YES`).
    Everyone,
}

impl FromStr for HideIds {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "never" => Ok(HideIds::Never),
            "anonymous" => Ok(HideIds::Anonymous),
            "everyone" => Ok(HideIds::Everyone),
            _ => Err(Error::Config(format!(
                "hide ids must be `never`, `anonymous` or `everyone`, not `{s}`"
            ))),
        }
    }
}

/// The owner and group names shown in place of the real ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FakeIds {
    pub(crate) owner: String,
    pub(crate) group: String,
}

/// Longest fake owner or group name: a LIST column, not a text field.
const MAX_FAKE_ID_LEN: usize = 32;

/// Checks a name for [`crate::Builder::fake_owner`] and [`crate::Builder::fake_group`]: 1 to 32 characters, no
/// spaces or control characters (a LIST line is split at spaces).
pub fn check_fake_id(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_FAKE_ID_LEN
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{name:?}: expected 1 to {MAX_FAKE_ID_LEN} characters, no spaces \
             (a LIST line is split at spaces)"
        )))
    }
}

/// Default depth of `LIST -R`: Pure-FTPd's default (`-L 10000:5`).
pub const DEFAULT_MAX_LIST_DEPTH: u32 = 5;

/// Default number of entries one `LIST -R` reads, all directories
/// together: Pure-FTPd's default. It bounds the work and the time one
/// command costs; a plain LIST reads one directory, whatever its size.
pub const DEFAULT_MAX_LIST_ENTRIES: usize = 10_000;

/// The settings of this module, as the server holds them.
#[derive(Debug, Clone)]
pub(crate) struct ListingRules {
    pub(crate) hide_ids: HideIds,
    pub(crate) fake_ids: FakeIds,
    pub(crate) deny: Vec<NamePattern>,
    pub(crate) hide: Vec<NamePattern>,
    pub(crate) hide_dotfiles: bool,
    /// Levels below the listed directory that `-R` descends; 0 ignores
    /// `-R`.
    pub(crate) max_depth: u32,
    pub(crate) max_entries: usize,
}

impl Default for ListingRules {
    fn default() -> Self {
        ListingRules {
            hide_ids: HideIds::default(),
            fake_ids: FakeIds {
                owner: "ftp".into(),
                group: "ftp".into(),
            },
            deny: Vec::new(),
            hide: Vec::new(),
            hide_dotfiles: false,
            max_depth: DEFAULT_MAX_LIST_DEPTH,
            max_entries: DEFAULT_MAX_LIST_ENTRIES,
        }
    }
}

impl ListingRules {
    /// Checks what the builder cannot check setter by setter.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        for (what, name) in [
            ("owner", &self.fake_ids.owner),
            ("group", &self.fake_ids.group),
        ] {
            if let Err(Error::Config(text)) = check_fake_id(name) {
                return Err(Error::Config(format!("fake {what} {text}")));
            }
        }
        if self.max_depth > 0 && self.max_entries == 0 {
            return Err(Error::Config(
                "a recursive listing needs at least 1 entry (or a depth of 0)".into(),
            ));
        }
        Ok(())
    }

    /// True if a component of `path` matches a deny pattern: the path
    /// itself, or a directory on the way to it, is off limits.
    pub(crate) fn denies(&self, path: &VirtualPath) -> bool {
        !self.deny.is_empty()
            && path
                .components()
                .any(|name| self.deny.iter().any(|p| p.matches(name)))
    }

    /// True if an entry named `name` is listed; `all` is the client's `-a`.
    pub(crate) fn shows(&self, name: &[u8], all: bool) -> bool {
        if self.hide_dotfiles && !all && name.first() == Some(&b'.') {
            return false;
        }
        !self
            .deny
            .iter()
            .chain(&self.hide)
            .any(|pattern| pattern.matches(name))
    }

    /// The names to show in place of the real ones to an account that is
    /// `anonymous` or not, and whose own setting is `per_user`.
    pub(crate) fn fake_ids_for(&self, anonymous: bool, per_user: Option<bool>) -> Option<&FakeIds> {
        let hide = match (per_user, self.hide_ids) {
            (Some(hide), _) => hide,
            (None, HideIds::Never) => false,
            (None, HideIds::Anonymous) => anonymous,
            (None, HideIds::Everyone) => true,
        };
        hide.then_some(&self.fake_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(deny: &str, hide: &str, hide_dotfiles: bool) -> ListingRules {
        ListingRules {
            deny: NamePattern::parse_list(deny).unwrap(),
            hide: NamePattern::parse_list(hide).unwrap(),
            hide_dotfiles,
            ..ListingRules::default()
        }
    }

    fn path(p: &str) -> VirtualPath {
        VirtualPath::root().resolve(p.as_bytes()).unwrap()
    }

    #[test]
    fn deny_matches_any_component() {
        let r = rules("*.mp3,secret", "", false);
        let cases = [
            ("/a.mp3", true),
            ("/music/a.mp3", true),
            ("/secret", true),
            ("/secret/plain.txt", true),
            ("/pub/secret/x", true),
            ("/pub/secrets", false),
            ("/a.mp3.txt", false),
            ("/", false),
            ("/pub/readme", false),
        ];
        for (p, want) in cases {
            assert_eq!(r.denies(&path(p)), want, "{p}");
        }
        assert!(!rules("", "", true).denies(&path("/.hidden")));
    }

    #[test]
    fn what_listings_show() {
        let r = rules("*.mp3", "*.bak,core", true);
        let cases: &[(&str, bool, bool)] = &[
            ("a.txt", false, true),
            ("a.mp3", false, false),
            ("a.mp3", true, false),
            ("x.bak", true, false),
            ("core", false, false),
            ("core.1", false, true),
            (".profile", false, false),
            (".profile", true, true),
        ];
        for (name, all, want) in cases {
            assert_eq!(r.shows(name.as_bytes(), *all), *want, "{name} -a={all}");
        }
        assert!(rules("", "", false).shows(b".profile", false));
    }

    #[test]
    fn whose_ids_are_hidden() {
        let mut r = ListingRules::default();
        assert!(r.fake_ids_for(true, None).is_some() && r.fake_ids_for(false, None).is_none());
        // An account's own setting wins.
        assert!(r.fake_ids_for(true, Some(false)).is_none());
        assert!(r.fake_ids_for(false, Some(true)).is_some());
        r.hide_ids = HideIds::Everyone;
        assert_eq!(
            r.fake_ids_for(false, None).map(|f| f.owner.as_str()),
            Some("ftp")
        );
        r.hide_ids = HideIds::Never;
        assert!(r.fake_ids_for(true, None).is_none());
        assert_eq!("everyone".parse::<HideIds>().unwrap(), HideIds::Everyone);
        assert!("yes".parse::<HideIds>().is_err());
    }

    #[test]
    fn fake_ids_and_limits_are_checked() {
        let mut r = ListingRules::default();
        assert!(r.validate().is_ok());
        for bad in ["", "two words", "tab\there", &"x".repeat(33)] {
            r.fake_ids.owner = bad.into();
            assert!(r.validate().is_err(), "{bad:?}");
        }
        r.fake_ids.owner = "nobody".into();
        r.max_entries = 0;
        assert!(r.validate().is_err());
        r.max_depth = 0;
        assert!(r.validate().is_ok());
    }
}
