//! Users read from a TOML file, with hashed passwords: the server's
//! default user store. See `docs/users.md` for the format.
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! home = "/srv/ftp/alice"
//! perms = "elradfmwMT"
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use async_trait::async_trait;
use ferroftpd_proto::command::Password;
use ferroftpd_proto::path::VirtualPath;
use ipnet::IpNet;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use toml::Spanned;

use super::memory::ANONYMOUS_NAMES;
use super::{Account, AuthError, Authorizer, LoginContext, PermissionRules, Permissions};
use crate::storage::{
    LocalStorageFactory, MemoryStorageFactory, Mount, QuotaLimits, StorageSettings,
};
use crate::Rate;

/// Permissions a `readable = true` rule gives.
const READABLE: &str = "elr";
/// Permissions a `writable = true` rule gives.
const WRITABLE: &str = "adfmwMT";

/// Why a users file could not be loaded: the file, and where in it the
/// problem is when that is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct UsersFileError {
    /// The users file.
    pub path: PathBuf,
    /// Line and column (from 1) of the problem, when it is in the text.
    pub location: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

/// A password hashing scheme that [`hash_password`] can produce and a users
/// file can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HashScheme {
    /// Argon2id with the `argon2` crate's default (OWASP) parameters:
    /// `$argon2id$...`.
    #[default]
    Argon2id,
    /// bcrypt, cost 12: `$2b$12$...`.
    Bcrypt,
    /// SHA-512-crypt, 5000 rounds: `$6$...`.
    Sha512Crypt,
    /// SHA-256-crypt, 5000 rounds: `$5$...`.
    Sha256Crypt,
}

impl HashScheme {
    /// The names [`HashScheme::from_str`] accepts.
    pub const NAMES: [&'static str; 4] = ["argon2id", "bcrypt", "sha512-crypt", "sha256-crypt"];
}

impl FromStr for HashScheme {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "argon2id" | "argon2" => Ok(HashScheme::Argon2id),
            "bcrypt" => Ok(HashScheme::Bcrypt),
            "sha512-crypt" | "sha512" => Ok(HashScheme::Sha512Crypt),
            "sha256-crypt" | "sha256" => Ok(HashScheme::Sha256Crypt),
            _ => Err(format!(
                "unknown hash scheme {s:?}: expected one of {}",
                HashScheme::NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for HashScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HashScheme::Argon2id => "argon2id",
            HashScheme::Bcrypt => "bcrypt",
            HashScheme::Sha512Crypt => "sha512-crypt",
            HashScheme::Sha256Crypt => "sha256-crypt",
        })
    }
}

/// True if `password` matches `hash` (argon2id, bcrypt, SHA-512-crypt or
/// SHA-256-crypt, recognised by prefix); false for anything else. For
/// authorizers that keep hashes elsewhere, such as a database. Slow by
/// design: call it off the async runtime.
pub fn verify_password(hash: &str, password: &str) -> bool {
    StoredPassword::parse(hash, false).is_ok_and(|stored| stored.verify(password))
}

/// Hashes `password` with a fresh random salt, in the form a users file
/// takes. Slow by design: call it off the async runtime.
pub fn hash_password(scheme: HashScheme, password: &str) -> Result<String, String> {
    match scheme {
        HashScheme::Argon2id => {
            use argon2::password_hash::{PasswordHasher, SaltString};
            let mut salt = [0u8; 16];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut salt))
                .map_err(|e| format!("reading /dev/urandom: {e}"))?;
            let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
            argon2::Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        }
        HashScheme::Bcrypt => {
            bcrypt::hash(password, bcrypt::DEFAULT_COST).map_err(|e| e.to_string())
        }
        HashScheme::Sha512Crypt => {
            sha_crypt::sha512_simple(password, &sha_crypt::Sha512Params::default())
                .map_err(|e| format!("{e:?}"))
        }
        HashScheme::Sha256Crypt => {
            sha_crypt::sha256_simple(password, &sha_crypt::Sha256Params::default())
                .map_err(|e| format!("{e:?}"))
        }
    }
}

/// A stored password.
#[derive(Clone)]
enum StoredPassword {
    Argon2id(String),
    Bcrypt(String),
    Sha512Crypt(String),
    Sha256Crypt(String),
    Plain(String),
}

impl fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoredPassword::Argon2id(_) => "Argon2id(..)",
            StoredPassword::Bcrypt(_) => "Bcrypt(..)",
            StoredPassword::Sha512Crypt(_) => "Sha512Crypt(..)",
            StoredPassword::Sha256Crypt(_) => "Sha256Crypt(..)",
            StoredPassword::Plain(_) => "Plain(..)",
        })
    }
}

impl StoredPassword {
    /// Recognises a hash by its prefix and checks its form (not the
    /// password) so that a typo shows at load time.
    fn parse(value: &str, allow_plaintext: bool) -> Result<StoredPassword, String> {
        if let Some(secret) = value.strip_prefix("plain:") {
            if !allow_plaintext {
                return Err(
                    "plaintext password, but the file does not say allow_plaintext = true".into(),
                );
            }
            return Ok(StoredPassword::Plain(secret.to_owned()));
        }
        if value.starts_with("$argon2id$") {
            let parsed =
                argon2::PasswordHash::new(value).map_err(|e| format!("bad argon2id hash: {e}"))?;
            if parsed.salt.is_none() || parsed.hash.is_none() {
                return Err("bad argon2id hash: no salt or no hash".into());
            }
            let param = |name| parsed.params.get_decimal(name).unwrap_or(0);
            if param("m") > MAX_ARGON2_MEMORY_KIB || param("t") > MAX_ARGON2_PASSES {
                return Err(format!(
                    "argon2id hash too costly: at most m={MAX_ARGON2_MEMORY_KIB} (KiB) and \
                     t={MAX_ARGON2_PASSES}, or each login could exhaust the server"
                ));
            }
            Ok(StoredPassword::Argon2id(value.to_owned()))
        } else if ["$2b$", "$2y$", "$2a$"]
            .iter()
            .any(|p| value.starts_with(p))
        {
            check_bcrypt_form(value)?;
            Ok(StoredPassword::Bcrypt(value.to_owned()))
        } else if value.starts_with("$6$") {
            check_sha_crypt_form(value, 86)?;
            Ok(StoredPassword::Sha512Crypt(value.to_owned()))
        } else if value.starts_with("$5$") {
            check_sha_crypt_form(value, 43)?;
            Ok(StoredPassword::Sha256Crypt(value.to_owned()))
        } else {
            Err(
                "unknown password hash: expected $argon2id$, $2b$ (bcrypt), $6$ (SHA-512-crypt), \
                 $5$ (SHA-256-crypt), or plain:SECRET with allow_plaintext = true; \
                 make one with `ferroftpd hash-password`"
                    .into(),
            )
        }
    }

