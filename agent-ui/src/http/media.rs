//! `POST /media/{conversation}`: the console uploads a picture to send; this
//! forwards it, with the signed-in agent's credentials, to the switchboard's
//! `POST /v1/media/{conversation}`, which checks it (only the agent holding
//! the conversation; JPEG, PNG or GIF by its bytes; at most 5 MB) and stores
//! it in the file store, and hands back the status and JSON as they came
//! (`201 {url, content_type, bytes}`, or `{code, message}`).
//!
//! Cross-site requests cannot use it: the session cookie is `SameSite=Strict`
//! and a request whose `Origin` is another site is refused.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;

use super::browser_ws::same_origin;
use super::session::{CurrentSession, NotSignedIn};
use super::AppState;

/// Most bytes read from the browser (the switchboard's own limit, 5 MB;
/// anything larger is refused here without being forwarded).
const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
/// An upload the switchboard takes longer to store is answered 504.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "code": code, "message": message })),
    )
        .into_response()
}

pub async fn upload(
    State(state): State<AppState>,
    session: Result<CurrentSession, NotSignedIn>,
    headers: HeaderMap,
    Path(conversation): Path<String>,
    body: Body,
) -> Response {
    let session = match session {
        Ok(CurrentSession(session)) => session,
        Err(not_signed_in) => return not_signed_in.into_response(),
    };
    if !same_origin(&headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "uploads come from the console only",
        );
    }
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "broken_upload",
                "the upload broke off",
            );
        };
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_UPLOAD_BYTES {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "at most 5 MB (5,242,880 bytes) can be sent",
            );
        }
    }
    let upstream = &state.history;
    let url = match upstream.media_upload_url(&conversation) {
        Ok(url) => url,
        Err(e) => {
            tracing::warn!(error = %e, "no switchboard upload URL");
            return refuse(
                StatusCode::BAD_GATEWAY,
                "unavailable",
                "the switchboard cannot be reached",
            );
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let sent = upstream
        .client()
        .post(url)
        .timeout(UPSTREAM_TIMEOUT)
        .basic_auth(&session.agent, Some(session.password()))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(bytes)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(error = %e, "the switchboard's picture upload did not answer");
            let status = if e.is_timeout() {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            return refuse(status, "unavailable", "the switchboard cannot be reached");
        }
    };
    match super::history::relay(answer).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, "the switchboard's upload answer broke off");
            refuse(
                StatusCode::BAD_GATEWAY,
                "unavailable",
                "the switchboard's answer broke off",
            )
        }
    }
}
