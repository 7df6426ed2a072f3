//! `GET`/`HEAD /files/{*key}`: stored files (MMS media, transcripts) for
//! agents, with the same Basic credentials as the agent WebSocket. Served
//! from S3 with the local copy as fallback (see `switchboard_cloud::files`).

use super::{agent_auth, AppState};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};

/// Mount point of the file server.
pub const FILES_PATH: &str = "/files/{*key}";

pub async fn serve(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    key: Result<Path<String>, PathRejection>,
) -> Response {
    // Credentials before anything about the path, so strangers learn nothing.
    if agent_auth::authenticate(&state, &headers).is_none() {
        return agent_auth::challenge();
    }
    let Path(key) = match key {
        Ok(key) => key,
        Err(rejection) => return rejection.into_response(),
    };
    let mut res = state.files.serve(&method, &key, &headers).await;
    let headers = res.headers_mut();
    // Conversation media is private: caches may keep it only per user, and
    // must revalidate (cheap: ETag + 304).
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    // A stored file is whatever a customer sent; opened directly it must not
    // run script in our origin.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    res
}