    /// True if `given` is the password. Slow for real hashes.
    /// The scheme and cost parameters of the hash, without salt or hash:
    /// hashes of one class take as long to check.
    fn cost_class(&self) -> String {
        let (scheme, hash) = match self {
            StoredPassword::Argon2id(h) => ("argon2id", h),
            StoredPassword::Bcrypt(h) => ("bcrypt", h),
            StoredPassword::Sha512Crypt(h) => ("sha512", h),
            StoredPassword::Sha256Crypt(h) => ("sha256", h),
            StoredPassword::Plain(_) => return "plain".to_owned(),
        };
        // `$id$params...$salt$hash`: the fields that name a cost.
        let params: Vec<&str> = hash
            .split('$')
            .filter(|f| f.contains('=') || f.chars().all(|c| c.is_ascii_digit()))
            .filter(|f| !f.is_empty())
            .collect();
        format!("{scheme} {}", params.join(" "))
    }

    fn verify(&self, given: &str) -> bool {
        match self {
            StoredPassword::Argon2id(hash) => {
                use argon2::password_hash::PasswordVerifier;
                argon2::PasswordHash::new(hash).is_ok_and(|h| {
                    argon2::Argon2::default()
                        .verify_password(given.as_bytes(), &h)
                        .is_ok()
                })
            }
            StoredPassword::Bcrypt(hash) => bcrypt::verify(given, hash).unwrap_or(false),
            StoredPassword::Sha512Crypt(hash) => sha_crypt::sha512_check(given, hash).is_ok(),
            StoredPassword::Sha256Crypt(hash) => sha_crypt::sha256_check(given, hash).is_ok(),
            StoredPassword::Plain(secret) => given.as_bytes().ct_eq(secret.as_bytes()).into(),
        }
    }
}

/// bcrypt's modular crypt form: `$2b$CC$` and 53 characters of bcrypt's
/// base64.
fn check_bcrypt_form(value: &str) -> Result<(), String> {
    let bad = || format!("bad bcrypt hash {value:?}: expected $2b$COST$ and 53 characters");
    let rest = &value[4..];
    let (cost, body) = rest.split_once('$').ok_or_else(bad)?;
    let cost: u32 = cost.parse().map_err(|_| bad())?;
    if !(4..=31).contains(&cost) || body.len() != 53 {
        return Err(bad());
    }
    if cost > MAX_BCRYPT_COST {
        return Err(format!(
            "bcrypt hash too costly: cost {cost}, at most {MAX_BCRYPT_COST} (each step doubles the time of a login)"
        ));
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    {
        return Err(bad());
    }
    Ok(())
}

/// `$N$[rounds=R$]SALT$HASH` with a hash of `len` characters.
fn check_sha_crypt_form(value: &str, len: usize) -> Result<(), String> {
    let bad = || {
        format!(
            "bad {} hash: expected {}[rounds=N$]SALT$HASH",
            if len == 86 {
                "SHA-512-crypt"
            } else {
                "SHA-256-crypt"
            },
            &value[..3]
        )
    };
    let hash = value[3..].rsplit('$').next().ok_or_else(bad)?;
    let fields = value[3..].split('$').count();
    if !(2..=3).contains(&fields) || hash.len() != len {
        return Err(bad());
    }
    let rounds = value[3..]
        .split('$')
        .find_map(|f| f.strip_prefix("rounds="))
        .map(|r| r.parse::<u64>().map_err(|_| bad()))
        .transpose()?;
    if rounds.is_some_and(|r| r > MAX_SHA_CRYPT_ROUNDS) {
        return Err(format!(
            "SHA-crypt hash too costly: at most rounds={MAX_SHA_CRYPT_ROUNDS}"
        ));
    }
    // The sha-crypt crate panics on a hash that is not canonical crypt
    // base64: try it once here, so that such a file is refused with an
    // error instead of bringing the server down at load or at login.
    let probe = value.to_owned();
    let checked = std::panic::catch_unwind(move || {
        if len == 86 {
            let _ = sha_crypt::sha512_check("", &probe);
        } else {
            let _ = sha_crypt::sha256_check("", &probe);
        }
    });
    if checked.is_err() {
        return Err(bad());
    }
    Ok(())
}

/// Most memory (KiB) and passes an argon2id hash may ask for: each login
/// and the calibration at load pay them.
const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
const MAX_ARGON2_PASSES: u32 = 64;
/// Highest bcrypt cost accepted (16 takes seconds per login).
const MAX_BCRYPT_COST: u32 = 15;
/// Most SHA-crypt rounds accepted (the default is 5,000).
const MAX_SHA_CRYPT_ROUNDS: u64 = 1_000_000;

/// An argon2id hash no password matches in practice, checked when the user
/// name is unknown so that the time taken does not reveal which names exist.
fn dummy_password() -> &'static StoredPassword {
    static DUMMY: OnceLock<StoredPassword> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let hash = hash_password(HashScheme::Argon2id, "\u{0}ferroftpd-no-such-user\u{0}")
            .unwrap_or_default();
        StoredPassword::Argon2id(hash)
    })
}

