//! LIST and MLSD/MLST lines (`ferroftpd_proto::listing`) from any metadata
//! a storage backend could report, plus the calendar maths under them
//! (`ferroftpd_proto::time`) and the permission letters (`perms`).
//!
//! The input is decoded with `arbitrary` into a `FileInfo`, a name, a link
//! target, owner and group, the current time and a UTC offset, an
//! `OPTS MLST` argument and permission letters.
//!
//! Checked:
//!
//! - no panic or overflow for any times (`i64::MIN` to `i64::MAX`, any
//!   offset), sizes, modes or ids;
//! - `DateTime::from_unix` always gives a valid calendar date (it indexes
//!   the month names), and `to_unix` brings it back to the same instant
//!   (`None` only below the first whole day of `i64` seconds);
//! - a LIST line is the mode column, then space-separated link count,
//!   owner, group, size and month (when owner and group have no spaces),
//!   and ends with ` name[ -> target]` CRLF: columns never run together;
//! - an MLSD line is `fact=value;`... then a space, the name and CRLF;
//!   exactly the facts selected appear, in the documented order, and a
//!   `modify` value is a 14-digit RFC 3659 time-val that parses back to
//!   the file's time (left out when the year has no four digits);
//! - `FactSet::from_opts` of its own `names()` is the same set, and
//!   `Permissions` parse back from their `Display` form.
#![no_main]

use arbitrary::Arbitrary;
use ferroftpd_proto::listing::{
    format_list_line, format_mlsd_line, mode_string, Fact, FactSet, FileInfo, FileKind, ListLine,
    MlsxType,
};
use ferroftpd_proto::perms::{Permission, Permissions};
use ferroftpd_proto::time::DateTime;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    kind: u8,
    size: u64,
    modified: Option<i64>,
    mode: u32,
    nlink: u64,
    uid: u32,
    gid: u32,
    unique: Option<(u64, u64)>,
    name: Vec<u8>,
    link_target: Option<Vec<u8>>,
    owner: String,
    group: String,
    now: i64,
    utc_offset: i32,
    which: u8,
    opts: String,
    perm_bits: u16,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fuzz_target!(|input: Input| {
    let kind = [
        FileKind::File,
        FileKind::Dir,
        FileKind::Symlink,
        FileKind::Other,
    ][usize::from(input.kind % 4)];
    let info = FileInfo {
        kind,
        size: input.size,
        modified: input.modified,
        mode: input.mode,
        nlink: input.nlink,
        uid: input.uid,
        gid: input.gid,
        unique: input.unique,
    };

    // Calendar: always a real date; the instant round-trips.
    for t in [input.now, input.modified.unwrap_or(0)] {
        let dt = DateTime::from_unix(t, input.utc_offset);
        assert!(
            (1..=12).contains(&dt.month) && (1..=31).contains(&dt.day),
            "{dt:?}"
        );
        assert!(dt.hour < 24 && dt.minute < 60 && dt.second < 60, "{dt:?}");
        // Every instant but those of the first, partial day before
        // i64::MIN seconds (whose midnight is below i64::MIN).
        let utc = DateTime::from_unix(t, 0);
        let first_whole_day = (i64::MIN.div_euclid(86_400) + 1) * 86_400;
        let want = (t >= first_whole_day).then_some(t);
        assert_eq!(utc.to_unix(), want, "{utc:?}");
    }

    // LIST.
    let mut out = Vec::new();
    let line = ListLine {
        name: &input.name,
        link_target: input.link_target.as_deref(),
        owner: &input.owner,
        group: &input.group,
        now: input.now,
        utc_offset: input.utc_offset,
    };
    format_list_line(&mut out, &info, &line);
    let mode = mode_string(kind, input.mode);
    assert!(out.starts_with(&mode));
    let mut tail = b" ".to_vec();
    tail.extend_from_slice(&input.name);
    if let Some(target) = &input.link_target {
        tail.extend_from_slice(b" -> ");
        tail.extend_from_slice(target);
    }
    tail.extend_from_slice(b"\r\n");
    assert!(out.ends_with(&tail));
    let plain = |s: &str| !s.is_empty() && !s.chars().any(char::is_whitespace);
    if plain(&input.owner) && plain(&input.group) {
        let text = String::from_utf8_lossy(&out[10..out.len() - tail.len()]).into_owned();
        let cols: Vec<&str> = text.split_ascii_whitespace().collect();
        assert!(cols.len() >= 7, "{text:?}");
        assert_eq!(cols[0], input.nlink.to_string());
        assert_eq!(cols[1], input.owner);
        assert_eq!(cols[2], input.group);
        assert_eq!(cols[3], input.size.to_string());
        assert!(MONTHS.contains(&cols[4]), "{text:?}");
    }

    // MLSD.
    let facts = FactSet::from_opts(&input.opts);
    assert_eq!(FactSet::from_opts(&facts.names()), facts);
    let mut perms = Permissions::NONE;
    for (i, p) in Permission::ALL.into_iter().enumerate() {
        if input.perm_bits & (1 << i) != 0 {
            perms = perms.with(p);
        }
    }
    assert_eq!(perms.to_string().parse::<Permissions>(), Ok(perms));
    let which =
        [MlsxType::Entry, MlsxType::Current, MlsxType::Parent][usize::from(input.which % 3)];
    let mut out = Vec::new();
    format_mlsd_line(&mut out, &info, &input.name, facts, perms, which);
    let space = out
        .iter()
        .position(|&b| b == b' ')
        .expect("a space after the facts");
    let (head, rest) = out.split_at(space);
    let mut want_rest = b" ".to_vec();
    want_rest.extend_from_slice(&input.name);
    want_rest.extend_from_slice(b"\r\n");
    assert_eq!(rest, &want_rest[..]);
    let head = std::str::from_utf8(head).expect("facts are ASCII");
    let mut shown = Vec::new();
    for fact in head.split_terminator(';') {
        let (key, value) = fact.split_once('=').expect("fact=value");
        let fact = Fact::ALL
            .into_iter()
            .find(|f| f.name() == key)
            .expect("a known fact");
        assert!(facts.contains(fact), "{key} was not selected");
        shown.push(fact);
        if fact == Fact::Modify {
            let t = input.modified.expect("modify only with a time");
            assert!(
                value.len() == 14 && value.bytes().all(|b| b.is_ascii_digit()),
                "modify={value}"
            );
            let parsed = DateTime::parse_time_val(value).and_then(|d| d.to_unix());
            assert_eq!(parsed, Some(t));
        }
    }
    // In order, each once; only size (dirs), modify and unique may be left
    // out, and only for want of a value.
    let expected: Vec<Fact> = Fact::ALL
        .into_iter()
        .filter(|f| facts.contains(*f))
        .filter(|f| match f {
            Fact::Size => kind != FileKind::Dir,
            Fact::Modify => input
                .modified
                .is_some_and(|t| (0..=9999).contains(&DateTime::from_unix(t, 0).year)),
            Fact::Unique => input.unique.is_some(),
            _ => true,
        })
        .collect();
    assert_eq!(shown, expected, "{head}");
});
