//! PORT, EPRT and EPSV argument parsing and the PASV/EPSV reply formats
//! (`ferroftpd_proto::address`).
//!
//! The input is taken two ways: as the text of an argument, and (its first
//! 22 bytes) as an address to format.
//!
//! Checked:
//!
//! - no panic;
//! - PORT: what `parse_port` accepts, `format_pasv` writes back in a form
//!   `parse_port` reads as the same address (the 227 reply and the PORT
//!   argument share the `h1,h2,h3,h4,p1,p2` syntax), and any IPv4 address
//!   and port survive format then parse;
//! - EPRT: an accepted address written back as `|1|a.b.c.d|port|` or
//!   `|2|v6|port|` parses to the same address, and the family matches the
//!   protocol number given; any address and port survive the same trip;
//! - EPSV: only protocols 1 and 2 are accepted as numbers, and
//!   `format_epsv` gives `|||port|`;
//! - `canonical_ip` is idempotent and leaves no IPv4-mapped IPv6 address.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use ferroftpd_proto::address::{
    canonical_ip, format_epsv, format_pasv, parse_eprt, parse_epsv, parse_port, EpsvArg,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let Ok(addr) = parse_port(&text) {
        assert_eq!(parse_port(&format_pasv(addr)), Ok(addr), "{text:?}");
    }

    if let Ok(addr) = parse_eprt(&text) {
        assert_eq!(parse_eprt(&eprt(addr)), Ok(addr), "{text:?}");
        // The protocol number is the field after the first delimiter.
        let af = text.trim().chars().nth(1);
        match addr {
            SocketAddr::V4(_) => assert_eq!(af, Some('1')),
            SocketAddr::V6(_) => assert_eq!(af, Some('2')),
        }
    }

    match parse_epsv(Some(&text)) {
        Ok(EpsvArg::Protocol(p)) => assert!(p == 1 || p == 2),
        Ok(EpsvArg::All) => assert!(text.trim().eq_ignore_ascii_case("all")),
        Ok(EpsvArg::Any) => assert!(text.trim().is_empty()),
        Err(_) => {}
    }

    // The same bytes as an address: every address formats and parses back.
    let mut raw = [0u8; 22];
    let n = data.len().min(raw.len());
    raw[..n].copy_from_slice(&data[..n]);
    let port = u16::from_be_bytes([raw[0], raw[1]]);
    let v4 = Ipv4Addr::new(raw[2], raw[3], raw[4], raw[5]);
    let v6_bits: [u8; 16] = raw[6..22].try_into().expect("16 bytes");
    let v6 = Ipv6Addr::from(v6_bits);

    let pasv = SocketAddrV4::new(v4, port);
    assert_eq!(parse_port(&format_pasv(pasv)), Ok(pasv));
    for ip in [IpAddr::V4(v4), IpAddr::V6(v6)] {
        let addr = SocketAddr::new(ip, port);
        assert_eq!(parse_eprt(&eprt(addr)), Ok(addr));
        let canonical = canonical_ip(ip);
        assert_eq!(canonical_ip(canonical), canonical);
        if let IpAddr::V6(c) = canonical {
            assert!(c.to_ipv4_mapped().is_none());
        }
    }
    assert_eq!(format_epsv(port), format!("|||{port}|"));
    assert_eq!(parse_epsv(Some("1")), Ok(EpsvArg::Protocol(1)));
});

/// The EPRT argument for `addr` (RFC 2428 §2), as a client writes it.
fn eprt(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("|1|{}|{}|", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("|2|{}|{}|", a.ip(), a.port()),
    }
}
