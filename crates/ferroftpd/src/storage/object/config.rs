//! Where the objects are: `ObjectStorageConfig`, and the OpenDAL operator
//! and S3 client built from it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqsign_aws_v4::{DefaultCredentialProvider, RequestSigner, StaticCredentialProvider};
use reqsign_core::{Context, OsEnv, ProvideCredentialChain, Signer};

use super::s3::{S3Client, MAX_PART, MIN_PART};
use super::{ObjectStorageFactory, Settings};
use crate::Error;

/// The part size of uploads unless set: 8 MiB, S3's minimum (5 MiB) with
/// room, and what the AWS tools use. An upload holds about one part in
/// memory, and S3 allows 10,000 parts, so files up to 78 GiB.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;

/// The entries a listing asks for per request unless set: 1,000, the
/// most S3's `ListObjectsV2` gives.
pub const DEFAULT_LIST_PAGE: usize = 1000;

/// The region unless set (SeaweedFS, MinIO and most S3-compatible stores
/// accept any).
pub const DEFAULT_REGION: &str = "us-east-1";

/// How long connecting to the store may take: a dead endpoint fails the
/// command (450) instead of holding it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the store may send nothing while a request waits on it: a
/// stalled connection fails the transfer (450) rather than hold a blocking
/// thread forever. Long, as a large `UploadPartCopy` or
/// `CompleteMultipartUpload` answers only when done (S3 sends spaces
/// meanwhile, which count as data).
const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Where an [`ObjectStorageFactory`] keeps files: a bucket, a prefix
/// inside it, and how to reach it.
///
/// ```
/// use ferroftpd::storage::ObjectStorageConfig;
/// let config = ObjectStorageConfig::from_url("s3://my-bucket/ftp")?
///     .endpoint("http://127.0.0.1:8333")
///     .region("eu-west-1")
///     .part_size(16 << 20)?;
/// assert_eq!(config.bucket_name(), "my-bucket");
/// assert_eq!(config.prefix_path(), "ftp/");
/// # Ok::<(), ferroftpd::Error>(())
/// ```
///
/// Credentials, unless given with [`ObjectStorageConfig::credentials`],
/// come from the standard AWS sources, in this order: the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), the
/// shared files (`~/.aws/credentials` and `~/.aws/config`, profile
/// `AWS_PROFILE` or `default`), then the instance metadata service.
#[derive(Clone)]
pub struct ObjectStorageConfig {
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    region: String,
    path_style: Option<bool>,
    credentials: Option<(String, String, Option<String>)>,
    part_size: usize,
    list_page: usize,
    recursive_dir_rename: bool,
}

impl fmt::Debug for ObjectStorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStorageConfig")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("credentials", &self.credentials.as_ref().map(|_| "****"))
            .field("part_size", &self.part_size)
            .field("list_page", &self.list_page)
            .field("recursive_dir_rename", &self.recursive_dir_rename)
            .finish()
    }
}

fn config_error(text: String) -> Error {
    Error::Config(text)
}

/// Checks an upload part size against S3's limits (5 MiB to 5 GiB), for
/// settings read before any [`ObjectStorageConfig`] is made.
pub(crate) fn check_part_size(bytes: u64) -> Result<(), String> {
    if (MIN_PART..=MAX_PART).contains(&bytes) {
        Ok(())
    } else {
        Err(format!(
            "part size {bytes} is outside S3's limits (5 MiB to 5 GiB)"
        ))
    }
}

impl ObjectStorageConfig {
    /// The bucket `bucket`, from its root. Errors for a name S3 refuses
    /// (3 to 63 lowercase letters, digits, dots and hyphens).
    pub fn new(bucket: &str) -> Result<Self, Error> {
        crate::storage::s3_address::check_bucket(bucket)?;
        Ok(ObjectStorageConfig {
            bucket: bucket.to_owned(),
            prefix: String::new(),
            endpoint: None,
            region: DEFAULT_REGION.to_owned(),
            path_style: None,
            credentials: None,
            part_size: DEFAULT_PART_SIZE,
            list_page: DEFAULT_LIST_PAGE,
            recursive_dir_rename: false,
        })
    }

