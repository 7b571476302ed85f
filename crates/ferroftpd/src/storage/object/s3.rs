//! The few S3 calls made without OpenDAL: a multipart upload whose parts
//! mix uploaded bytes with server-side copies of an existing object.
//!
//! Why not OpenDAL: APPE and REST+STOR must grow an object without
//! downloading and re-uploading it. S3 can do that with a multipart upload
//! whose first part is an `UploadPartCopy` of the existing object, but
//! OpenDAL 0.57 offers no such call: its writer owns its multipart upload
//! and never lets a part be a copy, and its copier copies whole objects
//! only. So this module makes these five calls itself (create, upload
//! part, upload part copy, complete, abort, plus listing pending uploads),
//! signed by the same reqsign crates and sent by the same reqwest client
//! that OpenDAL uses. Everything else goes through OpenDAL.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, StatusCode};
use reqsign_aws_v4::Credential;
use reqsign_core::Signer;

use super::super::{ErrorKind, StorageError, StorageResult};

/// The smallest part S3 takes, except for the last part of an upload.
pub(super) const MIN_PART: u64 = 5 << 20;

/// The largest part S3 takes, copied or uploaded.
pub(super) const MAX_PART: u64 = 5 << 30;

/// The most parts one multipart upload may have.
pub(super) const MAX_PARTS: u32 = 10_000;

/// A bucket, and how to reach and sign for it.
#[derive(Clone)]
pub(super) struct S3Client {
    pub(super) http: reqwest::Client,
    pub(super) signer: Arc<Signer<Credential>>,
    /// `scheme://host[:port]`, without a path.
    pub(super) endpoint: String,
    pub(super) bucket: String,
    /// `https://BUCKET.host/KEY` rather than `https://host/BUCKET/KEY`.
    pub(super) virtual_host: bool,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("virtual_host", &self.virtual_host)
            .finish_non_exhaustive()
    }
}

/// A part of a multipart upload: its number and the ETag S3 gave it.
pub(super) type Part = (u32, String);

/// CompleteMultipartUpload and UploadPartCopy can fail after a 200 has
/// been sent: the error is then in the body, perhaps after the spaces sent
/// to keep the connection open. No successful answer has an `<Error>`
/// element (keys are escaped).
fn failed_after_200(body: &[u8]) -> bool {
    tag(body, "Error").is_some()
}

/// Whether CompleteMultipartUpload's answer is its result: an empty or cut
/// body after the 200 is not a completed upload.
fn completed(body: &[u8]) -> bool {
    find(body, b"<CompleteMultipartUploadResult").is_some() && !failed_after_200(body)
}

