//! Informational commands: FEAT, OPTS, HELP, STAT (server status), SITE HELP.

use ferroftpd_proto::checksum::HashAlgorithm;
use ferroftpd_proto::command::{Opts, TransferType};
use ferroftpd_proto::help::{help_syntax, VERBS};
use ferroftpd_proto::listing::FactSet;
use ferroftpd_proto::reply::Reply;

use super::transfer::mode_off;
use super::{Login, Session};

impl Session {
    pub(super) fn feat(&self) -> Reply {
        let mut lines = vec!["Features supported:".to_owned()];
        let offered = |verb: &str| match mode_off(&self.shared.config, verb) {
            Some(_) => String::new(),
            None => verb.to_owned(),
        };
        let features = [
            // Not offered when their data mode is off.
            offered("EPRT"),
            offered("EPSV"),
            HashAlgorithm::feat_line(self.hash_algorithm),
            "HOST".to_owned(),
            "LANG EN*".to_owned(),
            "MDTM".to_owned(),
            // Not for a user whose storage keeps its own times.
            if self.user_ref().is_ok_and(|u| !u.storage.can_set_modified()) {
                String::new()
            } else {
                "MFMT".to_owned()
            },
            self.facts.feat_line(),
            "REST STREAM".to_owned(),
            "SIZE".to_owned(),
            "TVFS".to_owned(),
            "XCRC".to_owned(),
            "XMD5".to_owned(),
            "XSHA1".to_owned(),
            "XSHA256".to_owned(),
            "XSHA512".to_owned(),
        ];
        lines.extend(
            features
                .into_iter()
                .filter(|f| !f.is_empty())
                .map(|f| format!(" {f}")),
        );
        if self.shared.config.encoding.is_none() {
            // UTF8 belongs between TVFS and XCRC in the sorted list.
            let at = lines
                .iter()
                .position(|l| l == " XCRC")
                .unwrap_or(lines.len());
            lines.insert(at, " UTF8".to_owned());
        }
        if self.shared.config.tls.is_some() {
            // Kept in the sorted order of the rest.
            // AUTH SSL, the old name some clients send, is accepted too
            // (pyftpdlib lists both).
            lines.insert(1, " AUTH SSL".to_owned());
            lines.insert(2, " AUTH TLS".to_owned());
            let at = lines
                .iter()
                .skip(1)
                .position(|l| l.as_str() > " PBSZ")
                .map_or(lines.len(), |i| i + 1);
            lines.insert(at, " PBSZ".to_owned());
            lines.insert(at + 1, " PROT".to_owned());
        }
        // Verbs of the embedder's own are extensions too; a replaced
        // built-in verb is not new.
        let custom = self.shared.config.commands.verbs();
        lines.extend(
            custom
                .filter(|(verb, _)| !VERBS.contains(verb))
                .map(|(verb, _)| format!(" {verb}")),
        );
        lines.push("End FEAT.".to_owned());
        Reply::multi(211, lines)
    }

    pub(super) fn opts(&mut self, opts: Opts) -> Reply {
        match opts {
            // Names are passed through as bytes; UTF-8 clients need nothing
            // switched on.
            Opts::Utf8(_) if self.shared.config.encoding.is_none() => {
                Reply::new(200, "Always in UTF8 mode.")
            }
            Opts::Utf8(_) => {
                Reply::new(501, "UTF8 is off: this server uses another character set.")
            }
            Opts::Mlst(facts) => {
                self.facts = FactSet::from_opts(&facts);
                Reply::new(200, format!("MLST OPTS {}", self.facts.names()))
            }
            Opts::Hash(name) => self.opts_hash(name.as_deref()),
            Opts::Other(name) => Reply::new(501, format!("Unsupported option \"{name}\".")),
        }
    }

    /// STAT without a path: the session's state.
    pub(super) fn status(&self) -> Reply {
        let mut lines = vec![
            "FTP server status:".to_owned(),
            format!(" Connected to: {}", self.peer),
        ];
        lines.push(match &self.login {
            Login::AwaitingUser => " Waiting for username.".to_owned(),
            Login::AwaitingPass { .. } => " Waiting for password.".to_owned(),
            Login::LoggedIn(user) => format!(" Logged in as: {}", user.account.username),
        });
        let ty = match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Binary => "Binary",
        };
        lines.push(format!(" TYPE: {ty}; STRUcture: File; MODE: Stream"));
        lines.push(match &self.running {
            Some(r) => format!(
                " Transfer in progress: {} {} bytes.",
                r.kind.verb(),
                r.transfer.bytes()
            ),
            None if self.data.is_set() => " Data connection ready.".to_owned(),
            None => " Data connection closed.".to_owned(),
        });
        lines.push("End of status.".to_owned());
        Reply::multi(211, lines)
    }
}