    /// `s3://BUCKET` or `s3://BUCKET/PREFIX`: the bucket, and the key
    /// prefix under which everything is kept (homes are below it).
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let address = crate::storage::S3Address::parse(url)?;
        Self::new(address.bucket())?.prefix(address.prefix())
    }

    /// The key prefix everything is kept under, like a directory: `ftp`
    /// or `ftp/` keep `/a.txt` as `ftp/a.txt`. Default: none (the
    /// bucket's root). Errors for empty components (`a//b`) and `.` or `..`.
    pub fn prefix(mut self, prefix: &str) -> Result<Self, Error> {
        self.prefix = crate::storage::s3_address::normalize_prefix(prefix)?;
        Ok(self)
    }

    /// The S3 endpoint, e.g. `http://127.0.0.1:8333`. Default: AWS
    /// (`https://s3.REGION.amazonaws.com`).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// The region requests are signed for. Default: `us-east-1`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Path-style addressing (`ENDPOINT/BUCKET/KEY`) rather than virtual
    /// hosts (`BUCKET.ENDPOINT/KEY`). Default: path style with an
    /// [`endpoint`](Self::endpoint) (what S3-compatible stores need),
    /// virtual hosts on AWS.
    pub fn path_style(mut self, on: bool) -> Self {
        self.path_style = Some(on);
        self
    }

    /// Credentials to sign with, instead of the standard AWS sources.
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.credentials = Some((
            access_key_id.into(),
            secret_access_key.into(),
            session_token,
        ));
        self
    }

    /// The size of the parts uploads are sent in, 5 MiB to 5 GiB. Each
    /// upload holds about one part in memory. Default:
    /// [`DEFAULT_PART_SIZE`] (8 MiB).
    pub fn part_size(mut self, bytes: usize) -> Result<Self, Error> {
        check_part_size(bytes as u64).map_err(config_error)?;
        self.part_size = bytes;
        Ok(self)
    }

    /// The entries asked for per listing request, 1 to 1,000. Default:
    /// [`DEFAULT_LIST_PAGE`].
    pub fn list_page_size(mut self, entries: usize) -> Result<Self, Error> {
        if !(1..=1000).contains(&entries) {
            return Err(config_error(format!(
                "list page size {entries} is outside 1 to 1000"
            )));
        }
        self.list_page = entries;
        Ok(self)
    }

    /// Whether RNFR/RNTO of a directory moves it object by object (a
    /// server-side copy and a delete for each), rather than refuse with
    /// 502. Not in one step: a failure half-way leaves the directory split
    /// between the two names, and the reply says how many objects moved.
    /// Default: off.
    pub fn recursive_dir_rename(mut self, on: bool) -> Self {
        self.recursive_dir_rename = on;
        self
    }

    /// The bucket.
    pub fn bucket_name(&self) -> &str {
        &self.bucket
    }

    /// The key prefix, empty or ending with `/`.
    pub fn prefix_path(&self) -> &str {
        &self.prefix
    }

    /// Makes the factory. Makes no request: a wrong endpoint or key shows
    /// at the first login (530) or operation.
    ///
    /// The HTTP client is reqwest over rustls with the ring provider, the
    /// one ferroftpd's TLS uses: if the process has no default rustls
    /// `CryptoProvider` yet, ring's is installed as the default (reqwest
    /// needs one).
    pub fn build(self) -> Result<ObjectStorageFactory, Error> {
        if let Some(endpoint) = &self.endpoint {
            crate::storage::check_s3_endpoint(endpoint)?;
        }
        // Ignored when one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| {
                // reqwest's own text is "builder error": the cause (such
                // as the system's certificates that could not be read) is
                // in its sources.
                let mut text = format!("HTTP client for S3: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    text.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                config_error(text)
            })?;
        let path_style = self.path_style.unwrap_or(self.endpoint.is_some());
        let endpoint = self
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region));

        let mut builder = opendal::services::S3::default()
            .bucket(&self.bucket)
            .region(&self.region)
            .endpoint(&endpoint)
            .root("/");
        if !path_style {
            builder = builder.enable_virtual_host_style();
        }
        if let Some((id, secret, token)) = &self.credentials {
            builder = builder.access_key_id(id).secret_access_key(secret);
            if let Some(token) = token {
                builder = builder.session_token(token);
            }
        }
        let op = opendal::Operator::new(builder)
            .map_err(|e| config_error(format!("S3 storage: {e}")))?
            .layer(opendal::layers::HttpClientLayer::new(
                opendal::raw::HttpClient::with(http.clone()),
            ))
            .finish();

        let ctx = Context::new()
            .with_file_read(reqsign_file_read_tokio::TokioFileRead)
            .with_http_send(HttpSend(http.clone()))
            .with_env(OsEnv);
        let mut provider =
            ProvideCredentialChain::new().push(DefaultCredentialProvider::builder().build());
        if let Some((id, secret, token)) = &self.credentials {
            let mut fixed = StaticCredentialProvider::new(id, secret);
            if let Some(token) = token {
                fixed = fixed.with_session_token(token);
            }
            provider = provider.push_front(fixed);
        }
        let signer = Signer::new(ctx, provider, RequestSigner::new("s3", &self.region));
        let s3 = S3Client {
            http,
            signer: Arc::new(signer),
            endpoint,
            bucket: self.bucket.clone(),
            virtual_host: !path_style,
        };
        let settings = Settings {
            prefix: self.prefix,
            part_size: self.part_size,
            list_page: self.list_page,
            recursive_dir_rename: self.recursive_dir_rename,
        };
        Ok(ObjectStorageFactory::with_parts(
            op,
            Some(Arc::new(s3)),
            settings,
        ))
    }
}

