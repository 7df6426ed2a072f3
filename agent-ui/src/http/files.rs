//! `GET`/`HEAD /files/{*key}`: the switchboard's stored files (MMS media) for
//! signed-in agents, from S3 with the local `FILES_DIR` as fallback (see
//! `switchboard_cloud::files`). The bucket is never public; this is the only
//! way a browser sees its contents.
//!
//! An agent reads only what `switchboard_cloud::files::access` allows: the
//! media of a conversation on their console now (the switchboard's
//! assignments, as their session received them). Everything else is 403,
//! decided before the file is looked up.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use switchboard_cloud::files::access::reader_conversation;
use switchboard_cloud::files::FileKey;

use super::session::{CurrentSession, NotSignedIn};
use super::AppState;

pub async fn serve(
    State(state): State<AppState>,
    session: Result<CurrentSession, NotSignedIn>,
    method: Method,
    headers: HeaderMap,
    key: Result<Path<String>, PathRejection>,
) -> Response {
    // Sign-in before anything about the path, so strangers learn nothing.
    let session = match session {
        Ok(CurrentSession(session)) => session,
        Err(not_signed_in) => return not_signed_in.into_response(),
    };
    let Path(key) = match key {
        Ok(key) => key,
        Err(rejection) => return rejection.into_response(),
    };
    // An invalid key is refused by `serve` below, with its reason.
    if let Ok(parsed) = FileKey::parse(&key) {
        let allowed = match reader_conversation(&parsed) {
            Some(conversation) => match &session.handle {
                // The conversations on the agent's console here (and the one a
                // supervisor reads); with no agent session on this instance, none.
                Some(handle) => handle.holds(conversation).await,
                None => false,
            },
            None => false,
        };
        if !allowed {
            tracing::info!(agent = %session.agent, key = %parsed, "file read refused: not a conversation this agent holds");
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