// ---- The file as written ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    allow_plaintext: bool,
    /// Settings of every `s3://` address in the file.
    #[serde(default)]
    s3: RawS3,
    #[serde(default)]
    user: Vec<Spanned<RawUser>>,
}

/// The `[s3]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawS3 {
    endpoint: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    virtual_host: Option<bool>,
    part_size: Option<Spanned<RawSize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    home: Spanned<PathBuf>,
    /// `s3://BUCKET[/PREFIX]`: the home is a path in that location.
    storage: Option<Spanned<String>>,
    perms: Option<Spanned<String>>,
    #[serde(default)]
    overrides: Vec<Spanned<RawOverride>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    login_message: Option<String>,
    quit_message: Option<String>,
    max_sessions: Option<u32>,
    read_limit: Option<Spanned<String>>,
    write_limit: Option<Spanned<String>>,
    #[serde(default)]
    networks: Vec<Spanned<String>>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    anonymous: bool,
    /// Folders mounted in the user's tree (`[[user.mount]]`).
    #[serde(default)]
    mount: Vec<Spanned<RawMount>>,
    quota_bytes: Option<Spanned<RawSize>>,
    quota_files: Option<u64>,
    /// Fake owner names in this user's listings, whatever the server's
    /// `hide_ids` says.
    hide_ids: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMount {
    path: String,
    storage: Spanned<String>,
    perms: Option<String>,
    size: Option<RawSize>,
}

/// A size: bytes, or text with a binary multiple (`512K`, `10M`, `2G`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSize {
    Bytes(u64),
    Text(String),
}

impl RawSize {
    fn bytes(&self) -> Result<u64, String> {
        let text = match self {
            RawSize::Bytes(n) => return Ok(*n),
            RawSize::Text(t) => t.trim(),
        };
        crate::storage::parse_size(text)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    dir: String,
    perms: String,
    #[serde(default)]
    recursive: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    path: String,
    #[serde(default)]
    readable: bool,
    #[serde(default)]
    writable: bool,
}

// ---- The users as served ----

#[derive(Debug)]
struct FileUser {
    name: String,
    /// `None` for the anonymous user: any password is accepted.
    password: Option<StoredPassword>,
    home: PathBuf,
    rules: Arc<PermissionRules>,
    login_message: Arc<str>,
    quit_message: Arc<str>,
    max_sessions: Option<u32>,
    read_limit: Option<Rate>,
    write_limit: Option<Rate>,
    networks: Vec<IpNet>,
    disabled: bool,
    /// Mounted folders and quota, when the user has either.
    storage_settings: Option<Arc<StorageSettings>>,
    hide_ids: Option<bool>,
}

#[derive(Debug, Default)]
struct Users {
    by_name: HashMap<String, Arc<FileUser>>,
    /// Every failed login takes at least this long (see [`Users::calibrate`]).
    failure_floor: std::time::Duration,
    /// The slowest of the file's hashes: what an unknown user's password
    /// is checked against.
    stand_in: Option<StoredPassword>,
    /// True if a user's storage or a mount is an `s3://` address.
    object_storage: bool,
}

impl Users {
    /// Times a wrong password against one hash of each scheme and cost in
    /// the file, and sets the floor every failed login is padded to: half
    /// again the slowest check. Without it a file that mixes schemes
    /// answers a wrong bcrypt password in hundreds of milliseconds and a
    /// wrong SHA-crypt one in a few, which tells names apart.
    fn calibrate(&mut self) {
        let mut classes: HashMap<String, StoredPassword> = HashMap::new();
        for user in self.by_name.values() {
            if let Some(p) = &user.password {
                classes.entry(p.cost_class()).or_insert_with(|| p.clone());
            }
        }
        if classes.is_empty() {
            classes.insert(String::new(), dummy_password().clone());
        }
        let mut slowest = std::time::Duration::ZERO;
        for password in classes.into_values() {
            // The longer of two runs: the first may pay for cold caches.
            let took = (0..2)
                .map(|_| {
                    let started = std::time::Instant::now();
                    let _ = password.verify("\0ferroftpd-calibration\0");
                    started.elapsed()
                })
                .max()
                .unwrap_or_default();
            if took >= slowest {
                slowest = took;
                self.stand_in = Some(password);
            }
        }
        self.failure_floor = slowest * 3 / 2;
    }
}

/// Users from a TOML file, re-read by [`UsersFile::reload`].
///
/// ```no_run
/// use std::sync::Arc;
/// use ferroftpd::auth::UsersFile;
/// let users = Arc::new(UsersFile::load("/etc/ferroftpd/users.toml").unwrap());
/// let server = ferroftpd::Server::builder().authorizer(users.clone()).build().unwrap();
/// // Later, on SIGHUP:
/// if let Err(e) = users.reload() {
///     eprintln!("{e}");
/// }
/// ```
#[derive(Debug)]
pub struct UsersFile {
    path: PathBuf,
    users: RwLock<Arc<Users>>,
    /// In-memory folders (`storage = "memory"`), kept across reloads.
    memory_folders: MemoryFolders,
}

/// The in-memory folders of a users file, by user and mount path.
type MemoryFolders = Arc<Mutex<HashMap<(String, VirtualPath), MemoryStorageFactory>>>;

/// Capacity of an in-memory folder whose mount says no `size`.
const DEFAULT_MEMORY_FOLDER_SIZE: u64 = 64 << 20;

impl UsersFile {
    /// Reads and checks the file: every home must be an existing
    /// directory (relative homes are relative to the file's directory),
    /// except the homes of users whose `storage` is an `s3://` address,
    /// which are paths in that location. Makes no request to an object
    /// store: a wrong endpoint or key shows at the first login.
    pub fn load(path: impl AsRef<Path>) -> Result<UsersFile, UsersFileError> {
        let path = path.as_ref().to_path_buf();
        let memory_folders = MemoryFolders::default();
        let users = read_users(&path, &memory_folders)?;
        Ok(UsersFile {
            path,
            users: RwLock::new(Arc::new(users)),
            memory_folders,
        })
    }

