//! Wildcards in LIST and NLST: `*` (any run of bytes) and `?` (one byte),
//! matched against names in one directory only.
//!
//! The matcher splits the pattern at `*` and finds each piece in turn, the
//! first as a prefix and the last as a suffix, so it never backtracks: the
//! work per name is bounded by the name's length times the pattern's. With
//! [`MAX_PATTERN_LEN`] that bound is small, so a hostile pattern cannot
//! make a listing expensive (the CPU exhaustion of CVE-2011-0762 and
//! CVE-2011-0418 in other servers came from backtracking matchers).

/// Longest pattern accepted; longer ones are taken as plain names.
pub const MAX_PATTERN_LEN: usize = 128;

/// True if `name` (a last path component) contains a wildcard.
pub fn is_pattern(name: &[u8]) -> bool {
    name.len() <= MAX_PATTERN_LEN && name.iter().any(|&b| b == b'*' || b == b'?')
}

/// True if `name` matches `pattern`.
///
/// ```
/// use ferroftpd_proto::glob::matches;
/// assert!(matches(b"*.txt", b"notes.txt"));
/// assert!(matches(b"a?c*", b"abcdef"));
/// assert!(!matches(b"*.txt", b"notes.txt.gz"));
/// ```
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let pieces: Vec<&[u8]> = pattern.split(|&b| b == b'*').collect();
    let (first, rest) = match pieces.split_first() {
        Some(p) => p,
        None => return name.is_empty(),
    };
    if rest.is_empty() {
        return name.len() == first.len() && piece_at(first, name);
    }
    if name.len() < first.len() || !piece_at(first, name) {
        return false;
    }
    let mut at = first.len();
    let (last, middle) = match rest.split_last() {
        Some(p) => p,
        None => return true,
    };
    for piece in middle {
        match find(piece, &name[at..]) {
            Some(i) => at += i + piece.len(),
            None => return false,
        }
    }
    name.len() - at >= last.len() && piece_at(last, &name[name.len() - last.len()..])
}

/// True if `piece` (no `*`) matches the start of `text`.
fn piece_at(piece: &[u8], text: &[u8]) -> bool {
    text.len() >= piece.len() && piece.iter().zip(text).all(|(&p, &t)| p == b'?' || p == t)
}

/// The first position where `piece` matches in `text`.
fn find(piece: &[u8], text: &[u8]) -> Option<usize> {
    if piece.len() > text.len() {
        return None;
    }
    (0..=text.len() - piece.len()).find(|&i| piece_at(piece, &text[i..]))
}

/// A pattern an operator sets to deny or hide names (vsftpd's `deny_file`
/// and `hide_file`): `*` and `?` matched against one path component, with
/// the same bounded matcher as listings. Cannot be empty, hold a `/` or a
/// control character, or be longer than [`MAX_PATTERN_LEN`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

/// Why a [`NamePattern`] was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// An empty pattern (it would match nothing).
    Empty,
    /// A `/`: patterns match one path component, never a path.
    Slash,
    /// A control character, which no name a client sends can hold.
    Control,
    /// Longer than [`MAX_PATTERN_LEN`].
    TooLong,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PatternError::Empty => "an empty pattern matches nothing",
            PatternError::Slash => "a pattern matches one name, so it cannot hold `/`",
            PatternError::Control => "a pattern cannot hold control characters",
            PatternError::TooLong => "a pattern can be 128 bytes long at most",
        })
    }
}

impl std::error::Error for PatternError {}

impl NamePattern {
    /// Checks one pattern, such as `*.mp3` or `.private`.
    ///
    /// ```
    /// use ferroftpd_proto::glob::NamePattern;
    /// let p = NamePattern::new("*.mp3").unwrap();
    /// assert!(p.matches(b"song.mp3"));
    /// assert!(NamePattern::new("a/b").is_err());
    /// ```
    pub fn new(text: &str) -> Result<Self, PatternError> {
        if text.is_empty() {
            Err(PatternError::Empty)
        } else if text.contains('/') {
            Err(PatternError::Slash)
        } else if text.chars().any(char::is_control) {
            Err(PatternError::Control)
        } else if text.len() > MAX_PATTERN_LEN {
            Err(PatternError::TooLong)
        } else {
            Ok(NamePattern(text.to_owned()))
        }
    }

