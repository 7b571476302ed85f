//! HELP texts.

/// Every verb this server accepts, for HELP (aliases included).
pub const VERBS: &[&str] = &[
    "ABOR", "ACCT", "ALLO", "APPE", "AUTH", "CCC", "CDUP", "CLNT", "CWD", "DELE", "EPRT", "EPSV",
    "FEAT", "HASH", "HELP", "HOST", "LANG", "LIST", "MDTM", "MFMT", "MKD", "MLSD", "MLST", "MODE",
    "NLST", "NOOP", "OPTS", "PASS", "PASV", "PBSZ", "PORT", "PROT", "PWD", "QUIT", "REIN", "REST",
    "RETR", "RMD", "RNFR", "RNTO", "SITE", "SIZE", "STAT", "STOR", "STOU", "STRU", "SYST", "TYPE",
    "USER", "XCRC", "XCUP", "XCWD", "XMD5", "XMKD", "XPWD", "XRMD", "XSHA1", "XSHA256", "XSHA512",
];

/// The syntax line HELP shows for one verb.
pub fn help_syntax(verb: &str) -> Option<&'static str> {
    Some(match verb {
        "ABOR" => "ABOR (abort transfer).",
        "ACCT" => "ACCT <SP> account (not needed here).",
        "ALLO" => "ALLO <SP> bytes (noop; allocate storage).",
        "APPE" => "APPE <SP> file-name (append data to file).",
        "AUTH" => "AUTH <SP> TLS (secure the control connection).",
        "CCC" => "CCC (clear the control connection; refused here).",
        "CDUP" | "XCUP" => "CDUP (go to parent directory).",
        "CLNT" => "CLNT <SP> client-name (identify the client).",
        "CWD" | "XCWD" => "CWD [<SP> dir-name] (change working directory).",
        "DELE" => "DELE <SP> file-name (delete file).",
        "EPRT" => "EPRT <SP> |proto|ip|port| (extended active mode).",
        "EPSV" => "EPSV [<SP> proto/\"ALL\"] (extended passive mode).",
        "FEAT" => "FEAT (list all new features supported).",
        "HASH" => "HASH <SP> file-name (checksum of a file; algorithm set with OPTS HASH).",
        "HELP" => "HELP [<SP> cmd] (show help).",
        "HOST" => "HOST <SP> host-name (virtual host to use, before login).",
        "LANG" => "LANG [<SP> language] (language of replies).",
        "LIST" => "LIST [<SP> path] (list files).",
        "MDTM" => "MDTM <SP> path (file last modification time).",
        "MFMT" => "MFMT <SP> timeval <SP> path (file update last modification time).",
        "MKD" | "XMKD" => "MKD <SP> path (create directory).",
        "MLSD" => "MLSD [<SP> path] (list directory).",
        "MLST" => "MLST [<SP> path] (show information about path).",
        "MODE" => "MODE <SP> mode (set data transfer mode).",
        "NLST" => "NLST [<SP> path] (list path in a compact form).",
        "NOOP" => "NOOP (no operation).",
        "OPTS" => "OPTS <SP> command [<SP> option] (set option for command).",
        "PASS" => "PASS [<SP> password] (set user password).",
        "PBSZ" => "PBSZ <SP> 0 (protection buffer size).",
        "PROT" => "PROT <SP> C|P (data connection protection: clear or private).",
        "PASV" => "PASV (open passive data connection).",
        "PORT" => "PORT <SP> h,h,h,h,p,p (open active data connection).",
        "PWD" | "XPWD" => "PWD (get current working directory).",
        "QUIT" => "QUIT (quit current session).",
        "REIN" => "REIN (log out and start a new login).",
        "REST" => "REST <SP> offset (set file offset).",
        "RETR" => "RETR <SP> file-name (retrieve a file).",
        "RMD" | "XRMD" => "RMD <SP> dir-name (remove directory).",
        "RNFR" => "RNFR <SP> file-name (rename (source name)).",
        "RNTO" => "RNTO <SP> file-name (rename (destination name)).",
        "SITE" => "SITE <SP> site-command (execute SITE command).",
        "SIZE" => "SIZE <SP> file-name (get file size).",
        "STAT" => "STAT [<SP> path name] (server stats [list files]).",
        "STOR" => "STOR <SP> file-name (store a file).",
        "STOU" => "STOU [<SP> name] (store a file with a unique name).",
        "STRU" => "STRU <SP> type (noop; set file structure).",
        "SYST" => "SYST (get operating system type).",
        "TYPE" => "TYPE <SP> [A | I] (set transfer type).",
        "USER" => "USER <SP> user-name (set username).",
        "XCRC" => "XCRC <SP> file-name[, start[, end]] (CRC-32 of a file).",
        "XMD5" => "XMD5 <SP> file-name[, start[, end]] (MD5 of a file).",
        "XSHA1" | "XSHA" => "XSHA1 <SP> file-name[, start[, end]] (SHA-1 of a file).",
        "XSHA256" => "XSHA256 <SP> file-name[, start[, end]] (SHA-256 of a file).",
        "XSHA512" => "XSHA512 <SP> file-name[, start[, end]] (SHA-512 of a file).",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, ParseError};

    #[test]
    fn every_verb_has_help_and_parses() {
        for verb in VERBS {
            assert!(help_syntax(verb).is_some(), "{verb}");
            // Known to the parser: never "not understood".
            let err = Command::parse(verb.as_bytes()).err();
            assert!(!matches!(err, Some(ParseError::Unknown(_))), "{verb}");
        }
    }
}
