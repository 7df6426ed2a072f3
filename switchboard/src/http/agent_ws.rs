//! The agent WebSocket endpoint: authenticate, then hand the socket to the hub.
//!
//! Credentials come as HTTP Basic auth on the upgrade request, so an
//! unauthenticated client is refused with 401 before a single frame flows.

use super::{agent_auth, AppState};
use crate::hub;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(agent) = agent_auth::authenticate(&state, &headers) else {
        return agent_auth::challenge();
    };
    if *state.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    ws.max_message_size(hub::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            // Upgraded sockets outlive axum's graceful shutdown; the tracker
            // lets shutdown wait until each has sent its `shutting_down`.
            let tracker = state.agent_sockets.clone();
            tracker.track_future(hub::connection::serve(socket, agent, state))
        })
}
