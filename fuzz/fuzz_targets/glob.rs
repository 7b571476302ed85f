//! LIST/NLST wildcards (`ferroftpd_proto::glob`).
//!
//! The input is `pattern LF name` (no LF: the whole input is the pattern,
//! matched against itself and against the empty name).
//!
//! Checked:
//!
//! - no panic, and no slow input: the matcher does not backtrack (a hang
//!   would show as a libFuzzer timeout);
//! - `matches` agrees with a plain dynamic-programming matcher written
//!   below, the textbook definition of `*` (any run of bytes, empty too)
//!   and `?` (exactly one byte);
//! - a name always matches itself taken as a pattern, and `*` matches
//!   every name;
//! - `is_pattern` is true exactly for short patterns with a `*` or `?`;
//! - `NamePattern::parse_list` (operators' deny and hide lists) accepts
//!   only patterns without `/` or control characters, within the length
//!   limit, and each matches as `matches` does.
#![no_main]

use ferroftpd_proto::glob::{is_pattern, matches, NamePattern, MAX_PATTERN_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (pattern, name) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    assert_eq!(
        matches(pattern, name),
        reference(pattern, name),
        "{:?} vs {:?}",
        String::from_utf8_lossy(pattern),
        String::from_utf8_lossy(name)
    );
    assert!(matches(name, name));
    assert!(matches(pattern, pattern));
    assert!(matches(b"*", name));
    assert_eq!(
        is_pattern(pattern),
        pattern.len() <= MAX_PATTERN_LEN && pattern.iter().any(|&b| b == b'*' || b == b'?')
    );
    if let Ok(list) = std::str::from_utf8(pattern).map(NamePattern::parse_list) {
        for p in list.into_iter().flatten() {
            let text = p.as_str();
            assert!(!text.is_empty() && text.len() <= MAX_PATTERN_LEN, "{text:?}");
            assert!(!text.contains('/') && !text.contains(','), "{text:?}");
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert_eq!(p.matches(name), matches(text.as_bytes(), name));
        }
    }
});

/// `row[j]`: does the pattern so far match the first `j` bytes of `name`.
fn reference(pattern: &[u8], name: &[u8]) -> bool {
    let mut row = vec![false; name.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        if p == b'*' {
            // Any run: true from the first position the previous row was.
            let mut seen = false;
            for j in 0..=name.len() {
                seen |= row[j];
                next[j] = seen;
            }
        } else {
            for j in 1..=name.len() {
                next[j] = row[j - 1] && (p == b'?' || p == name[j - 1]);
            }
        }
        row = next;
    }
    row[name.len()]
}
