//! The PROXY protocol, versions 1 and 2 (HAProxy's): behind a TCP load
//! balancer every connection comes from the balancer, which sends the
//! client's real address in a header before the client's first byte. The
//! header is parsed by the `ppp` crate; this module decides whom to
//! believe and reads exactly the header's bytes off the socket, never the
//! data after it (an upload's first bytes may follow it at once).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Whether connections carry a PROXY header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// No header is read; a connection is who it comes from (the default).
    #[default]
    Off,
    /// A trusted source may send a header; the server waits
    /// [`OPTIONAL_WAIT`] for it before it greets.
    Optional,
    /// Every connection must come from a trusted source with a header;
    /// others are closed without a reply.
    Required,
}

impl FromStr for ProxyProtocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(ProxyProtocol::Off),
            "optional" => Ok(ProxyProtocol::Optional),
            "required" => Ok(ProxyProtocol::Required),
            _ => Err(format!("{text:?}: expected off, optional or required")),
        }
    }
}

impl fmt::Display for ProxyProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyProtocol::Off => "off",
            ProxyProtocol::Optional => "optional",
            ProxyProtocol::Required => "required",
        })
    }
}

/// How long a trusted source has to send its header when it is
/// [`ProxyProtocol::Optional`]: FTP clients send nothing before the
/// greeting, so a direct client from a trusted address waits this long.
pub const OPTIONAL_WAIT: Duration = Duration::from_millis(300);

/// How long a trusted source has to send its header when it is
/// [`ProxyProtocol::Required`]. Balancers send it with the connection.
pub const REQUIRED_WAIT: Duration = Duration::from_secs(5);

/// The PROXY protocol mode and the sources trusted to send headers.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProxySettings {
    pub mode: ProxyProtocol,
    pub trusted: Vec<IpNet>,
}

/// What a connection turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A client connected directly: its address is the TCP peer's.
    Direct,
    /// Through a trusted proxy, on behalf of this client.
    Proxied(SocketAddr),
    /// To be closed without a reply, for this reason.
    Refused(&'static str),
}

