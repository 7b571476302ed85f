//! Reading the certificate and key files, and saying what a file is when
//! it is not what is expected. Operators give a DER file, an encrypted
//! key or the wrong file often enough that "no items found" is no answer:
//! each error names what the file holds and, where `openssl` can convert
//! it, the command.

use std::path::Path;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificates of a PEM file, leaf first; an error says what the
/// file is instead.
pub(super) fn certificates(
    bytes: &[u8],
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_reason)?;
    if !chain.is_empty() {
        return Ok(chain);
    }
    let file = path.display();
    Err(match Contents::of(bytes) {
        Contents::Empty => {
            "empty file; expected a PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned()
        }
        Contents::Der(Der::Certificate) => format!(
            "a DER (binary) certificate; ferroftpd reads PEM: convert it with \
             openssl x509 -inform der -in {file} -out {}",
            converted(path, "").display()
        ),
        Contents::Der(Der::Key) => {
            "a DER (binary) private key, not a certificate; expected a PEM certificate \
             (-----BEGIN CERTIFICATE-----)"
                .to_owned()
        }
        Contents::Pem(labels) if labels.iter().any(|l| l.ends_with("PRIVATE KEY")) => {
            "holds a private key but no certificate; expected a PEM certificate \
             (-----BEGIN CERTIFICATE-----)"
                .to_owned()
        }
        Contents::Pem(labels) => format!(
            "no certificate (found {}); expected -----BEGIN CERTIFICATE-----",
            describe(&labels)
        ),
        Contents::Other => "not a PEM certificate (no -----BEGIN CERTIFICATE----- line)".to_owned(),
    })
}

/// The private key of a PEM file (the first one); an error says what the
/// file is instead.
pub(super) fn private_key(bytes: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let file = path.display();
    let contents = Contents::of(bytes);
    let encrypted = match &contents {
        Contents::Pem(labels) => labels.iter().any(|l| l == "ENCRYPTED PRIVATE KEY"),
        _ => false,
    } || contains(bytes, b"Proc-Type: 4,ENCRYPTED");
    if encrypted {
        // Checked first: the PEM parser skips encrypted blocks silently.
        let out = converted(path, "-unencrypted");
        return Err(format!(
            "an encrypted private key; ferroftpd needs it unencrypted: \
             openssl pkey -in {file} -out {0} (asks for the passphrase; keep {0} mode 0600)",
            out.display()
        ));
    }
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => return Ok(key),
        Err(pem::Error::NoItemsFound) => {}
        Err(e) => return Err(pem_reason(e)),
    }
    Err(match contents {
        Contents::Empty => {
            "empty file; expected a PEM private key (-----BEGIN PRIVATE KEY-----)".to_owned()
        }
        Contents::Der(Der::Key) => format!(
            "a DER (binary) private key; ferroftpd reads PEM: convert it with \
             openssl pkey -inform der -in {file} -out {}",
            converted(path, "").display()
        ),
        Contents::Der(Der::Certificate) => {
            "a DER (binary) certificate, not a private key; expected a PEM private key \
             (-----BEGIN PRIVATE KEY-----)"
                .to_owned()
        }
        Contents::Pem(labels) if labels.iter().any(|l| l == "CERTIFICATE") => {
            "holds a certificate but no private key; expected a PEM private key \
             (-----BEGIN PRIVATE KEY-----), in this file or a file of its own"
                .to_owned()
        }
        Contents::Pem(labels) => format!(
            "no private key (found {}); expected -----BEGIN PRIVATE KEY-----",
            describe(&labels)
        ),
        Contents::Other => "not a PEM private key (no -----BEGIN PRIVATE KEY----- line)".to_owned(),
    })
}

/// Where the `openssl` command of a hint writes the converted file: next
/// to `path`, named after it with `suffix` and `.pem`, and never `path`
/// itself (openssl would truncate its input).
fn converted(path: &Path, suffix: &str) -> std::path::PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let out = path.with_file_name(format!("{stem}{suffix}.pem"));
    if out == path {
        path.with_file_name(format!("{stem}{suffix}-pem.pem"))
    } else {
        out
    }
}

