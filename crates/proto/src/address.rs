//! Data-connection address syntax: PORT and PASV (RFC 959), EPRT and EPSV
//! (RFC 2428), in both directions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// Why an address argument was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressError {
    /// Not of the `h1,h2,h3,h4,p1,p2` or `|af|addr|port|` form.
    Syntax,
    /// An EPRT network protocol other than 1 (IPv4) or 2 (IPv6).
    UnsupportedProtocol,
}

/// Parses a PORT argument `h1,h2,h3,h4,p1,p2`.
///
/// ```
/// use ferroftpd_proto::address::parse_port;
/// assert_eq!(parse_port("127,0,0,1,4,1").unwrap().to_string(), "127.0.0.1:1025");
/// ```
pub fn parse_port(arg: &str) -> Result<SocketAddrV4, AddressError> {
    let mut fields = [0u8; 6];
    let mut parts = arg.trim().split(',');
    for field in &mut fields {
        let part = parts.next().ok_or(AddressError::Syntax)?.trim();
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AddressError::Syntax);
        }
        *field = part.parse().map_err(|_| AddressError::Syntax)?;
    }
    if parts.next().is_some() {
        return Err(AddressError::Syntax);
    }
    let [a, b, c, d, p1, p2] = fields;
    Ok(SocketAddrV4::new(
        Ipv4Addr::new(a, b, c, d),
        u16::from_be_bytes([p1, p2]),
    ))
}

/// Parses an EPRT argument `<d><af><d><addr><d><port><d>` (RFC 2428 §2),
/// where `<d>` is any printable ASCII delimiter.
///
/// ```
/// use ferroftpd_proto::address::parse_eprt;
/// assert_eq!(parse_eprt("|2|::1|5282|").unwrap().to_string(), "[::1]:5282");
/// ```
pub fn parse_eprt(arg: &str) -> Result<SocketAddr, AddressError> {
    let arg = arg.trim();
    let delim = arg.chars().next().ok_or(AddressError::Syntax)?;
    if !(33..=126).contains(&(delim as u32)) || delim.is_ascii_digit() {
        return Err(AddressError::Syntax);
    }
    let fields: Vec<&str> = arg.split(delim).collect();
    // "", af, addr, port, "" : exactly five pieces.
    let ["", af, addr, port, ""] = fields[..] else {
        return Err(AddressError::Syntax);
    };
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::Syntax);
    }
    let port: u16 = port.parse().map_err(|_| AddressError::Syntax)?;
    let ip = match af {
        "1" => IpAddr::V4(addr.parse::<Ipv4Addr>().map_err(|_| AddressError::Syntax)?),
        "2" => IpAddr::V6(addr.parse::<Ipv6Addr>().map_err(|_| AddressError::Syntax)?),
        _ if !af.is_empty() && af.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(AddressError::UnsupportedProtocol)
        }
        _ => return Err(AddressError::Syntax),
    };
    Ok(SocketAddr::new(ip, port))
}

/// The argument of EPSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument: use the control connection's protocol.
    Any,
    /// `EPSV 1` (IPv4) or `EPSV 2` (IPv6).
    Protocol(u8),
    /// `EPSV ALL`: only EPSV from now on.
    All,
}

/// Parses the argument of EPSV.
pub fn parse_epsv(arg: Option<&str>) -> Result<EpsvArg, AddressError> {
    match arg.map(str::trim) {
        None | Some("") => Ok(EpsvArg::Any),
        Some(a) if a.eq_ignore_ascii_case("ALL") => Ok(EpsvArg::All),
        Some("1") => Ok(EpsvArg::Protocol(1)),
        Some("2") => Ok(EpsvArg::Protocol(2)),
        Some(a) if a.bytes().all(|b| b.is_ascii_digit()) => Err(AddressError::UnsupportedProtocol),
        Some(_) => Err(AddressError::Syntax),
    }
}

