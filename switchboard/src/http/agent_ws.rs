//! The agent WebSocket endpoint: authenticate, then hand the socket to the hub.
//!
//! Credentials come as HTTP Basic auth on the upgrade request, so an
//! unauthenticated client is refused with 401 before a single frame flows.
//! Only the leader routes: on any other instance the upgrade is refused
//! at once with 503 and `Retry-After`, which the proxy answers by trying
//! the next instance and a client by reconnecting.

use super::{agent_auth, AppState};
use crate::hub;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use tracing::Instrument;

/// Seconds a client is told to wait before retrying a follower.
const RETRY_AFTER_SECS: &str = "1";

pub async fn upgrade(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Before the password check: a follower answers at once, and a wrong
    // password is told only by the instance that could serve the agent.
    let Some(term) = state.role.current() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECS)],
            "not the leader; retry (through the proxy) to reach it",
        )
            .into_response();
    };
    let agent = match agent_auth::authenticate(&state, peer, &headers).await {
        Ok(agent) => agent,
        Err(refused) => return refused,
    };
    if *state.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    ws.max_message_size(hub::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            // Upgraded sockets outlive axum's graceful shutdown; the tracker
            // lets shutdown wait until each has sent its `shutting_down`.
            let tracker = state.agent_sockets.clone();
            // Every line of this socket's tasks names the agent.
            let span = tracing::info_span!("agent_socket", agent = %agent);
            let socket = hub::connection::serve(socket, agent, state, term);
            tracker.track_future(crate::telemetry::count_agent_socket(socket).instrument(span))
        })
}
