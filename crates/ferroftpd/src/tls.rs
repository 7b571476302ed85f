//! FTPS (RFC 4217): the server's certificate and TLS settings, and the
//! per-session resumption cache that ties data connections to their own
//! control connection.
//!
//! Each control connection that starts TLS gets its own copy of the
//! server's rustls configuration whose session store holds only that
//! session's resumption secrets (TLS 1.2 session IDs, TLS 1.3 tickets). A
//! data connection is handshaken with the same copy, so it can resume only
//! a TLS session of its own control connection: a client that resumes some
//! other session's ticket, or none, gets a full handshake, which the
//! session-reuse policy refuses (RFC 4217 §10.2; vsftpd's
//! `require_ssl_reuse`). A store shared by the whole server would only
//! prove that the client knows *some* session's secret.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::crypto::ring;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::StoresServerSessions;
use sha2::{Digest, Sha256};

mod pem;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it, and what is expected instead.
        reason: String,
    },
    /// The private key file could not be read, holds nothing usable, or
    /// holds a key that is not the certificate's. (It may be the
    /// certificate file: this says which role failed.)
    #[error("{path}: {reason}")]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it, and what is expected instead.
        reason: String,
    },
    /// The private key is not the key of the certificate.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// rustls refused the certificate or key. (The message includes
    /// rustls' own, so it is not also given as the source: a report that
    /// prints the chain of causes would print it twice.)
    #[error("TLS configuration: {0}")]
    Rustls(rustls::Error),
    /// Generating a self-signed certificate failed.
    #[cfg(feature = "self-signed")]
    #[error("generating a certificate: {0}")]
    Generate(rcgen::Error),
}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::KeyMismatch
            }
            other => TlsError::Rustls(other),
        }
    }
}

#[cfg(feature = "self-signed")]
impl From<rcgen::Error> for TlsError {
    fn from(e: rcgen::Error) -> Self {
        TlsError::Generate(e)
    }
}

/// The server's FTPS settings: its certificate chain and key, TLS 1.2 and
/// 1.3 only, rustls' default (AEAD, forward-secret) cipher suites, no
/// compression (rustls has none), no renegotiation (rustls has none), and
/// ALPN `ftp` (a client that offers only other protocols, as in the
/// ALPACA cross-protocol attack, is refused). Cheap to clone.
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<rustls::ServerConfig>,
    fingerprint: String,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1), as pyftpdlib's `--certfile` and
    /// `--keyfile`. They may be the same file. A file that is not what is
    /// expected (a DER file, an encrypted key, a key that is not the
    /// certificate's) gets an error that says what it is, and how to
    /// convert it where `openssl` can.
    pub fn from_pem_files(certfile: &Path, keyfile: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| format!("cannot read: {}", pem::io_reason(&e)))
        };
        let cert_bytes = read(certfile).map_err(|reason| TlsError::File {
            path: certfile.to_owned(),
            reason,
        })?;
        let chain = pem::certificates(&cert_bytes, certfile).map_err(|reason| TlsError::File {
            path: certfile.to_owned(),
            reason,
        })?;
        let key_error = |reason| TlsError::KeyFile {
            path: keyfile.to_owned(),
            reason,
        };
        let key_bytes = if keyfile == certfile {
            cert_bytes
        } else {
            read(keyfile).map_err(key_error)?
        };
        let key = pem::private_key(&key_bytes, keyfile).map_err(key_error)?;
        Self::from_der(chain, key).map_err(|e| match e {
            TlsError::KeyMismatch => TlsError::KeyFile {
                path: keyfile.to_owned(),
                reason: format!(
                    "this private key does not match the certificate of {}",
                    certfile.display()
                ),
            },
            other => other,
        })
    }

    /// A configuration from a DER certificate chain (leaf first) and key.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let fingerprint = chain.first().map(|c| fingerprint(c)).unwrap_or_default();
        let mut provider = ring::default_provider();
        // AES-128-GCM first: as secure as the transfer needs, and a third
        // cheaper than AES-256 for both ends of a bulk transfer. The
        // server's order wins, so clients that list AES-256 first (OpenSSL
        // does) still get it; a client that offers only ChaCha20 gets that.
        provider
            .cipher_suites
            .sort_by_key(|suite| suite_preference(suite.suite()));
        let provider = Arc::new(provider);
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        server.alpn_protocols = vec![b"ftp".to_vec()];
        server.ignore_client_order = true;
        // Replaced for each session (see `SessionTls`); nothing is shared.
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        Ok(TlsConfig {
            server: Arc::new(server),
            fingerprint,
        })
    }

    /// An ephemeral self-signed certificate for `names` (host names or IP
    /// addresses), for a quick start: clients must be told to trust it,
    /// by its [fingerprint](Self::fingerprint). Needs the `self-signed`
    /// feature (rcgen).
    #[cfg(feature = "self-signed")]
    pub fn self_signed(names: &[String]) -> Result<Self, TlsError> {
        let certified = rcgen::generate_simple_self_signed(names.to_vec())?;
        let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .map_err(|e| rustls::Error::General(e.to_owned()))?;
        Self::from_der(vec![certified.cert.der().clone()], key)
    }

    /// The SHA-256 fingerprint of the leaf certificate, as colon-separated
    /// hex (the form `openssl x509 -fingerprint -sha256` prints).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The TLS configuration of one control session and its data
    /// connections.
    pub(crate) fn session(&self) -> SessionTls {
        let cache = Arc::new(ResumptionCache::default());
        let mut control = (*self.server).clone();
        control.session_storage = cache.clone();
        let mut data = control.clone();
        // Data connections only resume: a full handshake on one must not
        // add a session that a later data connection could resume (a
        // stranger who reached the passive port could otherwise make a
        // session of its own "this session's" and pass the reuse check).
        data.session_storage = Arc::new(ResumeOnly(cache));
        // No TLS 1.3 tickets on data connections either: clients resume
        // the control connection's session anyway, and a client that only
        // uploads never reads them, so they would sit unread in its socket
        // and turn its close into a reset that can destroy the end of the
        // upload.
        data.send_tls13_tickets = 0;
        SessionTls {
            control: Arc::new(control),
            data: Arc::new(data),
        }
    }
}

