//! `GET`/`HEAD /files/{*key}`: stored files (MMS media, transcripts) for
//! agents, with the same Basic credentials as the agent WebSocket. Served
//! from S3 with the local copy as fallback (see `switchboard_cloud::files`).

use super::{agent_auth, AppState};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
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
    switchboard_cloud::files::mark_private(&mut res);
    res
}
