//! What a lookup found, and the HTTP response for it. Shared by the S3 and
//! local back ends so both answer with the same headers and status codes.

use std::time::SystemTime;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::range::{none_match, ByteRange};

/// A GET or HEAD as the back ends see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub head: bool,
    pub range: Option<ByteRange>,
    pub if_none_match: Option<&'a str>,
}

/// An object's representation metadata.
#[derive(Debug, Clone)]
pub(crate) struct ObjectMeta {
    pub len: u64,
    pub content_type: String,
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
}

/// The result of looking a key up in one back end (or both).
pub(crate) enum Outcome {
    /// The object, or the `(first, last)` part of it, with its body (empty for HEAD).
    Found {
        meta: ObjectMeta,
        part: Option<(u64, u64)>,
        body: Body,
    },
    NotModified {
        etag: Option<String>,
        last_modified: Option<SystemTime>,
    },
    /// The range lies outside the object; `len` when known.
    Unsatisfiable {
        len: Option<u64>,
    },
    NotFound,
    /// Only S3 could have it and S3 is unreachable.
    Unavailable,
    /// The local store failed (permissions, disk); already logged.
    Failed,
}

/// What to send for `meta` given the request's conditional and range headers.
pub(crate) enum Decision {
    NotModified,
    Unsatisfiable,
    Whole,
    Part(u64, u64),
}

pub(crate) fn decide(meta: &ObjectMeta, req: &Request<'_>) -> Decision {
    // RFC 9110 §13.2.2: If-None-Match is evaluated before Range.
    if let (Some(header), Some(etag)) = (req.if_none_match, meta.etag.as_deref()) {
        if none_match(header, etag) {
            return Decision::NotModified;
        }
    }
    match req.range {
        None => Decision::Whole,
        Some(range) => match range.resolve(meta.len) {
            Some((first, last)) => Decision::Part(first, last),
            None => Decision::Unsatisfiable,
        },
    }
}

impl Outcome {
    pub(crate) fn into_response(self) -> Response {
        match self {
            Outcome::Found { meta, part, body } => found(&meta, part, body),
            Outcome::NotModified {
                etag,
                last_modified,
            } => {
                let mut res = StatusCode::NOT_MODIFIED.into_response();
                let headers = res.headers_mut();
                insert(headers, header::ETAG, etag.as_deref());
                insert(
                    headers,
                    header::LAST_MODIFIED,
                    last_modified.map(httpdate::fmt_http_date).as_deref(),
                );
                res
            }
            Outcome::Unsatisfiable { len } => {
                let mut res = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                let headers = res.headers_mut();
                insert(
                    headers,
                    header::CONTENT_RANGE,
                    len.map(|len| format!("bytes */{len}")).as_deref(),
                );
                headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
                res
            }
            Outcome::NotFound => plain(StatusCode::NOT_FOUND, "not found\n"),
            Outcome::Unavailable => {
                let mut res = plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "file storage is unreachable; try again shortly\n",
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                res
            }
            Outcome::Failed => plain(StatusCode::INTERNAL_SERVER_ERROR, "file storage error\n"),
        }
    }
}

fn found(meta: &ObjectMeta, part: Option<(u64, u64)>, body: Body) -> Response {
    let (status, len) = match part {
        Some((first, last)) => (StatusCode::PARTIAL_CONTENT, last - first + 1),
        None => (StatusCode::OK, meta.len),
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let headers = res.headers_mut();
    insert(
        headers,
        header::CONTENT_TYPE,
        Some(meta.content_type.as_str()),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    insert(headers, header::ETAG, meta.etag.as_deref());
    insert(
        headers,
        header::LAST_MODIFIED,
        meta.last_modified.map(httpdate::fmt_http_date).as_deref(),
    );
    if let Some((first, last)) = part {
        insert(
            headers,
            header::CONTENT_RANGE,
            Some(&format!("bytes {first}-{last}/{}", meta.len)),
        );
    }
    // Stored files include whatever customers send; never let a browser
    // second-guess the declared type into something executable.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// A plain-text response (errors).
pub(crate) fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_string(),
    )
        .into_response()
}

pub(crate) fn method_not_allowed() -> Response {
    let mut res = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    res
}

/// Inserts `value` when present and a valid header value (S3 metadata is
/// not guaranteed to be).
fn insert(headers: &mut axum::http::HeaderMap, name: header::HeaderName, value: Option<&str>) {
    if let Some(Ok(v)) = value.map(HeaderValue::from_str) {
        headers.insert(name, v);
    }
}