/// reqsign's credential sources (instance metadata, STS) over the same
/// HTTP client.
#[derive(Debug)]
struct HttpSend(reqwest::Client);

impl reqsign_core::HttpSend for HttpSend {
    async fn http_send(
        &self,
        req: http::Request<Bytes>,
    ) -> reqsign_core::Result<http::Response<Bytes>> {
        let fail = |e: reqwest::Error| reqsign_core::Error::unexpected(format!("HTTP: {e}"));
        let req = reqwest::Request::try_from(req).map_err(fail)?;
        let resp = self.0.execute(req).await.map_err(fail)?;
        let mut out = http::Response::builder().status(resp.status());
        for (name, value) in resp.headers() {
            out = out.header(name, value);
        }
        let body = resp.bytes().await.map_err(fail)?;
        out.body(body)
            .map_err(|e| reqsign_core::Error::unexpected(format!("HTTP: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_bucket_and_prefix() {
        let c = ObjectStorageConfig::from_url("s3://bucket").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.bucket_name(), c.prefix_path()), ("bucket", ""));
        let c = ObjectStorageConfig::from_url("s3://b-1.x/a/b/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.bucket_name(), c.prefix_path()), ("b-1.x", "a/b/"));
        for bad in [
            "http://b",
            "s3://",
            "s3://Upper",
            "s3://b",
            "s3://bucket/a//b",
            "s3://bucket/../x",
        ] {
            assert!(ObjectStorageConfig::from_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_are_checked() {
        let c = ObjectStorageConfig::new("bucket").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.clone().part_size(1 << 20).is_err());
        assert!(c.clone().part_size(5 << 20).is_ok());
        assert!(c.clone().list_page_size(0).is_err());
        assert!(c.list_page_size(1000).is_ok());
    }
}
