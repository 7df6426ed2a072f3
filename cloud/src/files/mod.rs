//! The file store: files written to a local directory and to S3, and a file
//! server over both ("mount S3 as a file system").
//!
//! Reads go to S3 first when it is configured. If S3 does not answer, the
//! local copy is served; if S3 answers "no such key", the local directory is
//! checked too (a file written while S3 was down). So a file is reachable as
//! long as either side has it.

pub mod access;
mod key;
mod local;
mod range;
mod response;
mod s3;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;

pub use key::FileKey;
pub use range::ByteRange;

use response::{Outcome, Request};

/// After S3 failed to answer, reads try the local copy first for this long,
/// so a page full of images does not wait out S3's timeout for each one.
const S3_DOWN_GRACE: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("invalid file key: {0}")]
    InvalidKey(&'static str),
    #[error("local file store: {operation} {}: {source}", path.display())]
    Local {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("local file store: {} resolves outside the files directory", .0.display())]
    Escape(PathBuf),
    #[error("S3 {operation} s3://{bucket}/{key} failed: {detail}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        /// The AWS error code, when AWS answered with one.
        code: Option<String>,
        detail: String,
    },
}

/// Where in S3 the files live.
#[derive(Debug, Clone)]
pub struct S3Location {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    /// Prepended verbatim to every key (e.g. `prod/`).
    pub prefix: String,
}

/// Files on local disk and, when configured, in S3. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    local_root: PathBuf,
    s3: Option<S3Location>,
    /// Until when S3 counts as down (see [`S3_DOWN_GRACE`]).
    s3_down_until: Mutex<Option<Instant>>,
}

/// Headers for a file that belongs to conversations, not the public:
/// caches may keep it only per user and must revalidate (cheap: ETag +
/// 304), and a stored file is whatever a customer sent, so opened directly
/// it must not run script in our origin (`<img>` on a page is unaffected).
pub fn mark_private(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("sandbox; default-src 'none'"),
    );
}

impl FileStore {
    pub fn new(local_root: PathBuf, s3: Option<S3Location>) -> FileStore {
        FileStore {
            inner: Arc::new(Inner {
                local_root,
                s3,
                s3_down_until: Mutex::new(None),
            }),
        }
    }

    pub fn local_root(&self) -> &Path {
        &self.inner.local_root
    }

    pub fn s3(&self) -> Option<&S3Location> {
        self.inner.s3.as_ref()
    }

    /// The S3 object key for `key` (with the prefix), when S3 is configured.
    pub fn s3_key(&self, key: &FileKey) -> Option<String> {
        self.inner.s3.as_ref().map(|loc| s3::object_key(loc, key))
    }

    /// Writes the local copy, then uploads to S3 when configured.
    ///
    /// An `Err` after the local write means only the upload failed; calling
    /// `put` again with the same bytes is safe (both writes replace).
    pub async fn put(
        &self,
        key: &FileKey,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), FileError> {
        local::write(&self.inner.local_root, key, &bytes, content_type).await?;
        if let Some(loc) = &self.inner.s3 {
            s3::put(loc, key, bytes, content_type).await?;
        }
        Ok(())
    }

    /// Answers a GET or HEAD for `key` (the percent-decoded path after the
    /// mount point): streamed body, `Range` (206/416), `If-None-Match` (304).
    pub async fn serve(&self, method: &Method, key: &str, headers: &HeaderMap) -> Response {
        let head = match *method {
            Method::GET => false,
            Method::HEAD => true,
            _ => return response::method_not_allowed(),
        };
        let key = match FileKey::parse(key) {
            Ok(key) => key,
            Err(e) => return response::plain(StatusCode::BAD_REQUEST, &format!("{e}\n")),
        };
        let header_str = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let req = Request {
            head,
            range: header_str(header::RANGE).and_then(ByteRange::parse),
            if_none_match: header_str(header::IF_NONE_MATCH),
        };
        self.lookup(&key, &req).await.into_response()
    }

    async fn lookup(&self, key: &FileKey, req: &Request<'_>) -> Outcome {
        let Some(loc) = &self.inner.s3 else {
            return self.local(key, req).await;
        };
        let local_first = self.s3_recently_down();
        if local_first {
            match self.local(key, req).await {
                Outcome::NotFound => {}
                found => return found,
            }
        }
        match s3::fetch(loc, key, req).await {
            Ok(Outcome::NotFound) => {
                self.set_s3_down(false);
                tracing::debug!(key = %key, "not in S3; trying the local copy");
                if local_first {
                    Outcome::NotFound
                } else {
                    self.local(key, req).await
                }
            }
            Ok(outcome) => {
                self.set_s3_down(false);
                outcome
            }
            Err(failure) => {
                tracing::warn!(
                    service = "S3",
                    operation = failure.operation,
                    aws_error_code = failure.code.as_deref().unwrap_or("-"),
                    bucket = %loc.bucket,
                    key = %key,
                    error = %failure.detail,
                    "S3 read failed; serving the local copy if there is one"
                );
                if failure.unavailable {
                    self.set_s3_down(true);
                }
                let fallback = if local_first {
                    Outcome::NotFound
                } else {
                    self.local(key, req).await
                };
                match fallback {
                    Outcome::NotFound if failure.unavailable => Outcome::Unavailable,
                    other => other,
                }
            }
        }
    }

    async fn local(&self, key: &FileKey, req: &Request<'_>) -> Outcome {
        match local::fetch(&self.inner.local_root, key, req).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(key = %key, error = %e, "local file read failed");
                Outcome::Failed
            }
        }
    }

    fn s3_recently_down(&self) -> bool {
        let guard = self
            .inner
            .s3_down_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.is_some_and(|until| Instant::now() < until)
    }

    fn set_s3_down(&self, down: bool) {
        let mut guard = self
            .inner
            .s3_down_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = down.then(|| Instant::now() + S3_DOWN_GRACE);
    }
}
