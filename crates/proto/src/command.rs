//! FTP commands: one typed enum, parsed from a control line.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};

use crate::address::{self, AddressError, EpsvArg};
use crate::checksum::{self, ChecksumArgs, HashAlgorithm};
use crate::reply::Reply;
use crate::security::{self, AuthMechanism, ProtectionLevel};
use crate::site::SiteCommand;
use crate::time::DateTime;

/// A password, kept out of logs: its `Debug` form is `****`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }

    /// The password text, for the one place that checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// TYPE: how file data is represented on the data connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferType {
    /// `TYPE A` (`A N`): text, lines end with CRLF on the wire. RFC 959's
    /// default.
    #[default]
    Ascii,
    /// `TYPE I` (`L 8`): bytes as they are.
    Binary,
}

/// The options and path of LIST or NLST.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListArgs {
    /// `-a` or `-A`: include names that start with a dot, which a server
    /// may be set to hide otherwise.
    pub all: bool,
    /// `-R`: list subdirectories too, as `ls -R` does.
    pub recursive: bool,
    /// What to list; the current directory when absent.
    pub path: Option<Vec<u8>>,
}

/// The argument of OPTS (RFC 2389).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opts {
    /// `OPTS UTF8 ON|OFF` (or `UTF-8`).
    Utf8(Option<String>),
    /// `OPTS MLST fact;fact;`, with the facts as given (maybe empty).
    Mlst(String),
    /// `OPTS HASH [algorithm]`.
    Hash(Option<String>),
    /// Any other option name.
    Other(String),
}

/// A command from the client.
///
/// Exhaustive on purpose: the server's dispatch matches every variant, so
/// a new command cannot be left unhandled by accident. Verbs of an
/// embedder's own are not parsed here: the server looks them up in its
/// command registry first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// USER name.
    User(String),
    /// PASS password (may be empty).
    Pass(Password),
    /// QUIT.
    Quit,
    /// NOOP.
    Noop,
    /// SYST.
    Syst,
    /// FEAT (RFC 2389).
    Feat,
    /// OPTS (RFC 2389).
    Opts(Opts),
    /// HELP \[command\].
    Help(Option<String>),
    /// STAT \[path\].
    Stat(Option<Vec<u8>>),
    /// PWD, XPWD.
    Pwd,
    /// CWD, XCWD. An empty path means `/`.
    Cwd(Vec<u8>),
    /// CDUP, XCUP.
    Cdup,
    /// MKD, XMKD.
    Mkd(Vec<u8>),
    /// RMD, XRMD.
    Rmd(Vec<u8>),
    /// DELE.
    Dele(Vec<u8>),
    /// RNFR.
    Rnfr(Vec<u8>),
    /// RNTO.
    Rnto(Vec<u8>),
    /// SIZE (RFC 3659).
    Size(Vec<u8>),
    /// MDTM (RFC 3659).
    Mdtm(Vec<u8>),
    /// TYPE.
    Type(TransferType),
    /// MODE S (the only mode offered).
    Mode,
    /// STRU F (the only structure offered).
    Stru,
    /// PASV.
    Pasv,
    /// EPSV (RFC 2428).
    Epsv(EpsvArg),
    /// PORT.
    Port(SocketAddrV4),
    /// EPRT (RFC 2428).
    Eprt(SocketAddr),
    /// LIST.
    List(ListArgs),
    /// NLST.
    Nlst(ListArgs),
    /// MLSD (RFC 3659).
    Mlsd(Option<Vec<u8>>),
    /// MLST (RFC 3659).
    Mlst(Option<Vec<u8>>),
    /// RETR.
    Retr(Vec<u8>),
    /// STOR.
    Stor(Vec<u8>),
    /// APPE.
    Appe(Vec<u8>),
    /// STOU [name hint].
    Stou(Option<Vec<u8>>),
    /// REST offset (RFC 3659 stream restart).
    Rest(u64),
    /// ABOR.
    Abor,
    /// ALLO (no storage allocation is needed).
    Allo,
    /// SITE and its subcommand.
    Site(SiteCommand),
    /// MFMT time-val path (draft-somers-ftp-mfxx): set the modification
    /// time, given in UTC as seconds since the Unix epoch.
    Mfmt(i64, Vec<u8>),
    /// REIN: log out, keep the connection.
    Rein,
    /// ACCT: accounts are not used here.
    Acct,
    /// HOST name (RFC 7151).
    Host(String),
    /// CLNT: the client names itself.
    Clnt(String),
    /// LANG \[tag\] (RFC 2640).
    Lang(Option<String>),
    /// HASH path (draft-bryan-ftpext-hash).
    Hash(Vec<u8>),
    /// XCRC, XMD5, XSHA1, XSHA256, XSHA512.
    Checksum(HashAlgorithm, ChecksumArgs),
    /// AUTH mechanism (RFC 2228, RFC 4217).
    Auth(AuthMechanism),
    /// PBSZ size (RFC 2228); `None` if it is not a decimal number.
    Pbsz(Option<u64>),
    /// PROT level (RFC 2228).
    Prot(ProtectionLevel),
    /// CCC: clear the control channel (RFC 2228).
    Ccc,
}

