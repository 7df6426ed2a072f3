//! Agent HTTP Basic authentication, shared by every agent-facing endpoint
//! (the WebSocket upgrade and the file server).

use super::AppState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

/// The agent's name when the Basic credentials are valid.
pub(super) fn authenticate(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (name, password) = decoded.split_once(':')?;
    state
        .config
        .agents
        .check(name, password)
        .then(|| name.to_string())
}

/// The 401 that asks for agent credentials.
pub(super) fn challenge() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"switchboard agents\"",
        )],
        "agent credentials required (HTTP Basic auth)",
    )
        .into_response()
}
