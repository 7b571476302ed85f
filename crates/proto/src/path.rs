//! Virtual paths: what a client sees, rooted at its home directory.
//!
//! Every path a client sends is resolved against the current directory into
//! a [`VirtualPath`]: absolute, with `.`, `..`, empty components and trailing
//! slashes removed, and never above `/`. Paths are bytes, not text: FTP
//! passes names through unchanged, so a name that is not valid UTF-8 on disk
//! can still be listed and then addressed by the client.
//!
//! Normalisation is what the client sees; it is not the security boundary.
//! Storage backends still confine every access to the home (the local
//! backend asks the kernel to, see the `ferroftpd` crate).

use std::borrow::Cow;
use std::fmt;

/// A client-supplied path that cannot name a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path contains a NUL byte, which no filesystem name can hold.
    Nul,
}

/// An absolute, normalised path inside the virtual root.
///
/// Invariants: starts with `/`; no empty, `.` or `..` components; no trailing
/// slash unless it is `/` itself; no NUL byte.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(Vec<u8>);

impl VirtualPath {
    /// The virtual root `/`.
    pub fn root() -> Self {
        VirtualPath(b"/".to_vec())
    }

    /// Resolves `arg` (absolute, or relative to `self`) into a normalised path.
    ///
    /// ```
    /// use ferroftpd_proto::path::VirtualPath;
    /// let cwd = VirtualPath::root().resolve(b"pub/docs").unwrap();
    /// assert_eq!(cwd.resolve(b"../../../../etc/passwd").unwrap().as_bytes(), b"/etc/passwd");
    /// assert_eq!(cwd.resolve(b"./a//b/").unwrap().as_bytes(), b"/pub/docs/a/b");
    /// ```
    pub fn resolve(&self, arg: &[u8]) -> Result<VirtualPath, PathError> {
        if arg.contains(&0) {
            return Err(PathError::Nul);
        }
        let mut out: Vec<u8> = if arg.first() == Some(&b'/') {
            Vec::with_capacity(arg.len() + 1)
        } else {
            let mut base = Vec::with_capacity(self.0.len() + arg.len() + 1);
            base.extend_from_slice(&self.0);
            base
        };
        if out.is_empty() {
            out.push(b'/');
        }
        for part in arg.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                    out.truncate(cut.max(1));
                }
                name => {
                    if out.last() != Some(&b'/') {
                        out.push(b'/');
                    }
                    out.extend_from_slice(name);
                }
            }
        }
        Ok(VirtualPath(out))
    }

    /// The path as bytes, starting with `/`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path relative to the root, without the leading `/` (empty for the
    /// root itself).
    pub fn relative(&self) -> &[u8] {
        &self.0[1..]
    }

    /// The path as UTF-8, if it is.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The path as text, with invalid UTF-8 replaced (for logs).
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }

    /// The last component, or `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        if self.is_root() {
            return None;
        }
        let start = self.0.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
        Some(&self.0[start..])
    }

    /// The parent directory, or `None` for the root.
    pub fn parent(&self) -> Option<VirtualPath> {
        if self.is_root() {
            return None;
        }
        let cut = self.0.iter().rposition(|&b| b == b'/').unwrap_or(0);
        Some(VirtualPath(self.0[..cut.max(1)].to_vec()))
    }

    /// The path of `name` inside this directory. `name` must be one
    /// component (no `/`, not `.` or `..`); otherwise it is resolved.
    pub fn join(&self, name: &[u8]) -> Result<VirtualPath, PathError> {
        self.resolve(name)
    }

    /// The components after the root.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.relative()
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
    }

    /// True if `self` is `ancestor` or lies inside it (component-wise).
    pub fn starts_with(&self, ancestor: &VirtualPath) -> bool {
        if ancestor.is_root() {
            return true;
        }
        self.0.starts_with(&ancestor.0) && matches!(self.0.get(ancestor.0.len()), None | Some(b'/'))
    }
}

/// For logs: invalid UTF-8 shows as U+FFFD and control characters (a
/// client may put a carriage return in a name) as escapes; see
/// [`crate::escape::LogSafe`]. Replies use [`VirtualPath::as_bytes`].
impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::escape::LogSafe(&self.0).fmt(f)
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtualPath({:?})", self.to_string_lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(cwd: &str, arg: &str) -> String {
        let cwd = VirtualPath::root().resolve(cwd.as_bytes()).unwrap();
        cwd.resolve(arg.as_bytes()).unwrap().to_string()
    }

    #[test]
    fn normalisation_table() {
        let cases = [
            ("/", "", "/"),
            ("/", ".", "/"),
            ("/", "..", "/"),
            ("/", "../../..", "/"),
            ("/", "a", "/a"),
            ("/", "a/", "/a"),
            ("/", "a//b", "/a/b"),
            ("/", "//a", "/a"),
            ("/", "/a/./b/../c", "/a/c"),
            ("/a/b", "..", "/a"),
            ("/a/b", "../..", "/"),
            ("/a/b", "../../../x", "/x"),
            ("/a/b", "c", "/a/b/c"),
            ("/a/b", "/c", "/c"),
            ("/a", "..a", "/a/..a"),
            ("/a", "...", "/a/..."),
            ("/a", "b c/d e", "/a/b c/d e"),
            ("/", "/../etc/passwd", "/etc/passwd"),
            ("/", "a/../../b", "/b"),
        ];
        for (cwd, arg, want) in cases {
            assert_eq!(resolve(cwd, arg), want, "cwd {cwd:?} arg {arg:?}");
        }
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(VirtualPath::root().resolve(b"a\0b"), Err(PathError::Nul));
    }

    #[test]
    fn non_utf8_bytes_survive() {
        let p = VirtualPath::root().resolve(b"caf\xe9/x").unwrap();
        assert_eq!(p.as_bytes(), b"/caf\xe9/x");
        assert_eq!(p.to_str(), None);
    }

    #[test]
    fn parts() {
        let p = VirtualPath::root().resolve(b"/a/b/c").unwrap();
        assert_eq!(p.file_name(), Some(&b"c"[..]));
        assert_eq!(p.parent().unwrap().to_string(), "/a/b");
        assert_eq!(p.relative(), b"a/b/c");
        assert_eq!(
            p.components().collect::<Vec<_>>(),
            vec![&b"a"[..], b"b", b"c"]
        );
        let top = VirtualPath::root().resolve(b"/a").unwrap();
        assert_eq!(top.parent().unwrap(), VirtualPath::root());
        assert_eq!(VirtualPath::root().file_name(), None);
        assert_eq!(VirtualPath::root().parent(), None);
        assert_eq!(VirtualPath::root().components().count(), 0);
        assert!(p.starts_with(&top));
        assert!(p.starts_with(&VirtualPath::root()));
        let ab = VirtualPath::root().resolve(b"/ab").unwrap();
        assert!(!ab.starts_with(&top));
        assert!(top.starts_with(&top));
    }
}