impl ProxySettings {
    pub fn is_on(&self) -> bool {
        self.mode != ProxyProtocol::Off
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ferroftpd_proto::address::canonical_ip(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// Reads the header of a connection from `peer`, if it should have one.
    pub async fn origin(&self, stream: &mut TcpStream, peer: SocketAddr) -> Origin {
        if !self.is_on() {
            return Origin::Direct;
        }
        if !self.trusts(peer.ip()) {
            return match self.mode {
                ProxyProtocol::Required => Origin::Refused("not from a trusted proxy"),
                _ => Origin::Direct,
            };
        }
        let wait = match self.mode {
            ProxyProtocol::Required => REQUIRED_WAIT,
            _ => OPTIONAL_WAIT,
        };
        // Looked at without reading: a direct client's bytes stay.
        let version = match tokio::time::timeout(wait, detect(stream)).await {
            Ok(Ok(Some(version))) => version,
            Ok(Ok(None)) | Err(_) if self.mode == ProxyProtocol::Optional => return Origin::Direct,
            Ok(Ok(None)) => return Origin::Refused("no PROXY header"),
            Err(_) => return Origin::Refused("no PROXY header in time"),
            Ok(Err(why)) => return Origin::Refused(why),
        };
        // A header has begun: it is finished, or the connection is closed,
        // whatever the mode (its rest must not be taken for commands).
        match tokio::time::timeout(REQUIRED_WAIT, read_header(stream, version)).await {
            Ok(Ok(Header::Client(addr))) => Origin::Proxied(addr),
            // A proxy's own connection (a health check), or a protocol
            // other than TCP: the proxy's address stands.
            Ok(Ok(Header::Local)) => Origin::Direct,
            Ok(Err(why)) => Origin::Refused(why),
            Err(_) => Origin::Refused("PROXY header not finished in time"),
        }
    }
}

/// Connections whose header is being read, not yet admitted: at most as
/// many as the server takes connections, so that they cannot pile up.
#[derive(Debug, Default)]
pub(crate) struct PendingHeaders(AtomicUsize);

/// One connection's place among the [`PendingHeaders`]; given back on
/// drop.
pub(crate) struct PendingHeader(Arc<PendingHeaders>);

impl PendingHeaders {
    pub fn enter(self: &Arc<Self>, max: usize) -> Option<PendingHeader> {
        let before = self.0.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            self.0.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(PendingHeader(self.clone()))
    }
}

impl Drop for PendingHeader {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A parsed header.
#[derive(Debug, PartialEq, Eq)]
enum Header {
    Client(SocketAddr),
    Local,
}

/// The version 2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The version 1 start.
const V1_START: &[u8; 6] = b"PROXY ";
/// Longest version 1 header, with its CRLF (the specification's 107).
const V1_MAX: usize = 107;
/// Longest version 2 header accepted: the 16 fixed bytes and addresses
/// with room for TLVs (the specification suggests 536 bytes in all).
const V2_MAX: usize = 536;

/// Which version of header the first bytes start, looking without
/// reading. `Ok(None)`: they are not a header (a client speaking first, or
/// a client's data).
async fn detect(stream: &mut TcpStream) -> Result<Option<u8>, &'static str> {
    let mut head = [0u8; 16];
    loop {
        let n = stream.peek(&mut head).await.map_err(|_| "read error")?;
        if n == 0 {
            return Err("closed before a PROXY header");
        }
        let seen = &head[..n];
        let v1 = V1_START.starts_with(&seen[..n.min(V1_START.len())]);
        let v2 = V2_SIGNATURE.starts_with(&seen[..n.min(V2_SIGNATURE.len())]);
        match (v1, v2) {
            (false, false) => return Ok(None),
            (true, _) if n >= V1_START.len() => return Ok(Some(1)),
            (_, true) if n >= head.len() => return Ok(Some(2)),
            // Part of a header has come: wait for the rest.
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// Reads one header of `version`, byte-exact.
async fn read_header(stream: &mut TcpStream, version: u8) -> Result<Header, &'static str> {
    let mut head = [0u8; 16];
    if version == 1 {
        let mut line = Vec::with_capacity(V1_MAX);
        while !line.ends_with(b"\r\n") {
            if line.len() == V1_MAX {
                return Err("PROXY v1 header too long");
            }
            line.push(
                stream
                    .read_u8()
                    .await
                    .map_err(|_| "truncated PROXY header")?,
            );
        }
        let text = std::str::from_utf8(&line).map_err(|_| "malformed PROXY v1 header")?;
        let header = ppp::v1::Header::try_from(text).map_err(|_| "malformed PROXY v1 header")?;
        return Ok(match header.addresses {
            ppp::v1::Addresses::Tcp4(a) => {
                Header::Client(SocketAddr::new(a.source_address.into(), a.source_port))
            }
            ppp::v1::Addresses::Tcp6(a) => {
                Header::Client(SocketAddr::new(a.source_address.into(), a.source_port))
            }
            ppp::v1::Addresses::Unknown => Header::Local,
        });
    }
    stream
        .read_exact(&mut head)
        .await
        .map_err(|_| "truncated PROXY header")?;
    let rest = usize::from(u16::from_be_bytes([head[14], head[15]]));
    if head.len() + rest > V2_MAX {
        return Err("PROXY v2 header too long");
    }
    let mut bytes = head.to_vec();
    bytes.resize(head.len() + rest, 0);
    stream
        .read_exact(&mut bytes[head.len()..])
        .await
        .map_err(|_| "truncated PROXY header")?;
    let header = ppp::v2::Header::try_from(&bytes[..]).map_err(|_| "malformed PROXY v2 header")?;
    Ok(match (header.command, header.addresses) {
        (ppp::v2::Command::Local, _) => Header::Local,
        (_, ppp::v2::Addresses::IPv4(a)) => {
            Header::Client(SocketAddr::new(a.source_address.into(), a.source_port))
        }
        (_, ppp::v2::Addresses::IPv6(a)) => {
            Header::Client(SocketAddr::new(a.source_address.into(), a.source_port))
        }
        (_, ppp::v2::Addresses::Unix(_) | ppp::v2::Addresses::Unspecified) => Header::Local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// Sends `bytes` from a client and runs `origin` on the server's end;
    /// returns the origin and what the server can read after it.
    async fn exchange(settings: &ProxySettings, bytes: &[u8]) -> (Origin, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, peer) = listener.accept().await.unwrap();
        client.write_all(bytes).await.unwrap();
        client.shutdown().await.unwrap();
        let origin = settings.origin(&mut server, peer).await;
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await.unwrap();
        (origin, rest)
    }

    fn settings(mode: ProxyProtocol, trusted: &str) -> ProxySettings {
        ProxySettings {
            mode,
            trusted: vec![trusted.parse().unwrap()],
        }
    }

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&(addresses.len() as u16).to_be_bytes());
        h.extend_from_slice(addresses);
        h
    }

    #[tokio::test]
    async fn headers_give_the_client_and_leave_the_data() {
        let on = settings(ProxyProtocol::Required, "127.0.0.0/8");
        let v1 = b"PROXY TCP4 203.0.113.7 10.0.0.1 40000 21\r\nUSER x\r\n";
        let (origin, rest) = exchange(&on, v1).await;
        assert_eq!(
            origin,
            Origin::Proxied("203.0.113.7:40000".parse().unwrap())
        );
        assert_eq!(rest, b"USER x\r\n");

        let v1_6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 21\r\n";
        let (origin, _) = exchange(&on, v1_6).await;
        assert_eq!(
            origin,
            Origin::Proxied("[2001:db8::7]:40000".parse().unwrap())
        );

        // v2, TCP over IPv4, with a TLV after the addresses.
        let mut addrs = vec![203, 0, 113, 9, 10, 0, 0, 1, 0x9c, 0x40, 0, 21];
        addrs.extend_from_slice(&[0x04, 0, 2, b'h', b'i']); // PP2_TYPE_NOOP
        let mut bytes = v2(1, 0x11, &addrs);
        bytes.extend_from_slice(b"upload bytes");
        let (origin, rest) = exchange(&on, &bytes).await;
        assert_eq!(
            origin,
            Origin::Proxied("203.0.113.9:40000".parse().unwrap())
        );
        assert_eq!(rest, b"upload bytes");

        // LOCAL (a health check) and UNKNOWN: the proxy itself.
        assert_eq!(exchange(&on, &v2(0, 0, &[])).await.0, Origin::Direct);
        assert_eq!(exchange(&on, b"PROXY UNKNOWN\r\n").await.0, Origin::Direct);
    }

    #[tokio::test]
    async fn untrusted_sources_and_bad_headers_are_refused() {
        let elsewhere = settings(ProxyProtocol::Required, "10.0.0.0/8");
        let v1 = b"PROXY TCP4 203.0.113.7 10.0.0.1 40000 21\r\n";
        assert!(matches!(
            exchange(&elsewhere, v1).await.0,
            Origin::Refused(_)
        ));
        let required = settings(ProxyProtocol::Required, "127.0.0.1/32");
        for bad in [
            &b"USER x\r\n"[..],
            b"PROXY TCP4 nonsense\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.1 40000",
            &[b'P'; 200][..],
        ] {
            let (origin, _) = exchange(&required, bad).await;
            assert!(matches!(origin, Origin::Refused(_)), "{bad:?}: {origin:?}");
        }
        let mut long = v2(1, 0x11, &[0; 12]);
        long[14..16].copy_from_slice(&600u16.to_be_bytes());
        assert!(matches!(
            exchange(&required, &long).await.0,
            Origin::Refused(_)
        ));
    }

    #[tokio::test]
    async fn optional_lets_direct_clients_through_untouched() {
        let optional = settings(ProxyProtocol::Optional, "127.0.0.1/32");
        let (origin, rest) = exchange(&optional, b"USER x\r\n").await;
        assert_eq!((origin, rest), (Origin::Direct, b"USER x\r\n".to_vec()));
        let untrusted = settings(ProxyProtocol::Optional, "10.0.0.0/8");
        let v1 = b"PROXY TCP4 203.0.113.7 10.0.0.1 40000 21\r\n";
        let (origin, rest) = exchange(&untrusted, v1).await;
        assert_eq!((origin, rest), (Origin::Direct, v1.to_vec()));
        assert_eq!(
            exchange(&ProxySettings::default(), v1).await.0,
            Origin::Direct
        );
    }

    #[tokio::test]
    async fn a_header_begun_must_be_finished_even_when_optional() {
        let optional = settings(ProxyProtocol::Optional, "127.0.0.1/32");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, peer) = listener.accept().await.unwrap();
        // Half a header, then nothing: the rest must not become commands.
        client.write_all(b"PROXY TCP4 203.0.113.7 ").await.unwrap();
        let origin = optional.origin(&mut server, peer).await;
        assert!(matches!(origin, Origin::Refused(_)), "{origin:?}");
    }

    #[test]
    fn pending_headers_are_bounded() {
        let pending = Arc::new(PendingHeaders::default());
        let a = pending.enter(2).unwrap();
        let _b = pending.enter(2).unwrap();
        assert!(pending.enter(2).is_none());
        drop(a);
        assert!(pending.enter(2).is_some());
    }

    #[test]
    fn modes_parse() {
        for mode in ["off", "optional", "required"] {
            assert_eq!(mode.parse::<ProxyProtocol>().unwrap().to_string(), mode);
        }
        assert!("on".parse::<ProxyProtocol>().is_err());
    }
}