    /// Re-reads the file. On success the new users apply to the next
    /// login and the number of users is returned; on error the old users
    /// stay. Sessions already logged in keep going either way.
    pub fn reload(&self) -> Result<usize, UsersFileError> {
        let users = read_users(&self.path, &self.memory_folders)?;
        let count = users.by_name.len();
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(users);
        Ok(count)
    }

    /// Reads the file again into a new `UsersFile` that keeps this one's
    /// in-memory folders; this one is left as it is. For a reload that
    /// must succeed whole or not at all: the caller installs the new users
    /// only once everything else checked out.
    pub fn reread(&self) -> Result<UsersFile, UsersFileError> {
        let users = read_users(&self.path, &self.memory_folders)?;
        Ok(UsersFile {
            path: self.path.clone(),
            users: RwLock::new(Arc::new(users)),
            memory_folders: self.memory_folders.clone(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of users (the anonymous user counts once).
    pub fn len(&self) -> usize {
        self.snapshot().by_name.len()
    }

    /// True if the file has no users.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if a user's storage or a mounted folder is an `s3://` address
    /// (the server then reaches an object store over the network: name
    /// resolution, TLS roots and the AWS files are needed). Follows
    /// reloads.
    pub fn uses_object_storage(&self) -> bool {
        self.snapshot().object_storage
    }

    /// True if `username` is in the file (`ftp` and `anonymous` are the
    /// same user).
    pub fn has_user(&self, username: &str) -> bool {
        self.snapshot()
            .by_name
            .contains_key(canonical_name(username))
    }

    fn snapshot(&self) -> Arc<Users> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn canonical_name(username: &str) -> &str {
    if ANONYMOUS_NAMES.contains(&username) {
        "anonymous"
    } else {
        username
    }
}

fn read_users(path: &Path, memory: &MemoryFolders) -> Result<Users, UsersFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| UsersFileError {
        path: path.to_path_buf(),
        location: None,
        message: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut users = parse_users(&text, base, memory).map_err(|(span, message)| UsersFileError {
        path: path.to_path_buf(),
        location: span.map(|s| line_col(&text, s.start)),
        message,
    })?;
    users.calibrate();
    Ok(users)
}

type Problem = (Option<std::ops::Range<usize>>, String);

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn at<T>(spanned: &Spanned<T>, message: impl Into<String>) -> Problem {
    (Some(spanned.span()), message.into())
}

fn parse_users(text: &str, base: &Path, memory: &MemoryFolders) -> Result<Users, Problem> {
    let raw: RawFile = toml::from_str(text).map_err(|e| (e.span(), e.message().to_owned()))?;
    let mut users = Users::default();
    let mut stores = ObjectStores::new(&raw.s3)?;
    for entry in &raw.user {
        let user = parse_user(entry, raw.allow_plaintext, base, memory, &mut stores)?;
        if users.by_name.contains_key(&user.name) {
            return Err(at(entry, format!("user {:?} appears twice", user.name)));
        }
        users.by_name.insert(user.name.clone(), Arc::new(user));
    }
    users.object_storage = stores.used();
    Ok(users)
}

/// The object stores of one load of the file: the `[s3]` settings,
/// checked, and one factory per `s3://` location, shared by every user
/// and mount that names it (so one HTTP connection pool each).
#[derive(Debug)]
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
struct ObjectStores {
    endpoint: Option<String>,
    region: Option<String>,
    virtual_host: bool,
    part_size: Option<usize>,
    /// By bucket and key prefix.
    #[cfg(feature = "s3")]
    made: HashMap<(String, String), Arc<crate::storage::ObjectStorageFactory>>,
}

impl ObjectStores {
    /// Checks the `[s3]` table.
    fn new(raw: &RawS3) -> Result<ObjectStores, Problem> {
        let endpoint = match &raw.endpoint {
            Some(e) => match crate::storage::check_s3_endpoint(e.get_ref()) {
                Ok(()) => Some(e.get_ref().clone()),
                Err(crate::Error::Config(text)) => return Err(at(e, format!("endpoint {text}"))),
                Err(other) => return Err(at(e, format!("endpoint: {other}"))),
            },
            None => None,
        };
        let region = match &raw.region {
            Some(r) => {
                let text = r.get_ref();
                if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(at(
                        r,
                        format!("region {text:?}: expected a name such as us-east-1"),
                    ));
                }
                Some(text.clone())
            }
            None => None,
        };
        let part_size = match &raw.part_size {
            Some(p) => {
                let bytes = p
                    .get_ref()
                    .bytes()
                    .map_err(|m| at(p, format!("part_size: {m}")))?;
                #[cfg(feature = "s3")]
                crate::storage::check_part_size(bytes).map_err(|m| at(p, m))?;
                Some(usize::try_from(bytes).unwrap_or(usize::MAX))
            }
            None => None,
        };
        Ok(ObjectStores {
            endpoint,
            region,
            virtual_host: raw.virtual_host.unwrap_or(false),
            part_size,
            #[cfg(feature = "s3")]
            made: HashMap::new(),
        })
    }

    /// True if a factory was made.
    fn used(&self) -> bool {
        #[cfg(feature = "s3")]
        return !self.made.is_empty();
        #[cfg(not(feature = "s3"))]
        false
    }

    /// The factory of `url` (`s3://BUCKET[/PREFIX]`), made with the
    /// `[s3]` settings, or the one made for the same location before.
    #[cfg(feature = "s3")]
    fn open(
        &mut self,
        url: &Spanned<String>,
    ) -> Result<Arc<dyn crate::storage::StorageFactory>, Problem> {
        use crate::storage::ObjectStorageConfig;
        let text = url.get_ref();
        let problem = |e: crate::Error| {
            let message = match e {
                crate::Error::Config(m) => m,
                other => other.to_string(),
            };
            at(url, format!("storage {text:?}: {message}"))
        };
        let config = ObjectStorageConfig::from_url(text).map_err(problem)?;
        let key = (
            config.bucket_name().to_owned(),
            config.prefix_path().to_owned(),
        );
        if let Some(made) = self.made.get(&key) {
            return Ok(made.clone());
        }
        let mut config = config;
        if let Some(endpoint) = &self.endpoint {
            config = config.endpoint(endpoint);
        }
        if let Some(region) = &self.region {
            config = config.region(region);
        }
        if self.virtual_host {
            config = config.path_style(false);
        }
        if let Some(size) = self.part_size {
            config = config.part_size(size).map_err(problem)?;
        }
        let factory = Arc::new(config.build().map_err(problem)?);
        self.made.insert(key, factory.clone());
        Ok(factory)
    }

    #[cfg(not(feature = "s3"))]
    fn open(
        &mut self,
        url: &Spanned<String>,
    ) -> Result<Arc<dyn crate::storage::StorageFactory>, Problem> {
        Err(at(
            url,
            "s3:// storage needs ferroftpd built with the s3 feature",
        ))
    }
}

fn parse_user(
    entry: &Spanned<RawUser>,
    allow_plaintext: bool,
    base: &Path,
    memory: &MemoryFolders,
    stores: &mut ObjectStores,
) -> Result<FileUser, Problem> {
    let raw = entry.get_ref();
    let name = match (&raw.name, raw.anonymous) {
        (Some(n), true) => {
            if !ANONYMOUS_NAMES.contains(&n.get_ref().as_str()) {
                return Err(at(
                    n,
                    "the anonymous user's name must be \"anonymous\" or \"ftp\" (or left out)",
                ));
            }
            "anonymous".to_owned()
        }
        (None, true) => "anonymous".to_owned(),
        (Some(n), false) => {
            let name = n.get_ref();
            if name.is_empty() || name.chars().any(|c| c.is_control()) {
                return Err(at(n, "the user name is empty or has control characters"));
            }
            if ANONYMOUS_NAMES.contains(&name.as_str()) {
                return Err(at(
                    n,
                    format!("{name:?} is the anonymous user: write anonymous = true"),
                ));
            }
            name.clone()
        }
        (None, false) => return Err(at(entry, "a user needs a name")),
    };
    let password = match (&raw.password, raw.anonymous) {
        (Some(p), false) => {
            Some(StoredPassword::parse(p.get_ref(), allow_plaintext).map_err(|m| at(p, m))?)
        }
        (None, false) => return Err(at(entry, format!("user {name:?} has no password"))),
        (Some(p), true) => {
            return Err(at(
                p,
                "the anonymous user takes any password: leave password out",
            ))
        }
        (None, true) => None,
    };
    let home_storage = match &raw.storage {
        Some(url) if url.get_ref().starts_with("s3://") => Some(stores.open(url)?),
        Some(other) => {
            return Err(at(
                other,
                format!(
                    "storage {:?}: a user's storage is an s3://BUCKET[/PREFIX] address \
                     (leave it out for the server's storage)",
                    other.get_ref()
                ),
            ))
        }
        None => None,
    };
    let home = match home_storage {
        Some(_) => object_home(&raw.home)?,
        None => local_home(&raw.home, base)?,
    };
    let perms = |s: &str| s.parse::<Permissions>().map_err(|e| e.to_string());
    let base_perms = match &raw.perms {
        Some(p) => perms(p.get_ref()).map_err(|m| at(p, m))?,
        None => Permissions::READ,
    };
    let mut rules = PermissionRules::new(base_perms);
    let dir = |s: &str| {
        VirtualPath::root()
            .resolve(s.as_bytes())
            .map_err(|_| format!("bad directory {s:?}"))
    };
    for o in &raw.overrides {
        let ov = o.get_ref();
        let d = dir(&ov.dir).map_err(|m| at(o, m))?;
        let p = perms(&ov.perms).map_err(|m| at(o, m))?;
        rules.override_dir(d, p, ov.recursive);
    }
    for r in &raw.rules {
        let rule = r.get_ref();
        let d = dir(&rule.path).map_err(|m| at(r, m))?;
        let mut letters = String::new();
        if rule.readable {
            letters.push_str(READABLE);
        }
        if rule.writable {
            letters.push_str(WRITABLE);
        }
        let p = perms(&letters).map_err(|m| at(r, m))?;
        rules.override_dir(d, p, true);
    }
    let storage_settings =
        parse_storage(raw, &name, base, memory, stores, home_storage, &mut rules)?;
    if raw.anonymous
        && (base_perms.has_write() || !raw.overrides.is_empty() || !raw.rules.is_empty())
    {
        tracing::warn!("anonymous user in the users file may have write permissions");
    }
    let rate = |r: &Option<Spanned<String>>| -> Result<Option<Rate>, Problem> {
        r.as_ref()
            .map(|s| s.get_ref().parse::<Rate>().map_err(|m| at(s, m)))
            .transpose()
    };
    let mut networks = Vec::new();
    for n in &raw.networks {
        let s = n.get_ref().trim();
        let net = s
            .parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| {
                at(
                    n,
                    format!(
                        "bad network {s:?}: expected an address or a CIDR such as 192.168.0.0/16"
                    ),
                )
            })?;
        networks.push(net.trunc());
    }
    Ok(FileUser {
        name,
        password,
        home,
        rules: Arc::new(rules),
        login_message: raw
            .login_message
            .as_deref()
            .map_or_else(super::default_login_message, Arc::from),
        quit_message: raw
            .quit_message
            .as_deref()
            .map_or_else(super::default_quit_message, Arc::from),
        max_sessions: raw.max_sessions,
        read_limit: rate(&raw.read_limit)?,
        write_limit: rate(&raw.write_limit)?,
        networks,
        disabled: raw.disabled,
        storage_settings,
        hide_ids: raw.hide_ids,
    })
}

/// A home on the local filesystem: an existing directory, relative to the
/// users file's directory, made canonical.
fn local_home(home: &Spanned<PathBuf>, base: &Path) -> Result<PathBuf, Problem> {
    let path = home.get_ref();
    let path = if path.is_absolute() {
        path.clone()
    } else {
        base.join(path)
    };
    let dir = path
        .canonicalize()
        .map_err(|e| at(home, format!("home {}: {e}", path.display())))?;
    if !dir.is_dir() {
        return Err(at(
            home,
            format!("home {} is not a directory", dir.display()),
        ));
    }
    Ok(dir)
}

/// A home in an object store: a path below the location's prefix (`/`
/// for all of it, `/alice` for `PREFIX/alice/`), not looked for on disk.
fn object_home(home: &Spanned<PathBuf>) -> Result<PathBuf, Problem> {
    let text = home.get_ref().to_string_lossy();
    let path = VirtualPath::root().resolve(text.as_bytes()).map_err(|_| {
        at(
            home,
            format!("bad home {text:?}: expected a path such as /alice"),
        )
    })?;
    Ok(PathBuf::from(path.to_string_lossy().into_owned()))
}

/// Where the user's home is served from (`home_storage`, from `storage`),
/// the user's mounted folders (each with its permissions as a recursive
/// override) and quota.
fn parse_storage(
    raw: &RawUser,
    user: &str,
    base: &Path,
    memory: &MemoryFolders,
    stores: &mut ObjectStores,
    home_storage: Option<Arc<dyn crate::storage::StorageFactory>>,
    rules: &mut PermissionRules,
) -> Result<Option<Arc<StorageSettings>>, Problem> {
    let quota_bytes = match &raw.quota_bytes {
        Some(q) => Some(
            q.get_ref()
                .bytes()
                .map_err(|m| at(q, format!("quota_bytes: {m}")))?,
        ),
        None => None,
    };
    let quota = (quota_bytes.is_some() || raw.quota_files.is_some()).then_some(QuotaLimits {
        max_bytes: quota_bytes,
        max_files: raw.quota_files,
    });
    let mut mounts: Vec<Mount> = Vec::new();
    for m in &raw.mount {
        let spec = m.get_ref();
        let path = VirtualPath::root()
            .resolve(spec.path.as_bytes())
            .map_err(|_| at(m, format!("bad mount path {:?}", spec.path)))?;
        if path.is_root() {
            return Err(at(m, "a folder cannot be mounted at / (that is the home)"));
        }
        if mounts.iter().any(|other| other.path == path) {
            return Err(at(m, format!("two folders are mounted at {path}")));
        }
        let storage = spec.storage.get_ref();
        let (factory, home) = if storage == "memory" {
            let size = match &spec.size {
                Some(size) => size.bytes().map_err(|e| at(m, format!("size: {e}")))?,
                None => DEFAULT_MEMORY_FOLDER_SIZE,
            };
            let mut folders = memory.lock().unwrap_or_else(|e| e.into_inner());
            // The same folder after a reload, unless its size changed.
            let folder = folders
                .entry((user.to_owned(), path.clone()))
                .or_insert_with(|| MemoryStorageFactory::new(size));
            if folder.capacity() != size {
                *folder = MemoryStorageFactory::new(size);
            }
            let factory: Arc<dyn crate::storage::StorageFactory> = Arc::new(folder.clone());
            (factory, PathBuf::from("/"))
        } else {
            if spec.size.is_some() {
                return Err(at(m, "size is for storage = \"memory\""));
            }
            if storage.starts_with("s3://") {
                // The folder is the location itself, from its prefix.
                (stores.open(&spec.storage)?, PathBuf::from("/"))
            } else {
                mount_source(storage, base).map_err(|e| at(&spec.storage, e))?
            }
        };
        if let Some(p) = &spec.perms {
            let perms = p.parse::<Permissions>().map_err(|e| at(m, e.to_string()))?;
            rules.override_dir(path.clone(), perms, true);
        }
        mounts.push(Mount {
            path,
            factory,
            home,
        });
    }
    if home_storage.is_none() && quota.is_none() && mounts.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(StorageSettings {
        home_storage,
        mounts,
        quota,
    })))
}

/// What serves a mounted folder whose `storage` is a local directory
/// (relative to the users file's directory).
fn mount_source(
    storage: &str,
    base: &Path,
) -> Result<(Arc<dyn crate::storage::StorageFactory>, PathBuf), String> {
    if storage.contains("://") {
        return Err(format!(
            "storage {storage:?}: a local directory, \"memory\" or an s3://BUCKET[/PREFIX] \
             address can be mounted"
        ));
    }
    let dir = base.join(storage);
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("storage {}: {e}", dir.display()))?;
    if !dir.is_dir() {
        return Err(format!("storage {} is not a directory", dir.display()));
    }
    Ok((Arc::new(LocalStorageFactory), dir))
}

/// True if `ip` is in one of `networks`, or there are none. IPv4 clients
/// on a dual-stack socket (`::ffff:a.b.c.d`) match IPv4 networks.
fn network_allows(networks: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    networks.is_empty() || networks.iter().any(|n| n.contains(&ip))
}

#[async_trait]
impl Authorizer for UsersFile {
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
        context: &LoginContext,
    ) -> Result<Account, AuthError> {
        let started = tokio::time::Instant::now();
        let name = canonical_name(username);
        let users = self.snapshot();
        let result = check(&users, name, password, context).await;
        if result.is_err() {
            // Every failure takes as long, whatever the account's scheme,
            // or whether it exists.
            tokio::time::sleep_until(started + users.failure_floor).await;
        }
        result
    }
}

