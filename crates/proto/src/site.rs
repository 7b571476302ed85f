//! SITE subcommands: the built-in ones parsed into their arguments, any
//! other left for commands the embedder registers.

/// A SITE command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteCommand {
    /// `SITE HELP [subcommand]`.
    Help(Option<String>),
    /// `SITE CHMOD mode path`: permission bits only (0 to 777).
    Chmod {
        /// The mode, at most `0o777`.
        mode: u32,
        /// The path, as given.
        path: Vec<u8>,
    },
    /// `SITE QUOTA`: the user's quota and usage.
    Quota,
    /// Any other subcommand: its upper-cased name and its argument.
    Other {
        /// The subcommand, upper-cased.
        name: String,
        /// What follows it, if anything.
        arg: Option<Vec<u8>>,
    },
}

/// Why a SITE line is malformed; the text is the 501 reply.
pub type SiteError = &'static str;

impl SiteCommand {
    /// Parses what follows `SITE `.
    pub fn parse(raw: &[u8]) -> Result<SiteCommand, SiteError> {
        let (sub, rest) = match raw.iter().position(|&b| b == b' ') {
            Some(i) => (&raw[..i], Some(&raw[i + 1..]).filter(|r| !r.is_empty())),
            None => (raw, None),
        };
        let name = String::from_utf8_lossy(sub).to_ascii_uppercase();
        match name.as_str() {
            "HELP" => {
                Ok(SiteCommand::Help(rest.map(|r| {
                    String::from_utf8_lossy(r).trim().to_ascii_uppercase()
                })))
            }
            "CHMOD" => parse_chmod(rest.unwrap_or_default()),
            "QUOTA" if rest.is_none() => Ok(SiteCommand::Quota),
            _ => Ok(SiteCommand::Other {
                name,
                arg: rest.map(<[u8]>::to_vec),
            }),
        }
    }

    /// The subcommand's name, upper-cased.
    pub fn name(&self) -> &str {
        match self {
            SiteCommand::Help(_) => "HELP",
            SiteCommand::Chmod { .. } => "CHMOD",
            SiteCommand::Quota => "QUOTA",
            SiteCommand::Other { name, .. } => name,
        }
    }
}

fn parse_chmod(arg: &[u8]) -> Result<SiteCommand, SiteError> {
    const TWO_ARGUMENTS: SiteError = "Syntax error: command needs two arguments.";
    let Some(space) = arg.iter().position(|&b| b == b' ') else {
        return Err(TWO_ARGUMENTS);
    };
    let (mode, path) = (&arg[..space], &arg[space + 1..]);
    let mode = std::str::from_utf8(mode)
        .ok()
        .filter(|m| (3..=4).contains(&m.len()))
        .and_then(|m| u32::from_str_radix(m, 8).ok())
        .ok_or("Invalid SITE CHMOD format.")?;
    if path.is_empty() {
        return Err(TWO_ARGUMENTS);
    }
    // Permission bits only: no setuid, setgid or sticky bits from clients.
    if mode & !0o777 != 0 {
        return Err("Only permission bits (0 to 777) can be set.");
    }
    Ok(SiteCommand::Chmod {
        mode,
        path: path.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let chmod = |mode, path: &str| SiteCommand::Chmod {
            mode,
            path: path.as_bytes().to_vec(),
        };
        let other = |name: &str, arg: Option<&str>| SiteCommand::Other {
            name: name.into(),
            arg: arg.map(|a| a.as_bytes().to_vec()),
        };
        let cases: [(&str, Result<SiteCommand, SiteError>); 16] = [
            ("quota", Ok(SiteCommand::Quota)),
            ("QUOTA bob", Ok(other("QUOTA", Some("bob")))),
            ("help", Ok(SiteCommand::Help(None))),
            ("HELP chmod", Ok(SiteCommand::Help(Some("CHMOD".into())))),
            ("CHMOD 755 a b", Ok(chmod(0o755, "a b"))),
            ("chmod 0644 f", Ok(chmod(0o644, "f"))),
            ("CHMOD 000 f", Ok(chmod(0, "f"))),
            (
                "CHMOD 4755 f",
                Err("Only permission bits (0 to 777) can be set."),
            ),
            (
                "CHMOD 1777 d",
                Err("Only permission bits (0 to 777) can be set."),
            ),
            ("CHMOD 99 f", Err("Invalid SITE CHMOD format.")),
            ("CHMOD 789 f", Err("Invalid SITE CHMOD format.")),
            ("CHMOD rwx f", Err("Invalid SITE CHMOD format.")),
            (
                "CHMOD 755",
                Err("Syntax error: command needs two arguments."),
            ),
            (
                "CHMOD 755 ",
                Err("Syntax error: command needs two arguments."),
            ),
            ("symlink a b", Ok(other("SYMLINK", Some("a b")))),
            ("WHO", Ok(other("WHO", None))),
        ];
        for (line, want) in cases {
            assert_eq!(SiteCommand::parse(line.as_bytes()), want, "{line:?}");
        }
        assert_eq!(SiteCommand::parse(b"who").unwrap().name(), "WHO");
    }
}
