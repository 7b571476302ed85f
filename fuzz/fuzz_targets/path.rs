//! Virtual path normalisation (`ferroftpd_proto::path::VirtualPath`).
//!
//! The input is `cwd LF arg`: the current directory (resolved from the
//! root first) and the path a client sends; with no LF, all of it is the
//! argument and the current directory is `/`.
//!
//! Checked:
//!
//! - `resolve` refuses exactly the arguments that contain NUL;
//! - the result keeps the type's invariants: starts with `/`, no empty,
//!   `.` or `..` component, no trailing slash but for `/`, no NUL; so no
//!   client path escapes the root, however many `..` it has;
//! - it equals a plain reference model (a stack of components: `..` pops,
//!   `.` and empty are skipped), written below;
//! - resolving a result again, from anywhere, gives it back (it is
//!   absolute and normal);
//! - a relative argument without `..` stays under the current directory;
//! - `parent`, `file_name`, `relative`, `components` and `starts_with`
//!   agree with each other.
#![no_main]

use ferroftpd_proto::path::{PathError, VirtualPath};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cwd_bytes, arg) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"/"[..], data),
    };
    let root = VirtualPath::root();
    let Ok(cwd) = root.resolve(cwd_bytes) else {
        assert!(cwd_bytes.contains(&0));
        return;
    };
    check_invariants(&cwd);

    let resolved = match cwd.resolve(arg) {
        Ok(p) => p,
        Err(PathError::Nul) => {
            assert!(arg.contains(&0));
            return;
        }
    };
    assert!(!arg.contains(&0));
    check_invariants(&resolved);
    assert_eq!(
        resolved.as_bytes(),
        reference(cwd.as_bytes(), arg),
        "{cwd:?} {arg:?}"
    );

    // Normal and absolute: a fixed point from any directory.
    assert_eq!(root.resolve(resolved.as_bytes()).as_ref(), Ok(&resolved));
    assert_eq!(cwd.resolve(resolved.as_bytes()).as_ref(), Ok(&resolved));

    assert!(resolved.starts_with(&root));
    let relative = arg.first() != Some(&b'/');
    if relative && !arg.split(|&b| b == b'/').any(|c| c == b"..") {
        assert!(
            resolved.starts_with(&cwd),
            "{cwd:?} {arg:?} -> {resolved:?}"
        );
    }
});

/// The invariants `VirtualPath` documents, and its accessors agreeing.
fn check_invariants(p: &VirtualPath) {
    let bytes = p.as_bytes();
    assert_eq!(bytes.first(), Some(&b'/'), "{p:?}");
    assert!(!bytes.contains(&0));
    assert_eq!(p.relative(), &bytes[1..]);
    if p.is_root() {
        assert_eq!(bytes, b"/");
        assert_eq!(p.parent(), None);
        assert_eq!(p.file_name(), None);
        assert_eq!(p.components().count(), 0);
        return;
    }
    assert!(!bytes.ends_with(b"/"), "{p:?}");
    let parts: Vec<&[u8]> = p.relative().split(|&b| b == b'/').collect();
    for part in &parts {
        assert!(!part.is_empty() && *part != b"." && *part != b"..", "{p:?}");
    }
    assert_eq!(p.components().collect::<Vec<_>>(), parts);
    let parent = p.parent().expect("not the root");
    let name = p.file_name().expect("not the root");
    assert_eq!(Some(&name), parts.last());
    assert!(p.starts_with(&parent));
    assert!(!parent.starts_with(p));
    assert_eq!(parent.join(name).as_ref(), Ok(p));
}

/// Normalisation as a stack of components.
fn reference(cwd: &[u8], arg: &[u8]) -> Vec<u8> {
    let mut stack: Vec<&[u8]> = Vec::new();
    let start: &[u8] = if arg.first() == Some(&b'/') { b"" } else { cwd };
    for part in start.split(|&b| b == b'/').chain(arg.split(|&b| b == b'/')) {
        match part {
            b"" | b"." => {}
            b".." => {
                stack.pop();
            }
            name => stack.push(name),
        }
    }
    let mut out = Vec::new();
    for part in &stack {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}
