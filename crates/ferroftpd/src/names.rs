//! User and group names for LIST's owner and group columns.
//!
//! Read once from `/etc/passwd` and `/etc/group` (no NSS calls on the hot
//! path, which could block on a network directory). An id without a name is
//! shown as its number, as `ls -n` would.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| Names {
        users: parse_db("/etc/passwd"),
        groups: parse_db("/etc/group"),
    })
}

/// Reads the databases now, if not done yet: before a sandbox closes
/// /etc.
#[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
pub(crate) fn load() {
    names();
}

/// `name:x:id:...` lines into id → name. Names longer than LIST's column
/// would misalign it, but are still shown whole.
fn parse_db(path: &str) -> HashMap<u32, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut map = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(id) = id.parse() {
            map.entry(id).or_insert_with(|| name.to_owned());
        }
    }
    map
}

/// The name of user `uid`, or the number.
pub(crate) fn user(uid: u32) -> Cow<'static, str> {
    names().users.get(&uid).map_or_else(
        || Cow::Owned(uid.to_string()),
        |n| Cow::Borrowed(n.as_str()),
    )
}

/// The name of group `gid`, or the number.
pub(crate) fn group(gid: u32) -> Cow<'static, str> {
    names().groups.get(&gid).map_or_else(
        || Cow::Owned(gid.to_string()),
        |n| Cow::Borrowed(n.as_str()),
    )
}
