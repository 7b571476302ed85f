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
}