/// The `h1,h2,h3,h4,p1,p2` text of a PASV (227) reply.
///
/// ```
/// use ferroftpd_proto::address::format_pasv;
/// use std::net::{Ipv4Addr, SocketAddrV4};
/// let addr = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 60001);
/// assert_eq!(format_pasv(addr), "10,0,0,1,234,97");
/// ```
pub fn format_pasv(addr: SocketAddrV4) -> String {
    let [a, b, c, d] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{a},{b},{c},{d},{p1},{p2}")
}

/// The `|||port|` text of an EPSV (229) reply.
pub fn format_epsv(port: u16) -> String {
    format!("|||{port}|")
}

/// The address with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) turned
/// into plain IPv4, so a dual-stack listener compares and prints addresses
/// the way clients expect.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_table() {
        let ok = [
            ("127,0,0,1,4,1", "127.0.0.1:1025"),
            (" 10,1,2,3,255,255 ", "10.1.2.3:65535"),
            ("0,0,0,0,0,0", "0.0.0.0:0"),
            ("1, 2, 3, 4, 5, 6", "1.2.3.4:1286"),
        ];
        for (input, want) in ok {
            assert_eq!(parse_port(input).unwrap().to_string(), want, "{input}");
        }
        let bad = [
            "",
            "1,2,3,4,5",
            "1,2,3,4,5,6,7",
            "256,0,0,1,1,1",
            "1,2,3,4,5,256",
            "a,b,c,d,e,f",
            "1,2,3,4,5,-6",
            "1,,3,4,5,6",
            "1.2.3.4.5.6",
            "0001,2,3,4,5,6",
            "1,2,3,4,5,+6",
        ];
        for input in bad {
            assert_eq!(parse_port(input), Err(AddressError::Syntax), "{input:?}");
        }
    }

    #[test]
    fn eprt_table() {
        let ok = [
            ("|1|132.235.1.2|6275|", "132.235.1.2:6275"),
            (
                "|2|1080::8:800:200C:417A|5282|",
                "[1080::8:800:200c:417a]:5282",
            ),
            ("!1!127.0.0.1!2000!", "127.0.0.1:2000"),
        ];
        for (input, want) in ok {
            assert_eq!(parse_eprt(input).unwrap().to_string(), want, "{input}");
        }
        let bad = [
            ("", AddressError::Syntax),
            ("|1|127.0.0.1|70000|", AddressError::Syntax),
            ("|1|::1|2000|", AddressError::Syntax),
            ("|2|127.0.0.1|2000|", AddressError::Syntax),
            ("|3|127.0.0.1|2000|", AddressError::UnsupportedProtocol),
            ("|1|127.0.0.1|2000", AddressError::Syntax),
            ("|1|127.0.0.1||", AddressError::Syntax),
            ("1|1|127.0.0.1|2000|", AddressError::Syntax),
            ("|1|127.0.0.1|2000|x", AddressError::Syntax),
            ("|x|127.0.0.1|2000|", AddressError::Syntax),
        ];
        for (input, err) in bad {
            assert_eq!(parse_eprt(input), Err(err), "{input:?}");
        }
    }

    #[test]
    fn epsv_table() {
        assert_eq!(parse_epsv(None), Ok(EpsvArg::Any));
        assert_eq!(parse_epsv(Some("all")), Ok(EpsvArg::All));
        assert_eq!(parse_epsv(Some("1")), Ok(EpsvArg::Protocol(1)));
        assert_eq!(parse_epsv(Some("2")), Ok(EpsvArg::Protocol(2)));
        assert_eq!(
            parse_epsv(Some("3")),
            Err(AddressError::UnsupportedProtocol)
        );
        assert_eq!(parse_epsv(Some("x")), Err(AddressError::Syntax));
    }

    #[test]
    fn formats() {
        assert_eq!(format_epsv(2000), "|||2000|");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(canonical_ip(mapped).to_string(), "10.0.0.1");
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(canonical_ip(v6), v6);
    }
}