impl S3Client {
    fn url(&self, key: &str, query: &str) -> String {
        let key = encode(key, true);
        let base = if self.virtual_host {
            match self.endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{}.{host}/{key}", self.bucket),
                None => format!("{}.{}/{key}", self.bucket, self.endpoint),
            }
        } else {
            format!("{}/{}/{key}", self.endpoint, self.bucket)
        };
        if query.is_empty() {
            base
        } else {
            format!("{base}?{query}")
        }
    }

    /// Sends a signed request; the status, headers and body of a 2xx
    /// answer, or the error it stands for.
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> StorageResult<(HeaderMap, Bytes)> {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(HeaderName::from_static(name), value.as_str());
        }
        let (mut parts, ()) = builder
            .body(())
            .map_err(|e| other(format!("S3 request to {url}: {e}")))?
            .into_parts();
        self.signer
            .sign(&mut parts, None)
            .await
            .map_err(|e| logged(ErrorKind::PermissionDenied, format!("S3 signing: {e}")))?;
        // reqwest sets Host itself (as OpenDAL's S3 service lets it).
        parts.headers.remove(http::header::HOST);
        let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(|e| other(format!("S3 request to {url}: {e}")))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| busy(format!("S3 request failed: {e}")))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| busy(format!("S3 answer cut short: {e}")))?;
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        if failed_after_200(&body) {
            return Err(status_error(StatusCode::INTERNAL_SERVER_ERROR, &body));
        }
        Ok((headers, body))
    }

    /// CreateMultipartUpload: the new upload's id.
    pub(super) async fn create_upload(&self, key: &str) -> StorageResult<String> {
        let url = self.url(key, "uploads");
        let (_, body) = self.send(Method::POST, &url, &[], Bytes::new()).await?;
        tag(&body, "UploadId").ok_or_else(|| other("S3 gave no UploadId".to_owned()))
    }

    /// UploadPart: the part's ETag.
    pub(super) async fn upload_part(
        &self,
        key: &str,
        upload: &str,
        number: u32,
        data: Bytes,
    ) -> StorageResult<String> {
        let url = self.url(key, &part_query(number, upload));
        let length = [("content-length", data.len().to_string())];
        let (headers, _) = self.send(Method::PUT, &url, &length, data).await?;
        headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| other("S3 gave no ETag for a part".to_owned()))
    }

    /// UploadPartCopy of bytes `range` of `source`, which must still have
    /// the ETag `etag` (else the upload fails with `Busy`: the file
    /// changed meanwhile). Returns the part's ETag.
    pub(super) async fn upload_part_copy(
        &self,
        key: &str,
        upload: &str,
        number: u32,
        source: &str,
        etag: &str,
        range: Range<u64>,
    ) -> StorageResult<String> {
        let url = self.url(key, &part_query(number, upload));
        let headers = [
            (
                "x-amz-copy-source",
                format!("/{}/{}", self.bucket, encode(source, true)),
            ),
            (
                "x-amz-copy-source-range",
                format!("bytes={}-{}", range.start, range.end - 1),
            ),
            ("x-amz-copy-source-if-match", etag.to_owned()),
        ];
        let (_, body) = self.send(Method::PUT, &url, &headers, Bytes::new()).await?;
        tag(&body, "ETag").ok_or_else(|| other("S3 gave no ETag for a copied part".to_owned()))
    }

    /// CompleteMultipartUpload: the object appears, whole, in one step.
    pub(super) async fn complete(
        &self,
        key: &str,
        upload: &str,
        parts: &[Part],
    ) -> StorageResult<()> {
        let url = self.url(key, &format!("uploadId={}", encode(upload, false)));
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (number, etag) in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
                escape(etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let length = [("content-length", xml.len().to_string())];
        let (_, body) = self
            .send(Method::POST, &url, &length, Bytes::from(xml))
            .await?;
        if !completed(&body) {
            return Err(status_error(StatusCode::INTERNAL_SERVER_ERROR, &body));
        }
        Ok(())
    }

    /// AbortMultipartUpload: the parts are freed; nothing appears.
    pub(super) async fn abort(&self, key: &str, upload: &str) -> StorageResult<()> {
        let url = self.url(key, &format!("uploadId={}", encode(upload, false)));
        self.send(Method::DELETE, &url, &[], Bytes::new())
            .await
            .map(drop)
    }

    /// ListMultipartUploads under `prefix`: the keys of uploads begun and
    /// neither completed nor aborted (first 1,000).
    pub(super) async fn pending_uploads(&self, prefix: &str) -> StorageResult<Vec<String>> {
        let query = format!("uploads&prefix={}", encode(prefix, false));
        let url = self.url("", &query);
        let (_, body) = self.send(Method::GET, &url, &[], Bytes::new()).await?;
        let mut keys = Vec::new();
        let mut rest = &body[..];
        while let Some(at) = find(rest, b"<Upload>") {
            rest = &rest[at + 8..];
            let end = find(rest, b"</Upload>").unwrap_or(rest.len());
            if let Some(key) = tag(&rest[..end], "Key") {
                keys.push(key);
            }
            rest = &rest[end..];
        }
        Ok(keys)
    }
}

fn part_query(number: u32, upload: &str) -> String {
    format!("partNumber={number}&uploadId={}", encode(upload, false))
}

