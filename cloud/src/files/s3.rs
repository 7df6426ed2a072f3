//! The S3 side of the file store: streamed reads that tell "not there" apart
//! from "S3 did not answer", and uploads.

use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use axum::body::Body;
use bytes::Bytes;

use super::local::guess_type;
use super::range::total_from_content_range;
use super::response::{decide, Decision, ObjectMeta, Outcome, Request};
use super::{FileError, FileKey, S3Location};
use crate::aws::{describe_error, error_code, http_status, is_unavailable};

/// Why S3 gave no answer the file server can use.
#[derive(Debug)]
pub(crate) struct ReadFailure {
    pub operation: &'static str,
    pub code: Option<String>,
    pub detail: String,
    /// No connection, a timeout or a 5xx: S3 may well have the object.
    pub unavailable: bool,
}

impl ReadFailure {
    fn new<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        ReadFailure {
            operation,
            code: error_code(err),
            detail: describe_error(err),
            unavailable: is_unavailable(err),
        }
    }
}

/// Reads serve a person waiting for a page: give up on S3 quickly and use the
/// local copy rather than spend the SDK's full retry budget.
fn read_override() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default()
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(4))
                .operation_timeout(Duration::from_secs(9))
                .build(),
        )
}

pub(crate) fn object_key(loc: &S3Location, key: &FileKey) -> String {
    format!("{}{}", loc.prefix, key.as_str())
}

fn to_system_time(t: Option<&DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn content_type(declared: Option<&str>, key: &FileKey) -> String {
    match declared {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => guess_type(key),
    }
}

/// Looks `key` up in S3. `Ok(Outcome::NotFound)` means S3 answered that it
/// has no such object.
pub(crate) async fn fetch(
    loc: &S3Location,
    key: &FileKey,
    req: &Request<'_>,
) -> Result<Outcome, ReadFailure> {
    if req.head {
        return head(loc, key, req).await;
    }
    let result = loc
        .client
        .get_object()
        .bucket(&loc.bucket)
        .key(object_key(loc, key))
        .set_range(req.range.map(|r| r.to_header()))
        .set_if_none_match(req.if_none_match.map(str::to_string))
        .customize()
        .config_override(read_override())
        .send()
        .await;
    let out = match result {
        Ok(out) => out,
        Err(err) => {
            return match http_status(&err) {
                Some(404) => Ok(Outcome::NotFound),
                Some(304) => {
                    let etag = err
                        .raw_response()
                        .and_then(|r| r.headers().get("etag"))
                        .map(str::to_string);
                    let last_modified = err
                        .raw_response()
                        .and_then(|r| r.headers().get("last-modified"))
                        .and_then(|v| httpdate::parse_http_date(v).ok());
                    if etag.is_some() {
                        return Ok(Outcome::NotModified {
                            etag,
                            last_modified,
                        });
                    }
                    // LocalStack's 304 leaves out the ETag that HTTP requires
                    // there (RFC 9110 §15.4.5); HEAD says what it is.
                    let again = Request {
                        range: None,
                        head: true,
                        ..*req
                    };
                    Ok(match head(loc, key, &again).await {
                        Ok(outcome @ Outcome::NotModified { .. }) => outcome,
                        _ => Outcome::NotModified {
                            etag,
                            last_modified,
                        },
                    })
                }
                Some(416) => {
                    // S3 does not say how long the object is; HEAD does.
                    let len = match head(
                        loc,
                        key,
                        &Request {
                            range: None,
                            if_none_match: None,
                            head: true,
                        },
                    )
                    .await
                    {
                        Ok(Outcome::Found { meta, .. }) => Some(meta.len),
                        _ => None,
                    };
                    Ok(Outcome::Unsatisfiable { len })
                }
                _ => Err(ReadFailure::new("GetObject", &err)),
            };
        }
    };
    let part_len = out.content_length().and_then(|l| u64::try_from(l).ok());
    let (len, part) = match out.content_range() {
        Some(cr) => {
            let total = total_from_content_range(cr);
            let part = cr
                .strip_prefix("bytes ")
                .and_then(|r| r.split_once('/'))
                .and_then(|(span, _)| span.split_once('-'))
                .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
            (total.or(part_len).unwrap_or(0), part)
        }
        None => (part_len.unwrap_or(0), None),
    };
    let meta = ObjectMeta {
        len,
        content_type: content_type(out.content_type(), key),
        etag: out.e_tag().map(str::to_string),
        last_modified: to_system_time(out.last_modified()),
    };
    // An emulator (or proxy) may ignore If-None-Match; check it here too.
    if let Decision::NotModified = decide(
        &meta,
        &Request {
            range: None,
            ..*req
        },
    ) {
        return Ok(Outcome::NotModified {
            etag: meta.etag,
            last_modified: meta.last_modified,
        });
    }
    Ok(Outcome::Found {
        meta,
        part,
        body: stream_body(out.body),
    })
}

async fn head(loc: &S3Location, key: &FileKey, req: &Request<'_>) -> Result<Outcome, ReadFailure> {
    let result = loc
        .client
        .head_object()
        .bucket(&loc.bucket)
        .key(object_key(loc, key))
        .customize()
        .config_override(read_override())
        .send()
        .await;
    let out = match result {
        Ok(out) => out,
        Err(err) if http_status(&err) == Some(404) => return Ok(Outcome::NotFound),
        Err(err) => return Err(ReadFailure::new("HeadObject", &err)),
    };
    let meta = ObjectMeta {
        len: out
            .content_length()
            .and_then(|l| u64::try_from(l).ok())
            .unwrap_or(0),
        content_type: content_type(out.content_type(), key),
        etag: out.e_tag().map(str::to_string),
        last_modified: to_system_time(out.last_modified()),
    };
    Ok(match decide(&meta, req) {
        Decision::NotModified => Outcome::NotModified {
            etag: meta.etag,
            last_modified: meta.last_modified,
        },
        Decision::Unsatisfiable => Outcome::Unsatisfiable {
            len: Some(meta.len),
        },
        Decision::Whole => Outcome::Found {
            meta,
            part: None,
            body: Body::empty(),
        },
        Decision::Part(first, last) => Outcome::Found {
            meta,
            part: Some((first, last)),
            body: Body::empty(),
        },
    })
}

/// S3's body as an HTTP body, chunk by chunk: the object is never held whole.
fn stream_body(body: ByteStream) -> Body {
    let chunks = futures_util::stream::unfold(body, |mut body| async move {
        body.next().await.map(|chunk| (chunk, body))
    });
    Body::from_stream(chunks)
}

/// Uploads `bytes` as `key`.
pub(crate) async fn put(
    loc: &S3Location,
    key: &FileKey,
    bytes: Bytes,
    content_type: &str,
) -> Result<(), FileError> {
    let object_key = object_key(loc, key);
    loc.client
        .put_object()
        .bucket(&loc.bucket)
        .key(&object_key)
        .content_type(content_type)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map(|_| ())
        .map_err(|err| FileError::S3 {
            operation: "PutObject",
            bucket: loc.bucket.clone(),
            key: object_key,
            code: error_code(&err),
            detail: describe_error(&err),
        })
}