    /// Reads a comma-separated list (`*.mp3,.private`), also written the
    /// vsftpd way in braces (`{*.mp3,.private}`). Blank items are skipped;
    /// a pattern cannot hold a comma.
    ///
    /// ```
    /// use ferroftpd_proto::glob::NamePattern;
    /// let list = NamePattern::parse_list("{*.mp3, .private}").unwrap();
    /// assert_eq!(list.len(), 2);
    /// assert_eq!(list[1].as_str(), ".private");
    /// ```
    pub fn parse_list(text: &str) -> Result<Vec<Self>, PatternError> {
        let text = text.trim();
        let inner = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        inner
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(NamePattern::new)
            .collect()
    }

    /// True if `name` (one path component) matches.
    pub fn matches(&self, name: &[u8]) -> bool {
        matches(self.0.as_bytes(), name)
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NamePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a", "a", true),
            ("a", "ab", false),
            ("?", "a", true),
            ("?", "", false),
            ("*.txt", "a.txt", true),
            ("*.txt", ".txt", true),
            ("*.txt", "a.txt.gz", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYcZ", false),
            ("a*b*c", "acb", false),
            ("*a*", "bab", true),
            ("**", "x", true),
            ("file?.log", "file1.log", true),
            ("file?.log", "file10.log", false),
            ("*ab", "aab", true),
            ("*aab", "aab", true),
            ("a*a", "a", false),
            ("*b*b", "bb", true),
            ("[ab]", "[ab]", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(matches(p.as_bytes(), n.as_bytes()), *want, "{p:?} vs {n:?}");
        }
    }

    #[test]
    fn hostile_patterns_stay_cheap() {
        let pattern = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b".to_vec();
        let name = vec![b'a'; 255];
        assert!(!matches(&pattern, &name));
        assert!(is_pattern(b"*.txt"));
        assert!(!is_pattern(b"plain"));
        assert!(!is_pattern(&[b'*'; MAX_PATTERN_LEN + 1]));
    }

    #[test]
    fn name_patterns() {
        let cases: &[(&str, Result<&str, PatternError>)] = &[
            ("*.mp3", Ok("*.mp3")),
            (".private", Ok(".private")),
            ("", Err(PatternError::Empty)),
            ("a/b", Err(PatternError::Slash)),
            ("/", Err(PatternError::Slash)),
            ("a\tb", Err(PatternError::Control)),
            ("a\nb", Err(PatternError::Control)),
        ];
        for (text, want) in cases {
            let got = NamePattern::new(text);
            assert_eq!(
                got.as_ref().map(NamePattern::as_str),
                want.as_ref().copied(),
                "{text:?}"
            );
        }
        let long = "x".repeat(MAX_PATTERN_LEN + 1);
        assert_eq!(NamePattern::new(&long), Err(PatternError::TooLong));
        assert!(NamePattern::new(&long[1..]).is_ok());
    }

    #[test]
    fn pattern_lists() {
        let names = |text: &str| -> Result<Vec<String>, PatternError> {
            NamePattern::parse_list(text).map(|l| l.iter().map(|p| p.to_string()).collect())
        };
        assert_eq!(names("*.mp3,.private").unwrap(), ["*.mp3", ".private"]);
        assert_eq!(names("{*.mp3, *.mov}").unwrap(), ["*.mp3", "*.mov"]);
        assert_eq!(names(" secret ").unwrap(), ["secret"]);
        assert_eq!(names("").unwrap(), Vec::<String>::new());
        assert_eq!(names("a,,b").unwrap(), ["a", "b"]);
        assert_eq!(names("ok,x/y"), Err(PatternError::Slash));
        // One brace alone is part of the pattern, as a name may hold it.
        assert_eq!(names("{a").unwrap(), ["{a"]);
        let p = NamePattern::new("*.mp3").unwrap();
        assert!(p.matches(b"a.mp3") && !p.matches(b"a.mp3.txt"));
    }
}