/// Why a line is not a command the server can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not an FTP verb this server knows.
    Unknown(String),
    /// A verb the standards define that this server does not offer.
    NotImplemented(&'static str),
    /// The verb needs an argument.
    MissingArgument,
    /// The verb takes no argument.
    UnexpectedArgument,
    /// The argument is malformed; the text says how.
    InvalidArgument(&'static str),
    /// A well-formed parameter this server does not support (504).
    UnsupportedParameter(String),
    /// An EPRT/EPSV network protocol other than IPv4 or IPv6 (522).
    UnsupportedProtocol,
}

impl ParseError {
    /// The reply this error gets.
    pub fn reply(&self) -> Reply {
        match self {
            ParseError::Unknown(verb) => {
                Reply::new(500, format!("Command \"{verb}\" not understood."))
            }
            ParseError::NotImplemented(verb) => {
                Reply::new(502, format!("Command \"{verb}\" not implemented."))
            }
            ParseError::MissingArgument => {
                Reply::new(501, "Syntax error: command needs an argument.")
            }
            ParseError::UnexpectedArgument => {
                Reply::new(501, "Syntax error: command does not accept arguments.")
            }
            ParseError::InvalidArgument(msg) => Reply::new(501, *msg),
            ParseError::UnsupportedParameter(what) => {
                Reply::new(504, format!("Unsupported parameter \"{what}\"."))
            }
            ParseError::UnsupportedProtocol => {
                Reply::new(522, "Network protocol not supported, use (1,2).")
            }
        }
    }
}

/// Longest verb looked at; longer words are unknown commands. Keeps error
/// replies short when a client sends garbage.
const MAX_VERB_LEN: usize = 16;

impl Command {
    /// Parses one control line (without its line ending).
    ///
    /// ```
    /// use ferroftpd_proto::command::Command;
    /// assert_eq!(Command::parse(b"cwd pub/my dir").unwrap(), Command::Cwd(b"pub/my dir".to_vec()));
    /// ```
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let (verb, arg) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        let arg = arg.filter(|a| !a.is_empty());
        let verb_upper = verb.to_ascii_uppercase();
        match Self::parse_verb(&verb_upper, arg) {
            Err(ParseError::Unknown(_)) => {
                // A verb after leftover Telnet or urgent-data bytes ("xxABOR"),
                // as some clients send ABOR, STAT and QUIT.
                for tail in [&b"ABOR"[..], b"STAT", b"QUIT"] {
                    if verb_upper.len() > tail.len() && verb_upper.ends_with(tail) {
                        return Self::parse_verb(tail, arg);
                    }
                }
                let shown =
                    String::from_utf8_lossy(&verb[..verb.len().min(MAX_VERB_LEN)]).into_owned();
                Err(ParseError::Unknown(shown))
            }
            other => other,
        }
    }

    fn parse_verb(verb: &[u8], arg: Option<&[u8]>) -> Result<Command, ParseError> {
        use Command::*;
        let text = || arg.map(|a| String::from_utf8_lossy(a).into_owned());
        let required = || arg.map(<[u8]>::to_vec).ok_or(ParseError::MissingArgument);
        let optional = || arg.map(<[u8]>::to_vec);
        let none = |cmd: Command| match arg {
            None => Ok(cmd),
            Some(_) => Err(ParseError::UnexpectedArgument),
        };
        let required_text = || text().ok_or(ParseError::MissingArgument);
        Ok(match verb {
            b"USER" => User(required_text()?),
            b"PASS" => Pass(Password::new(text().unwrap_or_default())),
            b"QUIT" => none(Quit)?,
            b"NOOP" => none(Noop)?,
            b"SYST" => none(Syst)?,
            b"FEAT" => none(Feat)?,
            b"OPTS" => Opts(parse_opts(&required_text()?)),
            b"HELP" => Help(text()),
            b"STAT" => Stat(optional()),
            b"PWD" | b"XPWD" => none(Pwd)?,
            b"CWD" | b"XCWD" => Cwd(optional().unwrap_or_else(|| b"/".to_vec())),
            b"CDUP" | b"XCUP" => none(Cdup)?,
            b"MKD" | b"XMKD" => Mkd(required()?),
            b"RMD" | b"XRMD" => Rmd(required()?),
            b"DELE" => Dele(required()?),
            b"RNFR" => Rnfr(required()?),
            b"RNTO" => Rnto(required()?),
            b"SIZE" => Size(required()?),
            b"MDTM" => Mdtm(required()?),
            b"TYPE" => Type(parse_type(&required_text()?)?),
            b"MODE" => parse_single(&required_text()?, "S", "BC", Mode)?,
            b"STRU" => parse_single(&required_text()?, "F", "RP", Stru)?,
            b"PASV" => none(Pasv)?,
            b"EPSV" => Epsv(address::parse_epsv(text().as_deref()).map_err(|e| match e {
                AddressError::UnsupportedProtocol => ParseError::UnsupportedProtocol,
                AddressError::Syntax => {
                    ParseError::InvalidArgument("Unknown network protocol (use 1, 2 or ALL).")
                }
            })?),
            b"PORT" => Port(
                address::parse_port(&required_text()?)
                    .map_err(|_| ParseError::InvalidArgument("Invalid PORT format."))?,
            ),
            b"EPRT" => Eprt(address::parse_eprt(&required_text()?).map_err(|e| match e {
                AddressError::UnsupportedProtocol => ParseError::UnsupportedProtocol,
                AddressError::Syntax => ParseError::InvalidArgument("Invalid EPRT format."),
            })?),
            b"LIST" => List(parse_list_args(arg)),
            b"NLST" => Nlst(parse_list_args(arg)),
            b"MLSD" => Mlsd(optional()),
            b"MLST" => Mlst(optional()),
            b"RETR" => Retr(required()?),
            b"STOR" => Stor(required()?),
            b"APPE" => Appe(required()?),
            b"STOU" => Stou(optional()),
            b"REST" => Rest(parse_offset(&required_text()?)?),
            b"ABOR" => none(Abor)?,
            b"ALLO" => {
                required_text()?;
                Allo
            }
            b"SITE" => Site(SiteCommand::parse(&required()?).map_err(ParseError::InvalidArgument)?),
            b"MFMT" => {
                let raw = required()?;
                let (time, path) = match raw.iter().position(|&b| b == b' ') {
                    Some(i) if i + 1 < raw.len() => (&raw[..i], raw[i + 1..].to_vec()),
                    _ => {
                        return Err(ParseError::InvalidArgument(
                            "Syntax error: MFMT needs a time and a path.",
                        ))
                    }
                };
                let time = std::str::from_utf8(time)
                    .ok()
                    .and_then(DateTime::parse_time_val)
                    .and_then(|t| t.to_unix())
                    .ok_or(ParseError::InvalidArgument(
                        "Invalid time format; expected: YYYYMMDDHHMMSS.",
                    ))?;
                Mfmt(time, path)
            }
            b"REIN" => none(Rein)?,
            b"AUTH" => Auth(AuthMechanism::parse(&required_text()?)),
            b"PBSZ" => Pbsz(security::parse_pbsz(&required_text()?)),
            b"PROT" => Prot(ProtectionLevel::parse(&required_text()?)),
            b"CCC" => none(Ccc)?,
            b"ACCT" => {
                required()?;
                Acct
            }
            b"HOST" => Host(required_text()?),
            b"CLNT" => Clnt(text().unwrap_or_default()),
            b"LANG" => Lang(text()),
            b"HASH" => Hash(required()?),
            b"XCRC" | b"XMD5" | b"XSHA" | b"XSHA1" | b"XSHA256" | b"XSHA512" => {
                let algorithm = match verb {
                    b"XCRC" => HashAlgorithm::Crc32,
                    b"XMD5" => HashAlgorithm::Md5,
                    b"XSHA256" => HashAlgorithm::Sha256,
                    b"XSHA512" => HashAlgorithm::Sha512,
                    _ => HashAlgorithm::Sha1,
                };
                let args = checksum::parse_checksum_args(&required()?).ok_or(
                    ParseError::InvalidArgument(
                        "Syntax: path[, start[, end]] or \"path\" [start [end]].",
                    ),
                )?;
                Checksum(algorithm, args)
            }
            b"SMNT" => return Err(ParseError::NotImplemented("SMNT")),
            // RFC 2228 mechanisms other than TLS.
            b"ADAT" => return Err(ParseError::NotImplemented("ADAT")),
            b"MIC" => return Err(ParseError::NotImplemented("MIC")),
            b"CONF" => return Err(ParseError::NotImplemented("CONF")),
            b"ENC" => return Err(ParseError::NotImplemented("ENC")),
            _ => return Err(ParseError::Unknown(String::new())),
        })
    }

    /// True if some form of the control line `line` may be sent before
    /// logging in: its verb allows it and, for SITE, its subcommand is
    /// HELP. A line that fails to parse is answered 530 before login
    /// unless this is true, as pyftpdlib and vsftpd do: the login check
    /// comes before the argument check.
    pub fn line_allowed_before_login(line: &[u8]) -> bool {
        let mut words = line.split(|&b| b == b' ');
        let verb = words.next().unwrap_or_default().to_ascii_uppercase();
        if verb == b"SITE" {
            return match words.next() {
                Some(sub) if !sub.is_empty() => sub.eq_ignore_ascii_case(b"HELP"),
                _ => true,
            };
        }
        Self::verb_allowed_before_login(&verb)
    }

    /// True if some form of the command `verb` (upper-case, aliases
    /// included) may be sent before logging in, whatever its argument.
    pub fn verb_allowed_before_login(verb: &[u8]) -> bool {
        const BEFORE_LOGIN: [&[u8]; 19] = [
            b"USER", b"PASS", b"QUIT", b"NOOP", b"SYST", b"FEAT", b"HELP", b"STAT", b"REIN",
            b"ACCT", b"HOST", b"CLNT", b"LANG", b"AUTH", b"PBSZ", b"PROT", b"CCC", b"OPTS",
            b"SITE",
        ];
        BEFORE_LOGIN.contains(&verb)
    }

    /// True if the command may be sent before logging in.
    pub fn allowed_before_login(&self) -> bool {
        use Command::*;
        match self {
            User(_) | Pass(_) | Quit | Noop | Syst | Feat | Help(_) | Stat(None) | Rein | Acct
            | Host(_) | Clnt(_) | Lang(_) | Auth(_) | Pbsz(_) | Prot(_) | Ccc => true,
            Opts(o) => matches!(o, self::Opts::Utf8(_)),
            Site(sub) => matches!(sub, SiteCommand::Help(_)),
            _ => false,
        }
    }

    /// The verb, for logs and metrics (aliases report their main name).
    pub fn name(&self) -> &'static str {
        use Command::*;
        match self {
            User(_) => "USER",
            Pass(_) => "PASS",
            Quit => "QUIT",
            Noop => "NOOP",
            Syst => "SYST",
            Feat => "FEAT",
            Opts(_) => "OPTS",
            Help(_) => "HELP",
            Stat(_) => "STAT",
            Pwd => "PWD",
            Cwd(_) => "CWD",
            Cdup => "CDUP",
            Mkd(_) => "MKD",
            Rmd(_) => "RMD",
            Dele(_) => "DELE",
            Rnfr(_) => "RNFR",
            Rnto(_) => "RNTO",
            Size(_) => "SIZE",
            Mdtm(_) => "MDTM",
            Type(_) => "TYPE",
            Mode => "MODE",
            Stru => "STRU",
            Pasv => "PASV",
            Epsv(_) => "EPSV",
            Port(_) => "PORT",
            Eprt(_) => "EPRT",
            List(_) => "LIST",
            Nlst(_) => "NLST",
            Mlsd(_) => "MLSD",
            Mlst(_) => "MLST",
            Retr(_) => "RETR",
            Stor(_) => "STOR",
            Appe(_) => "APPE",
            Stou(_) => "STOU",
            Rest(_) => "REST",
            Abor => "ABOR",
            Allo => "ALLO",
            Site(..) => "SITE",
            Mfmt(..) => "MFMT",
            Rein => "REIN",
            Acct => "ACCT",
            Host(_) => "HOST",
            Clnt(_) => "CLNT",
            Lang(_) => "LANG",
            Hash(_) => "HASH",
            Checksum(HashAlgorithm::Crc32, _) => "XCRC",
            Checksum(HashAlgorithm::Md5, _) => "XMD5",
            Checksum(HashAlgorithm::Sha1, _) => "XSHA1",
            Checksum(HashAlgorithm::Sha256, _) => "XSHA256",
            Checksum(HashAlgorithm::Sha512, _) => "XSHA512",
            Auth(_) => "AUTH",
            Pbsz(_) => "PBSZ",
            Prot(_) => "PROT",
            Ccc => "CCC",
        }
    }
}