/// The TLS configuration of one session: the server's, with a resumption
/// store of its own, which its control and data connections share.
#[derive(Debug, Clone)]
pub(crate) struct SessionTls {
    pub control: Arc<rustls::ServerConfig>,
    pub data: Arc<rustls::ServerConfig>,
}

/// Lower is preferred: AES-128-GCM, then AES-256-GCM, then ChaCha20.
/// (The protocol version is chosen before the suite, so the order may mix
/// versions.)
fn suite_preference(suite: rustls::CipherSuite) -> u8 {
    use rustls::CipherSuite::*;
    match suite {
        TLS13_AES_128_GCM_SHA256
        | TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 0,
        TLS13_AES_256_GCM_SHA384
        | TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => 1,
        _ => 2,
    }
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// Entries kept forever: the first ones the control connection's handshake
/// and tickets create, which clients resume on every data connection.
const PINNED_ENTRIES: usize = 8;

/// Entries kept in all, the most recent first to go after the pinned ones.
const MAX_ENTRIES: usize = 64;

/// One session's resumption secrets. Tickets may be used more than once:
/// clients resume the control connection's session on every data
/// connection, and early data (the reason for single-use tickets) is off.
#[derive(Debug, Default)]
struct ResumptionCache {
    entries: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl StoresServerSessions for ResumptionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        if let Some(entry) = entries.iter_mut().find(|(k, _)| *k == key) {
            entry.1 = value;
            return true;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.remove(PINNED_ENTRIES);
        }
        entries.push((key, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let entries = self.entries.lock().ok()?;
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// A session's store as its data connections see it: they may resume what
/// the control connection stored, and store nothing.
#[derive(Debug)]
struct ResumeOnly(Arc<ResumptionCache>);

impl StoresServerSessions for ResumeOnly {
    fn put(&self, _key: Vec<u8>, _value: Vec<u8>) -> bool {
        false
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    /// False, so that a full TLS 1.2 handshake on a data connection is not
    /// even given a session ID to resume later.
    fn can_cache(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keeps_pinned_entries_and_bounds_the_rest() {
        let cache = ResumptionCache::default();
        for i in 0..200u32 {
            assert!(cache.put(i.to_be_bytes().to_vec(), vec![1]));
        }
        assert_eq!(cache.entries.lock().unwrap().len(), MAX_ENTRIES);
        for i in 0..PINNED_ENTRIES as u32 {
            assert!(cache.get(&i.to_be_bytes()).is_some(), "pinned {i}");
        }
        assert!(cache.get(&199u32.to_be_bytes()).is_some());
        assert!(cache.get(&100u32.to_be_bytes()).is_none());
        // Taking does not consume: every data connection may resume.
        assert!(cache.take(&0u32.to_be_bytes()).is_some());
        assert!(cache.take(&0u32.to_be_bytes()).is_some());
    }

    #[test]
    #[cfg(feature = "self-signed")]
    fn self_signed_has_a_fingerprint_and_sessions_do_not_share_stores() {
        let tls = TlsConfig::self_signed(&["localhost".into()]).unwrap();
        assert_eq!(tls.fingerprint().len(), 32 * 3 - 1);
        let a = tls.session();
        let b = tls.session();
        a.control.session_storage.put(b"k".to_vec(), b"v".to_vec());
        assert_eq!(a.data.session_storage.get(b"k"), Some(b"v".to_vec()));
        // Data connections store nothing.
        assert!(!a.data.session_storage.put(b"d".to_vec(), b"v".to_vec()));
        assert_eq!(a.control.session_storage.get(b"d"), None);
        assert_eq!(b.control.session_storage.get(b"k"), None);
        assert_eq!(b.data.session_storage.get(b"k"), None);
        assert_eq!(a.data.send_tls13_tickets, 0);
    }

    #[test]
    fn bad_files_are_reported_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = TlsConfig::from_pem_files(&empty, &empty).unwrap_err();
        assert!(err.to_string().contains("empty.pem"), "{err}");
        let missing = dir.path().join("missing.pem");
        assert!(TlsConfig::from_pem_files(&missing, &missing).is_err());
    }

    /// Each wrong file, and the one line that says what it is.
    #[test]
    #[cfg(feature = "self-signed")]
    fn wrong_files_say_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let one = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = write("cert.pem", one.cert.pem().as_bytes());
        let key = write("key.pem", one.signing_key.serialize_pem().as_bytes());
        let both = write(
            "both.pem",
            format!("{}{}", one.cert.pem(), one.signing_key.serialize_pem()).as_bytes(),
        );
        let other_key = write("other.pem", other.signing_key.serialize_pem().as_bytes());
        let cert_der = write("cert.der", one.cert.der());
        let key_der = write("key.der", &one.signing_key.serialize_der());
        // The label is what tells an encrypted PKCS#8 key; its body is
        // not read (tests/interop has one made by openssl).
        let encrypted = write(
            "enc.pem",
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0w\n\
              -----END ENCRYPTED PRIVATE KEY-----\n",
        );
        let legacy = write(
            "legacy.pem",
            b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
              DEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n\
              -----END RSA PRIVATE KEY-----\n",
        );
        let unterminated = write("cut.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n");
        let csr = write(
            "req.pem",
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        );
        assert!(TlsConfig::from_pem_files(&cert, &key).is_ok());
        assert!(TlsConfig::from_pem_files(&both, &both).is_ok());
        let cases = [
            (
                &cert_der,
                &key,
                "cert.der: a DER (binary) certificate; ferroftpd reads PEM: \
              convert it with openssl x509 -inform der -in",
            ),
            (
                &cert,
                &key_der,
                "key.der: a DER (binary) private key; ferroftpd reads PEM: \
              convert it with openssl pkey -inform der -in",
            ),
            (
                &cert,
                &encrypted,
                "enc.pem: an encrypted private key; ferroftpd needs it \
              unencrypted: openssl pkey -in",
            ),
            (&cert, &legacy, "legacy.pem: an encrypted private key"),
            (
                &cert,
                &other_key,
                "other.pem: this private key does not match the certificate of",
            ),
            (
                &cert,
                &cert,
                "cert.pem: holds a certificate but no private key",
            ),
            (
                &key,
                &key,
                "key.pem: holds a private key but no certificate",
            ),
            (
                &key_der,
                &key,
                "key.der: a DER (binary) private key, not a certificate",
            ),
            (
                &cert,
                &cert_der,
                "cert.der: a DER (binary) certificate, not a private key",
            ),
            (
                &unterminated,
                &key,
                "cut.pem: malformed PEM: a -----BEGIN block has no -----END",
            ),
            (
                &csr,
                &key,
                "req.pem: no certificate (found a CERTIFICATE REQUEST block)",
            ),
            (
                &cert,
                &dir.path().join("none.pem"),
                "none.pem: cannot read: no such file",
            ),
        ];
        for (certfile, keyfile, expected) in cases {
            let message = TlsConfig::from_pem_files(certfile, keyfile)
                .unwrap_err()
                .to_string();
            let message = message.replace(&format!("{}/", dir.path().display()), "");
            assert!(message.starts_with(expected), "{message}");
            assert!(
                !message.contains("KeyMismatch") && !message.contains('\n'),
                "{message}"
            );
        }
    }
}
