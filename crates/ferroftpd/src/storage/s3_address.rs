//! `s3://BUCKET[/PREFIX]` addresses, checked the same way whatever the
//! crate's features, so that a configuration naming S3 storage is checked
//! (and refused with the right words) by a build without the `s3` feature
//! too.

use crate::Error;

/// A bucket, and the key prefix inside it everything is kept under.
///
/// ```
/// use ferroftpd::storage::S3Address;
/// let a = S3Address::parse("s3://my-bucket/ftp/in")?;
/// assert_eq!((a.bucket(), a.prefix()), ("my-bucket", "ftp/in/"));
/// assert!(S3Address::parse("s3://My_Bucket").is_err());
/// # Ok::<(), ferroftpd::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Address {
    bucket: String,
    prefix: String,
}

impl S3Address {
    /// `s3://BUCKET` or `s3://BUCKET/PREFIX`. Errors for another scheme, a
    /// name S3 refuses as a bucket (3 to 63 lowercase letters, digits, dots
    /// and hyphens), and a prefix with empty components (`a//b`), `.` or
    /// `..`.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            Error::Config(format!("{url:?} is not an s3://BUCKET[/PREFIX] address"))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket)?;
        Ok(S3Address {
            bucket: bucket.to_owned(),
            prefix: normalize_prefix(prefix)?,
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix: empty, or ending with `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// Errors unless `url` is an `http://` or `https://` address with
/// something after the scheme: the forms an S3 endpoint can take.
pub fn check_s3_endpoint(url: &str) -> Result<(), Error> {
    match url.split_once("://") {
        Some(("http" | "https", rest)) if !rest.is_empty() => Ok(()),
        _ => Err(Error::Config(format!(
            "{url:?}: expected an http:// or https:// address"
        ))),
    }
}

/// Errors for a name S3 refuses as a bucket.
pub(crate) fn check_bucket(bucket: &str) -> Result<(), Error> {
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-']);
    if valid {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{bucket:?} is not an S3 bucket name (3 to 63 lowercase letters, digits, dots \
             and hyphens)"
        )))
    }
}

/// `ftp`, `ftp/` and `/ftp/` as `ftp/`; empty stays empty. Errors for
/// empty components (`a//b`) and `.` or `..`.
pub(crate) fn normalize_prefix(prefix: &str) -> Result<String, Error> {
    let trimmed = prefix.trim_matches('/');
    let parts: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
    if trimmed.contains("//") || parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(Error::Config(format!(
            "{prefix:?} is not a usable key prefix"
        )));
    }
    Ok(parts.iter().map(|p| format!("{p}/")).collect())
}