fn parse_opts(arg: &str) -> Opts {
    let (name, rest) = match arg.split_once(' ') {
        Some((n, r)) => (n, Some(r.trim())),
        None => (arg, None),
    };
    let upper = name.to_ascii_uppercase();
    match upper.as_str() {
        "UTF8" | "UTF-8" => Opts::Utf8(rest.map(str::to_owned)),
        "MLST" => Opts::Mlst(rest.unwrap_or("").to_owned()),
        "HASH" => Opts::Hash(rest.map(str::to_owned).filter(|r| !r.is_empty())),
        _ => Opts::Other(upper),
    }
}

fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
    let words: Vec<String> = arg
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words[..] {
        ["A"] | ["A", "N"] => Ok(TransferType::Ascii),
        ["I"] | ["L", "8"] | ["L8"] => Ok(TransferType::Binary),
        ["A", _] | ["E"] | ["E", _] | ["L", _] => {
            Err(ParseError::UnsupportedParameter(arg.trim().to_owned()))
        }
        _ => Err(ParseError::InvalidArgument("Invalid TYPE parameter.")),
    }
}

/// MODE and STRU: one letter; `ok` is accepted, `known` are standard values
/// this server does not offer (504), anything else is a syntax error.
fn parse_single(arg: &str, ok: &str, known: &str, cmd: Command) -> Result<Command, ParseError> {
    let v = arg.trim().to_ascii_uppercase();
    if v == ok {
        Ok(cmd)
    } else if v.len() == 1 && known.contains(v.as_str()) {
        Err(ParseError::UnsupportedParameter(v))
    } else {
        Err(ParseError::InvalidArgument("Invalid parameter."))
    }
}

