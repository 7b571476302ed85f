//! The arguments of AUTH and PROT (RFC 2228, RFC 4217).

use std::fmt;

/// The mechanism AUTH asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMechanism {
    /// `TLS` (RFC 4217).
    Tls,
    /// `TLS-C`: TLS on the control connection only, as `TLS`.
    TlsC,
    /// `SSL`: the old name of `TLS`, still sent by some clients.
    Ssl,
    /// `TLS-P`: the old way of asking for protected data connections too.
    TlsP,
    /// Any other mechanism, upper-cased (the server answers 504).
    Other(String),
}

impl AuthMechanism {
    /// Parses an AUTH argument, case-insensitively.
    pub fn parse(arg: &str) -> AuthMechanism {
        let upper = arg.trim().to_ascii_uppercase();
        match upper.as_str() {
            "TLS" => AuthMechanism::Tls,
            "TLS-C" => AuthMechanism::TlsC,
            "SSL" => AuthMechanism::Ssl,
            "TLS-P" => AuthMechanism::TlsP,
            _ => AuthMechanism::Other(upper),
        }
    }

    /// True for the mechanisms that start TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, AuthMechanism::Other(_))
    }
}

impl fmt::Display for AuthMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMechanism::Tls => "TLS",
            AuthMechanism::TlsC => "TLS-C",
            AuthMechanism::Ssl => "SSL",
            AuthMechanism::TlsP => "TLS-P",
            AuthMechanism::Other(s) => s,
        })
    }
}

/// The data channel protection level PROT sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtectionLevel {
    /// `C`: no protection.
    Clear,
    /// `S`: integrity only (not offered with TLS: 536).
    Safe,
    /// `E`: confidentiality only (not offered with TLS: 536).
    Confidential,
    /// `P`: TLS on data connections.
    Private,
    /// Anything else, upper-cased (504).
    Other(String),
}

impl ProtectionLevel {
    /// Parses a PROT argument, case-insensitively.
    pub fn parse(arg: &str) -> ProtectionLevel {
        let upper = arg.trim().to_ascii_uppercase();
        match upper.as_str() {
            "C" => ProtectionLevel::Clear,
            "S" => ProtectionLevel::Safe,
            "E" => ProtectionLevel::Confidential,
            "P" => ProtectionLevel::Private,
            _ => ProtectionLevel::Other(upper),
        }
    }
}

impl fmt::Display for ProtectionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtectionLevel::Clear => "C",
            ProtectionLevel::Safe => "S",
            ProtectionLevel::Confidential => "E",
            ProtectionLevel::Private => "P",
            ProtectionLevel::Other(s) => s,
        })
    }
}

/// The argument of PBSZ: a decimal buffer size.
///
/// `None` when the argument is not a decimal number (the server answers
/// 501 once it knows PBSZ is in order at all).
pub fn parse_pbsz(arg: &str) -> Option<u64> {
    let arg = arg.trim();
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A size past u64 is still a decimal size: TLS uses 0 whatever it is.
    Some(arg.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms() {
        let cases = [
            ("TLS", AuthMechanism::Tls),
            ("tls", AuthMechanism::Tls),
            (" tls-c ", AuthMechanism::TlsC),
            ("Ssl", AuthMechanism::Ssl),
            ("TLS-P", AuthMechanism::TlsP),
            ("GSSAPI", AuthMechanism::Other("GSSAPI".into())),
            ("", AuthMechanism::Other(String::new())),
        ];
        for (arg, want) in cases {
            let got = AuthMechanism::parse(arg);
            assert_eq!(got, want, "{arg:?}");
            assert_eq!(got.is_tls(), !matches!(want, AuthMechanism::Other(_)));
        }
        assert_eq!(AuthMechanism::parse("tls-c").to_string(), "TLS-C");
    }

    #[test]
    fn levels() {
        let cases = [
            ("C", ProtectionLevel::Clear),
            ("s", ProtectionLevel::Safe),
            ("E", ProtectionLevel::Confidential),
            ("p ", ProtectionLevel::Private),
            ("X", ProtectionLevel::Other("X".into())),
            ("PP", ProtectionLevel::Other("PP".into())),
        ];
        for (arg, want) in cases {
            assert_eq!(ProtectionLevel::parse(arg), want, "{arg:?}");
        }
        assert_eq!(ProtectionLevel::Safe.to_string(), "S");
    }

    #[test]
    fn pbsz_sizes() {
        let cases = [
            ("0", Some(0)),
            ("16384", Some(16384)),
            (" 7 ", Some(7)),
            ("99999999999999999999999", Some(u64::MAX)),
            ("", None),
            ("-1", None),
            ("1k", None),
        ];
        for (arg, want) in cases {
            assert_eq!(parse_pbsz(arg), want, "{arg:?}");
        }
    }
}