/// Checks `password` for `name`; on success, the account.
async fn check(
    users: &Users,
    name: &str,
    password: &Password,
    context: &LoginContext,
) -> Result<Account, AuthError> {
    let user = users.by_name.get(name).cloned();
    let Some(user) = user else {
        // The same work as a real user's check: the file's slowest hash.
        let stand_in = users
            .stand_in
            .clone()
            .unwrap_or_else(|| dummy_password().clone());
        let given = password.expose().to_owned();
        let _ = tokio::task::spawn_blocking(move || stand_in.verify(&given)).await;
        return Err(if name == "anonymous" {
            AuthError::AnonymousDisabled
        } else {
            AuthError::BadCredentials
        });
    };
    if let Some(stored) = &user.password {
        let given = password.expose().to_owned();
        let stored = stored.clone();
        let ok = tokio::task::spawn_blocking(move || stored.verify(&given))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(AuthError::BadCredentials);
        }
    }
    // The same reply as a wrong password: a client that may not log in
    // must not learn whether its password was right. The reason is in
    // the log.
    if user.disabled {
        tracing::info!(user = %user.name, "login refused: account disabled");
        return Err(AuthError::BadCredentials);
    }
    if !network_allows(&user.networks, context.client.ip()) {
        tracing::info!(user = %user.name, client = %context.client.ip(), "login refused: address not in the user's networks");
        return Err(AuthError::BadCredentials);
    }
    let mut account = Account::new(user.name.clone(), user.home.clone(), Permissions::NONE);
    account.rules = user.rules.clone();
    account.login_message = user.login_message.clone();
    account.quit_message = user.quit_message.clone();
    account.anonymous = user.password.is_none();
    account.max_sessions = user.max_sessions;
    account.read_limit = user.read_limit;
    account.write_limit = user.write_limit;
    account.storage_settings = user.storage_settings.clone();
    account.hide_ids = user.hide_ids;
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_forms() {
        for bad in [
            "$2b$12$short",
            "$6$salt$short",
            "$5$x",
            "md5:abc",
            "$argon2id$nonsense",
            // Not canonical crypt base64: the sha-crypt crate would panic.
            "$5$s$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZF4PUyEAH",
            // Too costly to check at every login (and at load).
            "$argon2id$v=19$m=4000000,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
            "$2b$20$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "$6$rounds=99999999$salt$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(StoredPassword::parse(bad, false).is_err(), "{bad}");
        }
        assert!(StoredPassword::parse("plain:x", false).is_err());
        assert!(StoredPassword::parse("plain:x", true).is_ok());
    }

    #[test]
    fn schemes_round_trip() {
        for scheme in [HashScheme::Sha512Crypt, HashScheme::Sha256Crypt] {
            let h = hash_password(scheme, "pw").unwrap();
            let stored = StoredPassword::parse(&h, false).unwrap();
            assert!(stored.verify("pw"), "{scheme}");
            assert!(!stored.verify("pW"), "{scheme}");
        }
    }

    #[test]
    fn networks() {
        let nets = vec!["10.0.0.0/8".parse::<IpNet>().unwrap()];
        assert!(network_allows(&nets, "10.1.2.3".parse().unwrap()));
        assert!(network_allows(&nets, "::ffff:10.1.2.3".parse().unwrap()));
        assert!(!network_allows(&nets, "11.1.2.3".parse().unwrap()));
        assert!(network_allows(&[], "11.1.2.3".parse().unwrap()));
    }

    /// Writes `text` as a users file in a fresh directory (with a `home`
    /// directory in it) and loads it.
    fn load_text(text: &str) -> (tempfile::TempDir, Result<UsersFile, UsersFileError>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = UsersFile::load(&path);
        (dir, loaded)
    }

    const USER: &str =
        "allow_plaintext = true\n[[user]]\nname = \"alice\"\npassword = \"plain:pw\"\n";

    /// The line of a load error, after checking that its text has `needle`
    /// and is one line that starts with the file.
    fn error_line(text: &str, needle: &str) -> usize {
        let (dir, loaded) = load_text(text);
        let e = loaded.expect_err(text);
        let shown = e.to_string();
        assert!(shown.contains(needle), "{shown}");
        assert!(!shown.contains('\n'), "{shown}");
        assert!(
            shown.starts_with(&dir.path().join("users.toml").display().to_string()),
            "{shown}"
        );
        e.location.expect("a line").0
    }

    #[cfg(not(feature = "s3"))]
    #[test]
    fn s3_storage_needs_the_feature() {
        let needle = "s3:// storage needs ferroftpd built with the s3 feature";
        let user = format!("{USER}home = \"/\"\nstorage = \"s3://bucket\"\n");
        assert_eq!(error_line(&user, needle), 6);
        let mount = format!(
            "{USER}home = \"home\"\n[[user.mount]]\npath = \"/a\"\nstorage = \"s3://bucket/x\"\n"
        );
        assert_eq!(error_line(&mount, needle), 8);
        // An [s3] table alone is no error; its values are still checked.
        let (_dir, loaded) = load_text(&format!(
            "{USER}home = \"home\"\n[s3]\nregion = \"eu-west-1\"\n"
        ));
        assert!(!loaded.unwrap().uses_object_storage());
        assert_eq!(error_line("[s3]\nendpoint = \"ftp://x\"\n", "http://"), 2);
    }

    #[cfg(feature = "s3")]
    mod s3 {
        use super::*;

        fn settings(users: &UsersFile, name: &str) -> Arc<StorageSettings> {
            users.snapshot().by_name[name]
                .storage_settings
                .clone()
                .expect("storage settings")
        }

        fn same(
            a: &Arc<dyn crate::storage::StorageFactory>,
            b: &Arc<dyn crate::storage::StorageFactory>,
        ) -> bool {
            std::ptr::eq(Arc::as_ptr(a) as *const (), Arc::as_ptr(b) as *const ())
        }

        #[test]
        fn users_and_mounts_in_s3() {
            let text = format!(
                "{USER}home = \"/alice\"\nstorage = \"s3://bucket/ftp\"\nquota_bytes = \"1M\"\n\
                 [[user.mount]]\npath = \"/archive\"\nstorage = \"s3://bucket/archive\"\n\
                 perms = \"elr\"\n\
                 [[user]]\nname = \"bob\"\npassword = \"plain:pw\"\nhome = \"/\"\n\
                 storage = \"s3://bucket/ftp/\"\n\
                 [[user]]\nname = \"carol\"\npassword = \"plain:pw\"\nhome = \"home\"\n\
                 [[user.mount]]\npath = \"/archive\"\nstorage = \"s3://bucket/archive\"\n\
                 [s3]\nendpoint = \"http://127.0.0.1:8333\"\nregion = \"eu-west-1\"\n\
                 virtual_host = false\npart_size = \"16M\"\n"
            );
            let (dir, loaded) = load_text(&text);
            let users = loaded.unwrap();
            assert!(users.uses_object_storage());
            let snapshot = users.snapshot();
            // A home in S3 is a path there, not a directory on disk.
            assert_eq!(snapshot.by_name["alice"].home, Path::new("/alice"));
            assert_eq!(snapshot.by_name["bob"].home, Path::new("/"));
            assert_eq!(
                snapshot.by_name["carol"].home,
                dir.path().join("home").canonicalize().unwrap()
            );
            let alice = settings(&users, "alice");
            let bob = settings(&users, "bob");
            let carol = settings(&users, "carol");
            assert!(alice.quota.is_some() && carol.home_storage.is_none());
            // One factory per location: "ftp" and "ftp/" are the same.
            let (a, b) = (
                alice.home_storage.as_ref().unwrap(),
                bob.home_storage.as_ref().unwrap(),
            );
            assert!(same(a, b));
            assert!(same(&alice.mounts[0].factory, &carol.mounts[0].factory));
            assert!(!same(a, &alice.mounts[0].factory));
            assert_eq!(alice.mounts[0].home, Path::new("/"));
            // The mount's perms are an override at its path.
            let rules = &snapshot.by_name["alice"].rules;
            let archive = VirtualPath::root()
                .join(b"archive")
                .unwrap()
                .join(b"f")
                .unwrap();
            assert!(!rules.at(&archive).has_write());
            // A reload makes the stores again.
            assert_eq!(users.reload().unwrap(), 3);
            assert!(users.uses_object_storage());
            std::fs::write(users.path(), format!("{USER}home = \"home\"\n")).unwrap();
            users.reload().unwrap();
            assert!(!users.uses_object_storage());
        }

        #[test]
        fn bad_s3_values_name_their_line() {
            for (text, needle, line) in [
                ("[s3]\nendpoint = \"ftp://x\"\n".to_owned(), "http:// or https://", 2),
                ("[s3]\nregion = \"\"\n".to_owned(), "region", 2),
                ("[s3]\n\npart_size = \"1M\"\n".to_owned(), "5 MiB to 5 GiB", 3),
                ("[s3]\npart_size = \"lots\"\n".to_owned(), "part_size", 2),
                ("[s3]\nbucket = \"x\"\n".to_owned(), "unknown field", 2),
                (
                    format!("{USER}home = \"/\"\nstorage = \"s3://Bad_Bucket\"\n"),
                    "not an S3 bucket name",
                    6,
                ),
                (
                    format!("{USER}home = \"/\"\nstorage = \"s3://bucket/a/../b\"\n"),
                    "not a usable key prefix",
                    6,
                ),
                (
                    format!("{USER}home = \"/\"\nstorage = \"memory\"\n"),
                    "a user's storage is an s3://",
                    6,
                ),
                (
                    format!("{USER}home = \"home\"\n[[user.mount]]\npath = \"/a\"\nstorage = \"s3://x\"\n"),
                    "not an S3 bucket name",
                    8,
                ),
                (
                    format!(
                        "{USER}home = \"home\"\n[[user.mount]]\npath = \"/a\"\n\
                         storage = \"s3://bucket\"\nsize = \"1M\"\n"
                    ),
                    "size is for storage",
                    6,
                ),
                (
                    format!("{USER}home = \"home\"\n[[user.mount]]\npath = \"/a\"\nstorage = \"ftp://host\"\n"),
                    "s3://BUCKET[/PREFIX] address can be mounted",
                    8,
                ),
            ] {
                assert_eq!(error_line(&text, needle), line, "{text}");
            }
        }
    }

    #[test]
    fn errors_name_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(
            &path,
            "[[user]]\nname = \"bob\"\npassword = \"$9$nope\"\nhome = \".\"\n",
        )
        .unwrap();
        let e = UsersFile::load(&path).unwrap_err();
        assert_eq!(e.location.map(|l| l.0), Some(3), "{e}");
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
        std::fs::write(&path, "[[user]]\nname = \"bob\"\nbogus = 1\n").unwrap();
        let e = UsersFile::load(&path).unwrap_err();
        assert_eq!(e.location.map(|l| l.0), Some(3), "{e}");
    }
}