/// What a file holds, roughly.
#[derive(Debug, PartialEq, Eq)]
enum Contents {
    /// Nothing but white space.
    Empty,
    /// PEM blocks, by label (`CERTIFICATE`, `ENCRYPTED PRIVATE KEY`).
    Pem(Vec<String>),
    /// Binary DER.
    Der(Der),
    /// Something else.
    Other,
}

/// The two DER files people give: both are an ASN.1 SEQUENCE; a
/// certificate's first element is another SEQUENCE (the signed part), a
/// key's is an INTEGER (its version: PKCS#1, PKCS#8 and SEC1 alike).
#[derive(Debug, PartialEq, Eq)]
enum Der {
    Certificate,
    Key,
}

impl Contents {
    fn of(bytes: &[u8]) -> Contents {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Contents::Empty;
        }
        let text = String::from_utf8_lossy(bytes);
        let labels: Vec<String> = text
            .lines()
            .filter_map(|line| {
                let label = line.trim().strip_prefix("-----BEGIN ")?;
                Some(label.strip_suffix("-----")?.to_owned())
            })
            .collect();
        if !labels.is_empty() {
            return Contents::Pem(labels);
        }
        match der_kind(bytes) {
            Some(kind) => Contents::Der(kind),
            None => Contents::Other,
        }
    }
}

/// The kind of a DER file, from its first two headers.
fn der_kind(bytes: &[u8]) -> Option<Der> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    if bytes.first() != Some(&SEQUENCE) {
        return None;
    }
    // Short form length (one byte below 0x80), or long form: 0x8N and N
    // bytes of length.
    let length = *bytes.get(1)?;
    let header = if length < 0x80 {
        2
    } else {
        2 + usize::from(length & 0x7f)
    };
    match *bytes.get(header)? {
        SEQUENCE => Some(Der::Certificate),
        INTEGER => Some(Der::Key),
        _ => None,
    }
}

/// "a CERTIFICATE REQUEST block", "2 blocks: PUBLIC KEY, X509 CRL".
fn describe(labels: &[String]) -> String {
    match labels {
        [one] => format!("a {one} block"),
        many => format!("{} blocks: {}", many.len(), many.join(", ")),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A PEM parse error in words (rustls' own shows the end marker it
/// missed as a list of byte values).
fn pem_reason(e: pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => {
            "malformed PEM: a -----BEGIN block has no -----END line".to_owned()
        }
        pem::Error::IllegalSectionStart { .. } => {
            "malformed PEM: a -----BEGIN line is not of the form -----BEGIN LABEL-----".to_owned()
        }
        pem::Error::Base64Decode(_) => "malformed PEM: a block is not valid base64".to_owned(),
        pem::Error::NoItemsFound => "no PEM block found".to_owned(),
        other => format!("malformed PEM: {other}"),
    }
}

/// An I/O error in words, without "(os error N)".
pub(super) fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file".to_owned(),
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        ErrorKind::IsADirectory => "a directory, not a file".to_owned(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(end) => text[..end].to_owned(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_files_are_told_apart() {
        // A certificate: SEQUENCE (long length) then SEQUENCE.
        assert_eq!(
            der_kind(&[0x30, 0x82, 0x01, 0x0a, 0x30, 0x82]),
            Some(Der::Certificate)
        );
        // A PKCS#8 key: SEQUENCE then INTEGER 0; a SEC1 key, short length.
        assert_eq!(
            der_kind(&[0x30, 0x82, 0x04, 0xbe, 0x02, 0x01, 0x00]),
            Some(Der::Key)
        );
        assert_eq!(der_kind(&[0x30, 0x77, 0x02, 0x01, 0x01]), Some(Der::Key));
        assert_eq!(der_kind(b"hello"), None);
        assert_eq!(der_kind(&[0x30]), None);
        assert_eq!(
            converted(Path::new("/etc/c.der"), ""),
            Path::new("/etc/c.pem")
        );
        assert_eq!(converted(Path::new("c.pem"), ""), Path::new("c-pem.pem"));
        assert_eq!(
            converted(Path::new("k.pem"), "-unencrypted"),
            Path::new("k-unencrypted.pem")
        );
        assert_eq!(Contents::of(b" \n"), Contents::Empty);
        assert_eq!(
            Contents::of(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"),
            Contents::Pem(vec!["X509 CRL".into()])
        );
    }
}