/// An error of `kind` whose details (they name the endpoint, bucket and
/// keys) go to the log; the client gets the kind's reply.
fn logged(kind: ErrorKind, detail: String) -> StorageError {
    tracing::warn!(error = %detail, "object storage");
    StorageError::new(kind, None)
}

fn other(detail: String) -> StorageError {
    logged(ErrorKind::Other, detail)
}

fn busy(detail: String) -> StorageError {
    logged(ErrorKind::Busy, detail)
}

/// The storage error for an S3 error answer.
fn status_error(status: StatusCode, body: &[u8]) -> StorageError {
    let code = tag(body, "Code").unwrap_or_default();
    let text = match tag(body, "Message") {
        Some(m) => format!("S3: {code} ({status}): {m}"),
        None => format!("S3: {code} ({status})"),
    };
    let kind = match (status.as_u16(), code.as_str()) {
        (_, "NoSuchKey" | "NoSuchUpload" | "NoSuchBucket") | (404, _) => ErrorKind::NotFound,
        // The copy source changed since it was looked at.
        (412, _) | (_, "PreconditionFailed") => {
            return StorageError::new(
                ErrorKind::Busy,
                "The file changed during the transfer; try again.".to_owned(),
            )
        }
        (_, "EntityTooLarge") => ErrorKind::FileTooLarge,
        (401 | 403, _) => ErrorKind::PermissionDenied,
        (408 | 409 | 429, _) | (500..=599, _) | (_, "SlowDown") => ErrorKind::Busy,
        _ => ErrorKind::Other,
    };
    logged(kind, text)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The text of the first `<name>` element in `xml`, unescaped. S3's
/// answers are small and flat enough that no XML parser is needed.
fn tag(xml: &[u8], name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = find(xml, open.as_bytes())? + open.len();
    let len = find(&xml[start..], close.as_bytes())?;
    let text = std::str::from_utf8(&xml[start..start + len]).ok()?;
    Some(unescape(text))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// S3's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` (and `/` in a
/// key's path) as `%XX`.
pub(super) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_uri_encoded() {
        assert_eq!(encode("a b/ü+%.txt", true), "a%20b/%C3%BC%2B%25.txt");
        assert_eq!(encode("a/b", false), "a%2Fb");
    }

    #[test]
    fn errors_after_a_200_are_seen_whatever_comes_first() {
        let late = b"  \n  <?xml version=\"1.0\"?><Error><Code>InternalError</Code></Error>";
        assert!(failed_after_200(late));
        assert!(!completed(late));
        assert!(!completed(b""));
        assert!(!completed(b"    "));
        let ok = b"<?xml version=\"1.0\"?>\n<CompleteMultipartUploadResult><Key>k</Key>\
                   <ETag>&quot;x-2&quot;</ETag></CompleteMultipartUploadResult>";
        assert!(completed(ok) && !failed_after_200(ok));
        assert!(!failed_after_200(
            b"<ListBucketResult><Key>&lt;Error&gt;</Key></ListBucketResult>"
        ));
    }

    #[test]
    fn tags_are_found_and_unescaped() {
        let xml = b"<?xml?><R><ETag>&quot;abc&quot;</ETag><Key>a&amp;b</Key></R>";
        assert_eq!(tag(xml, "ETag").as_deref(), Some("\"abc\""));
        assert_eq!(tag(xml, "Key").as_deref(), Some("a&b"));
        assert_eq!(tag(xml, "UploadId"), None);
    }

    #[test]
    fn errors_have_kinds() {
        let body = b"<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
        let e = status_error(StatusCode::NOT_FOUND, body);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.message(), None);
        assert_eq!(
            status_error(StatusCode::SERVICE_UNAVAILABLE, b"").kind(),
            ErrorKind::Busy
        );
        assert_eq!(
            status_error(StatusCode::FORBIDDEN, b"").kind(),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            status_error(StatusCode::PRECONDITION_FAILED, b"").kind(),
            ErrorKind::Busy
        );
    }
}
