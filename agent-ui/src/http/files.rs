//! `GET`/`HEAD /files/{*key}`: the switchboard's stored files (MMS media) for
//! signed-in agents, from S3 with the local `FILES_DIR` as fallback (see
//! `switchboard_cloud::files`). The bucket is never public; this is the only
//! way a browser sees its contents.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

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
    if let Err(not_signed_in) = session {
        return not_signed_in.into_response();
    }
    let Path(key) = match key {
        Ok(key) => key,
        Err(rejection) => return rejection.into_response(),
    };
    let mut res = state.files.serve(&method, &key, &headers).await;
    switchboard_cloud::files::mark_private(&mut res);
    res
}