impl Session {
    /// SITE QUOTA: the user's limits and usage.
    pub(super) fn site_quota(&self) -> Result<Reply, crate::error::CommandError> {
        let user = self.user_ref()?;
        let config = &self.shared.config;
        let limits = user
            .account
            .storage_settings
            .as_deref()
            .and_then(|s| s.quota)
            .unwrap_or(config.default_quota);
        if limits.is_unlimited() {
            return Ok(Reply::new(200, "No quota."));
        }
        let usage = self.shared.quota_usages.of(&user.account.username);
        let of = |used: u64, max: Option<u64>| match max {
            Some(max) => format!("{used} of {max}"),
            None => format!("{used} (no limit)"),
        };
        Ok(Reply::multi(
            200,
            [
                "Quota:".to_owned(),
                format!(" Bytes: {}", of(usage.bytes(), limits.max_bytes)),
                format!(" Files: {}", of(usage.files(), limits.max_files)),
                "End of quota.".to_owned(),
            ],
        ))
    }
}

/// LANG (RFC 2640): replies are in English only.
pub(super) fn lang(tag: Option<&str>) -> Reply {
    match tag.map(str::trim) {
        None | Some("") => Reply::new(200, "Responses changed to EN."),
        Some(t) if t.eq_ignore_ascii_case("EN") || t.to_ascii_uppercase().starts_with("EN-") => {
            Reply::new(200, "Responses changed to EN.")
        }
        Some(t) => Reply::new(504, format!("Language \"{t}\" not supported; only EN.")),
    }
}

impl Session {
    /// HELP, and HELP with a verb; registered verbs included.
    pub(super) fn help(&self, topic: Option<&str>) -> Reply {
        let commands = &self.shared.config.commands;
        match topic {
            Some(verb) => {
                let verb = verb.trim().to_ascii_uppercase();
                if let Some(why) = mode_off(&self.shared.config, &verb) {
                    return Reply::new(214, format!("{verb} is refused: {why}."));
                }
                let custom = commands.verbs().find(|(v, _)| *v == verb);
                let syntax = match custom {
                    Some((name, help)) => Some(help.unwrap_or(name).to_owned()),
                    None => help_syntax(&verb).map(str::to_owned),
                };
                match syntax {
                    Some(syntax) => Reply::new(214, format!("Syntax: {syntax}")),
                    None => Reply::new(501, "Unrecognized command."),
                }
            }
            None => {
                let mut verbs: Vec<&str> = VERBS.to_vec();
                verbs.retain(|v| mode_off(&self.shared.config, v).is_none());
                verbs.extend(commands.verbs().map(|(v, _)| v));
                verbs.sort_unstable();
                verbs.dedup();
                let mut lines = vec!["The following commands are recognized:".to_owned()];
                for row in verbs.chunks(8) {
                    lines.push(row.iter().map(|v| format!(" {v:<6}")).collect());
                }
                lines.push("Help command successful.".to_owned());
                Reply::multi(214, lines)
            }
        }
    }

    /// SITE HELP, and SITE HELP with a subcommand; registered ones
    /// included.
    pub(super) fn site_help(&self, topic: Option<&str>) -> Reply {
        const BUILT_IN: [(&str, &str); 2] = [
            (
                "CHMOD",
                "SITE CHMOD <mode> <path> (permission bits, 0 to 777)",
            ),
            ("HELP", "SITE HELP [<subcommand>]"),
        ];
        let mut all: Vec<(&str, &str)> = BUILT_IN.to_vec();
        for (name, help) in self.shared.config.commands.site_commands() {
            all.retain(|(n, _)| *n != name);
            all.push((name, help.unwrap_or(name)));
        }
        all.sort_unstable();
        match topic.filter(|t| !t.is_empty()) {
            Some(topic) => match all.iter().find(|(n, _)| *n == topic) {
                Some((_, syntax)) => Reply::new(214, format!("Syntax: {syntax}")),
                None => Reply::new(501, "Unrecognized SITE command."),
            },
            None => {
                let mut lines = vec!["The following SITE commands are recognized:".to_owned()];
                lines.extend(all.iter().map(|(name, _)| format!(" {name}")));
                lines.push("Help SITE command successful.".to_owned());
                Reply::multi(214, lines)
            }
        }
    }
}
