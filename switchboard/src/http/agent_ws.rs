//! The agent WebSocket endpoint: authenticate, then hand the socket to the hub.
//!
//! Credentials come as HTTP Basic auth on the upgrade request, so an
//! unauthenticated client is refused with 401 before a single frame flows.

use super::AppState;
use crate::hub;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(agent) = authenticate(&state, &headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"switchboard agents\"",
            )],
            "agent credentials required (HTTP Basic auth)",
        )
            .into_response();
    };
    if *state.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    ws.max_message_size(256 * 1024)
        .on_upgrade(move |socket| hub::connection::serve(socket, agent, state))
}

/// The agent's name when the Basic credentials are valid.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Option<String> {
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