fn parse_offset(arg: &str) -> Result<u64, ParseError> {
    let arg = arg.trim();
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::InvalidArgument("Invalid parameter."));
    }
    arg.parse()
        .map_err(|_| ParseError::InvalidArgument("Invalid parameter."))
}

/// Splits `-la path` into options and path. Leading words that start with
/// `-` followed by letters or digits (`-1`, `-1R`) are options; the rest, spaces included, is the
/// path.
fn parse_list_args(arg: Option<&[u8]>) -> ListArgs {
    let mut args = ListArgs::default();
    let mut rest = arg.unwrap_or_default();
    loop {
        let word_end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let word = &rest[..word_end];
        let is_option =
            word.len() > 1 && word[0] == b'-' && word[1..].iter().all(u8::is_ascii_alphanumeric);
        if !is_option {
            break;
        }
        args.all |= word.contains(&b'a') || word.contains(&b'A');
        args.recursive |= word.contains(&b'R');
        rest = &rest[word_end..];
        while rest.first() == Some(&b' ') {
            rest = &rest[1..];
        }
    }
    if !rest.is_empty() {
        args.path = Some(rest.to_vec());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        Command::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e:?}"))
    }

    fn err(line: &[u8]) -> ParseError {
        Command::parse(line).expect_err(&String::from_utf8_lossy(line))
    }

    #[test]
    fn parse_table() {
        use Command::*;
        let cases: Vec<(&str, Command)> = vec![
            ("USER bob", User("bob".into())),
            ("user bob smith", User("bob smith".into())),
            ("PASS", Pass(Password::new(""))),
            ("PASS a b ", Pass(Password::new("a b "))),
            ("noop", Noop),
            ("CWD", Cwd(b"/".to_vec())),
            ("XCWD a b", Cwd(b"a b".to_vec())),
            ("RETR  two spaces", Retr(b" two spaces".to_vec())),
            ("XPWD", Pwd),
            ("XCUP", Cdup),
            ("XMKD d", Mkd(b"d".to_vec())),
            ("XRMD d", Rmd(b"d".to_vec())),
            ("TYPE i", Type(TransferType::Binary)),
            ("TYPE A N", Type(TransferType::Ascii)),
            ("TYPE L 8", Type(TransferType::Binary)),
            ("MODE s", Mode),
            ("STRU F", Stru),
            ("EPSV", Epsv(EpsvArg::Any)),
            ("EPSV ALL", Epsv(EpsvArg::All)),
            ("AUTH tls", Auth(AuthMechanism::Tls)),
            ("auth TLS-C", Auth(AuthMechanism::TlsC)),
            (
                "AUTH kerberos",
                Auth(AuthMechanism::Other("KERBEROS".into())),
            ),
            ("PBSZ 0", Pbsz(Some(0))),
            ("PBSZ x", Pbsz(None)),
            ("PROT p", Prot(ProtectionLevel::Private)),
            ("PROT z", Prot(ProtectionLevel::Other("Z".into()))),
            ("CCC", Ccc),
            (
                "PORT 127,0,0,1,4,1",
                Port("127.0.0.1:1025".parse().unwrap()),
            ),
            ("EPRT |2|::1|2000|", Eprt("[::1]:2000".parse().unwrap())),
            ("LIST", List(ListArgs::default())),
            (
                "LIST -la",
                List(ListArgs {
                    all: true,
                    recursive: false,
                    path: None,
                }),
            ),
            (
                "LIST -l -a sub dir",
                List(ListArgs {
                    all: true,
                    recursive: false,
                    path: Some(b"sub dir".to_vec()),
                }),
            ),
            ("NLST -1", Nlst(ListArgs::default())),
            (
                "NLST -1R",
                Nlst(ListArgs {
                    recursive: true,
                    ..Default::default()
                }),
            ),
            (
                "LIST -laR",
                List(ListArgs {
                    all: true,
                    recursive: true,
                    path: None,
                }),
            ),
            (
                "LIST -R -A pub",
                List(ListArgs {
                    all: true,
                    recursive: true,
                    path: Some(b"pub".to_vec()),
                }),
            ),
            ("NLST -l", Nlst(ListArgs::default())),
            (
                "LIST -",
                List(ListArgs {
                    path: Some(b"-".to_vec()),
                    ..Default::default()
                }),
            ),
            (
                "NLST -R x",
                Nlst(ListArgs {
                    recursive: true,
                    path: Some(b"x".to_vec()),
                    ..Default::default()
                }),
            ),
            ("MLSD", Mlsd(None)),
            ("MLST a", Mlst(Some(b"a".to_vec()))),
            ("REST 100", Rest(100)),
            ("STOU", Stou(None)),
            ("ALLO 100", Allo),
            ("OPTS UTF8 ON", Opts(super::Opts::Utf8(Some("ON".into())))),
            (
                "OPTS mlst type;size;",
                Opts(super::Opts::Mlst("type;size;".into())),
            ),
            ("OPTS FOO", Opts(super::Opts::Other("FOO".into()))),
            ("SITE help", Site(SiteCommand::Help(None))),
            (
                "SITE CHMOD 755 a b",
                Site(SiteCommand::Chmod {
                    mode: 0o755,
                    path: b"a b".to_vec(),
                }),
            ),
            ("HELP retr", Help(Some("retr".into()))),
            ("STAT", Stat(None)),
            ("xxABOR", Abor),
            (
                "MFMT 20231114221320 a b",
                Mfmt(1_700_000_000, b"a b".to_vec()),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(ok(line), want, "{line:?}");
        }
    }

    #[test]
    fn error_table() {
        let cases: Vec<(&[u8], u16)> = vec![
            (b"", 500),
            (b"FOO", 500),
            (b"\xff\xfe", 500),
            (b"RETR", 501),
            (b"RETR ", 501),
            (b"NOOP x", 501),
            (b"PWD x", 501),
            (b"TYPE", 501),
            (b"TYPE X", 501),
            (b"TYPE E", 504),
            (b"TYPE A T", 504),
            (b"MODE B", 504),
            (b"MODE Z", 501),
            (b"STRU R", 504),
            (b"PORT 1,2,3", 501),
            (b"PORT 1,2,3,4,5,666", 501),
            (b"EPRT |3|x|1|", 522),
            (b"EPRT garbage", 501),
            (b"EPSV 3", 522),
            (b"EPSV x", 501),
            (b"REST -1", 501),
            (b"REST abc", 501),
            (b"REST 99999999999999999999999", 501),
            (b"SMNT x", 502),
            (b"ADAT x", 502),
            (b"ENC x", 502),
            (b"AUTH", 501),
            (b"PBSZ", 501),
            (b"PROT", 501),
            (b"CCC x", 501),
            (b"ACCT", 501),
            (b"HOST", 501),
            (b"REIN x", 501),
            (b"HASH", 501),
            (b"XCRC", 501),
            (b"XMD5 f, 9, 1", 501),
            (b"OPTS", 501),
            (b"MFMT 20231114221320", 501),
            (b"MFMT 2023 a", 501),
            (b"MFMT 20231314221320 a", 501),
        ];
        for (line, code) in cases {
            assert_eq!(
                err(line).reply().code(),
                code,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn unknown_verb_is_shown_bounded() {
        let long = vec![b'X'; 5000];
        let e = err(&long);
        assert!(e.reply().to_string().len() < 100);
    }

    #[test]
    fn password_is_not_debug_printed() {
        let cmd = ok("PASS secret");
        assert!(!format!("{cmd:?}").contains("secret"));
    }

    #[test]
    fn before_login() {
        assert!(ok("FEAT").allowed_before_login());
        assert!(ok("OPTS UTF8 ON").allowed_before_login());
        assert!(!ok("OPTS MLST type;").allowed_before_login());
        assert!(ok("STAT").allowed_before_login());
        assert!(!ok("STAT /").allowed_before_login());
        assert!(!ok("LIST").allowed_before_login());
        // Some form of each of these is allowed; their bad arguments get
        // the argument's reply, not 530.
        for verb in ["USER", "FEAT", "OPTS", "SITE", "STAT", "AUTH", "PBSZ"] {
            assert!(
                Command::verb_allowed_before_login(verb.as_bytes()),
                "{verb}"
            );
        }
        for verb in [
            "PORT", "EPRT", "TYPE", "REST", "MFMT", "RETR", "XCRC", "MODE",
        ] {
            assert!(
                !Command::verb_allowed_before_login(verb.as_bytes()),
                "{verb}"
            );
        }
        for line in ["SITE HELP", "site help CHMOD", "SITE", "OPTS", "user"] {
            assert!(
                Command::line_allowed_before_login(line.as_bytes()),
                "{line}"
            );
        }
        for line in ["SITE CHMOD 999 x", "SITE FOO", "PORT 1,2"] {
            assert!(
                !Command::line_allowed_before_login(line.as_bytes()),
                "{line}"
            );
        }
    }
}
