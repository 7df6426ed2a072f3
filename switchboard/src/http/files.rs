//! `GET`/`HEAD /files/{*key}`: stored files (MMS media) for agents, with the
//! same Basic credentials as the agent WebSocket. Served from S3 with the
//! local copy as fallback (see `switchboard_cloud::files`).
//!
//! An agent reads only what `switchboard_cloud::files::access` allows: the
//! media of a conversation the routes say they hold now. Everything else is
//! 403, decided before the file is looked up (so a refusal says nothing about
//! whether the file exists).

use super::{agent_auth, AppState};
use crate::store::RouteRecord;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use switchboard_cloud::files::access::reader_conversation;
use switchboard_cloud::files::FileKey;

/// Mount point of the file server.
pub const FILES_PATH: &str = "/files/{*key}";

pub async fn serve(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    key: Result<Path<String>, PathRejection>,
) -> Response {
    // Credentials before anything about the path, so strangers learn nothing.
    let agent = match agent_auth::authenticate(&state, peer, &headers).await {
        Ok(agent) => agent,
        Err(refused) => return refused,
    };
    let Path(key) = match key {
        Ok(key) => key,
        Err(rejection) => return rejection.into_response(),
    };
    // An invalid key is refused by `serve` below, with its reason.
    if let Ok(parsed) = FileKey::parse(&key) {
        if !may_read(&state, &agent, &parsed).await {
            tracing::info!(agent = %agent, key = %parsed, "file read refused: not a conversation this agent holds");
            return (
                StatusCode::FORBIDDEN,
                "not a file of a conversation you hold",
            )
                .into_response();
        }
    }
    let mut res = state.files.serve(&method, &key, &headers).await;
    switchboard_cloud::files::mark_private(&mut res);
    res
}

/// Whether `agent` holds the conversation `key` belongs to (by the store's
/// routes, the source of truth on every instance).
async fn may_read(state: &AppState, agent: &str, key: &FileKey) -> bool {
    match reader_conversation(key) {
        Some(conversation) => holds(state, agent, conversation).await,
        None => false,
    }
}

/// Whether the routes say `agent` holds `conversation` now (also the rule
/// of who may upload a picture to it: `media.rs`).
pub(super) async fn holds(state: &AppState, agent: &str, conversation: &str) -> bool {
    match state.routing.routes().await {
        Ok(routes) => routes.iter().any(|(id, route)| {
            id == conversation
                && matches!(route, RouteRecord::Assigned { agent: holder, .. } if holder == agent)
        }),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the routes to authorize a file read");
            false
        }
    }
}
